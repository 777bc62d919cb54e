//! `txqlab diagnose`: real counters in, findings out.
//!
//! Input is any mix of what users have: `ethtool -S` of any driver whose per-queue TX counter names
//! [`driver`] knows, `ethtool -i`, `tc -s qdisc|class show` as text or `tc -s -j` JSON, node_exporter's
//! Prometheus text, or a `txqlab collect` bundle of two snapshots. Reading streams with bounded memory
//! (`lines`); every counter sum is widened to 128 bits; a check that could not run says so.

pub mod collect;
pub mod counters;
pub mod driver;
mod error;
pub mod ethtool;
pub mod finding;
mod lines;
pub mod prometheus;
pub mod report;
pub mod snapshot;
pub mod spread;
pub mod tc;
pub mod virtio_net;

pub use counters::Typed;
pub use driver::{Driver, DriverInfo, TxScheme};
pub use error::{EXIT_INPUT, EXIT_OK, EXIT_USAGE, EXIT_WARNING, Error, quote};
pub use finding::{Finding, FindingId, Severity};
pub use report::{Report, SCHEMA_VERSION, render, schema};
pub use snapshot::{Decrease, DriverSource, Snapshot, delta, read};
pub use tc::TcEntry;

use serde_json::json;

use finding::{big, finding, with_severity};
use nic_model::ethtool::NicStats;
use nic_model::shaper::Allowance;

/// What else the diagnosis knows besides the snapshot.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Seconds between two snapshots when the counters are differences.
    pub interval_s: Option<f64>,
    /// Counters that went down between the snapshots (the counts are then the input's own, since the reset).
    pub decreases: Vec<Decrease>,
    /// TCP retransmitted segments in the interval (`/proc/net/snmp` `RetransSegs`), from live snapshots.
    pub tcp_retransmits: Option<u64>,
}

fn rate(v: u128, ctx: &Context) -> Option<f64> {
    ctx.interval_s.filter(|i| *i > 0.0).map(|i| v as f64 / i)
}

fn rate_text(v: u128, ctx: &Context) -> String {
    rate(v, ctx)
        .map(|r| format!(" ({r:.1}/s over {:.1} s)", ctx.interval_s.unwrap_or(0.0)))
        .unwrap_or_default()
}

/// Builds the findings from a snapshot (a difference when `ctx.interval_s` or `--before` says so). Fails only
/// when the driver's typed reading refuses a counter ([`Typed::read`]).
pub fn diagnose(s: &Snapshot, ctx: &Context) -> Result<Report, Error> {
    let mut f = Vec::new();
    let (driver, driver_source) = s.driver();
    let read;
    let typed = match &s.typed {
        Some(t) => t,
        None => {
            read = Typed::read(s, driver)?;
            &read
        }
    };
    let spread = spread::check(s, driver, typed, ctx, &mut f);
    counter_findings(s, ctx, &mut f);
    if let Typed::Ena(e) = typed {
        ena(s, &e.stats, ctx, &mut f);
    }
    tc_findings(s, ctx, &mut f);
    if let Some(r) = ctx.tcp_retransmits.filter(|r| *r > 0) {
        f.push(finding(
            FindingId::TcpRetransmits,
            format!(
                "{r} TCP segments retransmitted{} (/proc/net/snmp RetransSegs, all interfaces): drops on the \
                 path show here first; compare with the qdisc and allowance findings.",
                rate_text(u128::from(r), ctx)
            ),
            json!({ "count": r, "rate_per_s": rate(u128::from(r), ctx) }),
        ));
    }
    if let Some(x) = xps_map(s) {
        f.push(x);
    }
    f.sort_by_key(|x| x.severity == Severity::Info);
    if let Some(release) = s.sections.get("uname -r").map(|r| r.trim()) {
        // The advice's commands, for the kernel the snapshots were taken on.
        for x in &mut f {
            x.message = x.message.replace("$(uname -r)", release);
        }
    }
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        device: s.device.clone().or_else(|| {
            let mut devs = s.tc.iter().filter_map(|e| e.dev.clone());
            let first = devs.next()?;
            devs.all(|d| d == first).then_some(first)
        }),
        kernel: kernel(s),
        driver: s.driver_name(),
        driver_version: s.info.version.clone(),
        driver_source,
        interval_s: ctx.interval_s,
        per_queue_source: spread.source,
        tx_queue_packets: spread.packets,
        tx_queue_share: spread.share,
        tx_queue_per_second: spread.per_second,
        findings: f,
    })
}

