//! `vm-tests/selftest/veth_txq.sh`, the kselftest-style script: it passes on this fixed kernel inside
//! `unshare -n -m` (with its own /run, so `ip netns add` writes nothing on the host), its fail path gives exit 1,
//! no privileges give kselftest's skip (4), KTAP maps onto LAVA results, and the LAVA files pass LAVA's own schema.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../vm-tests/selftest")
}

fn root(test: &str) -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    let ok = String::from_utf8_lossy(&out.stdout).trim() == "0"
        && Command::new("unshare").arg("--version").output().is_ok();
    if !ok {
        eprintln!("SKIPPED {test}: needs root and util-linux unshare");
    }
    ok
}

/// Runs the script in a fresh network and mount namespace with a private /run; `env` is prepended.
fn selftest(env: &str) -> Output {
    let script = dir().join("veth_txq.sh");
    Command::new("unshare")
        .args([
            "-n",
            "-m",
            "sh",
            "-c",
            &format!("mount -t tmpfs none /run && {env} sh {}", script.display()),
        ])
        .output()
        .unwrap()
}

#[test]
fn selftest_passes_on_this_fixed_kernel() {
    if !root("selftest_passes_on_this_fixed_kernel") {
        return;
    }
    let out = selftest("");
    let ktap = String::from_utf8_lossy(&out.stdout);
    if out.status.code() == Some(4) {
        // No generator (neither txqlab-txgen nor ping nor busybox): a skip with its reason, as kselftest wants.
        assert!(ktap.contains("1..0 # SKIP"), "{ktap}");
        eprintln!("SKIPPED selftest_passes_on_this_fixed_kernel: {ktap}");
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{ktap}");
    assert!(ktap.starts_with("TAP version 13\n"), "{ktap}");
    assert!(ktap.contains("\n1..3\n"), "{ktap}");
    for t in [
        "ok 1 setup",
        "ok 2 host_traffic_spreads",
        "ok 3 forwarded_traffic_spreads",
    ] {
        assert!(ktap.contains(&format!("\n{t}\n")), "{t}: {ktap}");
    }
    assert!(ktap.contains("# Totals: pass:3 fail:0"), "{ktap}");
}

#[test]
fn selftest_fails_when_traffic_lands_on_one_queue() {
    if !root("selftest_fails_when_traffic_lands_on_one_queue") {
        return;
    }
    // One flow can only use one queue: the spread checks must say `not ok` and the script exit 1.
    let out = selftest("FLOWS=1 PING_FLOWS=1");
    let ktap = String::from_utf8_lossy(&out.stdout);
    if out.status.code() == Some(4) {
        eprintln!("SKIPPED selftest_fails_when_traffic_lands_on_one_queue: {ktap}");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{ktap}");
    assert!(
        ktap.contains("not ok 3 forwarded_traffic_spreads"),
        "{ktap}"
    );
}

#[test]
fn selftest_without_privileges_is_a_kselftest_skip() {
    if !root("selftest_without_privileges_is_a_kselftest_skip") {
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh"])
        .arg(dir().join("veth_txq.sh"))
        .output()
        .unwrap();
    let ktap = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{ktap}");
    assert!(ktap.contains("1..0 # SKIP needs root"), "{ktap}");
}

#[test]
fn ktap_results_become_lava_test_cases() {
    let mut c = Command::new("sh")
        .arg(dir().join("ktap-to-lava.sh"))
        .arg("veth-txq")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .env("PATH", "/usr/bin:/bin")
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin
        .take()
        .unwrap()
        .write_all(
            b"TAP version 13\n1..3\nok 1 setup\nok 2 host_traffic_spreads # SKIP why\n\
              not ok 3 forwarded_traffic_spreads\n# Totals: pass:1\n",
        )
        .unwrap();
    let out = c.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "lava-test-case veth-txq-setup --result pass\n\
         lava-test-case veth-txq-host_traffic_spreads --result skip\n\
         lava-test-case veth-txq-forwarded_traffic_spreads --result fail\n"
    );
}

#[test]
fn lava_files_pass_lavas_own_schema() {
    // lava-common (Debian) ships LAVA's voluptuous schemas for test definitions and jobs.
    let have = Command::new("/usr/bin/python3")
        .args(["-c", "import lava_common.schemas, yaml"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have {
        eprintln!(
            "SKIPPED lava_files_pass_lavas_own_schema: apt-get install lava-common (LAVA's schemas)"
        );
        return;
    }
    let out = Command::new("/usr/bin/python3")
        .arg(dir().join("validate-lava.py"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
