//! txqlab's command-line front door, as a library so that tests and benches can drive it.
//!
//! `txqlab predict` as a call: on an ENA node of Debian's 6.1.55 (its `uname -rv`), the old `ena_select_queue`
//! is still there, but the veth fix is in, so 256 pod flows spread over the 8 queues.
//!
//! ```
//! use txqlab::predict::{Query, run};
//!
//! let answer = run(&Query {
//!     kernel: "6.1.0-13-cloud-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)".into(),
//!     driver: "ena".into(),
//!     driver_version: None,
//!     path: qdisc::veth::Path::PodViaVeth,
//!     xps: None,
//!     queues: 8,
//!     flows: 256,
//!     cpus: 2,
//!     cpu: 0,
//!     veth_records: None,
//! })?;
//! assert!(!answer.veth_records_rx_queue && !answer.exact);
//! assert!(answer.driver_hook.starts_with("ena_select_queue"));
//! assert_eq!(answer.branch, "flow_hash");
//! # Ok::<(), txqlab::predict::PredictError>(())
//! ```

pub mod diagnose;
pub mod error;
pub mod facts;
pub mod predict;
pub mod probe;
pub mod report;
pub mod scenario;
pub mod sim;

pub use error::{Error, Result};
