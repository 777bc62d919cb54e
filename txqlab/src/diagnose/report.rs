//! The report `txqlab diagnose` prints: a table for people, JSON (with a schema) for scripts.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;

use super::finding::{Finding, Severity};
use super::snapshot::DriverSource;

/// Version of the JSON layout; raised when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// A report.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Report {
    /// Version of this layout.
    pub schema_version: u32,
    /// Device name, when known.
    pub device: Option<String>,
    /// The kernel release (`uname -r`, with `/proc/version_signature` when the distribution has one), from live
    /// snapshots and bundles.
    pub kernel: Option<String>,
    /// The driver as `ethtool -i` names it, or `unknown`.
    pub driver: String,
    /// The driver version from `ethtool -i`.
    pub driver_version: Option<String>,
    /// Where the driver name came from.
    pub driver_source: DriverSource,
    /// Seconds between the two snapshots, when the counters are differences.
    pub interval_s: Option<f64>,
    /// Which counters gave the per-queue spread (`ethtool -S queue_N_tx_cnt`, `tc mq classes`), if any.
    pub per_queue_source: Option<String>,
    /// TX packets per queue (descriptors for gve), queue 0 first; `null` where the counter is missing or invalid.
    pub tx_queue_packets: Vec<Option<u128>>,
    /// Each queue's share of the packets of the queues with a valid count; `null` where not computed.
    pub tx_queue_share: Vec<Option<f64>>,
    /// TX packets per second per queue, when two snapshots give an interval (else empty).
    pub tx_queue_per_second: Vec<Option<f64>>,
    /// Findings, warnings first.
    pub findings: Vec<Finding>,
}

impl Report {
    /// True when a warning was found (the exit status is then 1).
    pub fn has_warning(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Warning)
    }
}

/// The JSON Schema of [`Report`], as committed in `txqlab/schemas/diagnose.schema.json`.
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(Report)
}

/// The readable report.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let dev = r.device.as_deref().unwrap_or("(device not named)");
    let ver = r
        .driver_version
        .as_deref()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    let _ = writeln!(out, "device: {dev}   driver: {}{ver}", r.driver);
    if let Some(k) = &r.kernel {
        let _ = writeln!(out, "kernel: {k}");
    }
    if let Some(i) = r.interval_s {
        let _ = writeln!(out, "interval: {i:.1} s (differences of two snapshots)");
    }
    if let Some(src) = &r.per_queue_source {
        let _ = writeln!(out, "TX packets per queue ({src}):");
        for (q, n) in r.tx_queue_packets.iter().enumerate() {
            let share = r.tx_queue_share.get(q).copied().flatten();
            let (n, s) = match (n, share) {
                (Some(n), Some(s)) => (n.to_string(), s.clamp(0.0, 1.0)),
                (Some(n), None) => (n.to_string(), 0.0),
                _ => ("-".to_string(), 0.0),
            };
            let rate = r
                .tx_queue_per_second
                .get(q)
                .copied()
                .flatten()
                .map(|p| format!(" {p:>10.1}/s"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  queue {q:>4} {n:>20}{rate} {:>5.1}%  {}",
                s * 100.0,
                "#".repeat((s * 50.0).round() as usize)
            );
        }
    }
    if r.findings.is_empty() {
        let _ = writeln!(out, "no findings (every check ran)");
    }
    for x in &r.findings {
        let sev = match x.severity {
            Severity::Warning => "WARNING",
            Severity::Info => "info",
        };
        let _ = writeln!(out, "{sev} {}: {}", x.id.as_str(), x.message);
    }
    out
}
