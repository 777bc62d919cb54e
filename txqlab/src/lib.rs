//! txqlab's command-line front door, as a library so that tests and benches can drive it.

pub mod diagnose;
pub mod facts;
pub mod predict;
pub mod probe;
pub mod report;
pub mod scenario;
pub mod sim;
