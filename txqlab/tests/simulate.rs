//! The default scenario: the incident's pattern must emerge, the output is pinned by a golden file, a run is
//! reproducible, and the issue-10 "Done when" table over seeds 1-10.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use txqlab::report::{Run, SWEEP_MOVE, binding_margin, within_reach_of_cliff};
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

/// `json` must equal `tests/golden/NAME`; `UPDATE_GOLDEN=1` writes it instead.
fn assert_golden(name: &str, json: &str) {
    let golden = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(&golden, json).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert!(
        json == want,
        "output differs from {golden}; if the change is intended, rerun with UPDATE_GOLDEN=1"
    );
}

const STAGES: [&str; 6] = [
    "baseline",
    "scale-out",
    "sidecar-cpu",
    "kernel-fix",
    "network-optimised",
    "drain",
];

#[test]
fn the_incident_pattern_emerges_and_matches_the_golden_output() {
    let stages = run_incident();
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, STAGES);
    let p99: Vec<f64> = stages.iter().map(|s| s.rollout.attempt_p99_ms).collect();
    // Baseline and scale-out at the timeout, the drain well below 100 ms, each fix no worse than the stage before.
    assert!(p99[0] >= 800.0 && p99[1] >= 0.85 * p99[0], "{p99:?}");
    // The sidecar (300 ms - 1 s) and kernel-fix (200-600 ms) bands overlap: one seed may order them either way.
    assert!(p99[2] >= 300.0 && p99[3] >= 200.0, "{p99:?}");
    assert!(p99[3..].windows(2).all(|w| w[1] <= w[0]), "{p99:?}");
    assert!(p99[5] < 100.0, "{p99:?}");
    // The kernel fix takes the largest TX queue share from ~100% to at most 1.5/8.
    assert!(stages[2].max_tx_queue_share > 0.99);
    assert!(stages[3].max_tx_queue_share <= 1.5 / 8.0);
    // Bandwidth allowance counters rise before the network-optimised instance and vanish with it.
    let bw = |s: &StageResult| {
        s.allowance_exceeded.bw_in_allowance_exceeded
            + s.allowance_exceeded.bw_out_allowance_exceeded
    };
    assert!(bw(&stages[3]) > 1000, "{:?}", stages[3].allowance_exceeded);
    assert_eq!(bw(&stages[4]), 0, "{:?}", stages[4].allowance_exceeded);
    // Egress over the outbound allowance appears with the kernel fix: the other pods' bursts are no longer paced
    // by one TX queue (see `[background]` in the scenario), and it is gone on the network-optimised instance.
    assert_eq!(stages[2].allowance_exceeded.bw_out_allowance_exceeded, 0);
    assert!(
        stages[3].allowance_exceeded.bw_out_allowance_exceeded > 1000,
        "{:?}",
        stages[3].allowance_exceeded
    );
    // Sidecar throttling is the baseline's, and the drain stops requests to terminating instances.
    assert!(stages[0].throttled_periods > 0 && stages[2].throttled_periods == 0);
    assert!(stages[4].requests_to_terminating > 0);
    assert_eq!(stages[5].requests_to_terminating, 0);

    let json = serde_json::to_string_pretty(&Run {
        schema_version: txqlab::report::SCHEMA_VERSION,
        scenario: "incident",
        seed: 1,
        stages: &stages,
    })
    .unwrap()
        + "\n";
    assert_golden("incident.json", &json);
}

