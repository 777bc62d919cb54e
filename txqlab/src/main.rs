//! `txqlab`: simulate the NIC transmit-path incident, diagnose real counters, predict a kernel's queue spread.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use txqlab::Error;
use txqlab::report;
use txqlab::scenario::{Params, Scenario, override_param, parse_value};
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
    /// Read `ethtool -S` (13 drivers by name), `ethtool -i`, `tc -s` (text or JSON), node_exporter text or a
    /// `txqlab collect` bundle, or a live device; report findings.
    #[command(after_help = DIAGNOSE_EXIT)]
    Diagnose(DiagnoseArgs),
    /// Print the kernel facts the model rests on: each commit, its first release per line, and the evidence.
    Facts(FactsArgs),
    /// Write a bundle of a device's counters (ethtool, tc, sysfs, kernel, TCP) to attach to a ticket;
    /// `txqlab diagnose FILE` reads it.
    #[command(after_help = DIAGNOSE_EXIT)]
    Collect(CollectArgs),
    /// Test the running kernel for the veth bug in throwaway network namespaces (needs CAP_NET_ADMIN and
    /// CAP_SYS_ADMIN). Exit status: 0 not affected, 1 affected, 2 could not run or inconclusive.
    Probe(ProbeArgs),
}

#[derive(clap::Args)]
struct FactsArgs {
    /// JSON output.
    #[arg(long, conflicts_with = "markdown")]
    json: bool,
    /// The Markdown table the README shows.
    #[arg(long)]
    markdown: bool,
}

#[derive(clap::Args)]
struct ProbeArgs {
    /// UDP flows sent from the pod and from the node (distinct source ports).
    #[arg(long, default_value_t = 256)]
    flows: u32,
    /// UDP datagrams per flow.
    #[arg(long, default_value_t = 4)]
    packets: u32,
    /// JSON output (its schema: `--print-schema`).
    #[arg(long)]
    json: bool,
    /// Print the JSON Schema of `--json` and exit.
    #[arg(long)]
    print_schema: bool,
}

const DIAGNOSE_EXIT: &str = "Exit status: 0 no warning, 1 a warning-level finding, 2 unreadable or contradictory \
input (or the live device could not be read), 64 usage error (arguments that cannot work together).";

#[derive(clap::Args)]
struct DiagnoseArgs {
    /// Counters: `ethtool -S` output, optionally followed by `ethtool -i` and `tc -s` output, node_exporter
    /// text, or a `txqlab collect` bundle (`-` or nothing: standard input).
    input: Option<PathBuf>,
    /// `tc -s qdisc show` / `tc -s class show` output (text or `-j` JSON).
    #[arg(long, value_name = "FILE")]
    tc: Option<PathBuf>,
    /// `ethtool -i` output (driver name and version).
    #[arg(long, value_name = "FILE")]
    driver_info: Option<PathBuf>,
    /// An earlier snapshot of the same device: diagnose the difference.
    #[arg(long, value_name = "FILE")]
    before: Option<PathBuf>,
    /// The device the input is of: names it in findings, picks it from tc or node_exporter output of several.
    #[arg(long, value_name = "NAME")]
    dev: Option<String>,
    /// Read the live device DEV instead of input: two snapshots --interval apart.
    #[arg(long, value_name = "DEV", conflicts_with_all = ["input", "tc", "driver_info", "before"])]
    live: Option<String>,
    /// Seconds between the two live snapshots.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, requires = "live")]
    interval: f64,
    /// JSON output (schema: txqlab/schemas/diagnose.schema.json).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CollectArgs {
    /// Network device.
    dev: String,
    /// Seconds between the two snapshots (0: one snapshot).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    interval: f64,
    /// Write the bundle here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(clap::Args)]
struct PredictArgs {
    /// The kernel: `uname -r` (6.1.0-18-amd64), Debian's `uname -rv` (its `uname -v` carries the upstream
    /// version), or Ubuntu's `cat /proc/version_signature`.
    #[arg(long)]
    kernel: String,
    /// Egress driver, as `ethtool -i` names it (mlx5 for mlx5_core; `other`: no hook and no XPS assumed).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(txqlab::predict::DRIVERS.iter().copied().chain(["mlx5"])))]
    driver: String,
    /// The driver's version from `ethtool -i` (for ENA: `2.10.0g` is amzn-drivers, whose hook follows its version).
    #[arg(long)]
    driver_version: Option<String>,
    /// Where the traffic starts: host (root namespace), veth (a pod behind a default veth) or veth-mq (a pod
    /// behind a veth with --veth-queues queues).
    #[arg(long, value_parser = ["host", "veth", "veth-mq"])]
    path: String,
    /// TX/RX queues of the pod's veth for --path veth-mq.
    #[arg(long, default_value_t = 8)]
    veth_queues: u16,
    /// XPS by CPU on or off (default: the driver's: on for virtio_net, mlx5_core and gve, off otherwise).
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
    // Usage errors exit with EX_USAGE (64), apart from unreadable input (2) and warnings (1).
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                txqlab::diagnose::EXIT_USAGE
            } else {
                0
            });
        }
    };
    let r = match cli.cmd {
        Cmd::Simulate(a) => simulate(a),
        Cmd::Predict(a) => predict(a),
        Cmd::Diagnose(a) => return run_diagnose(diagnose(a)),
        Cmd::Collect(a) => return run_diagnose(collect(a)),
        Cmd::Facts(a) => facts(a),
        Cmd::Probe(a) => probe(a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("txqlab: {e}");
            ExitCode::from(2)
        }
    }
}

