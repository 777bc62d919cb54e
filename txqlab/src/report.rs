//! Rendering simulation results: a table for people, JSON for scripts, CSV time series, an SVG plot.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::sim::StageResult;

/// Version of the JSON layout: 2 added `schema_version`, per-attempt p99s, `margins`, the richer series, and with
/// several seeds `seeds`, per-stage `runs`, `min` and `max`. 3: `allowance_exceeded` is nic-model's `EniStats`,
/// its fields named as `ethtool -S` prints them (`bw_in_allowance_exceeded`, ...: were `bw_in`, ...);
/// `attempt_p95_ms`, `attempt_p999_ms` and `warmup_held_back` added. 4: the `bw_in` margin is the responses'
/// offered bytes (first transmissions), no longer what reaches the shaper; `inbound_backlog_s` added.
pub const SCHEMA_VERSION: u32 = 4;

/// One stage's runs, one per seed.
#[derive(Debug, Clone)]
pub struct StageRuns {
    /// Stage name.
    pub name: String,
    /// Results per seed, in seed order.
    pub runs: Vec<StageResult>,
}

/// A whole run with one seed, as `--json` prints it (the layout of schema 1 plus the new fields). With several
/// seeds each stage has the same fields (medians) plus `min`, `max` and `runs`, and the run has `seeds`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Run<'a> {
    /// Layout version.
    pub schema_version: u32,
    /// Scenario name.
    pub scenario: &'a str,
    /// Seed.
    pub seed: u64,
    /// Stages in order.
    pub stages: &'a [StageResult],
}

/// The JSON Schema of `simulate --json` (one seed: [`Run`]), as committed in `txqlab/schemas/simulate.schema.json`.
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(Run<'static>)
}

