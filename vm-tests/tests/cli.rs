//! The harness's command line without booting anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn a_missing_kernel_image_is_an_error_naming_it() {
    let o = Command::new(env!("CARGO_BIN_EXE_vm-tests"))
        .args(["run", "--kernel", "/nonexistent/bzImage"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("/nonexistent/bzImage: no such kernel image")
    );
}

#[test]
fn a_tree_that_is_not_a_kernel_is_refused() {
    let o = Command::new(env!("CARGO_BIN_EXE_vm-tests"))
        .args(["build", "--kernel-src", "/tmp"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a kernel tree"));
}

#[test]
fn the_guest_script_covers_the_whole_matrix() {
    let s = vm_tests::guest::script(true);
    for needle in [
        "run_egress dummy dum8",
        "run_egress virtio eth0",
        "for path in host veth",
        "default",
        "cleared",
        "256 4",
    ] {
        assert!(s.contains(needle), "{needle}");
    }
    assert!(!vm_tests::guest::script(false).contains("run_egress virtio"));
}

#[test]
fn the_vng_script_runs_the_dummy_cases_with_the_host_tools() {
    let s = vm_tests::guest::vng_script(std::path::Path::new("/cache/txqlab-txgen"));
    assert!(s.contains("run_egress dummy dum8") && !s.contains("run_egress virtio"));
    assert!(s.contains("/cache/txqlab-txgen 192") || s.contains("/cache/txqlab-txgen $5"));
    assert!(!s.contains("mount -t proc") && !s.contains("/sbin/") && !s.contains("poweroff"));
    assert!(s.contains("TXQLAB-DONE"));
}
