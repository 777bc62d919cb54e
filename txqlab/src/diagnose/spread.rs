//! The spread check: how TX packets spread over the queues, from the driver's per-queue counters or, for any
//! driver, from the `mq` qdisc's per-queue classes.

use std::collections::BTreeSet;

use serde_json::json;

use super::counters::{PerQueue, Typed};
use super::driver::{Driver, MAX_TX_QUEUES};
use super::finding::{Finding, FindingId, big, finding};
use super::snapshot::Snapshot;
use super::{Context, rate};

/// A share at or above this on one queue is pinning.
pub const PINNING_SHARE: f64 = 0.9;
/// Fewer TX packets than this are too few to judge the spread.
pub const MIN_PACKETS: u128 = 1000;

/// What the check found.
#[derive(Debug, Default)]
pub struct Spread {
    /// Where the counts came from.
    pub source: Option<String>,
    /// Packets per queue number from 0 to the highest seen.
    pub packets: Vec<Option<u128>>,
    /// Shares.
    pub share: Vec<Option<f64>>,
    /// Packets per second.
    pub per_second: Vec<Option<f64>>,
}

/// The veth bug's signature, its cause and its fix, written from the facts table (`qdisc::facts`).
fn veth_bug() -> String {
    use qdisc::facts::{VETH_FIX, VETH_RECORD};
    format!(
        "Pod egress pinned to one queue is the signature of the veth rx-queue bug: kernels with {VETH_RECORD} and \
         without the fix {VETH_FIX} record rx queue 0 on every packet a pod sends through its veth, and \
         netdev_pick_tx's skb_tx_hash then returns TX queue 0 for all of them. Fix: a kernel with {}. Workaround: \
         reset skb->queue_mapping on the host side of the veth (Cilium does, PR 18388). One elephant flow pins a \
         queue too: check how many flows there are.",
        VETH_FIX.commit
    )
}

fn cause(driver: Option<Driver>) -> String {
    let specific = match driver {
        Some(Driver::Ena) => {
            " On ENA the driver's own ena_select_queue (in-tree until 78e886ba2b54, amzn-drivers before 2.12.0) follows the \
             recorded queue ahead of XPS. Confirm with `txqlab predict --kernel $(uname -r) --driver ena --path veth`."
        }
        Some(Driver::VirtioNet) => {
            " virtio_net sets an XPS map by CPU by default, and XPS wins over a recorded rx queue: pinning here means \
             XPS was cleared or maps every CPU to one queue (check /sys/class/net/DEV/queues/tx-*/xps_cpus). Confirm \
             with `txqlab predict --kernel $(uname -r) --driver virtio_net --path veth`."
        }
        _ => {
            " An XPS map (/sys/class/net/DEV/queues/tx-*/xps_cpus) wins over the recorded queue when set. Confirm \
             with `txqlab predict --kernel $(uname -r) --driver other --path veth`."
        }
    };
    format!("{}{specific}", veth_bug())
}

/// Why the spread check has no per-queue counts.
#[derive(Debug, thiserror::Error)]
enum NoPerQueue {
    /// tc output of several devices with mq and no `--dev`.
    #[error("the tc output has mq qdiscs on {}: choose the device with --dev", devices.join(", "))]
    SeveralMqDevices {
        /// The devices with an mq qdisc.
        devices: Vec<String>,
    },
    /// veth (`veth_get_ethtool_stats`) has per-queue XDP counters only.
    #[error("veth prints no per-queue TX packet counter (only XDP ones)")]
    Veth,
    /// A known driver whose per-queue counter is absent from the input.
    #[error("no {driver} per-queue TX counter in the input")]
    NoDriverCounter {
        /// The driver's name.
        driver: &'static str,
    },
    /// A driver whose per-queue counter names txqlab does not know.
    #[error("the driver ({driver}) is not one whose per-queue TX counter names txqlab knows")]
    UnknownDriver {
        /// The driver's name as the input gives it.
        driver: String,
    },
    /// An mq class or child qdisc whose number stands for a queue no Linux device has.
    #[error(
        "{entry} (line {line}) stands for TX queue {queue}, beyond the {MAX_TX_QUEUES} queues a Linux device can \
         have (rtnl_create_link): not one device's tc output"
    )]
    QueueBeyondDevice {
        /// How the entry is named.
        entry: String,
        /// Its line.
        line: usize,
        /// The queue its number stands for.
        queue: u32,
    },
    /// Neither `ethtool -S` nor an mq qdisc.
    #[error("the input has no ethtool -S counters and no mq qdisc")]
    NoInput,
}

