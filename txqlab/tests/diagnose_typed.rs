//! `txqlab diagnose` reads ENA's counters through nic-model's `NicStats` and virtio_net's through
//! `VirtioNetStats` (issue 12 §1): the typed readings of real-format dumps in every input format, one delta rule
//! with nic-model's `since`, errors naming the file and line, and findings identical to those the code before
//! the change gave (tests/golden/diagnose, written by that code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{run, stderr};

use std::process::Command;

use nic_model::ethtool::{NicStats, Since};
use txqlab::diagnose::counters::EnaCounters;
use txqlab::diagnose::virtio_net::VirtioNetStats;
use txqlab::diagnose::{Snapshot, Typed, delta, read};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// The one snapshot of a fixture, as diagnose reads it.
fn snapshot(name: &str, dev: Option<&str>) -> Snapshot {
    let mut v = read(text(name).as_bytes(), name, dev).unwrap();
    assert_eq!(v.len(), 1, "{name}");
    v.remove(0)
}

fn ena(s: &Snapshot) -> EnaCounters {
    match Typed::read(s, s.driver().0).unwrap() {
        Typed::Ena(e) => *e,
        other => panic!("not read as ENA: {other:?}"),
    }
}

fn virtio(s: &Snapshot) -> VirtioNetStats {
    match Typed::read(s, s.driver().0).unwrap() {
        Typed::VirtioNet(v) => *v,
        other => panic!("not read as virtio_net: {other:?}"),
    }
}

#[test]
fn an_ena_dump_reads_as_nic_models_stats_in_every_input_format() {
    // `ethtool -S` text: diagnose's reading is exactly nic-model's own parse of the text.
    let s = snapshot("ena_pinned.txt", None);
    let e = ena(&s);
    assert_eq!(e.stats, NicStats::parse(&text("ena_pinned.txt")).unwrap());
    assert_eq!(
        (e.stats.tx[0].cnt, e.stats.tx[0].queue_stop, e.stats.queues),
        (9583121, 3411, 8)
    );
    assert_eq!(
        e.stats.eni.map(|x| x.bw_in_allowance_exceeded),
        Some(231310)
    );
    assert_eq!(e.tx_queues.len(), 8);
    // A published dump with `ethtool -i` lines, and the same counts as node_exporter renames them.
    let public = ena(&snapshot("public/ena_ethq-15.txt", None));
    let prom = ena(&snapshot(
        "reconstructed/node_exporter_ena_ethq-15.prom",
        Some("eth0"),
    ));
    for e in [&public, &prom] {
        assert_eq!((e.stats.tx[0].cnt, e.stats.tx[1].cnt), (2005711, 4468943));
    }
    assert_eq!(prom.tx_queues.iter().copied().collect::<Vec<_>>(), [0, 1]);
}

#[test]
fn a_recorded_virtio_net_dump_reads_whole_with_the_6_1_drivers_names() {
    let v = virtio(&snapshot("virtio_6.1.0-56-cloud-amd64_veth.txt", None));
    let packets: Vec<u64> = v.tx.values().map(|q| q.packets).collect();
    assert_eq!(packets, [121, 128, 146, 72, 116, 145, 116, 185]);
    assert_eq!((v.rx.len(), v.short_names), (8, false));
    // Every counter of the real 6.1 dump is one `virtnet_sq_stats_desc`/`virtnet_rq_stats_desc` names.
    assert_eq!(v.unknown, 0);
    assert!(v.tx.values().all(|q| q.kicks > 0 && q.timeouts == 0));
}

#[test]
fn the_difference_of_two_ena_snapshots_is_nic_models_since() {
    let (after, before) = (
        snapshot("ena_pinned.txt", None),
        snapshot("ena_pinned_before.txt", None),
    );
    let (d, decreases) = delta(&after, &before).unwrap();
    assert!(decreases.is_empty());
    let Some(Typed::Ena(got)) = d.typed else {
        panic!("no typed ENA difference")
    };
    let want = NicStats::parse(&text("ena_pinned.txt"))
        .unwrap()
        .since(&NicStats::parse(&text("ena_pinned_before.txt")).unwrap());
    assert_eq!(Since::Counted(got.stats.clone()), want);
    assert_eq!(got.stats.tx[0].cnt, 583121);
}

