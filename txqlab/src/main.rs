//! `txqlab`: simulate the NIC transmit-path incident, diagnose real counters, predict a kernel's queue spread.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use txqlab::report;
use txqlab::scenario::{Scenario, override_param, parse_value};
use txqlab::sim::{StageResult, run_parallel};

#[derive(Parser)]
#[command(
    name = "txqlab",
    version,
    about = "Latency from the NIC transmit path: simulate, diagnose, predict"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay the incident (or SCENARIO.toml) stage by stage.
    Simulate(SimulateArgs),
    /// Predict how flows spread over TX queues on a kernel, driver and path, and which branch decides.
    Predict(PredictArgs),
    /// Read `ethtool -S` (ENA or virtio_net) and optionally `tc -s qdisc|class show` output; report findings.
    /// Exit status: 0 no warning, 1 a warning-level finding, 2 unreadable input.
    Diagnose(DiagnoseArgs),
}

#[derive(clap::Args)]
struct DiagnoseArgs {
    /// `ethtool -S` output (`-` or nothing: standard input). `tc -s` output may follow it in the same input.
    input: Option<PathBuf>,
    /// `tc -s qdisc show` / `tc -s class show` output.
    #[arg(long, value_name = "FILE")]
    tc: Option<PathBuf>,
    /// An earlier `ethtool -S` snapshot: diagnose the difference.
    #[arg(long, value_name = "FILE")]
    before: Option<PathBuf>,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct PredictArgs {
    /// Kernel release as `uname -r` prints it (e.g. 5.15.0-1019-aws, 6.1.0-18-amd64).
    #[arg(long)]
    kernel: String,
    /// Egress driver.
    #[arg(long, value_enum)]
    driver: txqlab::predict::Driver,
    /// Where the traffic starts: host (root namespace) or veth (a pod).
    #[arg(long, value_parser = ["host", "veth"])]
    path: String,
    /// XPS by CPU on or off (default: the driver's: on for virtio_net, off otherwise).
    #[arg(long, value_parser = ["on", "off"])]
    xps: Option<String>,
    /// TX queues.
    #[arg(long, default_value_t = 8)]
    queues: u16,
    /// Flows.
    #[arg(long, default_value_t = 256)]
    flows: u32,
    /// Online CPUs (for the XPS map).
    #[arg(long, default_value_t = 2)]
    cpus: u16,
    /// The CPU that sends.
    #[arg(long, default_value_t = 0)]
    cpu: u16,
    /// State what the kernel does when its release cannot tell (distribution backports).
    #[arg(long, value_parser = ["yes", "no"])]
    veth_records: Option<String>,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// Scenario file; the embedded incident when omitted.
    scenario: Option<PathBuf>,
    /// Run only this stage (with the stages before it applied).
    #[arg(long)]
    stage: Option<String>,
    /// Override the seed (the first one with --seeds).
    #[arg(long)]
    seed: Option<u64>,
    /// Run every stage with this many seeds (seed, seed+1, ...) in parallel on all cores; tables show
    /// `median [min-max]`.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    seeds: u32,
    /// Override the simulated seconds per stage.
    #[arg(long)]
    duration: Option<f64>,
    /// Rerun one stage (--stage, else the last) for each value: KEY=V1,V2,... (e.g. nic.queues=1,2,4,8).
    #[arg(long, value_name = "KEY=V1,V2,...")]
    sweep: Option<String>,
    /// Print JSON instead of the table.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print the per-second time series as CSV.
    #[arg(long, conflicts_with = "sweep")]
    csv: bool,
    /// Write a plot of p99 over time per stage to this SVG file.
    #[arg(long, value_name = "FILE.svg", conflicts_with = "sweep")]
    plot: Option<PathBuf>,
    /// Print the scenario (the embedded one, or SCENARIO) and exit: a starting point to edit.
    #[arg(long)]
    print_scenario: bool,
}

fn main() -> ExitCode {
    env_logger::init();
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Simulate(a) => simulate(a),
        Cmd::Predict(a) => predict(a),
        Cmd::Diagnose(a) => diagnose(a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("txqlab: {e}");
            ExitCode::from(2)
        }
    }
}

