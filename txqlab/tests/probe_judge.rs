//! The probe's judging on synthetic per-queue counts: affected, not affected, and every inconclusive case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use qdisc::PickRules;
use txqlab::probe::judge::{Predictions, Verdict, judge, predictions};

const PER_FLOW: u32 = 4;

fn preds(flows: u32) -> Predictions {
    predictions(PickRules::default(), 8, 0, flows).unwrap()
}

/// Counts measured by `txqlab probe` on this machine's fixed kernel (6.18.44): pod and node, 256 flows x 4.
const SPREAD_POD: [u64; 8] = [136, 140, 104, 144, 96, 168, 108, 128];
const SPREAD_NODE: [u64; 8] = [172, 144, 100, 132, 128, 104, 148, 96];
/// What an affected kernel does: every forwarded packet on TX queue 0 (the recorded rx queue of the pod's
/// single-queue veth).
const PINNED: [u64; 8] = [1024, 0, 0, 0, 0, 0, 0, 0];

#[test]
fn spread_pod_traffic_is_not_affected() {
    let j = judge(&preds(256), &SPREAD_POD, &SPREAD_NODE, PER_FLOW);
    assert_eq!(j.verdict, Verdict::NotAffected, "{}", j.reason);
    assert_eq!(j.branch, Some("flow_hash"));
}

#[test]
fn pod_traffic_pinned_to_the_recorded_queue_is_affected() {
    let j = judge(&preds(256), &PINNED, &SPREAD_NODE, PER_FLOW);
    assert_eq!(j.verdict, Verdict::Affected, "{}", j.reason);
    assert_eq!(j.branch, Some("rx_recorded"));
    assert!(j.reason.contains("710ad98c363a"));
}

#[test]
fn pinned_to_another_queue_is_not_the_bug() {
    // All on queue 3: not where the recorded rx queue 0 puts it, and not a hash spread.
    let j = judge(
        &preds(256),
        &[0, 0, 0, 1024, 0, 0, 0, 0],
        &SPREAD_NODE,
        PER_FLOW,
    );
    assert_eq!(j.verdict, Verdict::Inconclusive);
    assert!(j.reason.contains("fits neither"), "{}", j.reason);
}

#[test]
fn missing_traffic_is_inconclusive() {
    let j = judge(&preds(256), &[0; 8], &SPREAD_NODE, PER_FLOW);
    assert_eq!(j.verdict, Verdict::Inconclusive);
    assert!(
        j.reason.contains("counted 0 packets from the pod"),
        "{}",
        j.reason
    );
    let mut lost = SPREAD_POD;
    lost[5] -= 4;
    let j = judge(&preds(256), &lost, &SPREAD_NODE, PER_FLOW);
    assert!(j.reason.contains("was lost"), "{}", j.reason);
    let j = judge(&preds(256), &SPREAD_POD, &[0; 8], PER_FLOW);
    assert!(j.reason.contains("from the node"), "{}", j.reason);
}

#[test]
fn extra_packets_on_the_egress_are_inconclusive() {
    // e.g. an IPv6 router solicitation counted with the probe's traffic.
    let mut extra = SPREAD_POD;
    extra[6] += 1;
    let j = judge(&preds(256), &extra, &SPREAD_NODE, PER_FLOW);
    assert_eq!(j.verdict, Verdict::Inconclusive);
    assert!(j.reason.contains("was added"), "{}", j.reason);
}

#[test]
fn too_few_flows_cannot_tell_the_kernels_apart() {
    // One flow lands on one queue either way.
    let j = judge(
        &preds(1),
        &[4, 0, 0, 0, 0, 0, 0, 0],
        &[0, 0, 4, 0, 0, 0, 0, 0],
        PER_FLOW,
    );
    assert_eq!(j.verdict, Verdict::Inconclusive);
    assert!(j.reason.contains("too few"), "{}", j.reason);
}

#[test]
fn a_failed_control_gives_no_verdict() {
    // The node's own traffic on half the queues (an XPS map of the sending CPU would do this): the pod's
    // pinning could not be blamed on veth.
    let node = [256, 0, 256, 0, 256, 0, 256, 0];
    let j = judge(&preds(256), &PINNED, &node, PER_FLOW);
    assert_eq!(j.verdict, Verdict::Inconclusive);
    assert!(j.reason.contains("control failed"), "{}", j.reason);
}

#[test]
fn counts_for_the_wrong_number_of_queues_are_inconclusive() {
    let j = judge(&preds(256), &[1024, 0, 0, 0], &SPREAD_NODE, PER_FLOW);
    assert_eq!(j.verdict, Verdict::Inconclusive);
    assert!(j.reason.contains("cover 4 TX queues"), "{}", j.reason);
}

#[test]
fn huge_counters_do_not_overflow() {
    let j = judge(&preds(256), &[u64::MAX; 8], &[u64::MAX; 8], PER_FLOW);
    assert_eq!(j.verdict, Verdict::Inconclusive);
}
