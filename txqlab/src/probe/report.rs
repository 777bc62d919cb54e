//! What `txqlab probe` prints: the table, the `--json` document, and that document's JSON Schema (generated from
//! these types; the committed copy is `txqlab/schemas/probe.schema.json`, checked by `tests/probe_schema.rs`).

use std::fmt::Write as _;

use qdisc::predict::Prediction;
use schemars::JsonSchema;
use serde::Serialize;

use super::judge::{Verdict, branch_name};

/// The version of the `--json` layout. Raised when a field changes meaning or goes away; new fields may appear
/// without a change.
pub const SCHEMA_VERSION: u32 = 1;

/// `txqlab probe --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProbeReport {
    /// Version of this layout (see `SCHEMA_VERSION`).
    pub schema_version: u32,
    /// The running kernel's release (`uname -r`).
    pub kernel: String,
    /// `affected`, `not_affected` or `inconclusive`.
    pub verdict: Verdict,
    /// Why, in one sentence.
    pub reason: String,
    /// Packets the pod's forwarded traffic put on each TX queue of the egress device.
    pub per_queue_pod: Vec<u64>,
    /// Packets the node's own traffic put on each TX queue of the egress device (the control).
    pub per_queue_node: Vec<u64>,
    /// The model's predictions the counts were judged against.
    pub predicted: Predicted,
    /// The deciding branch of queue selection for the pod's traffic, per the prediction that matched
    /// (`rx_recorded` when affected, `flow_hash` when not); null when inconclusive.
    #[schemars(required)]
    pub branch: Option<String>,
    /// What the release string alone says (`txqlab predict`'s version tables), for comparison.
    pub release_table: ReleaseTable,
    /// How the probe ran.
    pub setup: Setup,
    /// Wall-clock time of the probe in milliseconds.
    pub runtime_ms: u64,
}

/// The three predictions.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Predicted {
    /// Pod traffic if veth records the rx queue (the bug).
    pub pod_if_affected: QueuePrediction,
    /// Pod traffic if it does not (fixed).
    pub pod_if_fixed: QueuePrediction,
    /// The node's own traffic.
    pub node: QueuePrediction,
}

/// One prediction, in packets.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct QueuePrediction {
    /// Expected packets per TX queue.
    pub expected_packets: Vec<f64>,
    /// Fewest and most packets per TX queue consistent with the model at 99.9 % (equal when exact).
    pub band_packets: Vec<[u64; 2]>,
    /// True when selection does not depend on the flow hash (every flow on one known queue).
    pub exact: bool,
    /// The branch of queue selection that decides.
    pub branch: String,
}

impl QueuePrediction {
    /// From a flow prediction with `per_flow` packets per flow.
    pub fn from_prediction(p: &Prediction, per_flow: u32) -> Self {
        let per = u64::from(per_flow);
        Self {
            expected_packets: p
                .queues
                .iter()
                .map(|q| q.expected * f64::from(p.flows) * f64::from(per_flow))
                .collect(),
            band_packets: p
                .queues
                .iter()
                .map(|q| [u64::from(q.low) * per, u64::from(q.high) * per])
                .collect(),
            exact: p.exact,
            branch: branch_name(p.branch).into(),
        }
    }
}

/// The version-table answer for the running release.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReleaseTable {
    /// Whether the tables say veth records the rx queue on this release; null when the release does not parse.
    #[schemars(required)]
    pub veth_records_rx_queue: Option<bool>,
    /// `certain`, `likely`, `ambiguous`, or `unknown`.
    pub confidence: String,
    /// The tables' reason, or why the release was not understood.
    pub reason: String,
}

/// How the probe ran.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Setup {
    /// UDP flows sent from each side.
    pub flows: u32,
    /// Datagrams per flow.
    pub packets_per_flow: u32,
    /// TX queues of the pod's veth.
    pub pod_veth_tx_queues: u16,
    /// TX queues of the egress device (standing in for the NIC).
    pub egress_tx_queues: u16,
    /// The egress device: `dummy` where the kernel has the driver, else `veth`.
    pub egress_kind: String,
    /// The CPU both senders were pinned to.
    pub sender_cpu: u16,
    /// XPS on the egress device: `none set`, `cleared (...)`, `not built`, or `not checked (...)`.
    pub xps: String,
}

/// The JSON Schema of [`ProbeReport`], as committed.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(ProbeReport);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The table.
pub fn render(r: &ProbeReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "txqlab probe on kernel {}: {}",
        r.kernel,
        r.verdict.as_str().replace('_', " ")
    );
    let _ = writeln!(out, "  {}", r.reason);
    let _ = writeln!(
        out,
        "  version tables for this release: {} ({}: {})",
        match r.release_table.veth_records_rx_queue {
            Some(true) => "veth records the rx queue",
            Some(false) => "veth does not record the rx queue",
            None => "no answer",
        },
        r.release_table.confidence,
        r.release_table.reason
    );
    let s = &r.setup;
    let _ = writeln!(
        out,
        "  {} flows x {} UDP packets from the pod (forwarded) and from the node, sender on CPU {}; egress: {} with \
         {} TX queues, mq + pfifo_fast per queue; XPS {}",
        s.flows, s.packets_per_flow, s.sender_cpu, s.egress_kind, s.egress_tx_queues, s.xps
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  {:<8} {:>8} {:>14} {:>14} {:>8} {:>14}",
        "TX queue", "pod", "if fixed", "if affected", "node", "node band"
    );
    let band = |p: &QueuePrediction, q: usize| {
        p.band_packets
            .get(q)
            .map(|[lo, hi]| {
                if lo == hi {
                    format!("{lo}")
                } else {
                    format!("{lo}..{hi}")
                }
            })
            .unwrap_or_default()
    };
    for q in 0..r.per_queue_pod.len().max(r.per_queue_node.len()) {
        let _ = writeln!(
            out,
            "  {:<8} {:>8} {:>14} {:>14} {:>8} {:>14}",
            q,
            r.per_queue_pod.get(q).copied().unwrap_or(0),
            band(&r.predicted.pod_if_fixed, q),
            band(&r.predicted.pod_if_affected, q),
            r.per_queue_node.get(q).copied().unwrap_or(0),
            band(&r.predicted.node, q),
        );
    }
    let _ = writeln!(
        out,
        "\n  deciding branch: {}; {:.2} s",
        r.branch.as_deref().unwrap_or("-"),
        r.runtime_ms as f64 / 1000.0
    );
    out
}
