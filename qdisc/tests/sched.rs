//! The child qdiscs and mq against what the kernel's would do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use qdisc::sched::{EnqueueResult, FqCodel, FqCodelConfig, Mq, PfifoFast, QPkt, Qdisc};

const MS: u64 = 1_000_000;

fn pkt(tag: u64, hash: u32, len: u32, priority: u32) -> QPkt {
    QPkt {
        len,
        hash,
        priority,
        tag,
        enqueue_ns: 0,
    }
}

fn none(_: &QPkt) {}

#[test]
fn pfifo_fast_serves_band_zero_first_and_drops_at_a_full_band() {
    let mut q: PfifoFast<8> = PfifoFast::new(2).unwrap();
    // priority 0 -> band 1, priority 1 -> band 2, priority 6 (TC_PRIO_INTERACTIVE) -> band 0.
    assert_eq!(
        q.enqueue(pkt(1, 0, 100, 1), 0, &mut none),
        EnqueueResult::Queued
    );
    assert_eq!(
        q.enqueue(pkt(2, 0, 100, 0), 0, &mut none),
        EnqueueResult::Queued
    );
    assert_eq!(
        q.enqueue(pkt(3, 0, 100, 6), 0, &mut none),
        EnqueueResult::Queued
    );
    assert_eq!(
        q.enqueue(pkt(4, 0, 100, 0), 0, &mut none),
        EnqueueResult::Queued
    );
    let mut dropped = Vec::new();
    assert_eq!(
        q.enqueue(pkt(5, 0, 100, 0), 0, &mut |p| dropped.push(p.tag)),
        EnqueueResult::Dropped
    );
    assert_eq!(dropped, [5]);
    assert_eq!(q.band_lens(), [1, 2, 1]);
    let order: Vec<u64> = std::iter::from_fn(|| q.dequeue(0, &mut none))
        .map(|p| p.tag)
        .collect();
    assert_eq!(order, [3, 2, 4, 1]);
    let s = q.stats();
    assert_eq!(
        (s.packets, s.bytes, s.drops, s.qlen, s.backlog_bytes),
        (4, 400, 1, 0, 0)
    );
}

#[test]
fn a_requeued_packet_leaves_first_and_is_counted() {
    let mut q: PfifoFast<8> = PfifoFast::new(8).unwrap();
    q.enqueue(pkt(1, 0, 100, 0), 0, &mut none);
    q.enqueue(pkt(2, 0, 100, 0), 0, &mut none);
    let first = q.dequeue(0, &mut none).unwrap();
    q.requeue(first);
    assert_eq!(q.dequeue(0, &mut none).unwrap().tag, 1);
    let s = q.stats();
    assert_eq!((s.requeues, s.packets, s.qlen), (1, 1, 1));
}

fn fq(limit: u32) -> FqCodel<64, 512> {
    FqCodel::new(FqCodelConfig {
        limit,
        flows: 64,
        ..FqCodelConfig::default()
    })
    .unwrap()
}

#[test]
fn fq_codel_serves_a_new_thin_flow_before_the_fat_one_drains() {
    let mut q = fq(500);
    for i in 0..100 {
        q.enqueue(pkt(i, 0, 1500, 0), 0, &mut none);
    }
    // Drain a few, so the fat flow has been moved to the old list.
    for _ in 0..3 {
        q.dequeue(0, &mut none).unwrap();
    }
    q.enqueue(pkt(999, u32::MAX, 100, 0), 0, &mut none);
    let next: Vec<u64> = (0..2)
        .map(|_| q.dequeue(0, &mut none).unwrap().tag)
        .collect();
    assert!(
        next.contains(&999),
        "the new flow must be served within one round: {next:?}"
    );
    assert_eq!(q.xstats().new_flow_count, 2);
}

