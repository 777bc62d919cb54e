//! The one error type of `qdisc`.

use core::fmt;

/// Everything that can go wrong when building a configuration or reading a kernel release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A configuration value is impossible.
    InvalidConfig {
        /// The field at fault.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A kernel release string could not be read.
    BadRelease {
        /// What was wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig { field, reason } => {
                write!(f, "invalid configuration `{field}`: {reason}")
            }
            Self::BadRelease { reason } => write!(f, "kernel release not understood: {reason}"),
        }
    }
}

impl core::error::Error for Error {}

/// Shorthand for results in this crate.
pub type Result<T> = core::result::Result<T, Error>;
