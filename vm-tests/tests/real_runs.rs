//! Console logs recorded from real runs (Debian 6.1.192 with and without the fix, under QEMU) are parsed and
//! judged as the live harness judged them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vm_tests::console::{Egress, Xps, parse};
use vm_tests::verdict::{Verdict, classify};

fn log(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn the_fixed_kernel_is_not_affected_and_every_case_matches() {
    let b = parse(&log("console-6.1.192-fixed.log"), None).unwrap();
    assert_eq!(b.kernel, "6.1.192");
    assert_eq!(b.cases.len(), 8);
    let (v, judged) = classify(&b.cases).unwrap();
    assert_eq!(v, Verdict::NotAffected);
    assert!(judged.iter().all(|j| j.matches), "{judged:?}");
}

#[test]
fn the_reverted_kernel_is_affected_and_every_case_matches() {
    let b = parse(&log("console-6.1.192-fix-reverted.log"), None).unwrap();
    let (v, judged) = classify(&b.cases).unwrap();
    assert_eq!(v, Verdict::Affected);
    assert!(judged.iter().all(|j| j.matches), "{judged:?}");
    let pinned: Vec<_> = judged
        .iter()
        .filter(|j| j.per_queue[0] == 1024)
        .map(|j| (j.egress.name(), j.xps.name()))
        .collect();
    // Pinned: forwarded traffic out of dummy (either XPS setting: dummy installs none) and out of virtio with
    // XPS cleared; virtio's default XPS map hides the bug.
    assert_eq!(
        pinned,
        [
            ("dummy", "default"),
            ("dummy", "cleared"),
            ("virtio", "cleared")
        ]
    );
}

#[test]
fn a_recorded_log_cut_short_is_a_hang_not_a_pass() {
    let full = log("console-6.1.192-fixed.log");
    let cut = &full[..full.find("TXQLAB-CASE egress=virtio").unwrap()];
    assert!(
        parse(cut, Some(240))
            .unwrap_err()
            .to_string()
            .contains("did not finish within 240 s")
    );
}

#[test]
fn a_virtme_ng_run_of_the_reverted_kernel_is_affected() {
    // `vm-tests run --runner vng`: the guest booted the host's filesystem; dummy-device cases only.
    let b = parse(&log("vng-6.1.192-fix-reverted.log"), None).unwrap();
    assert_eq!(b.cases.len(), 4);
    assert!(b.cases.iter().all(|c| c.egress == Egress::Dummy));
    let (v, judged) = classify(&b.cases).unwrap();
    assert_eq!(v, Verdict::Affected);
    assert!(judged.iter().all(|j| j.matches), "{judged:?}");
}

/// Recorded from the first runs of `txqlab probe` and the selftest in the guests of Debian's 6.1.192 with and
/// without the fix (the fix-reverted one is the first real kernel with the bug either was run on).
#[test]
fn probe_and_selftest_agree_with_the_matrix_on_both_kernels() {
    use vm_tests::checks;
    for (file, want, probe_says, selftest_says) in [
        (
            "console-6.1.192-fixed-probe-selftest.log",
            Verdict::NotAffected,
            "not_affected",
            "pass",
        ),
        (
            "console-6.1.192-fix-reverted-probe-selftest.log",
            Verdict::Affected,
            "affected",
            "fail",
        ),
    ] {
        let b = parse(&log(file), None).unwrap();
        let (v, judged) = vm_tests::verdict::classify_on(&b.cases, &b.kernel).unwrap();
        assert_eq!(v, want, "{file}");
        assert!(judged.iter().all(|j| j.matches), "{file}");
        let p = checks::probe(b.probe.as_ref(), v);
        assert!(p.matches && p.got == probe_says, "{file}: {p:?}");
        let s = checks::selftest(b.selftest.as_ref(), v);
        assert!(s.matches && s.got == selftest_says, "{file}: {s:?}");
        // And each would have caught a kernel that behaved the other way.
        let other = if v == Verdict::Affected {
            Verdict::NotAffected
        } else {
            Verdict::Affected
        };
        assert!(!checks::probe(b.probe.as_ref(), other).matches);
        assert!(!checks::selftest(b.selftest.as_ref(), other).matches);
    }
}

/// Debian's 6.12.117 with and without the fix, the default run's second kernel: the 12 cases (a default and a
/// multi-queue veth pod), the probe and the selftest, judged with 6.12's rules.
#[test]
fn debian_6_12_with_and_without_the_fix_including_the_multi_queue_veth_pod() {
    use vm_tests::checks;
    for (file, want) in [
        ("console-6.12.117-fixed.log", Verdict::NotAffected),
        ("console-6.12.117-fix-reverted.log", Verdict::Affected),
    ] {
        let b = parse(&log(file), None).unwrap();
        assert_eq!(b.kernel, "6.12.117");
        assert_eq!(b.cases.len(), 12, "{file}");
        let (v, judged) = vm_tests::verdict::classify_on(&b.cases, &b.kernel).unwrap();
        assert_eq!(v, want, "{file}");
        assert!(judged.iter().all(|j| j.matches), "{file}: {judged:?}");
        assert!(checks::probe(b.probe.as_ref(), v).matches, "{file}");
        assert!(checks::selftest(b.selftest.as_ref(), v).matches, "{file}");
        // The multi-queue veth pod: with the fix, the veth's TX queue k > 0 is left in queue_mapping and reads as rx
        // queue k - 1 on the egress, and k = 0 hashes to queue 0 again with the same flow hash: queue 7 stays empty,
        // queue 0 gets two shares. Without the fix, skb_record_rx_queue makes it k itself: all eight used.
        let mq = judged
            .iter()
            .find(|j| {
                j.egress == Egress::Dummy
                    && vm_tests::console::path_name(j.path) == "vethmq"
                    && j.xps == Xps::Cleared
            })
            .unwrap();
        match v {
            Verdict::NotAffected => assert_eq!(mq.per_queue[7], 0, "{mq:?}"),
            Verdict::Affected => assert!(mq.per_queue.iter().all(|&n| n > 0), "{mq:?}"),
        }
    }
}
