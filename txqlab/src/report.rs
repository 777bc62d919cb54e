//! Rendering simulation results: a table for people, JSON for scripts, CSV time series, an SVG plot.

use std::fmt::Write as _;

use plotters::prelude::*;
use serde::Serialize;

use crate::sim::StageResult;

/// A whole run, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Run<'a> {
    /// Scenario name.
    pub scenario: &'a str,
    /// Seed.
    pub seed: u64,
    /// Stages in order.
    pub stages: &'a [StageResult],
}

/// The readable table.
pub fn table(stages: &[StageResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:>8} {:>8} {:>8} | {:>9} {:>9} | {:>8} {:>9} {:>6} {:>8} | {:>8} {:>8} {:>5} | {:>9} {:>6}",
        "stage",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "roll p99",
        "calm p99",
        "retrans",
        "qdisc drp",
        "maxTXq",
        "failed",
        "bw_in",
        "bw_out",
        "pps",
        "throttled",
        "->term"
    );
    for r in stages {
        let a = &r.allowance_exceeded;
        let _ = writeln!(
            out,
            "{:<18} {:>8.1} {:>8.1} {:>8.1} | {:>9.1} {:>9.1} | {:>8} {:>9} {:>5.0}% {:>8} | {:>8} {:>8} {:>5} | {:>9} {:>6}",
            r.name,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.rollout.p99_ms,
            r.outside.p99_ms,
            r.retransmits,
            r.qdisc_drops,
            r.max_tx_queue_share * 100.0,
            r.failed,
            a.bw_in,
            a.bw_out,
            a.pps,
            r.throttled_periods,
            r.requests_to_terminating
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "TX share per queue (%):");
    for r in stages {
        let shares: Vec<String> = r
            .tx_queue_share
            .iter()
            .map(|s| format!("{:>5.1}", s * 100.0))
            .collect();
        let _ = writeln!(out, "  {:<18} {}", r.name, shares.join(" "));
    }
    out
}

/// `--csv`: one row per stage and simulated second.
pub fn csv(stages: &[StageResult]) -> String {
    let mut out = String::from("stage,t_s,p99_ms,completed\n");
    for r in stages {
        for p in &r.series {
            let _ = writeln!(out, "{},{},{:.3},{}", r.name, p.t_s, p.p99_ms, p.completed);
        }
    }
    out
}

/// `--plot`: p99 per second of every stage, log scale, with the rollout window shaded.
pub fn plot(
    path: &std::path::Path,
    stages: &[StageResult],
    rollout: (f64, f64),
    duration_s: f64,
) -> Result<(), String> {
    let root = SVGBackend::new(path, (1000, 560)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let max = stages
        .iter()
        .flat_map(|r| r.series.iter().map(|p| p.p99_ms))
        .fold(100.0f64, f64::max)
        * 1.5;
    let mut chart = ChartBuilder::on(&root)
        .caption("p99 latency per second, by stage", ("sans-serif", 22))
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

/// `--sweep`: one row per value.
pub fn sweep_table(key: &str, rows: &[(String, StageResult)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7} {:>8} {:>8} {:>9} {:>7}",
        key,
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "retrans",
        "qdisc drp",
        "maxTXq",
        "bw_in",
        "bw_out",
        "throttled",
        "failed"
    );
    for (v, r) in rows {
        let _ = writeln!(
            out,
            "{:<14} {:>8.1} {:>8.1} {:>8.1} {:>9} {:>9} {:>6.0}% {:>8} {:>8} {:>9} {:>7}",
            v,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.retransmits,
            r.qdisc_drops,
            r.max_tx_queue_share * 100.0,
            r.allowance_exceeded.bw_in,
            r.allowance_exceeded.bw_out,
            r.throttled_periods,
            r.failed
        );
    }
    out
}
