//! The command line as a user runs it: exit statuses, JSON, errors that name the line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn txqlab(args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_txqlab"));
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pinned_ena_node_is_a_warning_with_queue_and_share() {
    let o = txqlab(&["diagnose", &fixture("ena_pinned.txt"), "--json"], None);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    let pin = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "tx_queue_pinning")
        .unwrap();
    assert_eq!(pin["severity"], "warning");
    assert_eq!(pin["queue"], 0);
    assert!(pin["share"].as_f64().unwrap() > 0.99);
    assert!(pin["message"].as_str().unwrap().contains("710ad98c363a"));
    let allowance: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "allowance_exceeded")
        .collect();
    assert_eq!(allowance.len(), 1);
    assert_eq!(allowance[0]["counter"], "bw_in_allowance_exceeded");
    assert_eq!(allowance[0]["value"], 231310);
}

#[test]
fn healthy_and_old_driver_snapshots_exit_zero() {
    for f in ["ena_healthy.txt", "ena_old_driver.txt"] {
        let o = txqlab(&["diagnose", &fixture(f), "--json"], None);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{f}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert!(
            ids(&json(&o)).iter().all(|i| i != "tx_queue_pinning"),
            "{f}"
        );
    }
}

#[test]
fn virtio_counters_from_standard_input() {
    let text = std::fs::read_to_string(fixture("virtio_pinned.txt")).unwrap();
    let o = txqlab(&["diagnose", "-", "--json"], Some(&text));
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["driver"], "virtio_net");
    assert_eq!(v["tx_queue_packets"][0], 1024);
    assert!(ids(&v).contains(&"tx_queue_pinning".to_string()));
}

#[test]
fn imbalance_is_not_pinning() {
    let text: String = [4000u64, 1000, 1000, 1000, 1000, 1000, 1000, 1000]
        .iter()
        .enumerate()
        .map(|(q, c)| format!("queue_{q}_tx_cnt: {c}\n"))
        .collect();
    let v = json(&txqlab(&["diagnose", "-", "--json"], Some(&text)));
    assert_eq!(ids(&v), ["tx_queue_imbalance"]);
    assert_eq!(v["findings"][0]["queue"], 0);
}

#[test]
fn before_snapshot_diagnoses_the_difference_and_tc_output_is_read() {
    let o = txqlab(
        &[
            "diagnose",
            &fixture("ena_pinned.txt"),
            "--before",
            &fixture("ena_pinned_before.txt"),
            "--tc",
            &fixture("tc_pinned.txt"),
            "--json",
        ],
        None,
    );
    let v = json(&o);
    assert_eq!(v["tx_queue_packets"][0], 583121);
    let a = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "allowance_exceeded")
        .unwrap();
    assert_eq!(a["value"], 310);
    let d = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "qdisc_drops")
        .unwrap();
    assert_eq!(
        (d["dropped"].as_u64(), d["parent"].as_str()),
        (Some(18233), Some(":1"))
    );
    assert!(ids(&v).contains(&"qdisc_requeues".to_string()));
}

#[test]
fn tc_output_pasted_after_ethtool_output_is_read_too() {
    let text = std::fs::read_to_string(fixture("ena_healthy.txt")).unwrap()
        + &std::fs::read_to_string(fixture("tc_pinned.txt")).unwrap();
    let v = json(&txqlab(&["diagnose", "-", "--json"], Some(&text)));
    assert!(ids(&v).contains(&"qdisc_drops".to_string()));
}

