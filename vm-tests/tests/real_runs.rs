//! Console logs recorded from real runs (Debian 6.1.192 with and without the fix, under QEMU) are parsed and
//! judged as the live harness judged them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vm_tests::console::parse;
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
        .map(|j| (j.egress.as_str(), j.xps.as_str()))
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
    assert!(b.cases.iter().all(|c| c.egress == "dummy"));
    let (v, judged) = classify(&b.cases).unwrap();
    assert_eq!(v, Verdict::Affected);
    assert!(judged.iter().all(|j| j.matches), "{judged:?}");
}