#[test]
fn codel_drops_only_after_a_full_interval_above_target_then_faster() {
    let mut q = fq(500);
    for i in 0..490 {
        q.enqueue(pkt(i, 7, 1500, 0), 0, &mut none);
    }
    // One packet leaves per millisecond: the sojourn time grows by 1 ms per packet.
    let mut drop_times = Vec::new();
    for t in 1..=460u64 {
        let now = t * MS;
        q.dequeue(now, &mut |_| drop_times.push(now));
    }
    // Above target (5 ms) from t = 5 ms, so no drop before 5 + 100 ms.
    assert!(drop_times.iter().all(|t| *t > 105 * MS), "{drop_times:?}");
    assert_eq!(drop_times[0], 106 * MS);
    // The control law: the k-th gap is interval / sqrt(k) (100, 70.7, 57.7, 50, 44.7 ms), seen at the 1 ms
    // granularity of the dequeues.
    let gaps: Vec<u64> = drop_times.windows(2).map(|w| (w[1] - w[0]) / MS).collect();
    assert!(gaps.len() >= 5, "{drop_times:?}");
    for (k, g) in gaps.iter().take(5).enumerate() {
        let law = 100.0 / ((k + 1) as f64).sqrt();
        assert!(
            (*g as f64 - law).abs() <= 1.0,
            "gap {k}: {g} ms, law {law:.1} ms ({gaps:?})"
        );
    }
    assert_eq!(q.xstats().codel_drops, drop_times.len() as u64);
    assert_eq!(q.stats().drops, drop_times.len() as u64);
}

#[test]
fn over_the_limit_fq_codel_drops_from_the_fattest_flow_only() {
    let mut q = fq(100);
    let mut dropped = Vec::new();
    for i in 0..10 {
        q.enqueue(pkt(1000 + i, u32::MAX, 100, 0), 0, &mut |p| {
            dropped.push(p.tag)
        });
    }
    let mut results = Vec::new();
    for i in 0..150 {
        results.push(q.enqueue(pkt(i, 0, 1500, 0), 0, &mut |p| dropped.push(p.tag)));
    }
    assert!(!dropped.is_empty());
    assert!(
        dropped.iter().all(|t| *t < 1000),
        "the thin flow lost packets: {dropped:?}"
    );
    assert!(results.contains(&EnqueueResult::Congested));
    assert!(q.stats().qlen <= 100);
    assert_eq!(q.xstats().drop_overlimit, dropped.len() as u64);
    // Drops come from the head of the fat flow, up to half of its backlog per event.
    assert_eq!(dropped[0], 0);
}

#[test]
fn impossible_configurations_are_errors() {
    assert!(
        FqCodel::<64, 512>::new(FqCodelConfig {
            limit: 512,
            flows: 64,
            ..FqCodelConfig::default()
        })
        .is_err()
    );
    assert!(
        FqCodel::<64, 512>::new(FqCodelConfig {
            flows: 65,
            limit: 10,
            ..FqCodelConfig::default()
        })
        .is_err()
    );
    assert!(PfifoFast::<8>::new(9).is_err());
    assert!(Mq::<PfifoFast<8>, 4>::new(1, 5, |_| PfifoFast::new(8)).is_err());
}

#[test]
fn mq_sums_its_children_and_prints_like_tc() {
    let mut mq: Mq<FqCodel<64, 512>, 8> = Mq::new(1, 8, |_| Ok(fq(100))).unwrap();
    for i in 0..16u64 {
        mq.enqueue(0, pkt(i, i as u32 * 0x1000_0000, 1000, 0), 0, &mut none);
    }
    mq.enqueue(3, pkt(99, 5, 500, 0), 0, &mut none);
    mq.child_mut(0).unwrap().dequeue(0, &mut none).unwrap();
    let s = mq.stats();
    assert_eq!(
        (s.packets, s.bytes, s.qlen, s.backlog_bytes),
        (1, 1000, 16, 15_500)
    );
    let mut out = String::new();
    mq.write_tc_s(&mut out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "qdisc mq 1: root ");
    assert_eq!(
        lines[1],
        " Sent 1000 bytes 1 pkt (dropped 0, overlimits 0 requeues 0) "
    );
    assert_eq!(lines[2], " backlog 15500b 16p requeues 0");
    assert!(lines[3].starts_with(
        "qdisc fq_codel 0: parent 1:1 limit 100p flows 64 quantum 1514 target 5ms interval 100ms"
    ));
    assert!(out.contains("qdisc fq_codel 0: parent 1:8 "));
    assert!(out.contains("  maxpacket 1000 drop_overlimit 0 new_flow_count 16 ecn_mark 0"));
}
