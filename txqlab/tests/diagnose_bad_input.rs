//! `txqlab diagnose` under hostile input (issue 9 §4): each test failed on the code before its fix.
//! `TXQLAB_BIN=/path/to/old/txqlab cargo test --test diagnose_bad_input` runs them against another build.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{bin, run, run_command, stderr};

use std::process::{Command, Output};
use std::time::Instant;

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: status {:?}, stdout {}, stderr {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn regression(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../fuzz/regressions/diagnose_input/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn a_counter_of_2_pow_64_minus_1_is_invalid_not_summed() {
    // Before: "memory allocation of 922337203685477632 bytes failed" (exit 134) in the renderer; release builds
    // wrapped the sum to 1000 and reported "only 998 TX packets".
    let input = regression("u64-max-tx-cnt");
    let text = run(&["diagnose", "-"], &input);
    assert!(
        matches!(text.status.code(), Some(0 | 1)),
        "{}",
        stderr(&text)
    );
    let o = run(&["diagnose", "-", "--json"], &input);
    let v = json(&o);
    assert!(ids(&v).contains(&"counter_invalid".to_string()));
    assert_eq!(v["tx_queue_packets"], serde_json::json!([null, 1001]));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("only"));
}

#[test]
fn bad_req_id_sums_are_widened_not_wrapped() {
    // 2^64-2 + 2 wrapped to 0 before: "no findings".
    let o = run(
        &["diagnose", "-", "--json"],
        &regression("bad-req-id-sum-overflow"),
    );
    let v = json(&o);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "bad_req_id")
        .unwrap();
    // Beyond 64 bits JSON carries a float; the message has the exact count.
    assert_eq!(f["count"].as_f64(), Some(18446744073709551616.0));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("18446744073709551616 TX")
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn tc_drops_are_counted_against_sent_plus_dropped_without_wrapping() {
    // "dropped 5 of 4 packets" before.
    let o = run(
        &["diagnose", "-"],
        &regression("tc-sent-plus-dropped-overflow"),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("dropped 5 of 18446744073709551620 packets"),
        "{out}{}",
        stderr(&o)
    );
}

#[test]
fn a_gap_in_queue_numbers_does_not_hide_the_queues_after_it() {
    // Queues 0, 1, 3: before, reading stopped at the missing queue 2 and queue 0 "carried 100% on a 2-queue
    // device" while queue 3 had 90%.
    let v = json(&run(
        &["diagnose", "-", "--json"],
        &regression("queue-gap-0-1-3"),
    ));
    assert_eq!(
        v["tx_queue_packets"],
        serde_json::json!([100000, 10, null, 900000])
    );
    assert_eq!(ids(&v), ["tx_queue_imbalance", "queue_numbers_missing"]);
    assert_eq!(v["findings"][0]["queue"], 3);
    // Queues 0 and 7 alone: "no findings" before.
    let v = json(&run(
        &["diagnose", "-", "--json"],
        &regression("queue-gap-0-7"),
    ));
    assert_eq!(v["tx_queue_packets"].as_array().unwrap().len(), 8);
    // Said, not silent: the gap is reported and the two queues present are judged against each other.
    assert_eq!(ids(&v), ["queue_numbers_missing"]);
}

#[test]
fn a_byte_order_mark_hides_neither_driver_nor_pinning() {
    let o = run(&["diagnose", "-", "--json"], &regression("utf8-bom"));
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["driver"], "ena");
    assert_eq!(ids(&v), ["tx_queue_pinning"]);
}

const BEFORE: &str = "queue_0_tx_cnt: 5000\nqueue_1_tx_cnt: 5000\nbw_in_allowance_exceeded: 10\n";

