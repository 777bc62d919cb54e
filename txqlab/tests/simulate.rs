//! The default scenario: the incident's pattern must emerge, the output is pinned by a golden file, and a run is
//! reproducible.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use txqlab::report::Run;
use txqlab::scenario::Scenario;
use txqlab::sim::{StageResult, run_stage};

fn run_incident() -> Vec<StageResult> {
    let s = Scenario::incident().unwrap();
    (0..s.stage_names().len())
        .map(|i| {
            let st = s.stage(i).unwrap();
            run_stage(&st.name, &st.params, |_| {}).unwrap()
        })
        .collect()
}

#[test]
fn the_incident_pattern_emerges_and_matches_the_golden_output() {
    let stages = run_incident();
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "baseline",
            "sidecar-cpu",
            "kernel-fix",
            "network-optimised",
            "drain"
        ]
    );
    let p99: Vec<f64> = stages.iter().map(|s| s.p99_ms).collect();
    // p99 never rises from one stage to the next.
    assert!(
        p99.windows(2).all(|w| w[1] <= w[0]),
        "p99 per stage: {p99:?}"
    );
    // Baseline at least 5x the final stage.
    assert!(p99[0] >= 5.0 * p99[4], "p99 per stage: {p99:?}");
    // The kernel fix takes the largest TX queue share from ~100% to at most 1.5/8.
    assert!(
        stages[1].max_tx_queue_share > 0.99,
        "{}",
        stages[1].max_tx_queue_share
    );
    assert!(
        stages[2].max_tx_queue_share <= 1.5 / 8.0,
        "{}",
        stages[2].max_tx_queue_share
    );
    // Bandwidth allowance counters rise before the network-optimised instance and (near) vanish with it.
    let bw = |s: &StageResult| s.allowance_exceeded.bw_in + s.allowance_exceeded.bw_out;
    assert!(bw(&stages[2]) > 1000, "{:?}", stages[2].allowance_exceeded);
    assert!(
        bw(&stages[3]) <= bw(&stages[2]) / 1000,
        "{:?}",
        stages[3].allowance_exceeded
    );
    // Sidecar throttling is the baseline's, and the drain stops requests to terminating instances.
    assert!(stages[0].throttled_periods > 0 && stages[1].throttled_periods == 0);
    assert!(stages[3].requests_to_terminating > 0);
    assert_eq!(stages[4].requests_to_terminating, 0);
    // The final stage is the normal ~100 ms p99 (incident: "consistently below 100 ms").
    assert!(p99[4] < 100.0, "{p99:?}");

    let json = serde_json::to_string_pretty(&Run {
        schema_version: txqlab::report::SCHEMA_VERSION,
        scenario: "incident",
        seed: 1,
        stages: &stages,
    })
    .unwrap()
        + "\n";
    let golden = format!("{}/tests/golden/incident.json", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(&golden, &json).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert!(
        json == want,
        "output differs from {golden}; if the change is intended, rerun with UPDATE_GOLDEN=1"
    );
}

#[test]
fn a_stage_run_twice_gives_identical_results_and_seeds_matter() {
    let s = Scenario::incident().unwrap();
    let st = s.stage(2).unwrap();
    let mut p = st.params.clone();
    p.duration_s = 12.0;
    let a = run_stage("x", &p, |_| {}).unwrap();
    let b = run_stage("x", &p, |_| {}).unwrap();
    assert_eq!(a, b);
    p.seed = 2;
    let c = run_stage("x", &p, |_| {}).unwrap();
    assert_ne!(a.tx_queue_packets, c.tx_queue_packets);
}