/// Findings on the counters themselves: a reset between the snapshots, and counters that hold 2^64-1.
fn counter_findings(s: &Snapshot, ctx: &Context, f: &mut Vec<Finding>) {
    if !ctx.decreases.is_empty() {
        let ex: Vec<String> = ctx
            .decreases
            .iter()
            .take(5)
            .map(|d| format!("{} {} -> {}", d.name, d.before, d.after))
            .collect();
        f.push(finding(
            FindingId::CountersReset,
            format!(
                "{} counters went down between --before and the input ({}): the device was reset or the driver \
                 reloaded in between. The findings use the input's own counts since that reset, not differences.",
                ctx.decreases.len(),
                ex.join(", ")
            ),
            json!({ "counters": ctx.decreases.len() }),
        ));
    }
    let invalid = s.ethtool.invalid();
    if !invalid.is_empty() {
        f.push(finding(
            FindingId::CounterInvalid,
            format!(
                "{} counters hold 2^64-1, a driver's -1 printed unsigned (an unset or failed read): {}. They are \
                 left out of every sum and check.",
                invalid.len(),
                invalid
                    .iter()
                    .take(5)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            json!({ "counters": invalid }),
        ));
    }
}

/// XPS by CPU from the bundle's sysfs section (`tx-N/xps_cpus: HEXMASK`, `net/core/net-sysfs.c`
/// `xps_cpus_show`): a queue has a map when its mask is not all zero.
fn xps_map(s: &Snapshot) -> Option<finding::Finding> {
    let (_, text) = s.sections.iter().find(|(k, _)| k.starts_with("sysfs "))?;
    let masks: Vec<(&str, bool)> = text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(": ")?;
            let q = k.strip_suffix("/xps_cpus")?;
            let v = v.trim();
            // Unreadable (no CONFIG_XPS, a single-queue device): "(error)" is kept out of the count.
            (!v.starts_with('(')).then(|| (q, v.chars().any(|c| c.is_ascii_hexdigit() && c != '0')))
        })
        .collect();
    if masks.is_empty() {
        return None;
    }
    let set: Vec<&str> = masks
        .iter()
        .filter(|(_, on)| *on)
        .map(|(q, _)| *q)
        .collect();
    let message = if set.is_empty() {
        format!(
            "no XPS map by CPU on any of the {} TX queues: netdev_pick_tx places traffic without a socket queue \
             (forwarded pod traffic) by a recorded rx queue when there is one (the veth bug), else by the flow hash.",
            masks.len()
        )
    } else {
        format!(
            "XPS maps CPUs to {} of the {} TX queues ({}): get_xps_queue decides before a recorded rx queue, so \
             the veth bug cannot pin traffic sent from mapped CPUs (a driver hook such as ENA's old \
             ena_select_queue still can).",
            set.len(),
            masks.len(),
            set.join(", ")
        )
    };
    Some(finding(
        FindingId::XpsMap,
        message,
        json!({ "queues": masks.len(), "mapped": set }),
    ))
}

/// `uname -r`, and the distribution's `/proc/version_signature` (Ubuntu: the upstream version it is based on).
fn kernel(s: &Snapshot) -> Option<String> {
    let release = s.sections.get("uname -r")?.trim().to_string();
    Some(match s.sections.get("/proc/version_signature") {
        Some(sig) if !sig.trim().is_empty() => format!("{release} ({})", sig.trim()),
        _ => release,
    })
}

/// The hypervisor's allowances (`nic_model::shaper`), each with what to do when its counter rises.
const ALLOWANCES: [(Allowance, &str); 5] = [
    (
        Allowance::BwIn,
        "inbound bandwidth exceeded the instance's allowance: packets were queued or dropped by the hypervisor. Micro-bursts trip it while one-minute averages look low. Spread the load, smooth bursts, or move to an instance with more bandwidth (network-optimised types).",
    ),
    (
        Allowance::BwOut,
        "outbound bandwidth exceeded the instance's allowance: packets were queued or dropped by the hypervisor. Check micro-bursts (per-second rates), pace senders, or use an instance with more bandwidth.",
    ),
    (
        Allowance::Pps,
        "packets per second (both directions) exceeded the instance's allowance. Larger packets (batching, jumbo frames in the VPC), fewer small packets, or a larger instance. Egress IP fragments also count.",
    ),
    (
        Allowance::Conntrack,
        "the connection tracking table was full: new connections failed. Reduce connection churn (keep-alive, pooling), shorten idle timeouts, or use untracked security-group rules where possible.",
    ),
    (
        Allowance::LinkLocal,
        "traffic to link-local services (DNS resolver, instance metadata, time sync) exceeded 1024 packets per second per ENI. Cache DNS locally (node-local DNS cache) and metadata credentials.",
    ),
];