#[test]
fn before_with_a_counter_reset_says_so_instead_of_mixing() {
    let before = tmp_file("reset-before.txt", BEFORE);
    let o = run(
        &["diagnose", "-", "--before", &before, "--json"],
        b"queue_0_tx_cnt: 100\nqueue_1_tx_cnt: 9000\nbw_in_allowance_exceeded: 3\n",
    );
    let v = json(&o);
    assert!(ids(&v).contains(&"counters_reset".to_string()), "{v}");
    // The input's own counts since the reset, not 100 - 5000 clamped or 9000 - 5000.
    assert_eq!(v["tx_queue_packets"], serde_json::json!([100, 9000]));
}

#[test]
fn before_of_another_device_or_in_the_wrong_order_is_an_error() {
    let before = tmp_file("other-before.txt", BEFORE);
    let o = run(
        &["diagnose", "-", "--before", &before],
        b"tx_queue_0_packets: 9000\ntx_queue_1_packets: 9000\ntx_queue_0_kicks: 1\n",
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("another device"), "{}", stderr(&o));
    let o = run(
        &["diagnose", "-", "--before", &before],
        b"queue_0_tx_cnt: 9000\nqueue_1_tx_cnt: 9000\nqueue_2_tx_cnt: 9000\nqueue_3_tx_cnt: 9000\n",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("another device"), "{}", stderr(&o));
    let later = tmp_file(
        "later.txt",
        "queue_0_tx_cnt: 6000\nqueue_1_tx_cnt: 6000\nbw_in_allowance_exceeded: 10\n",
    );
    let o = run(&["diagnose", "-", "--before", &later], BEFORE.as_bytes());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("swap them"), "{}", stderr(&o));
}

#[test]
fn standard_input_read_twice_is_a_usage_error() {
    let o = run(&["diagnose", "-", "--tc", "-"], BEFORE.as_bytes());
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    assert!(stderr(&o).contains("standard input"));
}

