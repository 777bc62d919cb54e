//! `txqlab diagnose` on recorded real-world dumps of each driver, tc JSON and node_exporter text (sources in
//! tests/fixtures/README.md): the per-queue counts, the driver and the findings are the ones the dumps hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn diagnose(args: &[&str]) -> (Output, serde_json::Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_txqlab"))
        .arg("diagnose")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o, v)
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn packets(v: &serde_json::Value) -> Vec<Option<u64>> {
    v["tx_queue_packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(serde_json::Value::as_u64)
        .collect()
}

#[test]
fn ena_from_a_public_issue_reads_queue_n_tx_cnt_and_names_the_in_tree_driver() {
    let (o, v) = diagnose(&[&fixture("public/ena_ethq-15.txt")]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        (v["driver"].as_str(), v["driver_version"].as_str()),
        (Some("ena"), Some("1.2.0k"))
    );
    assert_eq!(v["driver_source"], "ethtool_i");
    assert_eq!(packets(&v), [Some(2005711), Some(4468943)]);
    assert_eq!(ids(&v), ["ena_select_queue"]);
    assert!(
        v["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("in-tree")
    );
}

#[test]
fn mlx4_en_reads_txn_packets_and_an_even_spread_has_no_finding() {
    let (o, v) = diagnose(&[&fixture("public/mlx4_en_ethq-21.txt")]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(v["driver"], "mlx4_en");
    assert_eq!(
        packets(&v),
        [
            48124213736,
            47493783629,
            49750604277,
            50267379555,
            49801211003,
            46327598972
        ]
        .map(Some)
    );
    assert!(ids(&v).is_empty(), "{:?}", ids(&v));
}

#[test]
fn mlx5_excerpt_is_recognised_by_its_names_and_its_gap_is_said() {
    let (_, v) = diagnose(&[&fixture("public/mlx5_core_ethq-8_tx7-9.txt")]);
    assert_eq!(
        (v["driver"].as_str(), v["driver_source"].as_str()),
        (Some("mlx5_core"), Some("counter_names"))
    );
    let p = packets(&v);
    assert_eq!(&p[7..], [Some(96408152), Some(15216684)]);
    assert!(p[..7].iter().all(Option::is_none));
    assert_eq!(ids(&v), ["queue_numbers_missing"]);
}

#[test]
fn bnx2x_adds_unicast_multicast_and_broadcast_per_ring() {
    let (_, v) = diagnose(&[&fixture("public/bnx2x_ethq-6.txt")]);
    assert_eq!(v["driver"], "bnx2x");
    assert_eq!(packets(&v), [Some(156650762), Some(132407943 + 8249)]);
}

#[test]
fn virtio_net_recorded_from_a_real_kernel() {
    let (_, v) = diagnose(&[&fixture("virtio_6.1.0-56-cloud-amd64_veth.txt")]);
    assert_eq!(v["driver"], "virtio_net");
    assert_eq!(
        packets(&v),
        [121, 128, 146, 72, 116, 145, 116, 185].map(Some)
    );
}

#[test]
fn veth_has_no_per_queue_tx_counter_and_says_so_instead_of_no_findings() {
    let (o, v) = diagnose(&[
        &fixture("veth_6.18_ethtool_S.txt"),
        "--driver-info",
        &fixture("veth_6.18_ethtool_i.txt"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(v["driver"], "veth");
    assert_eq!(ids(&v), ["per_queue_unavailable"]);
    assert!(
        v["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("tc -s class show")
    );
}

#[test]
fn tc_json_alone_gives_the_spread_for_any_driver_and_names_the_device() {
    let (_, v) = diagnose(&[&fixture("veth_6.18_tc_qdisc.json"), "--dev", "va"]);
    assert_eq!(v["per_queue_source"], "tc mq classes");
    assert_eq!(v["device"], "va");
    let p = packets(&v);
    assert_eq!(p.len(), 8);
    assert!(p.iter().all(|n| n.unwrap() > 100), "{p:?}");
    // tc text of the same device gives the same counts.
    let (_, t) = diagnose(&[&fixture("veth_6.18_tc_class.txt"), "--dev", "va"]);
    assert_eq!(packets(&t), p);
}

#[test]
fn a_collect_bundle_of_two_snapshots_gives_differences_and_rates() {
    let (o, v) = diagnose(&[&fixture("veth_6.18_collect_bundle.txt")]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        (v["device"].as_str(), v["driver"].as_str()),
        (Some("va"), Some("veth"))
    );
    assert_eq!(v["kernel"], "6.18.44-fc-v657");
    let i = v["interval_s"].as_f64().unwrap();
    assert!((2.5..4.0).contains(&i), "{i}");
    let p: u64 = packets(&v).iter().map(|n| n.unwrap()).sum();
    assert!((1200..1300).contains(&p), "{p}");
    let rate: f64 = v["tx_queue_per_second"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_f64().unwrap())
        .sum();
    assert!((rate - p as f64 / i).abs() < 1e-6);
    assert_eq!(ids(&v), ["xps_map"]);
    assert_eq!(v["findings"][0]["mapped"], serde_json::json!([]));
}

#[test]
fn node_exporter_text_is_read_and_a_scrape_of_several_devices_needs_dev() {
    let o = Command::new(env!("CARGO_BIN_EXE_txqlab"))
        .args(["diagnose", &fixture("public/node_exporter_e2e_qdisc.prom")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&o.stderr).contains("eth0, wlan0"));
    let (_, v) = diagnose(&[
        &fixture("public/node_exporter_e2e_qdisc.prom"),
        "--dev",
        "wlan0",
    ]);
    assert_eq!(
        ids(&v),
        ["qdisc_drops", "per_queue_unavailable", "qdisc_requeues"]
    );
    assert_eq!(v["findings"][0]["device"], "wlan0");
    let (_, v) = diagnose(&[&fixture("public/node_exporter_ethtool_e1000e.prom")]);
    assert_eq!(
        (v["driver"].as_str(), v["device"].as_str()),
        (Some("e1000e"), Some("eth0"))
    );
    assert_eq!(ids(&v), ["per_queue_unavailable"]);
    // node_exporter's renaming (queue_0_tx_cnt -> queue_0_transmitted_cnt) is undone.
    let (_, v) = diagnose(&[
        &fixture("reconstructed/node_exporter_ena_ethq-15.prom"),
        "--dev",
        "eth0",
    ]);
    assert_eq!(v["driver"], "ena");
    assert_eq!(packets(&v), [Some(2005711), Some(4468943)]);
}

#[test]
fn ena_advice_only_for_ena() {
    for f in [
        "public/mlx4_en_ethq-21.txt",
        "public/bnx2x_ethq-6.txt",
        "virtio_6.1.0-56-cloud-amd64_veth.txt",
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_txqlab"))
            .args(["diagnose", &fixture(f)])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            !out.contains("ena_select_queue") && !out.contains("ENA"),
            "{f}: {out}"
        );
    }
}
