//! `txqlab predict` across the corrected version boundaries: every answer is the real kernel's, and says why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn predict(args: &[&str]) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_txqlab"))
        .arg("predict")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn ena_veth(kernel: &str) -> serde_json::Value {
    predict(&["--kernel", kernel, "--driver", "ena", "--path", "veth"])
}

#[test]
fn the_fix_boundaries_of_every_stable_line() {
    for (affected, fixed) in [
        ("4.19.225", "4.19.226"),
        ("5.4.171", "5.4.172"),
        ("5.10.91", "5.10.92"),
        ("5.15.14", "5.15.15"),
        ("5.16.0", "5.16.1"),
    ] {
        let a = ena_veth(affected);
        assert_eq!(a["veth_records_rx_queue"], true, "{affected}");
        assert_eq!(
            a["expected_share"][0], 1.0,
            "{affected}: every flow on queue 0"
        );
        assert_eq!(a["confidence"], "certain", "{affected}");
        let f = ena_veth(fixed);
        assert_eq!(f["veth_records_rx_queue"], false, "{fixed}");
        assert_eq!(f["exact"], false, "{fixed}: flows spread");
        assert_eq!(f["confidence"], "certain", "{fixed}");
        assert!(
            f["reason"].as_str().unwrap().contains("710ad98c363a"),
            "{f}"
        );
    }
}

#[test]
fn the_ena_hook_follows_its_stable_removal() {
    for (with, without) in [
        ("5.4.272", "5.4.273"),
        ("5.10.213", "5.10.214"),
        ("5.15.152", "5.15.153"),
        ("6.1.82", "6.1.83"),
        ("6.6.22", "6.6.23"),
        ("6.7.10", "6.7.11"),
        ("6.8.1", "6.8.2"),
    ] {
        let w = ena_veth(with);
        assert!(
            w["driver_hook"]
                .as_str()
                .unwrap()
                .starts_with("ena_select_queue"),
            "{with}"
        );
        let wo = ena_veth(without);
        assert!(
            wo["driver_hook"].as_str().unwrap().starts_with("none"),
            "{without}"
        );
        assert!(
            wo["driver_hook_reason"]
                .as_str()
                .unwrap()
                .contains("78e886ba2b54"),
            "{wo}"
        );
    }
}

#[test]
fn debian_uname_v_and_ubuntu_signature_settle_a_hidden_sublevel() {
    let hidden = ena_veth("6.1.0-13-cloud-amd64");
    assert_eq!(hidden["driver_hook_confidence"], "ambiguous");
    let debian =
        ena_veth("6.1.0-13-cloud-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)");
    assert_eq!(debian["upstream"], "6.1.55");
    assert_eq!(debian["driver_hook_confidence"], "likely");
    assert!(
        debian["driver_hook"]
            .as_str()
            .unwrap()
            .starts_with("ena_select_queue")
    );
    let ubuntu = ena_veth("Ubuntu 5.15.0-1004.6-aws 5.15.14");
    assert_eq!(ubuntu["veth_records_rx_queue"], true);
    let ubuntu = ena_veth("Ubuntu 5.15.0-1019.23-aws 5.15.39");
    assert_eq!(ubuntu["veth_records_rx_queue"], false);
}

#[test]
fn amzn_drivers_version_decides_the_ena_hook() {
    let run = |v: &str| {
        predict(&[
            "--kernel",
            "6.12.0",
            "--driver",
            "ena",
            "--driver-version",
            v,
            "--path",
            "host",
        ])
    };
    assert!(
        run("2.10.0g")["driver_hook"]
            .as_str()
            .unwrap()
            .contains("modulo")
    );
    assert!(
        run("2.12.0g")["driver_hook"]
            .as_str()
            .unwrap()
            .starts_with("none")
    );
    assert_eq!(run("2.8.3g")["driver"], "ena (amzn-drivers 2.8.3)");
}

#[test]
fn output_uses_kernel_names_not_rust_variants() {
    let v = ena_veth("5.11.0-1022-aws");
    let text = v.to_string();
    for internal in ["EnaLegacy", "DriverRxRecorded", "\"Ena\""] {
        assert!(!text.contains(internal), "{internal} in {text}");
    }
    assert_eq!(v["branch_function"], "ndo_select_queue (recorded rx queue)");
}

#[test]
fn a_multi_queue_veth_is_a_path_of_its_own() {
    let v = predict(&[
        "--kernel",
        "6.1.192",
        "--driver",
        "other",
        "--path",
        "veth-mq",
        "--veth-queues",
        "8",
    ]);
    assert_eq!(v["path"], "multi-queue veth");
    assert_eq!(v["exact"], false);
    assert!(v["expected_share"][7].as_f64().unwrap() < 0.05, "{v}");
}

#[test]
fn the_readme_facts_table_is_the_generated_one() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let (_, rest) = readme.split_once("<!-- facts:begin -->\n").unwrap();
    let (table, _) = rest.split_once("<!-- facts:end -->").unwrap();
    assert_eq!(
        table,
        txqlab::facts::markdown(),
        "README.md's facts table is stale: regenerate it with `txqlab facts --markdown`"
    );
}
