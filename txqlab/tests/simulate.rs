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
    let o = Command::new(bin)
        .args([
            "simulate",
            "--stage",
            "sidecar-cpu",
            "--duration",
            "12",
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
    assert!(String::from_utf8_lossy(&o.stderr).contains("stage sidecar-cpu nic.queues=1"));

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
            "--csv",
            "--plot",
            svg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let csv = String::from_utf8(o.stdout).unwrap();
    assert!(csv.starts_with("stage,t_s,p99_ms,completed\n"));
    assert_eq!(csv.lines().count(), 1 + 6);
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.contains("<svg") && plot.contains("drain"));

    let o = Command::new(bin)
        .args(["simulate", "--sweep", "nic.nope=1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown parameter `nic.nope`"));
}
