//! The txqlab kernel regression harness: builds kernels with and without the veth fix, boots them under QEMU,
//! measures how traffic spreads over TX queues, and compares it with `qdisc`'s prediction.

pub mod boot;
pub mod build;
pub mod checks;
pub mod console;
pub mod guest;
pub mod initramfs;
pub mod mirror;
pub mod prereq;
pub mod report;
pub mod tree;
pub mod verdict;

/// Why a run stopped without a verdict, mapped onto kselftest's exit codes by the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// A requirement is missing (a host tool or package, a kernel option the guest needs): kselftest's skip,
    /// exit 4.
    Skip(String),
    /// Something that should have worked did not (bad input, build failure, panic, hang, a guest command
    /// failing): exit 2.
    Error(String),
}

impl From<String> for RunError {
    fn from(s: String) -> Self {
        Self::Error(s)
    }
}

impl From<&str> for RunError {
    fn from(s: &str) -> Self {
        Self::Error(s.into())
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Skip(s) => write!(f, "SKIP: {s}"),
            Self::Error(s) => f.write_str(s),
        }
    }
}
