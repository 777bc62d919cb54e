//! Per-TX-queue packet counts of an `mq` device, from its qdisc dump (`RTM_GETQDISC`, what `tc -s qdisc show`
//! reads).
//!
//! `mq` (`net/sched/sch_mq.c`) gives TX queue `i` the class `HANDLE:i+1` (`mq_queue_get`: `TC_H_MIN(cl) - 1`) and
//! attaches one child qdisc there; the class statistics `tc -s class show` prints are the child's
//! (`mq_dump_class_stats` copies `dev_queue->qdisc_sleeping`'s counters). The child's packets in the qdisc dump
//! are therefore the queue's count.

use super::error::ProbeError;
use super::rtnl::QdiscStats;

/// The packets each TX queue has sent, from the qdisc dump of a device with `mq` at handle `mq_major:` and
/// `queues` TX queues.
pub fn per_queue_packets(
    dev: &'static str,
    qdiscs: &[QdiscStats],
    mq_major: u16,
    queues: u16,
) -> Result<Vec<u64>, ProbeError> {
    let bad = |detail: String| ProbeError::Counters { dev, detail };
    let root_is_mq = qdiscs
        .iter()
        .any(|q| q.kind == "mq" && q.handle.major == mq_major && q.handle.minor == 0);
    if !root_is_mq {
        let kinds: Vec<&str> = qdiscs.iter().map(|q| q.kind.as_str()).collect();
        return Err(bad(format!(
            "no mq qdisc with handle {mq_major:x}: (qdiscs: {kinds:?})"
        )));
    }
    let mut counts: Vec<Option<u64>> = vec![None; queues as usize];
    for q in qdiscs.iter().filter(|q| q.parent.major == mq_major) {
        let class = q.parent.minor;
        let slot = class
            .checked_sub(1)
            .and_then(|i| counts.get_mut(i as usize))
            .ok_or_else(|| {
                bad(format!(
                    "child qdisc under class {mq_major:x}:{class:x} but the device has {queues} TX queues"
                ))
            })?;
        if slot.replace(q.packets).is_some() {
            return Err(bad(format!(
                "two child qdiscs under class {mq_major:x}:{class:x}"
            )));
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            c.ok_or_else(|| {
                bad(format!(
                    "no child qdisc under class {mq_major:x}:{:x} (TX queue {i})",
                    i + 1
                ))
            })
        })
        .collect()
}

/// `after - before` per queue; a counter that went backwards is an error (the qdisc was replaced meanwhile).
pub fn delta(dev: &'static str, before: &[u64], after: &[u64]) -> Result<Vec<u64>, ProbeError> {
    if before.len() != after.len() {
        return Err(ProbeError::Counters {
            dev,
            detail: format!("{} queues before, {} after", before.len(), after.len()),
        });
    }
    before
        .iter()
        .zip(after)
        .enumerate()
        .map(|(q, (b, a))| {
            a.checked_sub(*b).ok_or_else(|| ProbeError::Counters {
                dev,
                detail: format!(
                    "TX queue {q} went from {b} to {a} packets: the qdisc was reset during the probe"
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::tc::TcHandle;

    fn q(kind: &str, parent: (u16, u16), handle: (u16, u16), packets: u64) -> QdiscStats {
        QdiscStats {
            ifindex: 3,
            parent: TcHandle {
                major: parent.0,
                minor: parent.1,
            },
            handle: TcHandle {
                major: handle.0,
                minor: handle.1,
            },
            kind: kind.into(),
            packets,
        }
    }

    /// A dump of mq with two pfifo_fast children, in the kernel's order (highest class first).
    fn two() -> Vec<QdiscStats> {
        vec![
            q("mq", (0xffff, 0xffff), (1, 0), 7),
            q("pfifo_fast", (1, 2), (0, 0), 4),
            q("pfifo_fast", (1, 1), (0, 0), 3),
        ]
    }

    #[test]
    fn children_of_mq_give_the_queues_in_order() {
        assert_eq!(per_queue_packets("d", &two(), 1, 2).ok(), Some(vec![3, 4]));
    }

    #[test]
    fn a_missing_queue_or_a_wrong_root_is_an_error_naming_it() {
        let e = per_queue_packets("d", &two(), 1, 3).map_err(|e| e.to_string());
        assert!(matches!(&e, Err(s) if s.contains("TX queue 2")), "{e:?}");
        let e = per_queue_packets("d", &two(), 2, 2).map_err(|e| e.to_string());
        assert!(matches!(&e, Err(s) if s.contains("no mq qdisc")), "{e:?}");
        let mut dup = two();
        dup.push(q("pfifo", (1, 1), (0x10, 0), 1));
        assert!(per_queue_packets("d", &dup, 1, 2).is_err());
        assert!(delta("d", &[5, 1], &[4, 1]).is_err());
        assert_eq!(delta("d", &[5, 1], &[9, 1]).ok(), Some(vec![4, 0]));
    }
}
