//! `txqlab diagnose`: real counters in, findings out.

mod ethtool;
mod tc;

pub use ethtool::{Driver, Snapshot};
pub use tc::TcEntry;

use serde::Serialize;
use serde_json::{Value, json};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Needs action; makes the exit status non-zero.
    Warning,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable identifier.
    pub id: &'static str,
    /// Severity.
    pub severity: Severity,
    /// What it means and what to do.
    pub message: String,
    /// Details for scripts.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

fn finding(id: &'static str, severity: Severity, message: String, extra: Value) -> Finding {
    let extra = match extra {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    Finding {
        id,
        severity,
        message,
        extra,
    }
}

/// A report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The driver the counters came from.
    pub driver: String,
    /// TX packets per queue.
    pub tx_queue_packets: Vec<u64>,
    /// TX share per queue.
    pub tx_queue_share: Vec<f64>,
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

/// A share at or above this on one queue is pinning.
pub const PINNING_SHARE: f64 = 0.9;
/// Fewer TX packets than this are too few to judge the spread.
pub const MIN_PACKETS: u64 = 1000;

const PINNING_CAUSE: &str = "Pod egress pinned to one queue is the signature of the veth rx-queue bug: kernels with \
commit edbea9220251 and without the fix 710ad98c363a (4.19.184+, 5.11.11+, 5.12 to 5.16, Ubuntu 5.8/5.11 AWS kernels) \
record rx queue 0 on every packet leaving a pod, and the ENA driver's old ena_select_queue (before v6.9) or \
skb_tx_hash then put it on TX queue 0. Fix: a kernel with 710ad98c363a (v5.17+ or a patched stable kernel). \
Workaround: reset skb->queue_mapping on the host side of the veth (Cilium does, cilium PR 18388). Confirm with \
`txqlab predict --kernel $(uname -r) --driver ena --path veth`.";

fn allowance_advice(name: &str) -> &'static str {
    match name {
        "bw_in_allowance_exceeded" => {
            "inbound bandwidth exceeded the instance's allowance: packets were queued or dropped by the hypervisor. Micro-bursts trip it while one-minute averages look low. Spread the load, smooth bursts, or move to an instance with more bandwidth (network-optimised types)."
        }
        "bw_out_allowance_exceeded" => {
            "outbound bandwidth exceeded the instance's allowance: packets were queued or dropped by the hypervisor. Check micro-bursts (per-second rates), pace senders, or use an instance with more bandwidth."
        }
        "pps_allowance_exceeded" => {
            "packets per second (both directions) exceeded the instance's allowance. Larger packets (batching, jumbo frames in the VPC), fewer small packets, or a larger instance. Egress IP fragments also count."
        }
        "conntrack_allowance_exceeded" => {
            "the connection tracking table was full: new connections failed. Reduce connection churn (keep-alive, pooling), shorten idle timeouts, or use untracked security-group rules where possible."
        }
        "linklocal_allowance_exceeded" => {
            "traffic to link-local services (DNS resolver, instance metadata, time sync) exceeded 1024 packets per second per ENI. Cache DNS locally (node-local DNS cache) and metadata credentials."
        }
        _ => "an allowance was exceeded.",
    }
}

