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
//!
//! One packet through an LLQ queue: the driver writes it and rings the doorbell, the device fetches and sends it,
//! the completion frees its entries.
//!
//! ```
//! use nic_model::llq::{LlqConfig, Placement};
//! use nic_model::{TxPacket, TxQueue, TxQueueConfig};
//!
//! # fn main() -> nic_model::Result<()> {
//! let cfg = TxQueueConfig {
//!     depth: 1024,
//!     placement: Placement::Llq(LlqConfig::default()),
//!     ..TxQueueConfig::default()
//! };
//! // Storage for 8192 descriptor slots: a 128-byte LLQ entry is 8 slots, and the ring has 1024 entries.
//! let mut q = Box::new(TxQueue::<8192>::new(cfg)?);
//! let req_id = q.xmit(&TxPacket { len: 1448, frags: 1, ..TxPacket::default() })?;
//! let mut sent = 0;
//! q.device_process(64, |p| {
//!     assert_eq!(p.req_id, req_id);
//!     sent += p.bytes;
//! })?;
//! assert_eq!((sent, q.clean_tx_irq(64)?, q.in_flight()), (1448, 1, 0));
//! # Ok(())
//! # }
//! ```
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
