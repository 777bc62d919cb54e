//! A byte-exact, allocation-free model of the AWS ENA network device and of the EC2 hypervisor's network
//! allowances.
//!
//! - [`desc`]: the TX/RX submission and completion descriptors of `ena_eth_io_defs.h`, bit for bit.
//! - [`TxQueue`]: one TX queue, driver side (`ena_start_xmit`, doorbells, stop/wake, `ena_clean_tx_irq`) and
//!   device side (fetch, validate, complete) over the same rings, host or [LLQ](llq) placement.
//! - [`RxQueue`]: refill, device writes, completion handling.
//! - [`shaper`]: the instance allowances (bandwidth in/out with burst credits, PPS, connection tracking,
//!   link-local) as exact integer token buckets with explicit time.
//! - [`stats`] and [`ethtool`]: counters under their `ethtool -S` names, rendered and parsed.
//!
//! Nothing here reads a clock or allocates; malformed input is an [`Error`] and a counter, never a panic.
#![cfg_attr(not(test), no_std)]

// `arbitrary` (fuzzing only) needs `std`; the default build stays `no_std`, which `nostd-check` proves.
#[cfg(feature = "arbitrary")]
extern crate std;

pub mod defs;
pub mod desc;
mod device;
mod error;
pub mod ethtool;
pub mod llq;
pub mod ring;
mod rx_queue;
pub mod shaper;
pub mod stats;
mod tx_queue;

pub use device::DeviceTxPacket;
pub use error::{Error, ParseErrorKind, Result};
pub use rx_queue::{RxDelivered, RxPacket, RxQueue, RxQueueConfig};
pub use tx_queue::{Offload, TxPacket, TxQueue, TxQueueConfig};
/// Test doubles (a driver-side model that checks rings), for tests, fuzzers and benches only.
#[cfg(any(test, feature = "test-utils"))]
pub mod mock;
