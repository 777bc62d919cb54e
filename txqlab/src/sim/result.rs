//! What a stage run measured.

use hdrhistogram::Histogram;
use serde::Serialize;

use super::Sim;

/// The allowance counters, by short name.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct AllowanceCounters {
    /// `bw_in_allowance_exceeded`.
    pub bw_in: u64,
    /// `bw_out_allowance_exceeded`.
    pub bw_out: u64,
    /// `pps_allowance_exceeded`.
    pub pps: u64,
    /// `conntrack_allowance_exceeded`.
    pub conntrack: u64,
    /// `linklocal_allowance_exceeded`.
    pub linklocal: u64,
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Requests measured.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Attempts measured (each answered or timed-out attempt of the requests).
    pub attempts: u64,
    /// p99 of one attempt: from the client handing it to the proxy to its answer, or to its timeout.
    pub attempt_p99_ms: f64,
}

fn with_attempts(mut p: Percentiles, h: &Histogram<u64>) -> Percentiles {
    let a = pct(h);
    p.attempts = a.count;
    p.attempt_p99_ms = a.p99_ms;
    p
}

fn pct(h: &Histogram<u64>) -> Percentiles {
    let ms = |q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    Percentiles {
        count: h.len(),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        attempts: 0,
        attempt_p99_ms: 0.0,
    }
}

/// One second of a stage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecondPoint {
    /// Second index.
    pub t_s: u64,
    /// p99 of the requests that completed in this second.
    pub p99_ms: f64,
    /// Requests completed in this second.
    pub completed: u64,
}

/// A stage's results.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageResult {
    /// Stage name.
    pub name: String,
    /// Median latency, all requests.
    pub p50_ms: f64,
    /// p99, all requests.
    pub p99_ms: f64,
    /// p99.9, all requests.
    pub p999_ms: f64,
    /// Requests issued during the rollout window.
    pub rollout: Percentiles,
    /// Requests issued outside it.
    pub outside: Percentiles,
    /// Requests issued.
    pub requests: u64,
    /// Requests answered.
    pub completed: u64,
    /// Requests given up after the last retry.
    pub failed: u64,
    /// Client timeouts (each leads to a retry or a failure).
    pub timeouts: u64,
    /// Requests Envoy refused because its pending queue was full.
    pub proxy_rejects: u64,
    /// TCP retransmissions (both directions).
    pub retransmits: u64,
    /// Retransmission timeouts (both directions).
    pub rtos: u64,
    /// Packets each TX queue sent.
    pub tx_queue_packets: Vec<u64>,
    /// Share of TX packets per queue.
    pub tx_queue_share: Vec<f64>,
    /// The largest share.
    pub max_tx_queue_share: f64,
    /// Packets the qdiscs dropped.
    pub qdisc_drops: u64,
    /// Packets the hypervisor dropped.
    pub shaper_drops: u64,
    /// The ENA allowance counters.
    pub allowance_exceeded: AllowanceCounters,
    /// CFS periods in which the proxy was throttled.
    pub throttled_periods: u64,
    /// Requests sent to terminating remote instances.
    pub requests_to_terminating: u64,
    /// Packets simulated (TX device sends and inbound segments).
    pub packets_simulated: u64,
    /// p99 per second.
    pub series: Vec<SecondPoint>,
}

pub(super) fn build(s: &Sim<'_>, _end: u64) -> StageResult {
    let tx: Vec<u64> = s.queues.iter().map(|q| q.sent).collect();
    let total: u64 = tx.iter().sum();
    let share: Vec<f64> = tx
        .iter()
        .map(|n| {
            if total == 0 {
                0.0
            } else {
                *n as f64 / total as f64
            }
        })
        .collect();
    let e = s.shaper.stats();
    let all = pct(&s.all);
    StageResult {
        name: s.name.clone(),
        p50_ms: all.p50_ms,
        p99_ms: all.p99_ms,
        p999_ms: all.p999_ms,
        rollout: with_attempts(pct(&s.rollout), &s.attempt_rollout),
        outside: with_attempts(pct(&s.outside), &s.attempt_outside),
        requests: s.issued,
        completed: s.completed,
        failed: s.failed,
        timeouts: s.timeouts,
        proxy_rejects: s.proxy_rejects,
        retransmits: s
            .flows
            .iter()
            .map(|f| f.up.retransmits + f.down.retransmits)
            .sum(),
        rtos: s.flows.iter().map(|f| f.up.rtos + f.down.rtos).sum(),
        max_tx_queue_share: share.iter().copied().fold(0.0, f64::max),
        tx_queue_packets: tx,
        tx_queue_share: share,
        qdisc_drops: s.qdisc_drops,
        shaper_drops: s.shaper_drops,
        allowance_exceeded: AllowanceCounters {
            bw_in: e.bw_in_allowance_exceeded,
            bw_out: e.bw_out_allowance_exceeded,
            pps: e.pps_allowance_exceeded,
            conntrack: e.conntrack_allowance_exceeded,
            linklocal: e.linklocal_allowance_exceeded,
        },
        throttled_periods: s.cfs.throttled_periods,
        requests_to_terminating: s.to_terminating,
        packets_simulated: s.packets,
        series: s
            .series
            .iter()
            .enumerate()
            .map(|(i, (h, _, _))| SecondPoint {
                t_s: i as u64,
                p99_ms: pct(h).p99_ms,
                completed: h.len(),
            })
            .collect(),
    }
}
