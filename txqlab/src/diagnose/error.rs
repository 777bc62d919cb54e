//! What can go wrong reading counters, and the exit status each failure maps to.

/// Exit status: no warning-level finding.
pub const EXIT_OK: u8 = 0;
/// Exit status: at least one warning-level finding.
pub const EXIT_WARNING: u8 = 1;
/// Exit status: the input (or the live system) could not be read, or it contradicts itself.
pub const EXIT_INPUT: u8 = 2;
/// Exit status: the command line is wrong (`EX_USAGE` from sysexits.h), distinct from unreadable input.
pub const EXIT_USAGE: u8 = 64;

/// Longest quoted text in an error message.
const QUOTE_MAX: usize = 80;

/// Quotes a piece of input for an error message, shortened to a readable length.
pub fn quote(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(QUOTE_MAX) {
        Some((cut, _)) => format!("`{}...`", &t[..cut]),
        None => format!("`{t}`"),
    }
}

/// A failure of `txqlab diagnose` or `txqlab collect`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The command line asks for something impossible (exit [`EXIT_USAGE`]).
    #[error("usage: {0}")]
    Usage(String),
    /// The input cannot be read or contradicts itself (exit [`EXIT_INPUT`]).
    #[error("{origin}: {}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Input {
        /// The file, `<stdin>`, or the live device the text came from.
        origin: String,
        /// 1-based line, when the fault has one.
        line: Option<usize>,
        /// What is wrong, quoting the offending text.
        message: String,
    },
    /// The live system could not be read (exit [`EXIT_INPUT`]).
    #[error("live: {0}")]
    Live(String),
}

impl Error {
    /// An input error on a line.
    pub fn at(origin: &str, line: usize, message: impl Into<String>) -> Self {
        Self::Input {
            origin: origin.to_string(),
            line: Some(line),
            message: message.into(),
        }
    }

    /// An input error of the whole input.
    pub fn input(origin: &str, message: impl Into<String>) -> Self {
        Self::Input {
            origin: origin.to_string(),
            line: None,
            message: message.into(),
        }
    }

    /// The exit status this error ends the command with.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Input { .. } | Self::Live(_) => EXIT_INPUT,
        }
    }
}