/// Seed 2 of the baseline has events at the same nanosecond (the sidecar's CFS periods start on whole 100 ms, client
/// retries follow timeouts by exactly 1 s): their order is the order they were scheduled in, and this golden file
/// pins it. (A version of the timeout FIFO that let same-time timeouts overtake other events changed this output
/// and left seed 1's unchanged.)
#[test]
fn the_baseline_at_seed_2_where_events_tie_matches_its_golden_output() {
    let s = Scenario::incident().unwrap();
    let mut p = s.stage(0).unwrap().params;
    p.seed = 2;
    let r = run_stage("baseline", &p, |_| {}).unwrap();
    let json = serde_json::to_string_pretty(&r).unwrap() + "\n";
    assert_golden("baseline_seed2.json", &json);
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
fn sweep_from_the_command_line_as_a_table_and_json() {
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
    // The last column names each value's binding bottleneck: one queue's packet rate when it carries everything,
    // something else once eight share it.
    let binding = |r: &str| r.rsplit('|').next().unwrap().trim().to_string();
    assert_eq!(binding(rows[0]), "binding margin", "{out}");
    assert!(binding(rows[1]).starts_with("tx_queue_pps "), "{out}");
    assert!(!binding(rows[2]).starts_with("tx_queue_pps "), "{out}");
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
}

#[test]
fn csv_and_plot_from_the_command_line() {
    let bin = env!("CARGO_BIN_EXE_txqlab");
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
}

#[test]
fn hostile_simulate_command_lines_fail_fast_or_work() {
    let bin = env!("CARGO_BIN_EXE_txqlab");
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
        // Arguments that cannot work together are a usage error (64), told apart from unreadable input (2).
        assert_eq!(o.status.code(), Some(64), "{args:?}");
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
    p.clients.warmup_rps = 1e-12;
    let r = run_stage("x", &p, |_| {}).unwrap();
    assert_eq!(r.requests, 0);
}

#[test]
fn invalid_parameters_are_refused_by_run_stage_too() {
    let s = Scenario::incident().unwrap();
    let mut p = s.stage(0).unwrap().params;
    p.proxy.cores = 1e-12;
    let e = run_stage("x", &p, |_| {}).unwrap_err();
    // A value, naming the stage, the field and its limit.
    match &e {
        txqlab::Error::StageInvalid { stage, invalid } => {
            assert_eq!((stage.as_str(), invalid.key), ("x", "proxy.cores"));
            assert!(invalid.msg.contains("1 ms"), "{e}");
        }
        other => panic!("{other:?}"),
    }
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
    assert_eq!(v["schema_version"], 4);
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

fn median_of(rs: &[StageResult], f: &dyn Fn(&StageResult) -> f64) -> f64 {
    let mut v: Vec<f64> = rs.iter().map(f).collect();
    txqlab::report::median(&mut v)
}

/// A row of issue 10's "Done when" table that failed: its stage, for the stage's latency band (the p99 range, or
/// scale-out's +-15% of the baseline) whether the p99 is above it (`Some(true)`) or below (`Some(false)`), and
/// what was found.
#[derive(Debug)]
struct Failure {
    stage: usize,
    latency: Option<bool>,
    what: String,
}

/// Issue 10's "Done when" rows, checked on the medians over the seeds of each stage; returns the rows that fail.
fn done_when_failures(by_stage: &[&[StageResult]]) -> Vec<Failure> {
    let p99 = |i: usize| median_of(by_stage[i], &|r| r.rollout.attempt_p99_ms);
    let mut bad = Vec::new();
    let mut row = |stage: usize, latency: Option<bool>, ok: bool, what: String| {
        if !ok {
            bad.push(Failure {
                stage,
                latency,
                what,
            });
        }
    };
    // baseline: 0.8-2 s, a plateau; max TX queue share >= 0.99.
    row(
        0,
        Some(p99(0) > 2000.0),
        (800.0..=2000.0).contains(&p99(0)),
        format!("baseline p99 {}", p99(0)),
    );
    row(
        0,
        None,
        by_stage[0].iter().all(|r| r.max_tx_queue_share >= 0.99),
        "baseline TX share".into(),
    );
    // scale-out: within +-15% of baseline.
    row(
        1,
        Some(p99(1) > p99(0)),
        (p99(1) / p99(0) - 1.0).abs() <= 0.15,
        format!("scale-out {} vs baseline {}", p99(1), p99(0)),
    );
    // sidecar CPU: 300 ms - 1.2 s, oscillating (per-second p99 varies >= 2x).
    row(
        2,
        Some(p99(2) > 1200.0),
        (300.0..=1200.0).contains(&p99(2)),
        format!("sidecar p99 {}", p99(2)),
    );
    let swing = median_of(by_stage[2], &|r| r.rollout_p99_swing);
    row(2, None, swing >= 2.0, format!("sidecar swing {swing}"));
    // ... spikes outside rollouts present (in most seeds: a seed's 26 s outside the rollout may see no burst).
    let spiky = by_stage[2]
        .iter()
        .filter(|r| r.outside_spike_share > 0.0)
        .count();
    row(
        2,
        None,
        spiky * 2 > by_stage[2].len(),
        format!("sidecar spikes outside in {spiky} seeds"),
    );
    // kernel fix: 200-600 ms; max TX queue share <= 1.5/8; no spikes outside rollouts.
    row(
        3,
        Some(p99(3) > 600.0),
        (200.0..=600.0).contains(&p99(3)),
        format!("kernel-fix p99 {}", p99(3)),
    );
    row(
        3,
        None,
        by_stage[3]
            .iter()
            .all(|r| r.max_tx_queue_share <= 1.5 / 8.0),
        "kernel-fix TX share".into(),
    );
    row(
        3,
        None,
        by_stage[3].iter().all(|r| r.outside_spike_share == 0.0),
        "kernel-fix spikes outside".into(),
    );
    // network-optimised: 80-200 ms with some seconds near 1 s; allowance counters 0.
    row(
        4,
        Some(p99(4) > 200.0),
        (80.0..=200.0).contains(&p99(4)),
        format!("network-optimised p99 {}", p99(4)),
    );
    let near_1s = |r: &StageResult| r.series.iter().any(|x| x.p99_ms >= 800.0);
    row(
        4,
        None,
        by_stage[4].iter().filter(|r| near_1s(r)).count() * 2 >= by_stage[4].len(),
        "network-optimised: no seconds near 1 s".into(),
    );
    row(
        4,
        None,
        by_stage[4].iter().all(|r| {
            let a = r.allowance_exceeded;
            a.iter().all(|(_, v)| v == 0)
        }),
        "network-optimised allowance counters".into(),
    );
    // drain: < 100 ms; 0 requests to terminating instances.
    row(
        5,
        Some(true),
        p99(5) < 100.0,
        format!("drain p99 {}", p99(5)),
    );
    row(
        5,
        None,
        by_stage[5].iter().all(|r| r.requests_to_terminating == 0),
        "drain sends to terminating".into(),
    );
    bad
}

/// Every stage of the incident with `moves` made in its base sections (a stage that sets a key itself keeps its
/// value: `Scenario::with_base`), for `seeds`; grouped by stage.
fn run_seeds(
    moves: &[(String, toml::Value)],
    seeds: std::ops::RangeInclusive<u64>,
) -> Vec<Vec<StageResult>> {
    let mut s = Scenario::incident().unwrap();
    for (k, v) in moves {
        s = s.with_base(k, v.clone()).unwrap();
    }
    let n = seeds.clone().count();
    let mut jobs = Vec::new();
    for i in 0..s.stage_names().len() {
        let st = s.stage(i).unwrap();
        let p = st.params.clone();
        for seed in seeds.clone() {
            let mut q = p.clone();
            q.seed = seed;
            jobs.push((st.name.clone(), q));
        }
    }
    let all = txqlab::sim::run_parallel(&jobs, &|_| {}).unwrap();
    all.chunks(n).map(|c| c.to_vec()).collect()
}

/// Issue 10's "Done when" table, over seeds 1-10 (60 stage runs in parallel: a few minutes on two shared cores).
#[test]
#[ignore = "60 stage runs; run with --ignored"]
fn done_when_table_over_seeds_1_to_10() {
    let by_stage = run_seeds(&[], 1..=10);
    for (i, st) in by_stage.iter().enumerate() {
        let v: Vec<f64> = st.iter().map(|r| r.rollout.attempt_p99_ms).collect();
        eprintln!("{:<18} rollout p99/attempt per seed {v:?}", STAGES[i]);
    }
    let refs: Vec<&[StageResult]> = by_stage.iter().map(Vec::as_slice).collect();
    let bad = done_when_failures(&refs);
    assert!(bad.is_empty(), "{bad:?}");
}

/// The bands hold with each assumption-marked parameter moved by -10% and +10%, one at a time (seeds 1-3), except
/// where a cliff is real and the margin table shows it (issue 10's Done-when): a move may take a stage out of its
/// latency band only when the stage's binding bottleneck (its largest margin in the default run, median over the
/// same seeds) is within a 10% change of demand of 1.00, which the table marks `~`, and the moved run's table shows
/// the move: that margin, or the inbound backlog, went up with a p99 above the band or down with one below it.
/// Every other row (queue shares, spikes, allowance counters, terminations) and every stage not on such a cliff
/// must hold under every move. A move is made in the file's base sections: a stage that sets the key itself keeps
/// its own value (scale-out's 24 remote instances).
/// About 1200 stage runs ((66 moves + the unmoved run) x 6 stages x 3 seeds): about 16 minutes on two idle cores
/// (930 s measured).
#[test]
#[ignore = "about 1200 stage runs; run with --ignored"]
fn bands_hold_with_each_assumption_moved_10_percent() {
    let p = Scenario::incident().unwrap().stage(0).unwrap().params;
    let t = toml::Table::try_from(&p).unwrap();
    // Seeds 1-3 by default; TXQLAB_SWEEP_SEEDS=N for a quicker (or wider) look, and TXQLAB_SWEEP_KEYS (below) for
    // some keys only.
    let seeds: u64 = std::env::var("TXQLAB_SWEEP_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let default = run_seeds(&[], 1..=seeds);
    let refs: Vec<&[StageResult]> = default.iter().map(Vec::as_slice).collect();
    let unmoved = done_when_failures(&refs);
    assert!(unmoved.is_empty(), "before any move: {unmoved:?}");
    let cliffs: Vec<Option<(String, f64)>> = default.iter().map(|r| cliff_in_reach(r)).collect();
    for (i, c) in cliffs.iter().enumerate() {
        eprintln!("{:<18} binding bottleneck on a cliff: {c:?}", STAGES[i]);
    }
    let (mut failures, mut at_cliffs, mut untested) = (Vec::new(), Vec::new(), Vec::new());
    // TXQLAB_SWEEP_KEYS=a.b,c.d moves only those keys.
    let only: Option<Vec<String>> = std::env::var("TXQLAB_SWEEP_KEYS")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let keys = txqlab::scenario::assumption_keys(txqlab::scenario::INCIDENT);
    if let Some(o) = &only {
        let unknown: Vec<&String> = o.iter().filter(|k| !keys.contains(k)).collect();
        assert!(unknown.is_empty(), "not assumption keys: {unknown:?}");
    }
    for key in keys {
        if only.as_ref().is_some_and(|o| !o.contains(&key)) {
            continue;
        }
        let v = match key.split_once('.') {
            Some((sec, f)) => t[sec][f].clone(),
            None => t[key.as_str()].clone(),
        };
        for factor in [1.0 - SWEEP_MOVE, 1.0 + SWEEP_MOVE] {
            let moved = match &v {
                toml::Value::Integer(i) => {
                    toml::Value::Integer(((*i as f64) * factor).round() as i64)
                }
                toml::Value::Float(x) => toml::Value::Float(x * factor),
                _ => continue,
            };
            if moved == v {
                // 0, or an integer that a 10% move rounds back to (3 retries): nothing to run.
                eprintln!("{key} = {moved}: unchanged by the move, not tested");
                untested.push(format!("{key} x {factor}"));
                continue;
            }
            let by_stage = run_seeds(&[(key.clone(), moved.clone())], 1..=seeds);
            let refs: Vec<&[StageResult]> = by_stage.iter().map(Vec::as_slice).collect();
            let bad = done_when_failures(&refs);
            eprintln!(
                "{key} = {moved}: {}",
                if bad.is_empty() { "holds" } else { "FAILS" }
            );
            for f in bad {
                // Excused only at a cliff the unmoved table shows (`~`), and only when the moved run's table shows
                // the move: its binding margin or the inbound backlog went the way the p99 did.
                let shown = match (f.latency, &cliffs[f.stage]) {
                    (Some(above), Some((name, m0))) => {
                        let now = &by_stage[f.stage];
                        let m1 = median_of(now, &|r| r.margins.get(name).copied().unwrap_or(0.0));
                        let b0 = median_of(&default[f.stage], &|r| r.inbound_backlog_s);
                        let b1 = median_of(now, &|r| r.inbound_backlog_s);
                        let followed = if above {
                            m1 > *m0 || b1 > b0
                        } else {
                            m1 < *m0 || b1 < b0
                        };
                        Some((
                            followed,
                            format!(
                                " (cliff the table shows: {name} {m0:.2} ~ -> {m1:.2}, backlog {b0:.2} -> \
                                 {b1:.2} s)"
                            ),
                        ))
                    }
                    _ => None,
                };
                eprintln!(
                    "    {}{}",
                    f.what,
                    shown.as_ref().map_or("", |(_, why)| why.as_str())
                );
                let line = format!("{key} = {moved}: {}", f.what);
                match shown {
                    Some((true, why)) => at_cliffs.push(line + &why),
                    Some((false, why)) => {
                        failures.push(line + &why + ": the table does not show the move")
                    }
                    None => failures.push(line),
                }
            }
        }
    }
    eprintln!(
        "{} moves left a band at a cliff the margin table shows: {at_cliffs:#?}",
        at_cliffs.len()
    );
    eprintln!("moves that leave the value as it is: {untested:?}");
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The binding bottleneck of a stage (its largest margin, median over the seeds) when it is within a 10% change
/// of demand of its cliff ([`within_reach_of_cliff`]: the table's `~`).
fn cliff_in_reach(runs: &[StageResult]) -> Option<(String, f64)> {
    binding_margin(runs).filter(|(_, m)| within_reach_of_cliff(*m))
}

#[test]
fn the_remote_kernel_sets_the_responses_probe_floor() {
    // The kernel-fix stage's node runs 6.1 (the probe's floor added before rounding: 4-8 ms on this path). Naming
    // the same kernel for the remote changes nothing; naming 5.11 (rounded first: 12-16 ms) probes the responses
    // later, which shows in the run.
    let mut p = Scenario::incident().unwrap().stage(3).unwrap().params;
    p.duration_s = 30.0;
    let same_as_node = run_stage("x", &p, |_| {}).unwrap();
    p.remote.kernel_release = Some(p.kernel.release.clone());
    let named = run_stage("x", &p, |_| {}).unwrap();
    assert_eq!(
        serde_json::to_string(&same_as_node).unwrap(),
        serde_json::to_string(&named).unwrap()
    );
    p.remote.kernel_release = Some("5.11.0-1022-aws".into());
    let older = run_stage("x", &p, |_| {}).unwrap();
    assert_ne!(
        serde_json::to_string(&same_as_node).unwrap(),
        serde_json::to_string(&older).unwrap()
    );
    assert!(older.retransmits > 0 && same_as_node.retransmits > 0);
}

#[test]
fn other_pods_bursts_share_the_pinned_queue() {
    let s = Scenario::incident().unwrap();
    let mut p = s.stage(0).unwrap().params;
    p.duration_s = 4.0;
    p.background.bursts_per_min = 0.0;
    let quiet = run_stage("x", &p, |_| {}).unwrap();
    // Bursts of 8000 small packets, twice a second.
    p.background.bursts_per_min = 120.0;
    (p.background.burst_ms, p.background.burst_pps) = (200.0, 40_000.0);
    p.background.packet_bytes = 300;
    let busy = run_stage("x", &p, |_| {}).unwrap();
    // On the buggy kernel every pod's egress, the other pods' included, leaves through TX queue 0.
    assert!(
        busy.tx_queue_packets[0] > quiet.tx_queue_packets[0] + 10_000,
        "{busy:?}"
    );
    assert_eq!(busy.max_tx_queue_share, 1.0);
    // After the fix the other pods' flows spread over the queues.
    let mut p = s.stage(3).unwrap().params;
    p.duration_s = 4.0;
    p.background.bursts_per_min = 120.0;
    (p.background.burst_ms, p.background.burst_pps) = (200.0, 40_000.0);
    p.background.packet_bytes = 300;
    let fixed = run_stage("x", &p, |_| {}).unwrap();
    assert!(fixed.max_tx_queue_share < 0.3, "{:?}", fixed.tx_queue_share);
}

#[test]
fn a_bounded_warm_up_pool_bounds_the_backlog_it_builds() {
    let s = Scenario::incident().unwrap();
    let mut p = s.stage(0).unwrap().params;
    let open = run_stage("x", &p, |_| {}).unwrap();
    p.clients.warmup_inflight = 300;
    let bounded = run_stage("x", &p, |_| {}).unwrap();
    // Without a limit the warming pods' reads pile up behind the throttled sidecar until attempts time out; with
    // 300 slots per pod the reads wait for answers instead, and the backlog (so the latency) stays bounded.
    assert!(open.rollout.attempt_p99_ms >= 999.0, "{:?}", open.rollout);
    assert_eq!(open.warmup_held_back, 0);
    assert!(
        bounded.warmup_held_back > 10_000,
        "{}",
        bounded.warmup_held_back
    );
    assert!(
        bounded.rollout.attempt_p99_ms < 800.0,
        "{:?}",
        bounded.rollout
    );
    assert!(
        bounded.timeouts * 10 < open.timeouts,
        "{} vs {}",
        bounded.timeouts,
        open.timeouts
    );
}

/// The `[fanout]` mechanism: on the pinned queue a burst over thousands of flows reaches the sidecar's connections
/// through fq_codel's 1024 buckets and makes spikes; the same packets over a few flows do not (fq_codel keeps fat
/// flows apart), nor does the fan-out once the kernel fix spreads it over the queues.
#[test]
fn a_fan_out_over_many_flows_makes_spikes_only_on_the_pinned_queue() {
    let s = Scenario::incident().unwrap();
    // The nine seconds before the rollout, with a burst every three seconds on average.
    let outside = |stage: usize, flows: u32, per_min: f64| {
        let mut p = s.stage(stage).unwrap().params;
        p.duration_s = 9.0;
        p.fanout.flows = flows;
        p.fanout.bursts_per_min = per_min;
        let r = run_stage("x", &p, |_| {}).unwrap();
        (r.outside_spike_share, r.outside.attempt_p99_ms)
    };
    let sidecar = 2;
    let kernel_fix = 3;
    let spiky = outside(sidecar, 4096, 20.0);
    assert!(spiky.0 > 0.0 && spiky.1 > 200.0, "{spiky:?}");
    let few_flows = outside(sidecar, 16, 20.0);
    assert!(few_flows.0 == 0.0 && few_flows.1 < 150.0, "{few_flows:?}");
    let quiet = outside(sidecar, 4096, 0.0);
    assert!(quiet.0 == 0.0 && quiet.1 < 150.0, "{quiet:?}");
    let fixed = outside(kernel_fix, 4096, 20.0);
    assert!(fixed.0 == 0.0 && fixed.1 < 150.0, "{fixed:?}");
}

#[test]
fn the_inbound_margin_crosses_one_where_the_kernel_fix_stage_changes_regime() {
    // The kernel-fix stage's bottleneck is the inbound allowance. Its margin is the responses' offered bytes per
    // second over the allowance. What reaches the shaper (retransmissions included) is 1.08 of it at the lowest
    // rate here (micro-bursts only, p99 90 ms) and 1.26 at both others, so it could not show where the cliff is.
    // Offered, the margin is below 1 where the p99 is the service time's, just past 1 in the band, and further past
    // where attempts time out.
    let s = Scenario::incident().unwrap();
    let mut p = s
        .stage(s.stage_index("kernel-fix").unwrap())
        .unwrap()
        .params;
    let warmup_s = p.rollout.warmup_s;
    let mut at = |rps: f64, warmup_s: f64| {
        p.clients.warmup_rps = rps;
        p.rollout.warmup_s = warmup_s;
        let r = run_stage("kernel-fix", &p, |_| {}).unwrap();
        (
            r.margins["bw_in"],
            r.rollout.attempt_p99_ms,
            r.inbound_backlog_s,
        )
    };
    let below = at(3015.0, warmup_s);
    let on = at(3350.0, warmup_s);
    let past = at(3685.0, warmup_s);
    assert!(below.0 < 1.0 && below.1 < 150.0, "{below:?}");
    assert!(on.0 > 1.0 && within_reach_of_cliff(on.0), "{on:?}");
    assert!((200.0..=600.0).contains(&on.1), "{on:?}");
    assert!(past.0 > on.0 * 1.05 && past.1 >= 999.0, "{past:?}");
    // The backlog says how long: none below the cliff (no second above it), some just past it, more further past.
    assert!(
        below.2 == 0.0 && on.2 > 0.0 && past.2 > on.2 * 2.0,
        "{below:?} {on:?} {past:?}"
    );
    // A warm-up 10% longer at the same rate overlaps longer: the backlog grows, and so does the p99.
    let longer = at(3350.0, warmup_s * 1.1);
    assert!(
        longer.2 > on.2 * 2.0 && longer.1 > on.1,
        "{on:?} {longer:?}"
    );
}

#[test]
fn a_margin_is_within_reach_when_a_tenth_more_or_less_demand_crosses_one() {
    for (m, near) in [
        (0.90, false),
        (0.92, true),
        (1.0, true),
        (1.04, true),
        (1.11, true),
        (1.12, false),
        (1.22, false),
    ] {
        assert_eq!(within_reach_of_cliff(m), near, "{m}");
    }
}