/// Sum over ENA's queues of one per-queue counter, widened to 128 bits, skipping values of 2^64-1.
fn sum_queues<T>(queues: &[T], field: impl Fn(&T) -> u64) -> u128 {
    queues
        .iter()
        .map(field)
        .filter(|v| *v != ethtool::INVALID)
        .map(u128::from)
        .sum()
}

/// A counter's value with its field's name, which is the name ENA prints (`nic_model::stats`).
macro_rules! named {
    ($stats:expr, $field:ident) => {
        (stringify!($field), $stats.$field)
    };
}

/// A per-queue TX counter's name as ENA prints it (`queue_N_tx_<field>`, `ena_queue_strings`) and its sum over
/// the queues.
macro_rules! tx_sum {
    ($stats:expr, $field:ident) => {
        (
            concat!("queue_N_tx_", stringify!($field)),
            sum_queues(&$stats.tx, |t| t.$field),
        )
    };
}

/// ENA-only findings, from the counters as nic-model types them (`ena_ethtool.c` names).
fn ena(s: &Snapshot, stats: &NicStats, ctx: &Context, f: &mut Vec<finding::Finding>) {
    for (allowance, advice) in ALLOWANCES {
        let name = allowance.counter_name();
        let Some(v) = stats.eni.map(|e| allowance.count(&e)) else {
            continue;
        };
        if v > 0 && v != ethtool::INVALID {
            f.push(finding(
                FindingId::AllowanceExceeded,
                format!("{name} = {v}{}: {advice}", rate_text(u128::from(v), ctx)),
                json!({ "counter": name, "value": v, "rate_per_s": rate(u128::from(v), ctx) }),
            ));
        }
    }
    let (stop_name, stops) = tx_sum!(stats, queue_stop);
    if stops > 0 {
        f.push(finding(
            FindingId::TxQueueStops,
            format!(
                "TX queues stopped {stops} times{} for lack of ring descriptors ({stop_name}): the device drains \
                 slower than the stack sends in bursts; the qdisc absorbs it, watch its drops.",
                rate_text(stops, ctx)
            ),
            json!({ "stops": big(stops), "wakeups": big(sum_queues(&stats.tx, |t| t.queue_wakeup)) }),
        ));
    }
    let bad_req_id = [
        ("TX", sum_queues(&stats.tx, |t| t.bad_req_id)),
        ("RX", sum_queues(&stats.rx, |r| r.bad_req_id)),
    ];
    for (what, n) in bad_req_id.into_iter().filter(|(_, n)| *n > 0) {
        f.push(finding(
            FindingId::BadReqId,
            format!(
                "{n} {what} completions carried an invalid req_id: the driver reset the device each time \
                 (traffic stalls). Update the ENA driver; report with `ethtool -S` and dmesg."
            ),
            json!({ "direction": what, "count": big(n) }),
        ));
    }
    let resets = [
        named!(stats.global, tx_timeout),
        named!(stats.global, wd_expired),
    ];
    for (name, v) in resets
        .into_iter()
        .filter(|(_, v)| *v > 0 && *v != ethtool::INVALID)
    {
        f.push(finding(
            FindingId::DeviceReset,
            format!(
                "{name} = {v}: the driver saw the device stall and reset it; packets queued at that moment \
                 were lost."
            ),
            json!({ "counter": name, "value": v }),
        ));
    }
    let (missed_name, missed) = tx_sum!(stats, missed_tx);
    if missed > 0 {
        f.push(finding(
            FindingId::MissedTx,
            format!(
                "{missed} TX completions did not arrive in time ({missed_name}): a starved CPU or a device problem."
            ),
            json!({ "count": big(missed) }),
        ));
    }
    if let Some(v) = &s.info.version {
        f.push(ena_select_queue(v, kernel_profile(s).as_ref()));
    }
}

