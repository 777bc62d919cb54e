//! `txqlab facts`: the kernel facts table the model rests on, printed from `qdisc::facts` (the README's table is
//! this command's output, checked by a test, so the documentation cannot drift from the code).

use std::fmt::Write as _;

use qdisc::facts::{Behaviour, Effect, FACTS, Fact};
use serde::Serialize;

/// One fact as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct FactRow {
    /// Upstream commit.
    pub commit: &'static str,
    /// Its subject.
    pub subject: &'static str,
    /// What it changes.
    pub behaviour: &'static str,
    /// `introduces` or `removes`.
    pub effect: &'static str,
    /// First mainline release (`v5.17`).
    pub mainline: String,
    /// How the mainline release is known.
    pub mainline_evidence: &'static str,
    /// Stable lines: first sublevel, evidence, whether exact.
    pub stable: Vec<StableRow>,
}

/// One stable backport.
#[derive(Debug, Serialize)]
pub struct StableRow {
    /// `5.10.92`.
    pub first: String,
    /// Where the figure comes from.
    pub evidence: &'static str,
    /// Matched to a release (true) or inferred (false).
    pub exact: bool,
}

/// What a behaviour means, in a phrase.
pub const fn behaviour_name(b: Behaviour) -> &'static str {
    match b {
        Behaviour::VethRecordsRxQueue => "veth_xmit records the rx queue (skb_record_rx_queue)",
        Behaviour::EnaSelectQueue => "in-tree ENA has ena_select_queue",
        Behaviour::TxqReselection => {
            "netdev_pick_tx re-picks a full socket's queue after txq_reselection_ms"
        }
        Behaviour::TcEmptyClassFallback => {
            "skb_tx_hash falls back to the whole device for an empty traffic class"
        }
        Behaviour::TlpFloorInMicroseconds => {
            "tcp_schedule_loss_probe adds its 2 ms floor before rounding to jiffies"
        }
    }
}

fn row(f: &Fact) -> FactRow {
    FactRow {
        commit: f.commit,
        subject: f.subject,
        behaviour: behaviour_name(f.behaviour),
        effect: match f.effect {
            Effect::Introduces => "introduces",
            Effect::Removes => "removes",
        },
        mainline: format!("v{}.{}", f.mainline.0, f.mainline.1),
        mainline_evidence: f.mainline_evidence.source(),
        stable: f
            .stable
            .iter()
            .map(|b| StableRow {
                first: format!("{}.{}.{}", b.line.0, b.line.1, b.sublevel),
                evidence: b.evidence.source(),
                exact: b.evidence.is_exact(),
            })
            .collect(),
    }
}

/// Every fact.
pub fn rows() -> Vec<FactRow> {
    FACTS.iter().map(row).collect()
}

/// The facts as a Markdown table (what the README shows).
pub fn markdown() -> String {
    let mut out = String::from(
        "| commit | behaviour | effect | mainline | first stable releases (* inferred) |\n|---|---|---|---|---|\n",
    );
    for r in rows() {
        let stable = if r.stable.is_empty() {
            "-".to_string()
        } else {
            r.stable
                .iter()
                .map(|s| format!("{}{}", s.first, if s.exact { "" } else { "*" }))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| {} (\"{}\") | {} | {} | {} | {} |",
            r.commit, r.subject, r.behaviour, r.effect, r.mainline, stable
        );
    }
    out
}

/// The facts with every piece of evidence, for a terminal.
pub fn render() -> String {
    let mut out = String::new();
    for r in rows() {
        let _ = writeln!(out, "{} \"{}\"", r.commit, r.subject);
        let _ = writeln!(out, "  {}: {}", r.effect, r.behaviour);
        let _ = writeln!(out, "  mainline {} ({})", r.mainline, r.mainline_evidence);
        for s in &r.stable {
            let _ = writeln!(
                out,
                "  stable {:<9} {} ({})",
                s.first,
                if s.exact { "exact" } else { "inferred" },
                s.evidence
            );
        }
    }
    out
}