#[test]
fn bad_input_is_an_error_naming_the_line_with_status_two() {
    let cases: [(&str, &str); 6] = [
        (
            "NIC statistics:\n     queue_0_tx_cnt: 5\n     queue_0_tx_bytes\n",
            "line 3",
        ),
        ("queue_0_tx_cnt: 5\nqueue_1_tx_cnt: five\n", "line 2"),
        (
            "queue_0_tx_cnt: 5\nqueue_0_tx_cnt: 6\n",
            "appears twice (first on line 1)",
        ),
        ("", "no counters"),
        ("NIC statistics:\n", "no counters"),
        (
            "queue_0_tx_cnt: 5\nqdisc mq 0: root\n Sent 12 bytes x pkt (dropped 0, overlimits 0 requeues 0)\n",
            "line 3",
        ),
    ];
    for (input, want) in cases {
        let o = txqlab(&["diagnose", "-"], Some(input));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{input:?}: {err}");
        assert!(err.contains(want), "{input:?}: {err}");
        assert!(o.stdout.is_empty());
    }
    let o = txqlab(&["diagnose", "/nonexistent/ethtool.txt"], None);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn predict_names_the_branch_and_spread() {
    let o = txqlab(
        &[
            "predict",
            "--kernel",
            "5.11.0-1022-aws",
            "--driver",
            "ena",
            "--path",
            "veth",
            "--json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    let v = json(&o);
    assert_eq!(v["branch"], "driver_rx_recorded");
    assert_eq!(v["driver"], "ena (in-tree)");
    assert_eq!(v["schema_version"], 2);
    assert_eq!(v["expected_share"][0], 1.0);
    let o = txqlab(
        &[
            "predict",
            "--kernel",
            "6.1.0-18-amd64",
            "--driver",
            "ena",
            "--path",
            "veth",
            "--json",
        ],
        None,
    );
    let v = json(&o);
    assert_eq!(v["branch"], "flow_hash");
    assert_eq!(v["veth_records_rx_queue"], false);
    let o = txqlab(
        &[
            "predict", "--kernel", "linux-5", "--driver", "ena", "--path", "veth",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--kernel linux-5"));
}

#[test]
fn scenario_errors_name_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("txqlab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    let text: String = txqlab::scenario::INCIDENT
        .lines()
        .map(|l| {
            if l.starts_with("queue_pps = ") {
                "queue_pps = \"fast\"\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(text.contains("queue_pps = \"fast\""));
    std::fs::write(&path, text).unwrap();
    let o = txqlab(&["simulate", path.to_str().unwrap()], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.toml") && err.contains("line") && err.contains("queue_pps"),
        "{err}"
    );
}

#[test]
fn real_virtio_counters_from_a_fixed_kernel_show_no_pinning() {
    let o = txqlab(
        &[
            "diagnose",
            &fixture("virtio_6.1.0-56-cloud-amd64_veth.txt"),
            "--tc",
            &fixture("tc_qdisc_6.1.0-56-cloud-amd64_veth.txt"),
            "--json",
        ],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v = json(&o);
    assert_eq!(v["driver"], "virtio_net");
    let tx: Vec<u64> = v["tx_queue_packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(tx, [121, 128, 146, 72, 116, 145, 116, 185]);
    assert!(ids(&v).is_empty(), "{:?}", ids(&v));
    // tc -s class show of the same device parses too.
    let o = txqlab(
        &[
            "diagnose",
            &fixture("virtio_6.1.0-56-cloud-amd64_veth.txt"),
            "--tc",
            &fixture("tc_class_6.1.0-56-cloud-amd64_veth.txt"),
        ],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn real_before_and_after_snapshots_of_a_kernel_without_the_fix_show_pinning() {
    // Recorded by vm-tests on Debian's 6.1.192 built with the fix reverted: 256 flows x 4 packets forwarded from
    // a namespace through a veth out of an 8-queue virtio-net with XPS cleared.
    let o = txqlab(
        &[
            "diagnose",
            &fixture("virtio_6.1.192-fix-reverted_veth_after.txt"),
            "--before",
            &fixture("virtio_6.1.192-fix-reverted_veth_before.txt"),
            "--json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(
        v["tx_queue_packets"],
        serde_json::json!([1024, 0, 0, 0, 0, 0, 0, 0])
    );
    assert_eq!(ids(&v), ["tx_queue_pinning"]);
    // The same measurement on the kernel with the fix spreads and raises nothing.
    let o = txqlab(
        &[
            "diagnose",
            &fixture("virtio_6.1.192-fixed_veth_after.txt"),
            "--before",
            &fixture("virtio_6.1.192-fixed_veth_before.txt"),
            "--json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(ids(&json(&o)).is_empty());
}