/// Combines numbers leaf by leaf (objects by key, arrays element by element); other values come from the first.
fn combine(vals: &[Value], f: &dyn Fn(&mut [f64]) -> f64) -> Value {
    let Some(first) = vals.first() else {
        return Value::Null;
    };
    match first {
        Value::Number(_) => {
            let mut xs: Vec<f64> = vals.iter().filter_map(Value::as_f64).collect();
            let integral = vals.iter().all(|v| v.is_u64());
            let x = f(&mut xs);
            if integral && x.fract() == 0.0 && x >= 0.0 {
                Value::from(x as u64)
            } else {
                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
            }
        }
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for k in m.keys() {
                let sub: Vec<Value> = vals.iter().filter_map(|v| v.get(k).cloned()).collect();
                out.insert(k.clone(), combine(&sub, f));
            }
            Value::Object(out)
        }
        Value::Array(a) => {
            let n = vals
                .iter()
                .map(|v| v.as_array().map_or(0, Vec::len))
                .min()
                .unwrap_or(0)
                .min(a.len());
            Value::Array(
                (0..n)
                    .map(|i| {
                        let sub: Vec<Value> =
                            vals.iter().filter_map(|v| v.get(i).cloned()).collect();
                        combine(&sub, f)
                    })
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// The median (the mean of the two middle values for an even count).
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => xs[n / 2],
        _ => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

fn min(xs: &mut [f64]) -> f64 {
    xs.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(xs: &mut [f64]) -> f64 {
    xs.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// `--json`: with one seed exactly [`Run`]; with several, each stage is the median of every field over the seeds,
/// plus `min`, `max` (the scalar fields) and `runs` (one full result per seed).
pub fn json(scenario: &str, seeds: &[u64], stages: &[StageRuns]) -> Result<Value, Error> {
    let err = |e: serde_json::Error| Error::json(&e);
    if let ([seed], true) = (seeds, stages.iter().all(|s| s.runs.len() == 1)) {
        let flat: Vec<StageResult> = stages.iter().flat_map(|s| s.runs.clone()).collect();
        return serde_json::to_value(Run {
            schema_version: SCHEMA_VERSION,
            scenario,
            seed: *seed,
            stages: &flat,
        })
        .map_err(err);
    }
    let mut out = Vec::new();
    for st in stages {
        let vals: Vec<Value> = st
            .runs
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let mut m = combine(&vals, &median);
        let scalars = |v: Value| match v {
            Value::Object(mut o) => {
                o.remove("series");
                o.remove("tx_queue_packets");
                o.remove("tx_queue_share");
                Value::Object(o)
            }
            v => v,
        };
        if let Value::Object(o) = &mut m {
            o.insert("min".into(), scalars(combine(&vals, &min)));
            o.insert("max".into(), scalars(combine(&vals, &max)));
            o.insert("runs".into(), Value::Array(vals));
        }
        out.push(m);
    }
    Ok(serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "scenario": scenario,
        "seed": seeds.first().copied().unwrap_or(0),
        "seeds": seeds,
        "stages": out,
    }))
}

/// A table with a label column headed `head`, then one right-aligned column per title, each as wide as its widest
/// cell or title, separated by ` | `.
fn write_aligned(
    out: &mut String,
    head: &str,
    labels: &[&str],
    titles: &[&str],
    cells: &[Vec<String>],
) {
    let lw = labels
        .iter()
        .map(|l| l.len())
        .max()
        .unwrap_or(0)
        .max(head.len());
    let widths: Vec<usize> = titles
        .iter()
        .enumerate()
        .map(|(c, t)| {
            cells
                .iter()
                .map(|r| r.get(c).map_or(0, String::len))
                .max()
                .unwrap_or(0)
                .max(t.len())
        })
        .collect();
    let _ = write!(out, "{head:<lw$}");
    for (t, w) in titles.iter().zip(&widths) {
        let _ = write!(out, " | {t:>w$}");
    }
    let _ = writeln!(out);
    for (label, row) in labels.iter().zip(cells) {
        let _ = write!(out, "{label:<lw$}");
        for (cell, w) in row.iter().zip(&widths) {
            let _ = write!(out, " | {cell:>w$}");
        }
        let _ = writeln!(out);
    }
}

/// `median [min-max]` of one metric over the runs (just the value for one run).
pub fn spread(runs: &[StageResult], f: impl Fn(&StageResult) -> f64, prec: usize) -> String {
    let mut xs: Vec<f64> = runs.iter().map(f).collect();
    if xs.len() == 1 {
        return format!("{:.prec$}", xs[0]);
    }
    let (lo, hi) = (min(&mut xs), max(&mut xs));
    format!("{:.prec$} [{lo:.prec$}-{hi:.prec$}]", median(&mut xs))
}

/// How far the sweep of issue 10 moves each assumption: 10% either way.
pub const SWEEP_MOVE: f64 = 0.10;

/// Whether a margin (demand / limit) is within [`SWEEP_MOVE`] of its cliff: demand 10% lower or higher lands on the
/// other side of 1.00 (margins from 0.91 to 1.11). A stage whose largest margin is such is on a cliff that the
/// sweep can cross.
pub fn within_reach_of_cliff(margin: f64) -> bool {
    margin * (1.0 - SWEEP_MOVE) < 1.0 && margin * (1.0 + SWEEP_MOVE) > 1.0
}

/// The margin table's marks of a margin, two characters: `!` past the cliff, `~` within reach of it (spaces
/// where not).
fn marks(margin: f64) -> String {
    let past = if margin > 1.0 { '!' } else { ' ' };
    let near = if within_reach_of_cliff(margin) {
        '~'
    } else {
        ' '
    };
    format!("{past}{near}")
}

/// Each margin's median over `runs`, by bottleneck.
fn median_margins(runs: &[StageResult]) -> BTreeMap<String, f64> {
    let names = runs.first().map(|r| r.margins.keys()).into_iter().flatten();
    names
        .map(|n| {
            let mut xs: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.margins.get(n).copied())
                .collect();
            (n.clone(), median(&mut xs))
        })
        .collect()
}

/// The stage's binding bottleneck: its largest margin (median over `runs`), with the bottleneck's name.
pub fn binding_margin(runs: &[StageResult]) -> Option<(String, f64)> {
    median_margins(runs)
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// The readable table: every cell is `median [min-max]` over the seeds; then the margin table.
pub fn table(stages: &[StageRuns]) -> String {
    let mut out = String::new();
    type Col = (&'static str, fn(&StageResult) -> f64, usize);
    let cols: [Col; 11] = [
        ("rollout p99/attempt ms", |r| r.rollout.attempt_p99_ms, 0),
        ("rollout p99 e2e ms", |r| r.rollout.p99_ms, 0),
        ("outside p99/attempt ms", |r| r.outside.attempt_p99_ms, 0),
        ("retransmits", |r| r.retransmits as f64, 0),
        ("drops", |r| (r.qdisc_drops + r.shaper_drops) as f64, 0),
        ("max TX queue share %", |r| r.max_tx_queue_share * 100.0, 0),
        (
            "bw_in",
            |r| r.allowance_exceeded.bw_in_allowance_exceeded as f64,
            0,
        ),
        (
            "bw_out",
            |r| r.allowance_exceeded.bw_out_allowance_exceeded as f64,
            0,
        ),
        ("throttled", |r| r.throttled_periods as f64, 0),
        ("to terminating", |r| r.requests_to_terminating as f64, 0),
        ("spike s outside %", |r| r.outside_spike_share * 100.0, 0),
    ];
    let seeds = stages.first().map_or(0, |s| s.runs.len());
    if seeds > 1 {
        let _ = writeln!(out, "median [min-max] over {seeds} seeds");
    }
    let cells: Vec<Vec<String>> = stages
        .iter()
        .map(|st| {
            cols.iter()
                .map(|(_, f, p)| spread(&st.runs, f, *p))
                .collect()
        })
        .collect();
    let titles: Vec<&str> = cols.iter().map(|(t, _, _)| *t).collect();
    let labels: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    write_aligned(&mut out, "stage", &labels, &titles, &cells);
    let namew = labels.iter().map(|l| l.len()).max().unwrap_or(5).max(5);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Margins: largest one-second demand / limit (median over seeds): ! past the cliff (above 1.00), ~ within a \
         10% change of demand of it (0.91-1.11)"
    );
    let names: Vec<String> = stages
        .first()
        .and_then(|s| s.runs.first())
        .map(|r| r.margins.keys().cloned().collect())
        .unwrap_or_default();
    let _ = write!(out, "{:<namew$}", "stage");
    for n in &names {
        let _ = write!(out, " {n:>14}");
    }
    let _ = writeln!(out, " {:>16}", "bw_in backlog s");
    for st in stages {
        let _ = write!(out, "{:<namew$}", st.name);
        let medians = median_margins(&st.runs);
        for n in &names {
            let m = medians.get(n).copied().unwrap_or(0.0);
            let _ = write!(out, " {:>12.2}{}", m, marks(m));
        }
        let mut b: Vec<f64> = st.runs.iter().map(|r| r.inbound_backlog_s).collect();
        let _ = writeln!(out, " {:>16.2}", median(&mut b));
    }
    let _ = writeln!(
        out,
        "(bw_in backlog s: the largest backlog the inbound allowance would hold of the responses asked above it, in \
         seconds at its rate; how long past the cliff, where bw_in is how far)"
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "TX share per queue (%), first seed:");
    for st in stages {
        if let Some(r) = st.runs.first() {
            let shares: Vec<String> = r
                .tx_queue_share
                .iter()
                .map(|s| format!("{:>5.1}", s * 100.0))
                .collect();
            let _ = writeln!(out, "  {:<namew$} {}", st.name, shares.join(" "));
        }
    }
    out
}

/// `--csv`: one row per stage, seed and simulated second, through a CSV writer (names are quoted as needed).
pub fn csv(stages: &[StageRuns], seeds: &[u64]) -> Result<String, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let queues = stages
        .first()
        .and_then(|s| s.runs.first())
        .map_or(0, |r| r.tx_queue_share.len());
    let mut header: Vec<String> = [
        "stage",
        "seed",
        "t_s",
        "p99_ms",
        "completed",
        "drops",
        "retransmits",
        "bw_in",
        "bw_out",
        "pps",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend((0..queues).map(|q| format!("txq{q}_share")));
    w.write_record(&header).map_err(|e| Error::csv(&e))?;
    for st in stages {
        for (r, seed) in st.runs.iter().zip(seeds) {
            for p in &r.series {
                let mut row = vec![
                    st.name.clone(),
                    seed.to_string(),
                    p.t_s.to_string(),
                    format!("{:.3}", p.p99_ms),
                    p.completed.to_string(),
                    p.drops.to_string(),
                    p.retransmits.to_string(),
                    p.bw_in.to_string(),
                    p.bw_out.to_string(),
                    p.pps.to_string(),
                ];
                row.extend(p.tx_queue_share.iter().map(|s| format!("{s:.4}")));
                w.write_record(&row).map_err(|e| Error::csv(&e))?;
            }
        }
    }
    let bytes = w.into_inner().map_err(|e| Error::csv(&e))?;
    String::from_utf8(bytes).map_err(|e| Error::csv(&e))
}

/// `--plot`: p99 per second of every stage, log scale, with the rollout window shaded.
pub fn plot(
    path: &std::path::Path,
    stages: &[StageRuns],
    rollout: (f64, f64),
    duration_s: f64,
) -> Result<(), Error> {
    let root = SVGBackend::new(path, (1000, 560)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| Error::Plot {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let stages: Vec<&StageResult> = stages.iter().filter_map(|s| s.runs.first()).collect();
    let max = stages
        .iter()
        .flat_map(|r| r.series.iter().map(|p| p.p99_ms))
        .fold(100.0f64, f64::max)
        * 1.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "p99 latency per second, by stage (first seed)",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..duration_s, (10f64..max).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("simulated time (s)")
        .y_desc("p99 (ms)")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(rollout.0, 10.0), (rollout.1, max)],
            RGBColor(230, 230, 230).filled(),
        )))
        .map_err(|e| err(&e))?
        .label("rollout")
        .legend(|(x, y)| {
            Rectangle::new(
                [(x, y - 5), (x + 16, y + 5)],
                RGBColor(230, 230, 230).filled(),
            )
        });
    for (i, r) in stages.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts = r
            .series
            .iter()
            .filter(|p| p.completed > 0)
            .map(|p| (p.t_s as f64 + 0.5, p.p99_ms.max(10.0)));
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(r.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// `--sweep`: one row per value, each cell `median [min-max]` over the seeds.
pub fn sweep_table(key: &str, rows: &[(String, Vec<StageResult>)]) -> String {
    let mut out = String::new();
    type Col = (&'static str, fn(&StageResult) -> f64, usize);
    let cols: [Col; 8] = [
        ("rollout p99/attempt ms", |r| r.rollout.attempt_p99_ms, 0),
        ("p99 ms", |r| r.p99_ms, 0),
        ("retransmits", |r| r.retransmits as f64, 0),
        ("max TX queue %", |r| r.max_tx_queue_share * 100.0, 0),
        (
            "bw_in",
            |r| r.allowance_exceeded.bw_in_allowance_exceeded as f64,
            0,
        ),
        ("throttled", |r| r.throttled_periods as f64, 0),
        ("failed", |r| r.failed as f64, 0),
        ("bw_in backlog s", |r| r.inbound_backlog_s, 2),
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(_, runs)| {
            let mut row: Vec<String> = cols.iter().map(|(_, f, p)| spread(runs, f, *p)).collect();
            row.push(binding_margin(runs).map_or(String::new(), |(n, m)| {
                format!("{n} {m:.2}{}", marks(m).replace(' ', ""))
            }));
            row
        })
        .collect();
    let mut titles: Vec<&str> = cols.iter().map(|(t, _, _)| *t).collect();
    titles.push("binding margin");
    let labels: Vec<&str> = rows.iter().map(|(v, _)| v.as_str()).collect();
    write_aligned(&mut out, key, &labels, &titles, &cells);
    out
}
