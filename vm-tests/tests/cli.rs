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
        "for path in host veth vethmq",
        "numtxqueues 8 numrxqueues 8 type veth",
        "default",
        "cleared",
        "256 4",
    ] {
        assert!(s.contains(needle), "{needle}");
    }
    assert!(!vm_tests::guest::script(false).contains("run_egress virtio"));
    // The probe (when the initramfs has it) and the selftest run in every guest, after the matrix.
    assert!(s.contains("/bin/txqlab probe --json") && s.contains("sh /bin/veth_txq.sh"));
    assert!(s.find("run_egress dummy").unwrap() < s.find("veth_txq.sh").unwrap());
}

#[test]
fn the_vng_script_runs_the_dummy_cases_with_the_host_tools() {
    let s = vm_tests::guest::vng_script(std::path::Path::new("/cache/txqlab-txgen"));
    assert!(s.contains("run_egress dummy dum8") && !s.contains("run_egress virtio"));
    assert!(s.contains("/cache/txqlab-txgen 192") || s.contains("/cache/txqlab-txgen $5"));
    assert!(!s.contains("mount -t proc") && !s.contains("/sbin/") && !s.contains("poweroff"));
    assert!(
        !s.contains("busybox --install"),
        "never install applets into the host's filesystem"
    );
    assert!(s.contains("TXQLAB-DONE"));
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("txqlab-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_path_without_qemu_is_reported_before_anything_is_built() {
    let d = scratch("noqemu");
    let bin = d.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // Everything the run needs that this machine has, except QEMU.
    for tool in [
        "make", "gcc", "ld", "flex", "bison", "bc", "tar", "xz", "busybox", "ip", "tc", "ethtool",
        "ldd", "cpio", "gzip", "rustc", "sh", "ccache",
    ] {
        if let Some(p) = vm_tests::prereq::find_tool(tool) {
            std::os::unix::fs::symlink(p, bin.join(tool)).unwrap();
        }
    }
    let o = Command::new(env!("CARGO_BIN_EXE_vm-tests"))
        .args(["run", "--kernels", "6.1"])
        .env("PATH", &bin)
        .env("XDG_CACHE_HOME", d.join("cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(
        err.contains("qemu-system-x86_64 (package qemu-system-x86)"),
        "{err}"
    );
    assert!(
        err.contains("apt-get install -y") && err.contains("setup"),
        "{err}"
    );
    if vm_tests::prereq::on_path("gcc").is_some() {
        assert!(!err.contains("gcc (package"), "{err}");
    }
    // Nothing was extracted, built or booted.
    assert!(!d.join("cache/txqlab/src").exists() && !d.join("cache/txqlab/kernels").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn every_missing_prerequisite_is_in_one_message_and_ktap_says_skip() {
    let d = scratch("empty");
    let o = Command::new(env!("CARGO_BIN_EXE_vm-tests"))
        .args(["run", "--ktap"])
        .env("PATH", d.join("nothing-here"))
        .env("XDG_CACHE_HOME", d.join("cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    for what in [
        "make (package make)",
        "gcc (package gcc)",
        "flex",
        "bison",
        "qemu-system-x86_64",
        "cpio",
    ] {
        assert!(err.contains(what), "{what} not in: {err}");
    }
    assert_eq!(err.matches("missing prerequisites").count(), 1, "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("KTAP version 1\n1..0 # SKIP missing prerequisites"),
        "{out}"
    );
    assert!(!d.join("cache/txqlab/src").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn kernels_must_be_debian_versions() {
    let o = Command::new(env!("CARGO_BIN_EXE_vm-tests"))
        .args(["build", "--kernels", "6.1,latest"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`latest` is not a Debian kernel version"));
    let o = Command::new(env!("CARGO_BIN_EXE_vm-tests"))
        .args(["build", "--kernels", "6.1", "--kernel-src", "/tmp"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));
}
