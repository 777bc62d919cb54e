//! `txqlab diagnose --live` and `txqlab collect` against a real device: an 8-queue veth in a network namespace
//! of its own (`unshare -n -m`), so nothing of the host is touched. Needs root; skipped with a message otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

const SETUP: &str = r#"
set -eu
mount -t sysfs sysfs /sys
ip link add name va numtxqueues 8 numrxqueues 8 type veth peer name vb numtxqueues 8 numrxqueues 8
ip link set va up
ip link set vb up
tc qdisc replace dev va root handle 1: mq
ip addr add 10.9.0.1/24 dev va
ip neigh replace 10.9.0.2 lladdr "$(cat /sys/class/net/vb/address)" dev va nud permanent
send() { for i in $(seq 1 "$1"); do echo x > /dev/udp/10.9.0.2/$((20000 + i)); done; }
"#;

fn in_namespace(script: &str) -> Option<std::process::Output> {
    if !common::root_with(&["unshare", "ip", "tc", "ethtool", "bash"]) {
        return None;
    }
    let o = Command::new("unshare")
        .args(["-n", "-m", "bash", "-c", &format!("{SETUP}\n{script}")])
        .env("TXQLAB", env!("CARGO_BIN_EXE_txqlab"))
        .output()
        .unwrap();
    if String::from_utf8_lossy(&o.stderr).contains("Operation not permitted") {
        common::skip(&format!(
            "namespaces not permitted here: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
        return None;
    }
    Some(o)
}

#[test]
fn live_veth_spread_is_measured_from_two_snapshots_with_rates() {
    let Some(o) = in_namespace(
        r#""$TXQLAB" diagnose --live va --interval 2 --json > /tmp/txqlab-live-$$.json & pid=$!
        sleep 0.5; send 1500; wait $pid; rc=$?; cat /tmp/txqlab-live-$$.json; rm -f /tmp/txqlab-live-$$.json; exit $rc"#,
    ) else {
        return;
    };
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert_eq!(o.status.code(), Some(0), "{v}");
    assert_eq!(
        (v["device"].as_str(), v["driver"].as_str()),
        (Some("va"), Some("veth"))
    );
    assert_eq!(v["per_queue_source"], "tc mq classes");
    let p: Vec<u64> = v["tx_queue_packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(p.len(), 8);
    // Everything sent inside the interval is counted once; one socket per datagram spreads it by flow hash.
    assert!((1000..=1600).contains(&p.iter().sum::<u64>()), "{p:?}");
    assert!(p.iter().all(|n| *n > 50), "{p:?}");
    assert!(v["interval_s"].as_f64().unwrap() >= 2.0);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != "tx_queue_pinning")
    );
}

#[test]
fn collect_writes_a_bundle_that_diagnose_reads_and_a_missing_device_is_an_error() {
    let Some(o) = in_namespace(
        r#"send 10; "$TXQLAB" collect va --interval 0 > /tmp/txqlab-bundle-$$.txt
        "$TXQLAB" diagnose /tmp/txqlab-bundle-$$.txt --json; rc=$?; rm -f /tmp/txqlab-bundle-$$.txt
        "$TXQLAB" collect nosuchdev 2>&1 >/dev/null || echo "collect rc=$?"; exit $rc"#,
    ) else {
        return;
    };
    let out = String::from_utf8_lossy(&o.stdout);
    let (json, tail) = out.rsplit_once('}').unwrap();
    let v: serde_json::Value = serde_json::from_str(&format!("{json}}}")).unwrap();
    assert_eq!(v["driver"], "veth");
    assert!(v["interval_s"].is_null());
    assert!(
        tail.contains("no network device `nosuchdev`") && tail.contains("collect rc=2"),
        "{out}"
    );
}