fn simulate(a: SimulateArgs) -> Result<ExitCode, Error> {
    let (text, origin) = match &a.scenario {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?,
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
    let sc = Scenario::parse(&text, &origin)?;
    let runs = stage_params(&sc, &a)?;
    let (name0, p0) = runs.first().cloned().ok_or_else(no_stage)?;
    let seeds: Vec<u64> = (0..a.seeds as u64)
        .map(|i| p0.seed.wrapping_add(i))
        .collect();
    if let Some(spec) = &a.sweep {
        let (name, base) = match &a.stage {
            Some(_) => (name0, p0),
            None => runs.last().cloned().ok_or_else(no_stage)?,
        };
        return sweep(spec, &name, &base, &seeds, a.json);
    }
    run_stages(&a, &runs, &seeds)
}

/// The stages to run (`--stage`, else all) with `--seed` and `--duration` applied.
fn stage_params(sc: &Scenario, a: &SimulateArgs) -> Result<Vec<(String, Params)>, Error> {
    let indices: Vec<usize> = match &a.stage {
        Some(name) => vec![sc.stage_index(name)?],
        None => (0..sc.stage_names().len()).collect(),
    };
    let mut runs = Vec::new();
    for i in &indices {
        let st = sc.stage(*i)?;
        let mut p = st.params;
        if let Some(seed) = a.seed {
            // Set directly: a TOML integer is signed and would turn seeds >= 2^63 negative.
            p.seed = seed;
        }
        if let Some(d) = a.duration {
            p = override_param(&p, "duration_s", toml::Value::Float(d))?;
        }
        runs.push((st.name, p));
    }
    Ok(runs)
}

/// `p` once per seed.
fn with_seeds(p: &Params, seeds: &[u64]) -> Vec<Params> {
    seeds
        .iter()
        .map(|&s| {
            let mut q = p.clone();
            q.seed = s;
            q
        })
        .collect()
}

/// `--sweep KEY=V1,V2,...`: stage `name` (parameters `base`) once per value and seed, one row per value.
fn sweep(
    spec: &str,
    name: &str,
    base: &Params,
    seeds: &[u64],
    json: bool,
) -> Result<ExitCode, Error> {
    let (key, values) = spec
        .split_once('=')
        .ok_or_else(|| Error::Usage("--sweep wants KEY=V1,V2,...".into()))?;
    let values: Vec<&str> = values.split(',').filter(|v| !v.trim().is_empty()).collect();
    if key.is_empty() || values.is_empty() {
        return Err(Error::Usage(format!(
            "--sweep `{spec}`: wants KEY=V1,V2,... with at least one value"
        )));
    }
    let mut jobs = Vec::new();
    for v in &values {
        let p = override_param(base, key, parse_value(v))?;
        for q in with_seeds(&p, seeds) {
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
    if !json {
        print!("{}", report::sweep_table(key, &rows));
        return Ok(ExitCode::SUCCESS);
    }
    let v: Vec<serde_json::Value> = rows
        .iter()
        .map(|(v, r)| {
            let st = [report::StageRuns {
                name: name.to_string(),
                runs: r.clone(),
            }];
            let j = report::json(&base.name, seeds, &st)?;
            Ok(serde_json::json!({ "value": v, "result": j["stages"][0] }))
        })
        .collect::<Result<_, Error>>()?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "schema_version": report::SCHEMA_VERSION,
            "sweep": key,
            "seeds": seeds,
            "rows": v
        }))
        .map_err(|e| Error::json(&e))?
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs every stage with every seed and prints the table, `--json` or `--csv`, and writes `--plot`.
fn run_stages(
    a: &SimulateArgs,
    runs: &[(String, Params)],
    seeds: &[u64],
) -> Result<ExitCode, Error> {
    let Some((_, p0)) = runs.first() else {
        return Err(no_stage());
    };
    if let Some(path) = &a.plot {
        // Fail before the run, not after it: the file must be writable.
        std::fs::write(path, "").map_err(|e| Error::io(path, e))?;
    }
    let jobs: Vec<(String, Params)> = runs
        .iter()
        .flat_map(|(n, p)| {
            with_seeds(p, seeds)
                .into_iter()
                .map(move |q| (n.clone(), q))
        })
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
        let v = report::json(&p0.name, seeds, &stages)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| Error::json(&e))?
        );
    } else if a.csv {
        print!("{}", report::csv(&stages, seeds)?);
    } else {
        print!("{}", report::table(&stages));
    }
    Ok(ExitCode::SUCCESS)
}

