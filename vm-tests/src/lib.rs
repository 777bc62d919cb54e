//! The txqlab kernel regression harness: builds kernels with and without the veth fix, boots them under QEMU,
//! measures how traffic spreads over TX queues, and compares it with `qdisc`'s prediction.
//!
//! The judging half as a call: what the guest of a kernel without the veth fix prints on its console (forwarded
//! traffic out of an 8-queue dummy with XPS cleared, all on queue 0), read and classified against the model.
//!
//! ```
//! use vm_tests::console::{Egress, parse};
//! use vm_tests::verdict::{Verdict, classify};
//!
//! let log = "TXQLAB-KERNEL 6.1.192\n\
//!     TXQLAB-CASE egress=dummy path=veth xps=cleared before=0,0,0,0,0,0,0,0 after=1024,0,0,0,0,0,0,0\n\
//!     TXQLAB-DONE\n";
//! let boot = parse(log, None)?;
//! assert_eq!(boot.cases[0].egress, Egress::Dummy);
//! let (verdict, judged) = classify(&boot.cases)?;
//! assert_eq!(verdict, Verdict::Affected);
//! assert!(judged[0].matches && judged[0].exact);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
