//! A `no_std`, allocation-free model of the Linux egress path that decides which TX queue a packet uses.
//!
//! - [`RefSelector`]: `netdev_core_pick_tx` / `netdev_pick_tx` / `get_xps_queue` / `skb_tx_hash` and the driver
//!   hooks (`ena_select_queue`, `bond_select_queue`) transcribed plainly, reporting the deciding [`Branch`].
//! - [`FastSelector`]: the same answers from a compiled configuration, single packets and batches.
//! - [`facts`]: every kernel fact the model depends on (commit, first release per line, evidence), one table.
//! - [`KernelProfile`]: what a kernel does, computed from the facts for a `uname -r` (or Debian's `uname -rv`, or
//!   Ubuntu's version signature).
//! - [`driver`]: what each egress driver does (its hook by kernel and driver version, its default XPS).
//! - [`veth`]: the veth hop that records an rx queue on affected kernels.
//! - [`predict`]: the per-queue share of N flows, exact or with a 99.9 % band.
//! - [`sched`]: `mq` with per-queue `pfifo_fast` or `fq_codel` children, counted like `tc -s qdisc show`.
//!
//! Where do 256 pod flows land on an 8-queue ENA device of a 5.10.91 kernel (affected), and of 5.10.92 (fixed)?
//!
//! ```
//! use qdisc::driver::EnaBuild;
//! use qdisc::predict::predict;
//! use qdisc::veth::Path;
//! use qdisc::{Branch, Driver, KernelProfile};
//!
//! # fn main() -> qdisc::Result<()> {
//! for (release, pinned) in [("5.10.91", true), ("5.10.92", false)] {
//!     let kernel = KernelProfile::from_release(release)?;
//!     let sel = Driver::Ena(EnaBuild::InTree).selector(&kernel, 8, 2, None)?;
//!     let p = predict(&sel, Path::PodViaVeth, kernel.veth_records_rx_queue, 0, 256);
//!     assert_eq!(p.exact, pinned);
//!     assert_eq!(p.branch == Branch::DriverRxRecorded, pinned);
//! }
//! # Ok(())
//! # }
//! ```
#![cfg_attr(not(test), no_std)]

// `arbitrary` (fuzzing only) needs `std`; the default build stays `no_std`, which `nostd-check` proves.
#[cfg(feature = "arbitrary")]
extern crate std;

pub mod driver;
mod error;
pub mod facts;
pub mod hash;
pub mod netdev;
pub mod predict;
pub mod profile;
pub mod sched;
mod select_fast;
mod select_ref;
pub mod skb;
pub mod veth;

pub use driver::Driver;
pub use error::{Error, Result};
pub use netdev::{DriverHook, NetDev, TcTxq, XpsMaps};
pub use profile::{Confidence, KernelProfile, Release};
pub use select_fast::FastSelector;
pub use select_ref::{Branch, CapWarning, Decision, PickRules, RefSelector};
pub use skb::{NO_QUEUE_MAPPING, Skb, Sock, XmitCtx};