#[test]
fn parse_errors_quote_the_text_and_non_utf8_names_the_line() {
    let o = run(
        &["diagnose", "-"],
        b"queue_0_tx_cnt: 1\nqueue_1_tx_cnt: 12abc\n",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("line 2: `queue_1_tx_cnt: 12abc`"),
        "{}",
        stderr(&o)
    );
    let o = run(&["diagnose", "-"], &regression("non-utf8-line-2"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("line 2: not UTF-8 text (byte 0xff at column 8)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn queue_numbers_beyond_what_linux_allows_are_refused() {
    let o = run(&["diagnose", "-"], &regression("queue-number-beyond-linux"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("4096 TX queues"), "{}", stderr(&o));
}

#[test]
fn tc_handles_beyond_16_bits_and_mq_queues_beyond_linux_are_refused_by_line() {
    // Found by the fuzz smoke in CI: `parent :6369400` read as mq queue 0x63693ff, and the spread check built
    // per-queue tables of 104 million entries (12.9 GB resident, 38 s, before the fix).
    let o = if Command::new("prlimit").arg("--version").output().is_ok() {
        run_limited(512 << 20, &regression("tc-parent-minor-beyond-16-bits")).0
    } else {
        run(
            &["diagnose", "-"],
            &regression("tc-parent-minor-beyond-16-bits"),
        )
    };
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "line 4: `qdisc fq_codel 0: parent :6369400`: parent `:6369400`: the minor number"
        ) && stderr(&o).contains("(TC_H_MIN)"),
        "{}",
        stderr(&o)
    );
    // A handle within 16 bits whose mq class stands for queue 4096: the check does not run, and says which line.
    let o = run(
        &["diagnose", "-", "--json"],
        &regression("mq-class-queue-beyond-linux"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(ids(&v), ["per_queue_unavailable"]);
    let m = v["findings"][0]["message"].as_str().unwrap();
    assert!(m.contains("(line 5) stands for TX queue 4096"), "{m}");
    assert!(!m.contains("add `tc -s class show"), "{m}");
}

/// Runs the binary on `input` under an address-space limit, as `prlimit` sets it.
fn run_limited(limit_bytes: u64, input: &[u8]) -> (Output, f64) {
    let t = Instant::now();
    let o = run_command(
        Command::new("prlimit")
            .arg(format!("--as={limit_bytes}"))
            .arg(bin())
            .args(["diagnose", "-"]),
        input,
    );
    (o, t.elapsed().as_secs_f64())
}

#[test]
fn a_200_mb_input_streams_in_bounded_memory() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        common::skip("prlimit (util-linux) not installed");
        return;
    }
    // 8 real queues, then 200 MB of indented blank lines (what a runaway paste looks like), under a 512 MB
    // address-space limit: before, the whole input was read into one string (1.5 GB for 200 MB).
    let mut input: Vec<u8> = (0..8)
        .flat_map(|q| format!("queue_{q}_tx_cnt: {}\n", 1000 + q).into_bytes())
        .collect();
    let pad = b"                                                                               \n";
    while input.len() < 200 << 20 {
        input.extend_from_slice(pad);
    }
    let (o, secs) = run_limited(512 << 20, &input);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(secs < 60.0, "{secs} s");
    // 6 million queues: refused at the first queue Linux cannot have, without reading the rest.
    let input: Vec<u8> = (0..6_000_000u32)
        .flat_map(|q| format!("queue_{q}_tx_cnt: 1\n").into_bytes())
        .collect();
    let (o, _) = run_limited(512 << 20, &input);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("queue 4096"), "{}", stderr(&o));
}

#[test]
fn usage_errors_and_unreadable_input_have_distinct_documented_statuses() {
    let o = run(&["diagnose", "--no-such-flag"], b"");
    assert_eq!(o.status.code(), Some(64));
    let o = run(&["diagnose", "/nonexistent/ethtool.txt"], b"");
    assert_eq!(o.status.code(), Some(2));
    let help = run(&["diagnose", "--help"], b"");
    let h = String::from_utf8_lossy(&help.stdout);
    assert!(
        h.contains("64 usage error") && h.contains("2 unreadable"),
        "{h}"
    );
}

/// `diagnose --before` and nic-model's `NicStats::since` apply one rule to two ENA snapshots: differences when
/// nothing went down, the later snapshot's own counts after a reset, an error when the order is reversed.
#[test]
fn diagnose_and_nic_model_agree_on_what_two_ena_snapshots_counted() {
    use nic_model::ethtool::{NicStats, Since};
    let cases: [(&str, &str); 3] = [
        (
            BEFORE,
            "queue_0_tx_cnt: 7000\nqueue_1_tx_cnt: 5500\nbw_in_allowance_exceeded: 12\n",
        ),
        (
            BEFORE,
            "queue_0_tx_cnt: 100\nqueue_1_tx_cnt: 9000\nbw_in_allowance_exceeded: 3\n",
        ),
        (
            "queue_0_tx_cnt: 6000\nqueue_1_tx_cnt: 6000\nbw_in_allowance_exceeded: 10\n",
            BEFORE,
        ),
    ];
    for (i, (before, after)) in cases.into_iter().enumerate() {
        let path = tmp_file(&format!("agree-{i}.txt"), before);
        let o = run(
            &["diagnose", "-", "--before", &path, "--json"],
            after.as_bytes(),
        );
        let model = NicStats::parse(after)
            .unwrap()
            .since(&NicStats::parse(before).unwrap());
        match &model {
            Since::Reversed => {
                assert_eq!(o.status.code(), Some(2), "case {i}");
                assert!(stderr(&o).contains("swap them"), "case {i}");
            }
            Since::Counted(d) | Since::Reset(d) => {
                let v = json(&o);
                let reset = ids(&v).contains(&"counters_reset".to_string());
                assert_eq!(reset, matches!(model, Since::Reset(_)), "case {i}: {v}");
                assert_eq!(
                    v["tx_queue_packets"],
                    serde_json::json!([d.tx[0].cnt, d.tx[1].cnt]),
                    "case {i}"
                );
            }
        }
    }
}

fn tmp_file(name: &str, text: &str) -> String {
    common::tmp("bad-input", name, text)
}