/// Ends `diagnose`/`collect` with the error's own exit status (usage 64, input 2).
fn run_diagnose(r: Result<ExitCode, txqlab::diagnose::Error>) -> ExitCode {
    r.unwrap_or_else(|e| {
        eprintln!("txqlab: {e}");
        ExitCode::from(e.exit_code())
    })
}

/// Opens an input for streaming: a file, or standard input for `-`.
fn open_input(
    p: Option<&PathBuf>,
) -> Result<(Box<dyn std::io::BufRead>, String), txqlab::diagnose::Error> {
    use txqlab::diagnose::Error;
    match p {
        Some(p) if p.as_os_str() != "-" => {
            let f = std::fs::File::open(p)
                .map_err(|e| Error::input(&p.display().to_string(), format!("cannot open: {e}")))?;
            Ok((
                Box::new(std::io::BufReader::new(f)),
                p.display().to_string(),
            ))
        }
        _ => {
            if std::io::stdin().is_terminal() {
                eprintln!(
                    "txqlab: reading counters from standard input (end with Ctrl-D; --help for files)"
                );
            }
            Ok((Box::new(std::io::stdin().lock()), "<stdin>".into()))
        }
    }
}

/// Refuses arguments that would read standard input more than once (`- --tc -`).
fn stdin_once(a: &DiagnoseArgs) -> Result<(), txqlab::diagnose::Error> {
    use txqlab::diagnose::Error;
    let stdin_users: Vec<&str> = [
        (
            "INPUT",
            a.input.as_ref().is_none_or(|p| p.as_os_str() == "-") && a.live.is_none(),
        ),
        ("--tc", a.tc.as_ref().is_some_and(|p| p.as_os_str() == "-")),
        (
            "--before",
            a.before.as_ref().is_some_and(|p| p.as_os_str() == "-"),
        ),
        (
            "--driver-info",
            a.driver_info.as_ref().is_some_and(|p| p.as_os_str() == "-"),
        ),
    ]
    .into_iter()
    .filter_map(|(n, uses)| uses.then_some(n))
    .collect();
    if stdin_users.len() > 1 {
        return Err(Error::Usage(format!(
            "{} all read standard input, which can be read only once: give files",
            stdin_users.join(" and ")
        )));
    }
    Ok(())
}

/// Adds `--tc` and `--driver-info` to the (latest) snapshot of the input.
fn add_extras(
    a: &DiagnoseArgs,
    dev: Option<&str>,
    last: &mut txqlab::diagnose::Snapshot,
) -> Result<(), txqlab::diagnose::Error> {
    use txqlab::diagnose::{Error, Snapshot, read};
    for (p, what) in [(&a.tc, "--tc"), (&a.driver_info, "--driver-info")] {
        let Some(p) = p else { continue };
        let (r, origin) = open_input(Some(p))?;
        let extra = read(r, &origin, dev)?;
        let [extra] = <[Snapshot; 1]>::try_from(extra).map_err(|_| {
            Error::Usage(format!(
                "{what} {origin}: a bundle cannot be added to another input"
            ))
        })?;
        last.tc.extend(extra.tc);
        if extra.info.driver.is_some() {
            last.info = extra.info;
        }
        for r in extra.ethtool.reads() {
            last.ethtool.insert(r.origin, r.line, r.name, r.value)?;
        }
    }
    Ok(())
}