#[test]
fn sweep_csv_and_plot_from_the_command_line() {
    let bin = env!("CARGO_BIN_EXE_txqlab");
    // The swept value must change the result: on the kernel-fix stage one queue carries everything, eight share.
    let o = Command::new(bin)
        .args([
            "simulate",
            "--stage",
            "kernel-fix",
            "--duration",
            "4",
            "--seeds",
            "1",
            "--sweep",
            "nic.queues=1,8",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(
        rows[0].starts_with("nic.queues") && rows[1].starts_with("1 ") && rows[2].starts_with("8 "),
        "{out}"
    );
    // Stage progress lines go to stderr when it is not a terminal.
    assert!(String::from_utf8_lossy(&o.stderr).contains("stage kernel-fix nic.queues=1"));
    let o = Command::new(bin)
        .args([
            "simulate",
            "--stage",
            "kernel-fix",
            "--duration",
            "4",
            "--seeds",
            "1",
            "--json",
            "--sweep",
            "nic.queues=1,8",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let share = |i: usize| {
        v["rows"][i]["result"]["max_tx_queue_share"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(share(0), 1.0);
    assert!(share(1) < 0.25, "{}", share(1));

    let dir = std::env::temp_dir().join(format!("txqlab-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("p99.svg");
    let o = Command::new(bin)
        .args([
            "simulate",
            "--stage",
            "drain",
            "--duration",
            "6",
            "--seeds",
            "1",
            "--csv",
            "--plot",
            svg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let csv = String::from_utf8(o.stdout).unwrap();
    assert!(
        csv.starts_with(
            "stage,seed,t_s,p99_ms,completed,drops,retransmits,bw_in,bw_out,pps,txq0_share,"
        ),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 1 + 6);
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.contains("<svg") && plot.contains("drain"));

    let o = Command::new(bin)
        .args(["simulate", "--sweep", "nic.nope=1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown parameter `nic.nope`"));

    // Hostile command lines of issue 10: each fails fast with the reason, or works.
    let run = |args: &[&str]| Command::new(bin).args(args).output().unwrap();
    // A seed >= 2^63 is a seed, not "-1".
    let o = run(&[
        "simulate",
        "--stage",
        "drain",
        "--duration",
        "1",
        "--seed",
        "9223372036854775808",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["seed"].as_u64(), Some(9223372036854775808));
    // --sweep with --plot or --csv is refused rather than ignored.
    for extra in [&["--csv"][..], &["--plot", "x.svg"][..]] {
        let mut args = vec!["simulate", "--sweep", "nic.queues=1"];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("cannot be used with"),
            "{args:?}"
        );
    }
    // A sweep without values runs nothing and says so.
    let o = run(&["simulate", "--sweep", "nic.queues="]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("at least one value"));
    // An optional parameter the file leaves unset can be swept.
    let o = run(&[
        "simulate",
        "--stage",
        "drain",
        "--duration",
        "1",
        "--sweep",
        "kernel.veth_records_rx_queue=true,false",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // An unwritable plot path fails before any stage runs.
    let o = run(&["simulate", "--plot", "/nonexistent-dir/p.svg"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/nonexistent-dir/p.svg") && !err.contains("stage baseline"),
        "{err}"
    );
}

#[test]
fn a_vanishing_request_rate_issues_no_requests() {
    // Issue 10: steady_rps = 1e-12 used to issue 30 requests (a gap past u64 wrapped to 0).
    let s = Scenario::incident().unwrap();
    let mut p = s.stage(4).unwrap().params;
    p.duration_s = 5.0;
    p.clients.steady_rps = 1e-12;
    p.clients.rollout_rps = 1e-12;
    let r = run_stage("x", &p, |_| {}).unwrap();
    assert_eq!(r.requests, 0);
}

#[test]
fn invalid_parameters_are_refused_by_run_stage_too() {
    let s = Scenario::incident().unwrap();
    let mut p = s.stage(0).unwrap().params;
    p.proxy.cores = 1e-12;
    let e = run_stage("x", &p, |_| {}).unwrap_err();
    assert!(e.contains("proxy.cores") && e.contains("1 ms"), "{e}");
}

#[test]
fn several_seeds_report_medians_spreads_and_every_run() {
    let bin = env!("CARGO_BIN_EXE_txqlab");
    let o = Command::new(bin)
        .args([
            "simulate",
            "--stage",
            "drain",
            "--duration",
            "3",
            "--seeds",
            "3",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema_version"], 2);
    assert_eq!(v["seeds"].as_array().unwrap().len(), 3);
    let st = &v["stages"][0];
    let runs = st["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    let mut p99: Vec<f64> = runs.iter().map(|r| r["p99_ms"].as_f64().unwrap()).collect();
    p99.sort_by(f64::total_cmp);
    assert_eq!(
        st["p99_ms"].as_f64().unwrap(),
        p99[1],
        "the median of three"
    );
    assert_eq!(st["min"]["p99_ms"].as_f64().unwrap(), p99[0]);
    assert_eq!(st["max"]["p99_ms"].as_f64().unwrap(), p99[2]);
    assert!(st["rollout"]["attempt_p99_ms"].is_number());
    assert!(st["margins"]["proxy_cpu"].is_number());
    // With one seed the layout is the single-run one: no `runs`.
    let o = Command::new(bin)
        .args([
            "simulate",
            "--stage",
            "drain",
            "--duration",
            "2",
            "--seeds",
            "1",
            "--json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["stages"][0]["runs"].is_null());
    assert!(v["stages"][0]["outside"]["attempt_p99_ms"].is_number());
    // The table shows `median [min-max]`.
    let o = Command::new(bin)
        .args([
            "simulate",
            "--stage",
            "drain",
            "--duration",
            "2",
            "--seeds",
            "2",
        ])
        .output()
        .unwrap();
    let t = String::from_utf8(o.stdout).unwrap();
    assert!(
        t.contains("median [min-max] over 2 seeds") && t.contains("Margins"),
        "{t}"
    );
}

#[test]
fn parallel_runs_equal_sequential_runs() {
    let s = Scenario::incident().unwrap();
    let mut p = s.stage(2).unwrap().params;
    p.duration_s = 3.0;
    let jobs: Vec<(String, txqlab::scenario::Params)> = (1..=3)
        .map(|seed| {
            let mut q = p.clone();
            q.seed = seed;
            ("x".to_string(), q)
        })
        .collect();
    let par = txqlab::sim::run_parallel(&jobs, &|_| {}).unwrap();
    for ((n, q), r) in jobs.iter().zip(&par) {
        assert_eq!(&run_stage(n, q, |_| {}).unwrap(), r);
    }
}

#[test]
fn csv_goes_through_a_csv_writer() {
    let s = Scenario::incident().unwrap();
    let mut p = s.stage(0).unwrap().params;
    p.duration_s = 1.0;
    let r = run_stage("a,\"b\"", &p, |_| {}).unwrap();
    let st = [txqlab::report::StageRuns {
        name: "a,\"b\"".into(),
        runs: vec![r],
    }];
    let csv = txqlab::report::csv(&st, &[1]).unwrap();
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("\"a,\"\"b\"\"\",1,0,"),
        "{csv}"
    );
}