/// Builds the findings from a snapshot (already a delta when `--before` was given) and optional tc output.
pub fn diagnose(s: &Snapshot, tc: &[TcEntry]) -> Report {
    let mut f = Vec::new();
    let tx = s.tx_packets();
    let total: u64 = tx.iter().sum();
    let share: Vec<f64> = tx
        .iter()
        .map(|p| {
            if total == 0 {
                0.0
            } else {
                *p as f64 / total as f64
            }
        })
        .collect();
    if tx.len() >= 2 && total >= MIN_PACKETS {
        let (q, max) = share
            .iter()
            .copied()
            .enumerate()
            .fold((0, 0.0), |a, (i, v)| if v > a.1 { (i, v) } else { a });
        let fair = 1.0 / tx.len() as f64;
        if max >= PINNING_SHARE {
            f.push(finding(
                "tx_queue_pinning",
                Severity::Warning,
                format!("TX queue {q} carries {:.1}% of {total} TX packets on a {}-queue device. {PINNING_CAUSE}", max * 100.0, tx.len()),
                json!({ "queue": q, "share": max, "queues": tx.len() }),
            ));
        } else if max > 2.0 * fair {
            f.push(finding(
                "tx_queue_imbalance",
                Severity::Warning,
                format!("TX queue {q} carries {:.1}% of TX packets, more than twice its fair {:.1}%: few flows, a skewed hash, XPS or traffic classes steer it. Check `txqlab predict` for this kernel and path.", max * 100.0, fair * 100.0),
                json!({ "queue": q, "share": max, "queues": tx.len() }),
            ));
        }
    } else if tx.len() >= 2 {
        f.push(finding(
            "too_few_packets",
            Severity::Info,
            format!(
                "only {total} TX packets: too few to judge how traffic spreads over the {} queues",
                tx.len()
            ),
            json!({ "packets": total }),
        ));
    }
    for name in [
        "bw_in_allowance_exceeded",
        "bw_out_allowance_exceeded",
        "pps_allowance_exceeded",
        "conntrack_allowance_exceeded",
        "linklocal_allowance_exceeded",
    ] {
        if let Some(v) = s.get(name).filter(|v| *v > 0) {
            f.push(finding(
                "allowance_exceeded",
                Severity::Warning,
                format!("{name} = {v}: {}", allowance_advice(name)),
                json!({ "counter": name, "value": v }),
            ));
        }
    }
    if s.driver == Driver::Ena {
        let stops = s.sum_queue("_tx_queue_stop");
        if stops > 0 {
            f.push(finding(
                "tx_queue_stops",
                Severity::Info,
                format!("TX queues stopped {stops} times for lack of ring descriptors (queue_N_tx_queue_stop): the device drains slower than the stack sends in bursts; the qdisc absorbs it, watch its drops."),
                json!({ "stops": stops, "wakeups": s.sum_queue("_tx_queue_wakeup") }),
            ));
        }
        for (suffix, what) in [("_tx_bad_req_id", "TX"), ("_rx_bad_req_id", "RX")] {
            let n = s.sum_queue(suffix);
            if n > 0 {
                f.push(finding(
                    "bad_req_id",
                    Severity::Warning,
                    format!("{n} {what} completions carried an invalid req_id: the driver reset the device each time (traffic stalls). Update the ENA driver; report with `ethtool -S` and dmesg."),
                    json!({ "direction": what, "count": n }),
                ));
            }
        }
        for name in ["tx_timeout", "wd_expired"] {
            if let Some(v) = s.get(name).filter(|v| *v > 0) {
                f.push(finding(
                    "device_reset",
                    Severity::Warning,
                    format!("{name} = {v}: the driver saw the device stall and reset it; packets queued at that moment were lost."),
                    json!({ "counter": name, "value": v }),
                ));
            }
        }
        let missed = s.sum_queue("_tx_missed_tx");
        if missed > 0 {
            f.push(finding(
                "missed_tx",
                Severity::Warning,
                format!("{missed} TX completions did not arrive in time (queue_N_tx_missed_tx): a starved CPU or a device problem."),
                json!({ "count": missed }),
            ));
        }
    }
    for e in tc {
        if e.what == "qdisc" && e.kind == "mq" {
            continue; // The children say which queue.
        }
        if e.dropped > 0 {
            f.push(finding(
                "qdisc_drops",
                Severity::Warning,
                format!("{} {} {} (parent {}) dropped {} of {} packets: TCP retransmits follow (200 ms minimum RTO).", e.what, e.kind, e.handle, e.parent, e.dropped, e.packets + e.dropped),
                json!({ "kind": e.kind, "handle": e.handle, "parent": e.parent, "dropped": e.dropped }),
            ));
        }
        if e.requeues > 0 {
            f.push(finding(
                "qdisc_requeues",
                Severity::Info,
                format!("{} {} (parent {}) requeued {} packets: the driver said busy (ring full).", e.kind, e.handle, e.parent, e.requeues),
                json!({ "kind": e.kind, "handle": e.handle, "parent": e.parent, "requeues": e.requeues }),
            ));
        }
    }
    f.sort_by_key(|x| x.severity == Severity::Info);
    Report {
        driver: format!("{:?}", s.driver),
        tx_queue_packets: tx,
        tx_queue_share: share,
        findings: f,
    }
}

/// Parses `tc -s` output.
pub fn parse_tc(text: &str, origin: &str) -> Result<Vec<TcEntry>, String> {
    tc::parse(text, origin)
}

/// The readable report.
pub fn render(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "driver: {}", r.driver);
    if !r.tx_queue_packets.is_empty() {
        let _ = writeln!(out, "TX packets per queue:");
        for (q, (n, s)) in r.tx_queue_packets.iter().zip(&r.tx_queue_share).enumerate() {
            let _ = writeln!(
                out,
                "  queue {q:>2} {n:>12} {:>5.1}%  {}",
                s * 100.0,
                "#".repeat((s * 50.0).round() as usize)
            );
        }
    }
    if r.findings.is_empty() {
        let _ = writeln!(out, "no findings");
    }
    for x in &r.findings {
        let sev = match x.severity {
            Severity::Warning => "WARNING",
            Severity::Info => "info",
        };
        let _ = writeln!(out, "{sev} {}: {}", x.id, x.message);
    }
    out
}
