//! The harness's outputs: a table, KTAP, JSON, and an SVG bar chart.

use std::fmt::Write as _;

use plotters::prelude::*;
use serde::Serialize;

use crate::checks::Check;
use crate::console::{Egress, Xps, path_name};
use crate::error::Error;
use crate::verdict::{Judged, Verdict};
use qdisc::veth::Path;

/// One kernel's result.
#[derive(Debug, Clone, Serialize)]
pub struct KernelResult {
    /// Name (`linux-6.1.192-fixed`, or the image path).
    pub name: String,
    /// `fixed`, `fix-reverted`, or `user` for a given image.
    pub variant: String,
    /// The verdict from the measurements.
    pub verdict: Verdict,
    /// What the variant should give, when known.
    pub expected: Option<Verdict>,
    /// Cases judged against the model.
    pub cases: Vec<Judged>,
    /// `txqlab probe` and the selftest in the guest, judged against the verdict.
    pub checks: Vec<Check>,
    /// Cases that could not run, with the reason.
    pub skipped: Vec<String>,
    /// Seconds the boot took.
    pub boot_s: f64,
}

impl KernelResult {
    /// Verdict as expected (or no expectation) and every case within the model.
    pub fn passed(&self) -> bool {
        self.expected.is_none_or(|e| e == self.verdict)
            && self.cases.iter().all(|c| c.matches)
            && self.checks.iter().all(|c| c.matches)
    }
}

/// The `--json` document.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    /// Kernels.
    pub kernels: &'a [KernelResult],
}

fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Affected => "affected",
        Verdict::NotAffected => "not affected",
    }
}

/// The readable table.
pub fn table(ks: &[KernelResult]) -> String {
    let mut out = String::new();
    for k in ks {
        let _ = writeln!(
            out,
            "{} ({}): {}{} in {:.1} s",
            k.name,
            k.variant,
            verdict_str(k.verdict),
            match k.expected {
                Some(e) if e == k.verdict => " (as expected)".to_string(),
                Some(e) => format!(" (EXPECTED {})", verdict_str(e)),
                None => String::new(),
            },
            k.boot_s
        );
        let _ = writeln!(
            out,
            "  {:<7} {:<5} {:<8} {:<40} {:<13} model",
            "egress", "path", "xps", "packets per TX queue", "branch"
        );
        for c in &k.cases {
            let q: Vec<String> = c.per_queue.iter().map(|n| n.to_string()).collect();
            let _ = writeln!(
                out,
                "  {:<7} {:<5} {:<8} {:<40} {:<13} {}",
                c.egress,
                path_name(c.path),
                c.xps,
                q.join(" "),
                c.branch,
                if c.matches {
                    if c.exact {
                        "match (exact)"
                    } else {
                        "match (in band)"
                    }
                } else {
                    "MISMATCH"
                }
            );
        }
        for c in &k.checks {
            let _ = writeln!(
                out,
                "  {:<8} {} (exit {}), expected {}: {} ({})",
                c.name,
                c.got,
                c.rc.map_or_else(|| "-".to_string(), |r| r.to_string()),
                c.expected,
                if c.matches { "match" } else { "MISMATCH" },
                c.detail
            );
        }
        for s in &k.skipped {
            let _ = writeln!(out, "  skipped: {s}");
        }
    }
    out
}

/// KTAP (kselftest format): one subtest per kernel, one test per case.
pub fn ktap(ks: &[KernelResult]) -> String {
    let mut out = String::from("KTAP version 1\n");
    let _ = writeln!(out, "1..{}", ks.len());
    for (i, k) in ks.iter().enumerate() {
        let _ = writeln!(out, "    KTAP version 1");
        let _ = writeln!(out, "    # Subtest: {}", k.name);
        let _ = writeln!(
            out,
            "    1..{}",
            k.cases.len() + k.checks.len() + k.skipped.len()
        );
        let mut n = 0;
        for c in &k.cases {
            n += 1;
            let _ = writeln!(
                out,
                "    {} {n} {}_{}_{} # per_queue {:?}",
                if c.matches { "ok" } else { "not ok" },
                c.egress,
                path_name(c.path),
                c.xps,
                c.per_queue
            );
        }
        for c in &k.checks {
            n += 1;
            let _ = writeln!(
                out,
                "    {} {n} {} # {} (expected {}): {}",
                if c.matches { "ok" } else { "not ok" },
                c.name,
                c.got,
                c.expected,
                c.detail
            );
        }
        for s in &k.skipped {
            n += 1;
            let what = s.split(':').next().unwrap_or("case").replace(' ', "_");
            let _ = writeln!(out, "    ok {n} {what} # SKIP {s}");
        }
        let _ = writeln!(
            out,
            "{} {} {} # {}",
            if k.passed() { "ok" } else { "not ok" },
            i + 1,
            k.name,
            verdict_str(k.verdict)
        );
    }
    out
}

/// An SVG with, per kernel, the per-queue packets of the decisive case (dummy, through veth, XPS cleared) and of
/// root-namespace traffic.
pub fn svg(path: &std::path::Path, ks: &[KernelResult]) -> Result<(), Error> {
    let err = |e: &dyn std::fmt::Display| Error::Plot {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    // Two kernels per row: the fixed and the fix-reverted build of one tree side by side.
    let cols = ks.len().clamp(1, 2);
    let rows = ks.len().div_ceil(2).max(1);
    let root = SVGBackend::new(path, (480 * cols as u32, 380 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let panels = root.split_evenly((rows, cols));
    for (k, area) in ks.iter().zip(panels.iter()) {
        let pick = |path: Path| {
            k.cases
                .iter()
                .find(|c| c.egress == Egress::Dummy && c.path == path && c.xps == Xps::Cleared)
                .map(|c| c.per_queue.clone())
        };
        let veth = pick(Path::PodViaVeth).unwrap_or_default();
        let host = pick(Path::Host).unwrap_or_default();
        let max = veth.iter().chain(&host).copied().max().unwrap_or(1).max(1) as f64 * 1.1;
        let n = veth.len().max(host.len()).max(1);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{}: {}", k.name, verdict_str(k.verdict)),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(0f64..n as f64, 0f64..max)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("TX queue")
            .y_desc("packets")
            .disable_x_mesh()
            .draw()
            .map_err(|e| err(&e))?;
        for (series, offset, color, label) in [
            (&veth, 0.1, RED, "pod via veth"),
            (&host, 0.5, BLUE, "root namespace"),
        ] {
            chart
                .draw_series(series.iter().enumerate().map(|(q, v)| {
                    Rectangle::new(
                        [
                            (q as f64 + offset, 0.0),
                            (q as f64 + offset + 0.38, *v as f64),
                        ],
                        color.filled(),
                    )
                }))
                .map_err(|e| err(&e))?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.9))
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}
