//! `txqlab predict`: where will N flows land on this kernel, driver and path, and which branch decides. The device
//! comes from `qdisc::driver` (the driver's hook on this kernel and its default XPS), the kernel from the facts
//! table, and every sentence about a version from those facts.

use std::fmt::Write as _;

use qdisc::driver::Hook;
use qdisc::facts::{self, Behaviour};
use qdisc::predict::predict;
use qdisc::veth::Path;
use qdisc::{Driver, KernelProfile};
use schemars::JsonSchema;
use serde::Serialize;

/// Version of the `--json` layout; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 2;

/// The driver names `--driver` takes: `ethtool -i`'s `driver:` values `qdisc::driver` has a file for.
pub const DRIVERS: [&str; 8] = [
    "ena",
    "virtio_net",
    "mlx5_core",
    "gve",
    "bonding",
    "dummy",
    "veth",
    "other",
];

/// What to predict.
#[derive(Debug, Clone)]
pub struct Query {
    /// `uname -r`, Debian's `uname -rv`, or Ubuntu's `/proc/version_signature`.
    pub kernel: String,
    /// Egress driver, as `ethtool -i` names it (one of [`DRIVERS`]; anything else is `other`).
    pub driver: String,
    /// `ethtool -i`'s `version:` (tells amzn-drivers ENA from the in-tree one).
    pub driver_version: Option<String>,
    /// Where the traffic starts.
    pub path: Path,
    /// XPS by CPU: `None` means the driver's default.
    pub xps: Option<bool>,
    /// TX queues.
    pub queues: u16,
    /// Flows.
    pub flows: u32,
    /// Online CPUs (for the XPS map).
    pub cpus: u16,
    /// Sending CPU.
    pub cpu: u16,
    /// Overrides the profile's veth inference.
    pub veth_records: Option<bool>,
}

/// The answer, as `--json` prints it (schema: txqlab/schemas/predict.schema.json).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Answer {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The kernel as given.
    pub kernel: String,
    /// The upstream version as understood (`6.1.55`, or `6.1.x (debian, upstream sublevel not shown)`).
    pub upstream: String,
    /// Whether veth records the rx queue on this kernel.
    pub veth_records_rx_queue: bool,
    /// How sure: certain, likely, ambiguous.
    pub confidence: String,
    /// Why, from the facts table.
    pub reason: String,
    /// The driver (`ena (in-tree)`, `ena (amzn-drivers 2.10.0)`, `virtio_net`, ...).
    pub driver: String,
    /// The driver's queue-selection hook on this kernel.
    pub driver_hook: String,
    /// How sure the hook is.
    pub driver_hook_confidence: String,
    /// Why the driver has that hook.
    pub driver_hook_reason: String,
    /// Whether an XPS cpus map is in effect.
    pub xps_cpus: bool,
    /// The path (`host`, `veth`, `multi-queue veth`).
    pub path: String,
    /// The deciding branch, as a stable identifier (`flow_hash`, `rx_recorded`, `driver_rx_recorded`, ...).
    pub branch: String,
    /// The kernel function that decides.
    pub branch_function: String,
    /// True when every flow lands on one known queue.
    pub exact: bool,
    /// Expected share per queue.
    pub expected_share: Vec<f64>,
    /// Flows per queue: lowest and highest consistent with the model at 99.9 %.
    pub band: Vec<(u32, u32)>,
    /// Flows predicted.
    pub flows: u32,
    /// The commits the answer rests on, with their first release per line and how each figure is known.
    pub facts: Vec<String>,
}

/// The JSON Schema of [`Answer`], as committed in `txqlab/schemas/predict.schema.json`.
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(Answer)
}

/// Why `predict` could not answer.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// The kernel string was not understood.
    #[error("--kernel {given}: {source}")]
    Kernel {
        /// As given.
        given: String,
        /// Why.
        source: qdisc::Error,
    },
    /// The device configuration is impossible.
    #[error("device: {0}")]
    Device(qdisc::Error),
}

fn driver_of(q: &Query) -> Driver {
    Driver::from_ethtool_i(&q.driver, q.driver_version.as_deref())
}

/// Runs a prediction.
pub fn run(q: &Query) -> Result<Answer, PredictError> {
    let profile =
        KernelProfile::from_release(&q.kernel).map_err(|source| PredictError::Kernel {
            given: q.kernel.clone(),
            source,
        })?;
    let profile = match q.veth_records {
        Some(v) => profile.with_override(v),
        None => profile,
    };
    let driver = driver_of(q);
    let hook: Hook = driver.hook(&profile);
    let sel = driver
        .selector(&profile, q.queues, q.cpus, q.xps)
        .map_err(PredictError::Device)?;
    let p = predict(&sel, q.path, profile.veth_records_rx_queue, q.cpu, q.flows);
    let mut facts = vec![facts::VETH_RECORD.to_string(), facts::VETH_FIX.to_string()];
    if matches!(driver, Driver::Ena(_)) {
        let (_, removal) = facts::about(Behaviour::EnaSelectQueue);
        facts.extend(removal.map(ToString::to_string));
    }
    Ok(Answer {
        schema_version: SCHEMA_VERSION,
        kernel: q.kernel.clone(),
        upstream: profile.release.to_string(),
        veth_records_rx_queue: profile.veth_records_rx_queue,
        confidence: profile.confidence.name().into(),
        reason: profile.reason.to_string(),
        driver: driver.to_string(),
        driver_hook: hook.hook.name().into(),
        driver_hook_confidence: hook.confidence.name().into(),
        driver_hook_reason: hook.reason.to_string(),
        xps_cpus: sel.dev().xps_cpus.is_some(),
        path: q.path.name().into(),
        branch: p.branch.id().into(),
        branch_function: p.branch.name().into(),
        exact: p.exact,
        expected_share: p.queues.iter().map(|s| s.expected).collect(),
        band: p.queues.iter().map(|s| (s.low, s.high)).collect(),
        flows: p.flows,
        facts,
    })
}

/// The readable form.
pub fn render(a: &Answer) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "kernel {} (upstream {}): veth {} the rx queue ({}: {})",
        a.kernel,
        a.upstream,
        if a.veth_records_rx_queue {
            "records"
        } else {
            "does not record"
        },
        a.confidence,
        a.reason
    );
    let _ = writeln!(
        out,
        "driver {}: hook {} ({}: {}); XPS cpus map {}",
        a.driver,
        a.driver_hook,
        a.driver_hook_confidence,
        a.driver_hook_reason,
        if a.xps_cpus { "on" } else { "off" }
    );
    let _ = writeln!(
        out,
        "path {}; deciding branch: {}{}",
        a.path,
        a.branch_function,
        if a.exact {
            " (every flow on the same queue)"
        } else {
            " (hash-based: band at 99.9 %)"
        }
    );
    let _ = writeln!(out, "{} flows per TX queue:", a.flows);
    for (q, (share, (lo, hi))) in a.expected_share.iter().zip(&a.band).enumerate() {
        let bar = "#".repeat((share * 50.0).round() as usize);
        let range = if lo == hi {
            format!("{lo}")
        } else {
            format!("{lo}..{hi}")
        };
        let _ = writeln!(
            out,
            "  queue {q:>2} {:>5.1}% {range:>11}  {bar}",
            share * 100.0
        );
    }
    let _ = writeln!(out, "facts:");
    for f in &a.facts {
        let _ = writeln!(out, "  {f}");
    }
    out
}