fn diagnose(a: DiagnoseArgs) -> Result<ExitCode, txqlab::diagnose::Error> {
    use txqlab::diagnose::{Context, Error, Snapshot, collect, delta, diagnose, read, render};
    let dev = a.dev.as_deref().or(a.live.as_deref());
    stdin_once(&a)?;
    let mut snaps: Vec<Snapshot> = match &a.live {
        Some(d) => {
            if !(a.interval.is_finite() && a.interval > 0.0 && a.interval <= 3600.0) {
                return Err(Error::Usage(format!(
                    "--interval {} is not a number of seconds from above 0 to 3600",
                    a.interval
                )));
            }
            let text = collect::bundle(d, Some(std::time::Duration::from_secs_f64(a.interval)))?;
            read(text.as_bytes(), &format!("live {d}"), dev)?
        }
        None => {
            let (r, origin) = open_input(a.input.as_ref())?;
            read(r, &origin, dev)?
        }
    };
    if let Some(last) = snaps.last_mut() {
        add_extras(&a, dev, last)?;
    }
    let mut ctx = Context::default();
    let before = match &a.before {
        Some(p) => {
            if snaps.len() > 1 {
                return Err(Error::Usage(
                    "the input is a bundle of several snapshots: --before is not needed".into(),
                ));
            }
            let (r, origin) = open_input(Some(p))?;
            read(r, &origin, dev)?.pop()
        }
        None if snaps.len() > 1 => Some(snaps.remove(0)),
        None => None,
    };
    let mut snap = snaps
        .pop()
        .ok_or_else(|| Error::input("input", "no snapshot"))?;
    if let Some(b) = before {
        let (d, decreases) = delta(&snap, &b)?;
        if let (Some(x), Some(y)) = (snap.at_ms, b.at_ms) {
            ctx.interval_s = Some((x - y) as f64 / 1000.0);
        }
        let retrans = |s: &Snapshot| {
            s.sections
                .get("/proc/net/snmp")
                .and_then(|t| collect::retrans_segs(t))
        };
        if let (Some(x), Some(y)) = (retrans(&snap), retrans(&b)) {
            ctx.tcp_retransmits = x.checked_sub(y);
        }
        ctx.decreases = decreases;
        snap = d;
    }
    let report = diagnose(&snap, &ctx)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::Live(e.to_string()))?
        );
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::from(if report.has_warning() {
        txqlab::diagnose::EXIT_WARNING
    } else {
        txqlab::diagnose::EXIT_OK
    }))
}

fn collect(a: CollectArgs) -> Result<ExitCode, txqlab::diagnose::Error> {
    use txqlab::diagnose::{Error, collect};
    if !(a.interval.is_finite() && (0.0..=3600.0).contains(&a.interval)) {
        return Err(Error::Usage(format!(
            "--interval {} is not a number of seconds from 0 to 3600",
            a.interval
        )));
    }
    let interval = (a.interval > 0.0).then(|| std::time::Duration::from_secs_f64(a.interval));
    let text = collect::bundle(&a.dev, interval)?;
    match &a.output {
        Some(p) => {
            std::fs::write(p, text).map_err(|e| Error::Live(format!("{}: {e}", p.display())))?;
            eprintln!("bundle written to {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn facts(a: FactsArgs) -> Result<ExitCode, Error> {
    if a.json {
        let v = serde_json::json!({"schema_version": 1, "facts": txqlab::facts::rows()});
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| Error::json(&e))?
        );
    } else if a.markdown {
        print!("{}", txqlab::facts::markdown());
    } else {
        print!("{}", txqlab::facts::render());
    }
    Ok(ExitCode::SUCCESS)
}

fn predict(a: PredictArgs) -> Result<ExitCode, Error> {
    let q = txqlab::predict::Query {
        kernel: a.kernel,
        driver: a.driver,
        driver_version: a.driver_version,
        path: match a.path.as_str() {
            "veth" => qdisc::veth::Path::PodViaVeth,
            "veth-mq" => qdisc::veth::Path::PodViaMultiQueueVeth {
                queues: a.veth_queues,
            },
            _ => qdisc::veth::Path::Host,
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
            serde_json::to_string_pretty(&ans).map_err(|e| Error::json(&e))?
        );
    } else {
        print!("{}", txqlab::predict::render(&ans));
    }
    Ok(ExitCode::SUCCESS)
}

fn probe(a: ProbeArgs) -> Result<ExitCode, Error> {
    use txqlab::probe::{Options, Verdict, report};
    if a.print_schema {
        print!("{}", report::schema_json());
        return Ok(ExitCode::SUCCESS);
    }
    let r = txqlab::probe::run(Options {
        flows: a.flows,
        packets_per_flow: a.packets,
    })?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).map_err(|e| Error::json(&e))?
        );
    } else {
        print!("{}", report::render(&r));
    }
    Ok(ExitCode::from(match r.verdict {
        Verdict::NotAffected => 0,
        Verdict::Affected => 1,
        Verdict::Inconclusive => 2,
    }))
}

fn no_stage() -> Error {
    Error::Usage("no stage to run".into())
}

/// Runs stage runs in parallel on all cores, showing progress: a bar on a terminal, a line per finished run
/// otherwise.
fn run_all(jobs: &[(String, Params)]) -> Result<Vec<StageResult>, Error> {
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let b = ProgressBar::new(jobs.len() as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos:>3}/{len} runs",
            )
            .map_err(|e| Error::Usage(format!("progress bar template: {e}")))?,
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