fn simulate(a: SimulateArgs) -> Result<ExitCode, String> {
    let (text, origin) = match &a.scenario {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
            p.display().to_string(),
        ),
        None => (
            txqlab::scenario::INCIDENT.to_string(),
            "<embedded incident scenario>".to_string(),
        ),
    };
    if a.print_scenario {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let sc = Scenario::parse(&text, &origin).map_err(|e| e.to_string())?;
    let indices: Vec<usize> = match &a.stage {
        Some(name) => vec![sc.stage_index(name).map_err(|e| e.to_string())?],
        None => (0..sc.stage_names().len()).collect(),
    };
    let mut runs = Vec::new();
    for i in &indices {
        let st = sc.stage(*i).map_err(|e| e.to_string())?;
        let mut p = st.params;
        if let Some(seed) = a.seed {
            // Set directly: a TOML integer is signed and would turn seeds >= 2^63 negative.
            p.seed = seed;
        }
        if let Some(d) = a.duration {
            p = override_param(&p, "duration_s", toml::Value::Float(d))
                .map_err(|e| e.to_string())?;
        }
        runs.push((st.name, p));
    }
    let (name0, p0) = runs.first().cloned().ok_or("no stage to run")?;
    let seeds: Vec<u64> = (0..a.seeds as u64)
        .map(|i| p0.seed.wrapping_add(i))
        .collect();
    let with_seeds = |p: &txqlab::scenario::Params| -> Vec<txqlab::scenario::Params> {
        seeds
            .iter()
            .map(|&s| {
                let mut q = p.clone();
                q.seed = s;
                q
            })
            .collect()
    };
    if let Some(spec) = &a.sweep {
        let (key, values) = spec.split_once('=').ok_or("--sweep wants KEY=V1,V2,...")?;
        let (name, base) = match &a.stage {
            Some(_) => (name0, p0),
            None => runs.last().cloned().ok_or("no stage to run")?,
        };
        let values: Vec<&str> = values.split(',').filter(|v| !v.trim().is_empty()).collect();
        if key.is_empty() || values.is_empty() {
            return Err(format!(
                "--sweep `{spec}`: wants KEY=V1,V2,... with at least one value"
            ));
        }
        let mut jobs = Vec::new();
        for v in &values {
            let p = override_param(&base, key, parse_value(v)).map_err(|e| e.to_string())?;
            for q in with_seeds(&p) {
                jobs.push((format!("{name} {key}={v}"), q));
            }
        }
        let results = run_all(&jobs)?;
        let n = seeds.len();
        let rows: Vec<(String, Vec<StageResult>)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.to_string(), results[i * n..(i + 1) * n].to_vec()))
            .collect();
        if a.json {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|(v, r)| {
                    let st = [report::StageRuns {
                        name: name.clone(),
                        runs: r.clone(),
                    }];
                    let j = report::json(&base.name, &seeds, &st)?;
                    Ok(serde_json::json!({ "value": v, "result": j["stages"][0] }))
                })
                .collect::<Result<_, String>>()?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "schema_version": report::SCHEMA_VERSION,
                    "sweep": key,
                    "seeds": seeds,
                    "rows": v
                }))
                .map_err(|e| e.to_string())?
            );
        } else {
            print!("{}", report::sweep_table(key, &rows));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = &a.plot {
        // Fail before the run, not after it: the file must be writable.
        std::fs::write(path, "").map_err(|e| format!("--plot {}: {e}", path.display()))?;
    }
    let jobs: Vec<(String, txqlab::scenario::Params)> = runs
        .iter()
        .flat_map(|(n, p)| with_seeds(p).into_iter().map(move |q| (n.clone(), q)))
        .collect();
    let results = run_all(&jobs)?;
    let n = seeds.len();
    let stages: Vec<report::StageRuns> = runs
        .iter()
        .enumerate()
        .map(|(i, (name, _))| report::StageRuns {
            name: name.clone(),
            runs: results[i * n..(i + 1) * n].to_vec(),
        })
        .collect();
    if let Some(path) = &a.plot {
        report::plot(
            path,
            &stages,
            (p0.rollout.start_s, p0.rollout.end_s),
            p0.duration_s,
        )?;
        eprintln!("plot written to {}", path.display());
    }
    if a.json {
        let v = report::json(&p0.name, &seeds, &stages)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        );
    } else if a.csv {
        print!("{}", report::csv(&stages, &seeds)?);
    } else {
        print!("{}", report::table(&stages));
    }
    Ok(ExitCode::SUCCESS)
}

