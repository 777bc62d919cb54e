//! `txqlab probe`: an active test of the running kernel for the veth bug (edbea9220251 without the fix
//! 710ad98c363a: `veth_xmit` records its TX queue as the skb's rx queue, and `skb_tx_hash` on the physical device
//! then puts every forwarded pod packet on that one queue).
//!
//! The probe builds a pod namespace, a node namespace that forwards, and an 8-queue device with `mq` as the NIC
//! (`topology`, over rtnetlink: `rtnl`), all in anonymous namespaces of its own (`netns`); sends flows from the
//! pod and from the node (`traffic`); reads the per-queue deltas (`counters`); and judges them against
//! `qdisc::predict` for both kinds of kernel (`judge`). Version tables cannot see a distribution's backports; this can.

pub mod caps;
pub mod counters;
pub mod error;
pub mod judge;
pub mod netns;
pub mod report;
pub mod rtnl;
pub mod topology;
pub mod traffic;
pub mod xps;

use std::time::{Duration, Instant};

use qdisc::{KernelProfile, PickRules};

pub use error::ProbeError;
pub use judge::Verdict;
pub use report::ProbeReport;

use netns::Netns;

/// Flows and packets.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// UDP flows from each side (distinct source ports).
    pub flows: u32,
    /// Datagrams per flow.
    pub packets_per_flow: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            flows: 256,
            packets_per_flow: 4,
        }
    }
}

/// Most flows: one source port each from `traffic::BASE_PORT` up.
pub const MAX_FLOWS: u32 = 16384;
/// Most datagrams per flow.
pub const MAX_PACKETS_PER_FLOW: u32 = 64;

/// The running kernel's release, as `uname -r` prints it.
pub fn kernel_release() -> Result<String, ProbeError> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .map_err(|e| ProbeError::os("reading /proc/sys/kernel/osrelease", e))
}

fn release_table(kernel: &str) -> (PickRules, report::ReleaseTable) {
    match KernelProfile::from_release(kernel) {
        Ok(p) => (
            p.rules,
            report::ReleaseTable {
                veth_records_rx_queue: Some(p.veth_records_rx_queue),
                confidence: p.confidence.name().into(),
                reason: p.reason.to_string(),
            },
        ),
        Err(e) => (
            PickRules::default(),
            report::ReleaseTable {
                veth_records_rx_queue: None,
                confidence: "unknown".into(),
                reason: format!(
                    "release {kernel:?} not understood ({e}); default selection rules assumed"
                ),
            },
        ),
    }
}

/// Waits until the egress counters have moved by `expected` packets from `base` and stopped moving (children
/// such as `pfifo_fast` may count at dequeue in `net_tx_action`, after the send returned), for at most 2 s.
fn settled_delta(node: &Netns, base: &[u64], expected: u64) -> Result<Vec<u64>, ProbeError> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut last = counters::delta(topology::EGRESS, base, &topology::egress_counts(node)?)?;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = counters::delta(topology::EGRESS, base, &topology::egress_counts(node)?)?;
        let sum: u64 = now.iter().sum();
        if (now == last && sum >= expected) || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}

/// Runs the probe.
pub fn run(opts: Options) -> Result<ProbeReport, ProbeError> {
    let start = Instant::now();
    if !(1..=MAX_FLOWS).contains(&opts.flows) {
        return Err(ProbeError::Usage(format!(
            "--flows {}: must be 1 to {MAX_FLOWS}",
            opts.flows
        )));
    }
    if !(1..=MAX_PACKETS_PER_FLOW).contains(&opts.packets_per_flow) {
        return Err(ProbeError::Usage(format!(
            "--packets {}: must be 1 to {MAX_PACKETS_PER_FLOW}",
            opts.packets_per_flow
        )));
    }
    caps::check()?;
    let kernel = kernel_release()?;
    let (rules, table) = release_table(&kernel);
    let cpu = traffic::first_allowed_cpu()?;
    let preds = judge::predictions(rules, topology::EGRESS_QUEUES, cpu, opts.flows)?;

    let pod = Netns::new("pod")?;
    let node = Netns::new("node")?;
    let egress_kind = topology::build(&pod, &node)?;
    let xps = xps::check_and_clear(&node, topology::EGRESS, topology::EGRESS_QUEUES)
        .unwrap_or_else(|e| xps::XpsState::NotChecked(e.to_string()));

    let dst = topology::DST;
    let expected = u64::from(opts.flows) * u64::from(opts.packets_per_flow);
    let c0 = topology::egress_counts(&node)?;
    traffic::send(
        &pod,
        cpu,
        dst,
        topology::DST_PORT,
        opts.flows,
        opts.packets_per_flow,
    )?;
    let pod_counts = settled_delta(&node, &c0, expected)?;
    let c1 = topology::egress_counts(&node)?;
    traffic::send(
        &node,
        cpu,
        dst,
        topology::DST_PORT,
        opts.flows,
        opts.packets_per_flow,
    )?;
    let node_counts = settled_delta(&node, &c1, expected)?;
    // The namespaces go when `pod` and `node` are dropped (and with the process, whatever ends it).
    drop((pod, node));

    let j = judge::judge(&preds, &pod_counts, &node_counts, opts.packets_per_flow);
    let per = opts.packets_per_flow;
    Ok(ProbeReport {
        schema_version: report::SCHEMA_VERSION,
        kernel,
        verdict: j.verdict,
        reason: j.reason,
        per_queue_pod: pod_counts,
        per_queue_node: node_counts,
        predicted: report::Predicted {
            pod_if_affected: report::QueuePrediction::from_prediction(&preds.pod_if_affected, per),
            pod_if_fixed: report::QueuePrediction::from_prediction(&preds.pod_if_fixed, per),
            node: report::QueuePrediction::from_prediction(&preds.node, per),
        },
        branch: j.branch.map(String::from),
        release_table: table,
        setup: report::Setup {
            flows: opts.flows,
            packets_per_flow: opts.packets_per_flow,
            pod_veth_tx_queues: 1,
            egress_tx_queues: topology::EGRESS_QUEUES,
            egress_kind: egress_kind.as_str().into(),
            sender_cpu: cpu,
            xps: xps.describe(),
        },
        runtime_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}