/// The kernel profile of the snapshot's kernel, when the bundle names it: Ubuntu's version signature, else
/// `uname -r` with `uname -v` (Debian's carries the upstream version), else `uname -r` alone.
fn kernel_profile(s: &Snapshot) -> Option<qdisc::KernelProfile> {
    let section = |k: &str| {
        s.sections
            .get(k)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    let release = section("uname -r");
    let candidates = [
        section("/proc/version_signature").map(str::to_string),
        release
            .zip(section("uname -v"))
            .map(|(r, v)| format!("{r} {v}")),
        release.map(str::to_string),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(|k| qdisc::KernelProfile::from_release(&k).ok())
}

/// What the ENA driver (its `ethtool -i` version, and the kernel when the bundle names it) does about
/// `ena_select_queue`, from `qdisc::driver`.
fn ena_select_queue(v: &str, kernel: Option<&qdisc::KernelProfile>) -> finding::Finding {
    use qdisc::DriverHook;
    let driver = qdisc::Driver::from_ethtool_i("ena", Some(v));
    // amzn-drivers' hook follows the driver's own version; the in-tree one's needs the kernel.
    let hook = driver
        .hook_of_driver()
        .or_else(|| kernel.map(|k| driver.hook(k)));
    let (sev, text) = match hook {
        None => {
            let (_, removal) = qdisc::facts::about(qdisc::facts::Behaviour::EnaSelectQueue);
            (
                Severity::Info,
                format!(
                    "is the in-tree driver: whether it has ena_select_queue depends on the kernel ({}). Give the \
                     kernel (a `txqlab collect` bundle has it) or run `txqlab predict --kernel \"$(uname -rv)\" \
                     --driver ena --path veth`.",
                    removal.map(ToString::to_string).unwrap_or_default()
                ),
            )
        }
        Some(h) => {
            let sev = if h.hook == DriverHook::EnaModulo {
                // Modulo keeps every recorded queue in range: behind the veth bug all pod packets land on queue 0
                // even with XPS set.
                Severity::Warning
            } else {
                Severity::Info
            };
            (
                sev,
                format!(
                    "({driver}): queue-selection hook {} ({}: {}).",
                    h.hook.name(),
                    h.confidence.name(),
                    h.reason
                ),
            )
        }
    };
    with_severity(
        FindingId::EnaSelectQueue,
        sev,
        format!("ENA driver version {v} {text}"),
        json!({ "version": v, "driver": driver.to_string(),
                "hook": hook.map(|h| h.hook.name()) }),
    )
}

fn tc_findings(s: &Snapshot, ctx: &Context, f: &mut Vec<finding::Finding>) {
    let dev = s.device.as_deref();
    for e in &s.tc {
        if e.what == "qdisc" && e.kind == "mq" {
            continue; // mq only sums its children: they say which queue.
        }
        if e.dropped > 0 {
            // Sent counts packets that left; dropped ones never did: widened so that no sum wraps.
            let offered = u128::from(e.packets) + u128::from(e.dropped);
            f.push(finding(
                FindingId::QdiscDrops,
                format!(
                    "{} dropped {} of {offered} packets{}: TCP retransmits follow (200 ms minimum RTO).",
                    e.describe(dev),
                    e.dropped,
                    rate_text(u128::from(e.dropped), ctx)
                ),
                json!({ "device": e.dev.as_deref().or(dev), "kind": e.kind, "handle": e.handle,
                        "parent": e.parent, "dropped": e.dropped, "offered": big(offered),
                        "rate_per_s": rate(u128::from(e.dropped), ctx) }),
            ));
        }
        if e.requeues > 0 {
            f.push(finding(
                FindingId::QdiscRequeues,
                format!(
                    "{} requeued {} packets{}: the driver said busy (ring full).",
                    e.describe(dev),
                    e.requeues,
                    rate_text(u128::from(e.requeues), ctx)
                ),
                json!({ "device": e.dev.as_deref().or(dev), "kind": e.kind, "handle": e.handle,
                        "parent": e.parent, "requeues": e.requeues }),
            ));
        }
    }
}

/// Parses `tc -s` text (kept for the fuzz target and tests).
pub fn parse_tc(text: &str, origin: &str) -> Result<Vec<TcEntry>, Error> {
    tc::parse(text, origin)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_allowances_are_nic_models_eni_counters_in_driver_order() {
        let names: Vec<&str> = ALLOWANCES.iter().map(|(a, _)| a.counter_name()).collect();
        assert_eq!(names, nic_model::stats::EniStats::NAMES);
    }

    #[test]
    fn ena_queue_sums_take_nic_model_names_only_and_skip_invalid_values() {
        let text = "NIC statistics:\n     queue_0_tx_queue_stop: 2\n     queue_11_tx_queue_stop: 3\n     \
                    queue_12_tx_queue_stop: 18446744073709551615\n     queue_1_rx_bad_req_id: 1\n     \
                    queue_2_tx_bad_req_id: 4\n     tx_queue_0_queue_stop: 100\n     queue_x_tx_queue_stop: 100\n";
        let s = read(text.as_bytes(), "t", None).unwrap().pop().unwrap();
        let Typed::Ena(e) = Typed::read(&s, Some(Driver::Ena)).unwrap() else {
            panic!("not ENA")
        };
        assert_eq!(sum_queues(&e.stats.tx, |t| t.queue_stop), 5);
        assert_eq!(sum_queues(&e.stats.tx, |t| t.bad_req_id), 4);
        assert_eq!(sum_queues(&e.stats.rx, |r| r.bad_req_id), 1);
    }
}