#[test]
fn a_counter_reset_between_snapshots_leaves_the_inputs_own_counts_for_ena_and_virtio_net() {
    let parse = |t: &str| Snapshot::parse(t, "t").unwrap();
    let before = parse("queue_0_tx_cnt: 5000\nqueue_1_tx_cnt: 5000\nwd_expired: 0\n");
    let after = parse("queue_0_tx_cnt: 100\nqueue_1_tx_cnt: 9000\nwd_expired: 1\n");
    let (d, decreases) = delta(&after, &before).unwrap();
    assert_eq!(decreases.len(), 1);
    let Some(Typed::Ena(e)) = d.typed else {
        panic!("not ENA")
    };
    assert_eq!(
        (
            e.stats.tx[0].cnt,
            e.stats.tx[1].cnt,
            e.stats.global.wd_expired
        ),
        (100, 9000, 1)
    );
    let before = parse("tx_queue_0_packets: 5000\ntx_queue_1_packets: 5000\ntx_queue_0_kicks: 9\n");
    let after = parse("tx_queue_0_packets: 100\ntx_queue_1_packets: 9000\ntx_queue_0_kicks: 10\n");
    let (d, decreases) = delta(&after, &before).unwrap();
    assert_eq!(decreases.len(), 1);
    let Some(Typed::VirtioNet(v)) = d.typed else {
        panic!("not virtio_net")
    };
    assert_eq!((v.tx[&0].packets, v.tx[&1].packets), (100, 9000));
    // Recorded before/after pair of a real kernel: the difference is `VirtioNetStats::since`.
    let (a, b) = (
        snapshot("virtio_6.1.192-fix-reverted_veth_after.txt", None),
        snapshot("virtio_6.1.192-fix-reverted_veth_before.txt", None),
    );
    let (d, _) = delta(&a, &b).unwrap();
    let Some(Typed::VirtioNet(got)) = d.typed else {
        panic!("not virtio_net")
    };
    assert_eq!(Since::Counted(*got.clone()), virtio(&a).since(&virtio(&b)));
    assert_eq!(got.tx[&0].packets, 1024);
}

#[test]
fn a_gauge_going_down_is_no_reset() {
    // conntrack_allowance_available is the connections still available: before, its fall read as a driver
    // reset and the findings used the input's own counts (7000, 5600) instead of the differences.
    let before = tmp_file(
        "gauge-before.txt",
        "queue_0_tx_cnt: 5000\nqueue_1_tx_cnt: 5000\nconntrack_allowance_available: 900\n",
    );
    let o = run(
        &["diagnose", "-", "--before", &before, "--json"],
        b"queue_0_tx_cnt: 7000\nqueue_1_tx_cnt: 5600\nconntrack_allowance_available: 850\n",
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["tx_queue_packets"], serde_json::json!([2000, 600]));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("counters_reset"));
}

