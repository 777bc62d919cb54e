//! The txqlab kernel regression harness: builds kernels with and without the veth fix, boots them under QEMU,
//! measures how traffic spreads over TX queues, and compares it with `qdisc`'s prediction.

pub mod boot;
pub mod build;
pub mod checks;
pub mod console;
pub mod error;
pub mod guest;
pub mod initramfs;
pub mod mirror;
pub mod prereq;
pub mod report;
pub mod tree;
pub mod verdict;

pub use error::{Error, Result};
