//! Per-TX-queue packet counts of an `mq` device, from `tc -s -j qdisc show dev DEV`.
//!
//! `mq` (`net/sched/sch_mq.c`) gives TX queue `i` the class `HANDLE:i+1` (`mq_queue_get`: `TC_H_MIN(cl) - 1`) and
//! attaches one child qdisc there; the class statistics `tc -s class show` prints are the child's
//! (`mq_dump_class_stats` copies `dev_queue->qdisc_sleeping`'s counters). The child's `packets` in the qdisc dump
//! is therefore the queue's count, and the JSON form of the qdisc dump is stable across iproute2 versions where the
//! class dump of `mq` is not (iproute2 6.1 prints `mq` classes as text even with `-j`).

use serde_json::Value;

use super::error::ProbeError;

/// The packets each TX queue has sent, from the JSON of `tc -s -j qdisc show dev DEV` with `mq` at handle
/// `mq_major:` and `queues` TX queues.
pub fn per_queue_packets(
    dev: &'static str,
    json: &str,
    mq_major: u16,
    queues: u16,
) -> Result<Vec<u64>, ProbeError> {
    let bad = |detail: String| ProbeError::Counters { dev, detail };
    let v: Value = serde_json::from_str(json).map_err(|e| bad(format!("not JSON ({e})")))?;
    let list = v
        .as_array()
        .ok_or_else(|| bad("expected a JSON array of qdiscs".into()))?;
    let root_is_mq = list.iter().any(|q| {
        q.get("kind").and_then(Value::as_str) == Some("mq")
            && q.get("handle").and_then(Value::as_str) == Some(&format!("{mq_major:x}:"))
    });
    if !root_is_mq {
        return Err(bad(format!(
            "no mq qdisc with handle {mq_major:x}: in {json:.200}"
        )));
    }
    let mut counts: Vec<Option<u64>> = vec![None; queues as usize];
    for q in list {
        let Some(parent) = q.get("parent").and_then(Value::as_str) else {
            continue;
        };
        let Some((maj, min)) = parent.split_once(':') else {
            continue;
        };
        if u16::from_str_radix(maj, 16).ok() != Some(mq_major) {
            continue;
        }
        let class = u16::from_str_radix(min, 16).map_err(|_| {
            bad(format!(
                "child qdisc with parent {parent:?}: not a class id"
            ))
        })?;
        let slot = class
            .checked_sub(1)
            .and_then(|i| counts.get_mut(i as usize))
            .ok_or_else(|| {
                bad(format!(
                    "child qdisc under class {parent} but the device has {queues} TX queues"
                ))
            })?;
        let packets = q.get("packets").and_then(Value::as_u64).ok_or_else(|| {
            bad(format!(
                "child qdisc under {parent} has no \"packets\" (was -s given?)"
            ))
        })?;
        if slot.replace(packets).is_some() {
            return Err(bad(format!("two child qdiscs under class {parent}")));
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
                detail: format!("TX queue {q} went from {b} to {a} packets: the qdisc was reset during the probe"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shape of iproute2 6.1's output (`tc -s -j qdisc show dev txq8`), trimmed to two queues.
    const TWO: &str = r#"[{"kind":"mq","handle":"1:","root":true,"options":{},"bytes":90,"packets":7,"drops":0},
        {"kind":"pfifo_fast","handle":"0:","parent":"1:2","options":{"bands":3},"bytes":0,"packets":4,"drops":0},
        {"kind":"pfifo_fast","handle":"0:","parent":"1:1","options":{"bands":3},"bytes":90,"packets":3,"drops":0}]"#;

    #[test]
    fn children_of_mq_give_the_queues_in_order() {
        assert_eq!(per_queue_packets("d", TWO, 1, 2).ok(), Some(vec![3, 4]));
    }

    #[test]
    fn a_missing_queue_or_a_wrong_root_is_an_error_naming_it() {
        let e = per_queue_packets("d", TWO, 1, 3).map_err(|e| e.to_string());
        assert!(matches!(&e, Err(s) if s.contains("TX queue 2")), "{e:?}");
        let e = per_queue_packets("d", TWO, 2, 2).map_err(|e| e.to_string());
        assert!(matches!(&e, Err(s) if s.contains("no mq qdisc")), "{e:?}");
        assert!(per_queue_packets("d", "{", 1, 2).is_err());
        assert!(delta("d", &[5, 1], &[4, 1]).is_err());
        assert_eq!(delta("d", &[5, 1], &[9, 1]).ok(), Some(vec![4, 0]));
    }
}