impl NoPerQueue {
    /// How to get per-queue counts, after the reason: none when the input itself is not a device's.
    fn advice(&self) -> &'static str {
        match self {
            Self::QueueBeyondDevice { .. } => "",
            _ => {
                " Per-queue counts for any driver come from the mq qdisc: add `tc -s class show dev DEV` (with `tc \
                 qdisc replace dev DEV root handle 1: mq` if the root qdisc is not mq), or run `txqlab diagnose \
                 --live DEV`."
            }
        }
    }
}

/// Per-queue counts from the `mq` classes (or the mq root's child qdiscs) of one device.
fn from_tc(s: &Snapshot) -> Result<Option<PerQueue>, NoPerQueue> {
    let mq_devs: BTreeSet<Option<&str>> =
        s.tc.iter()
            .filter(|e| e.kind == "mq")
            .map(|e| e.dev.as_deref())
            .collect();
    if mq_devs.is_empty() {
        return Ok(None);
    }
    if mq_devs.len() > 1 && s.device.is_none() {
        return Err(NoPerQueue::SeveralMqDevices {
            devices: mq_devs
                .iter()
                .map(|d| d.unwrap_or("?").to_string())
                .collect(),
        });
    }
    let dev = s.device.as_deref();
    let mine =
        |e: &&super::tc::TcEntry| e.dev.is_none() || e.dev.as_deref() == dev || dev.is_none();
    let mq_handles: Vec<String> =
        s.tc.iter()
            .filter(mine)
            .filter(|e| e.what == "qdisc" && e.kind == "mq")
            .map(|e| e.handle.clone())
            .collect();
    let classes =
        s.tc.iter()
            .filter(mine)
            .any(|e| e.what == "class" && e.kind == "mq");
    let mut out = PerQueue::new();
    for e in s.tc.iter().filter(mine) {
        if classes != (e.what == "class") {
            continue;
        }
        if let Some(q) = e.mq_queue(&mq_handles) {
            if q >= MAX_TX_QUEUES {
                return Err(NoPerQueue::QueueBeyondDevice {
                    entry: e.describe(dev),
                    line: e.line,
                    queue: q,
                });
            }
            out.entry(q).or_default().0 += u128::from(e.packets);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Runs the spread check, pushing its findings.
pub fn check(
    s: &Snapshot,
    driver: Option<Driver>,
    typed: &Typed,
    ctx: &Context,
    f: &mut Vec<Finding>,
) -> Spread {
    let (source, counts) = match per_queue(s, driver, typed) {
        Ok(x) => x,
        Err(why) => {
            f.push(finding(
                FindingId::PerQueueUnavailable,
                format!("the TX spread check did not run: {why}.{}", why.advice()),
                json!({ "reason": why.to_string() }),
            ));
            return Spread::default();
        }
    };
    let max = counts.keys().next_back().copied().unwrap_or(0);
    let queues = max as usize + 1;
    let invalid: Vec<u32> = counts
        .iter()
        .filter(|(_, (_, bad))| *bad)
        .map(|(q, _)| *q)
        .collect();
    let total: u128 = counts
        .values()
        .filter(|(_, bad)| !bad)
        .map(|(n, _)| *n)
        .sum();
    missing_queues(&counts, f);
    let spread = spread_of(source, &counts, invalid.is_empty(), total, ctx);
    if let Some(why) = unjudgeable(&counts, &invalid, total, queues) {
        f.push(why);
        return spread;
    }
    judge(&spread, judged_queues(&counts), queues, total, driver, f);
    spread
}

/// Packets, shares and rates per queue number up to the highest present; no shares when a count is invalid.
fn spread_of(
    source: String,
    counts: &PerQueue,
    all_valid: bool,
    total: u128,
    ctx: &Context,
) -> Spread {
    let max = counts.keys().next_back().copied().unwrap_or(0);
    let packets: Vec<Option<u128>> = (0..=max)
        .map(|q| counts.get(&q).filter(|(_, bad)| !bad).map(|(n, _)| *n))
        .collect();
    let share: Vec<Option<f64>> = packets
        .iter()
        .map(|n| {
            n.filter(|_| all_valid).map(|n| {
                if total == 0 {
                    0.0
                } else {
                    n as f64 / total as f64
                }
            })
        })
        .collect();
    let per_second: Vec<Option<f64>> = match ctx.interval_s {
        Some(_) => packets
            .iter()
            .map(|n| n.and_then(|n| rate(n, ctx)))
            .collect(),
        None => Vec::new(),
    };
    Spread {
        source: Some(source),
        packets,
        share,
        per_second,
    }
}

/// Queue numbers below the highest one that have no count (an edited or truncated dump).
fn missing_queues(counts: &PerQueue, f: &mut Vec<Finding>) {
    let max = counts.keys().next_back().copied().unwrap_or(0);
    let queues = max as usize + 1;
    let missing: Vec<u32> = (0..=max).filter(|q| !counts.contains_key(q)).collect();
    if missing.is_empty() {
        return;
    }
    let list: Vec<String> = missing.iter().take(10).map(u32::to_string).collect();
    f.push(finding(
        FindingId::QueueNumbersMissing,
        format!(
            "queues {}{} have no counter although queue {max} does: an edited or truncated dump. Shares are of \
             the {} queues present; the device has at least {queues}.",
            list.join(", "),
            if missing.len() > 10 { ", ..." } else { "" },
            counts.len()
        ),
        json!({ "missing": missing, "queues": queues }),
    ));
}

/// Why counts that exist still cannot be judged: an invalid count, a single queue, too few packets.
fn unjudgeable(counts: &PerQueue, invalid: &[u32], total: u128, queues: usize) -> Option<Finding> {
    if !invalid.is_empty() {
        // counter_invalid names the counters; the spread of the rest would be a guess.
        return Some(finding(
            FindingId::PerQueueUnavailable,
            format!(
                "the TX spread check did not run: the counts of queues {invalid:?} are invalid (2^64-1), so no share \
                 can be computed."
            ),
            json!({ "reason": "invalid counters", "queues": invalid }),
        ));
    }
    if counts.len() < 2 {
        return Some(finding(
            FindingId::PerQueueUnavailable,
            "the TX spread check did not run: the input has the count of one TX queue only, so there is no spread to \
             judge."
                .to_string(),
            json!({ "reason": "single queue" }),
        ));
    }
    (total < MIN_PACKETS).then(|| {
        finding(
            FindingId::TooFewPackets,
            format!(
                "only {total} TX packets: too few to judge how traffic spreads over the {queues} queues (at least \
                 {MIN_PACKETS} needed)"
            ),
            json!({ "packets": big(total) }),
        )
    })
}

/// The per-queue counts and where they came from: the driver's own counters (typed for ENA and virtio_net,
/// else by the driver's name scheme), else the mq classes; `Err` says why neither exists.
fn per_queue(
    s: &Snapshot,
    driver: Option<Driver>,
    typed: &Typed,
) -> Result<(String, PerQueue), NoPerQueue> {
    if let Some((pattern, m)) = typed.tx_packets() {
        if !m.is_empty() {
            return Ok((format!("ethtool -S {pattern}"), m));
        }
    } else if let Some(sc) = s.tx_scheme() {
        let m = s.ethtool.tx_per_queue(sc);
        if !m.is_empty() {
            return Ok((format!("ethtool -S {}", sc.pattern()), m));
        }
    }
    if let Some(m) = from_tc(s)? {
        return Ok(("tc mq classes".to_string(), m));
    }
    Err(match (driver, s.ethtool.is_empty()) {
        (Some(Driver::Veth), _) => NoPerQueue::Veth,
        (Some(d), false) => NoPerQueue::NoDriverCounter { driver: d.name() },
        (None, false) => NoPerQueue::UnknownDriver {
            driver: s.driver_name().to_string(),
        },
        (_, true) => NoPerQueue::NoInput,
    })
}

/// With queue numbers missing, fairness is judged over the queues present: nothing is known of the others.
fn judged_queues(counts: &PerQueue) -> usize {
    counts.len()
}

/// Pinning or imbalance of a spread with enough packets.
fn judge(
    spread: &Spread,
    judged: usize,
    queues: usize,
    total: u128,
    driver: Option<Driver>,
    f: &mut Vec<Finding>,
) {
    let (q, max_share) = spread
        .share
        .iter()
        .enumerate()
        .filter_map(|(q, s)| s.map(|s| (q, s)))
        .fold((0, 0.0), |a, (q, s)| if s > a.1 { (q, s) } else { a });
    let fair = 1.0 / judged as f64;
    if max_share >= PINNING_SHARE {
        f.push(finding(
            FindingId::TxQueuePinning,
            format!(
                "TX queue {q} carries {:.1}% of {total} TX packets on a device with {queues} TX queues. {}",
                max_share * 100.0,
                cause(driver)
            ),
            json!({ "queue": q, "share": max_share, "queues": queues, "packets": big(total) }),
        ));
    } else if max_share > 2.0 * fair {
        f.push(finding(
            FindingId::TxQueueImbalance,
            format!(
                "TX queue {q} carries {:.1}% of {total} TX packets, more than twice its fair {:.1}% of {judged} \
                 queues: few flows, a skewed hash, XPS or traffic classes steer it. Check `txqlab predict` for this \
                 kernel and path.",
                max_share * 100.0,
                fair * 100.0
            ),
            json!({ "queue": q, "share": max_share, "queues": queues, "packets": big(total) }),
        ));
    }
}