fn read_input(p: Option<&PathBuf>) -> Result<(String, String), String> {
    match p {
        Some(p) if p.as_os_str() != "-" => Ok((
            std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
            p.display().to_string(),
        )),
        _ => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| format!("<stdin>: {e}"))?;
            Ok((s, "<stdin>".into()))
        }
    }
}

/// Splits pasted input into the `ethtool -S` part and a `tc -s` part that may follow it.
fn split_tc(text: &str) -> (&str, Option<&str>) {
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with("qdisc ") || t.starts_with("class ") {
            return (&text[..off], Some(&text[off..]));
        }
        off += line.len();
    }
    (text, None)
}

fn diagnose(a: DiagnoseArgs) -> Result<ExitCode, String> {
    use txqlab::diagnose::{Snapshot, diagnose, parse_tc, render};
    let (text, origin) = read_input(a.input.as_ref())?;
    let (eth, tc_inline) = split_tc(&text);
    let mut snap = Snapshot::parse(eth, &origin)?;
    if let Some(b) = &a.before {
        let (bt, bo) = read_input(Some(b))?;
        let before = Snapshot::parse(split_tc(&bt).0, &bo)?;
        snap = snap.delta(&before);
    }
    let mut tc = Vec::new();
    if let Some(t) = tc_inline {
        // Line numbers in errors count from the start of the input.
        let skipped = eth.lines().count();
        tc.extend(parse_tc(&format!("{}{t}", "\n".repeat(skipped)), &origin)?);
    }
    if let Some(p) = &a.tc {
        let (t, o) = read_input(Some(p))?;
        tc.extend(parse_tc(&t, &o)?);
    }
    let report = diagnose(&snap, &tc);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", render(&report));
    }
    Ok(if report.has_warning() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn predict(a: PredictArgs) -> Result<ExitCode, String> {
    let q = txqlab::predict::Query {
        kernel: a.kernel,
        driver: a.driver,
        path: if a.path == "veth" {
            qdisc::veth::Path::PodViaVeth
        } else {
            qdisc::veth::Path::Host
        },
        xps: a.xps.map(|x| x == "on"),
        queues: a.queues,
        flows: a.flows,
        cpus: a.cpus,
        cpu: a.cpu,
        veth_records: a.veth_records.map(|v| v == "yes"),
    };
    let ans = txqlab::predict::run(&q)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&ans).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", txqlab::predict::render(&ans));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs stage runs in parallel on all cores, showing progress: a bar on a terminal, a line per finished run
/// otherwise.
fn run_all(jobs: &[(String, txqlab::scenario::Params)]) -> Result<Vec<StageResult>, String> {
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let b = ProgressBar::new(jobs.len() as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos:>3}/{len} runs",
            )
            .map_err(|e| e.to_string())?,
        );
        Some(b)
    } else {
        None
    };
    let t = Instant::now();
    let out = run_parallel(jobs, &|n| {
        if let Some(b) = &bar {
            b.set_position(n as u64);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    } else {
        for ((name, p), r) in jobs.iter().zip(&out) {
            eprintln!(
                "stage {name} seed {}: {:.1} simulated s, {} packets",
                p.seed, p.duration_s, r.packets_simulated
            );
        }
        eprintln!("{} runs in {:.2} s", jobs.len(), t.elapsed().as_secs_f64());
    }
    Ok(out)
}