#[test]
fn a_counter_the_typed_reading_refuses_names_its_file_and_line_in_every_format() {
    let o = run(
        &["diagnose", "-"],
        b"queue_0_tx_cnt: 1\nqueue_200_tx_cnt: 5\n",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(
            "<stdin>: line 2: `queue_200_tx_cnt`: queue beyond the 128 I/O queues an ENA device can have"
        ),
        "{}",
        stderr(&o)
    );
    let before = tmp_file(
        "bad-before.txt",
        "queue_0_tx_cnt: 1\n\nqueue_0_rx_csum_bad: 1\nqueue_0_rx_bad_csum: 1\n",
    );
    let o = run(
        &["diagnose", "-", "--before", &before],
        b"queue_0_tx_cnt: 2\n",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!(
            "{before}: line 4: `queue_0_rx_bad_csum`: the same ENA counter"
        )),
        "{}",
        stderr(&o)
    );
    let prom = tmp_file(
        "bad.prom",
        "node_ethtool_info{device=\"eth0\",driver=\"ena\",version=\"2.8.0\"} 1\n\
         node_ethtool_queue_0_transmitted_cnt{device=\"eth0\"} 7\n\
         node_ethtool_queue_130_transmitted_cnt{device=\"eth0\"} 7\n",
    );
    let o = run(&["diagnose", &prom], b"");
    assert!(
        stderr(&o).contains(&format!("{prom}: line 3: `queue_130_tx_cnt`")),
        "{}",
        stderr(&o)
    );
    let bundle = "# txqlab collect bundle v1\n# device: eth0\n## snapshot 1 at_unix_ms=1000\n### ethtool -i eth0\n\
                  driver: virtio_net\n### ethtool -S eth0\nNIC statistics:\n     tx_queue_0_packets: 1\n     \
                  tx0_packets: 1\n";
    let o = run(&["diagnose", "-"], bundle.as_bytes());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o)
            .contains("<stdin>: line 9: `tx0_packets`: the same virtio_net counter as line 8"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn ena_and_virtio_net_findings_are_those_of_the_code_before_the_typed_reading() {
    // (golden, arguments): the goldens were written by txqlab built from 6efebc5, before diagnose read typed
    // counters; `ena_every_finding.txt` raises every ENA finding, with 2^64-1 values among them.
    let cases: [(&str, &[&str]); 16] = [
        ("ena_bad_req_id", &["ena_bad_req_id.txt"]),
        ("ena_healthy", &["ena_healthy.txt"]),
        ("ena_old_driver", &["ena_old_driver.txt"]),
        ("ena_pinned", &["ena_pinned.txt"]),
        (
            "ena_pinned_since_before",
            &["ena_pinned.txt", "--before", "ena_pinned_before.txt"],
        ),
        ("ena_every_finding", &["ena_every_finding.txt"]),
        ("ena_ethq-15", &["public/ena_ethq-15.txt"]),
        (
            "node_exporter_ena_ethq-15",
            &[
                "reconstructed/node_exporter_ena_ethq-15.prom",
                "--dev",
                "eth0",
            ],
        ),
        ("virtio_pinned", &["virtio_pinned.txt"]),
        (
            "virtio_6.1.0-56-cloud-amd64_veth",
            &[
                "virtio_6.1.0-56-cloud-amd64_veth.txt",
                "--tc",
                "tc_class_6.1.0-56-cloud-amd64_veth.txt",
            ],
        ),
        (
            "virtio_6.1.192-fix-reverted_veth",
            &[
                "virtio_6.1.192-fix-reverted_veth_after.txt",
                "--before",
                "virtio_6.1.192-fix-reverted_veth_before.txt",
            ],
        ),
        (
            "virtio_6.1.192-fixed_veth",
            &[
                "virtio_6.1.192-fixed_veth_after.txt",
                "--before",
                "virtio_6.1.192-fixed_veth_before.txt",
            ],
        ),
        (
            "regression_u64-max-tx-cnt",
            &["../../../fuzz/regressions/diagnose_input/u64-max-tx-cnt"],
        ),
        (
            "regression_bad-req-id-sum-overflow",
            &["../../../fuzz/regressions/diagnose_input/bad-req-id-sum-overflow"],
        ),
        (
            "regression_queue-gap-0-7",
            &["../../../fuzz/regressions/diagnose_input/queue-gap-0-7"],
        ),
        (
            "regression_utf8-bom",
            &["../../../fuzz/regressions/diagnose_input/utf8-bom"],
        ),
    ];
    for (golden, args) in cases {
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if a.starts_with("--") || *a == "eth0" {
                    a.to_string()
                } else {
                    fixture(a)
                }
            })
            .collect();
        let o = Command::new(env!("CARGO_BIN_EXE_txqlab"))
            .arg("diagnose")
            .args(&args)
            .arg("--json")
            .output()
            .unwrap();
        let want = std::fs::read_to_string(format!(
            "{}/tests/golden/diagnose/{golden}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            want,
            "{golden}: {}",
            stderr(&o)
        );
    }
}

fn tmp_file(name: &str, text: &str) -> String {
    common::tmp("typed", name, text)
}
