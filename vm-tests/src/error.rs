//! The harness's errors: one enum, each variant saying what failed and where; a boot's [`BootError`] stays its
//! source. The binary maps them onto kselftest's exit codes ([`Error::skip_reason`]: 4, everything else: 2).

use std::path::PathBuf;

use crate::console::BootError;

/// `Result` with the harness's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a run stopped without a verdict.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A requirement is missing (a host tool or package, a kernel option the build needs): kselftest's skip.
    #[error("SKIP: {0}")]
    Skip(String),
    /// A boot gave no usable result.
    #[error("{image}: {source}\n(console log: {})", log.display())]
    Boot {
        /// The kernel image's name.
        image: String,
        /// The serial console's log.
        log: PathBuf,
        /// What the console showed.
        source: BootError,
    },
    /// A file or directory could not be read, written, created or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file could not be copied.
    #[error("copy {} -> {}: {source}", from.display(), to.display())]
    Copy {
        /// The source.
        from: PathBuf,
        /// The destination.
        to: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A host command could not start, or failed.
    #[error("{command}: {detail}")]
    Command {
        /// The command (or what it was run for).
        command: String,
        /// The OS error, or the command's standard error.
        detail: String,
    },
    /// A host tool the harness copies into the guest is missing.
    #[error("`{name}` not found: apt-get install -y {package} (or run `vm-tests setup`)")]
    MissingTool {
        /// The tool.
        name: String,
        /// The Debian package that provides it.
        package: String,
    },
    /// A kernel build failed.
    #[error("{image}: kernel build failed:\n{tail}")]
    Build {
        /// The image being built.
        image: String,
        /// The last lines of the build's output.
        tail: String,
    },
    /// A kernel tree is not one the harness can read, patch or configure.
    #[error("{file}: {detail}")]
    Tree {
        /// The file at fault (`drivers/net/veth.c`, `Makefile`, the tree itself).
        file: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The merged kernel configuration lacks options the guest needs.
    #[error("kernel configuration lacks {}", missing.join(", "))]
    MissingConfig {
        /// Each option with what it is for.
        missing: Vec<String>,
    },
    /// Another run is building in the same work directory.
    #[error(
        "another vm-tests (pid {pid}) is building in {}; wait for it, or remove {} if it is not running",
        work.display(),
        lock.display()
    )]
    Locked {
        /// The other run's pid.
        pid: String,
        /// The work directory.
        work: PathBuf,
        /// Its lock file.
        lock: PathBuf,
    },
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// The booted kernel's release is not one `qdisc` has selection rules for.
    #[error("kernel release `{release}`: {source}")]
    Release {
        /// `uname -r` of the guest.
        release: String,
        /// `qdisc`'s error.
        source: qdisc::Error,
    },
    /// The model refuses the case's device (queue count, CPUs).
    #[error("{0}")]
    Device(qdisc::Error),
    /// The matrix lacks the case that decides the verdict.
    #[error("no dummy/veth/cleared case: cannot classify the kernel")]
    NoDecidingCase,
    /// Classifying one kernel image failed.
    #[error("{image}: {source}")]
    Classify {
        /// The kernel image's name.
        image: String,
        /// Why.
        source: Box<Error>,
    },
    /// The JSON report could not be encoded.
    #[error("JSON report: {0}")]
    Json(#[from] serde_json::Error),
    /// The SVG chart could not be drawn.
    #[error("{}: {detail}", path.display())]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// plotters' message.
        detail: String,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A command that failed, with `what` naming it.
    pub fn command(what: impl Into<String>, detail: impl ToString) -> Self {
        Self::Command {
            command: what.into(),
            detail: detail.to_string(),
        }
    }

    /// The reason when this error is kselftest's skip (exit 4): a missing requirement, or a guest that names a
    /// kernel option it lacks.
    pub fn skip_reason(&self) -> Option<String> {
        match self {
            Self::Skip(why) => Some(why.clone()),
            Self::Boot {
                source: BootError::Guest { message, .. },
                ..
            } if message.starts_with("missing CONFIG_") => Some(self.to_string()),
            _ => None,
        }
    }
}
