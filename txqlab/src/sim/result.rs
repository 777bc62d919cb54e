//! What a stage run measured.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use nic_model::stats::EniStats;
use serde::Serialize;

use super::Sim;
use crate::scenario::Params;

/// A second whose p99 is above this is a spike (the incident's normal p99 is about 100 ms: a spike is 3x that).
pub const SPIKE_MS: f64 = 300.0;

/// Cumulative demand counters of a stage, turned into a per-second series and per-second maxima.
#[derive(Debug)]
pub(super) struct Meter {
    pub cpu_ns: u64,
    pub queue_offered: Vec<(u64, u64)>,
    pub out_pkts: u64,
    pub out_bytes: u64,
    pub in_pkts: u64,
    /// Bytes of response data the remote writes (each response once, with its segments' headers): the inbound
    /// demand. A client's retry asks for its response again and counts again; TCP's retransmissions are left out:
    /// they are what an overload costs, not what the workload asks, and counting them hides how far past the
    /// allowance a stage is (in the kernel-fix stage what reaches the shaper is 1.26 of it both when the responses
    /// ask 1.04 of it and when they ask 1.38).
    pub in_offered_bytes: u64,
    pub instance_arrivals: Vec<u64>,
    prev: Prev,
    pub seconds: Vec<SecondCounters>,
    /// The inbound allowance's baseline rate, bits per second.
    in_allowance_bits: f64,
    /// Bits of offered response data that rate has not carried yet, as if it queued them all (one-second steps),
    /// and the largest such backlog so far.
    in_backlog_bits: f64,
    max_in_backlog_bits: f64,
    /// Largest one-second demand of each bottleneck.
    pub max: BTreeMap<&'static str, f64>,
    limits: BTreeMap<&'static str, f64>,
    svc_s: f64,
}

#[derive(Debug, Default, Clone)]
struct Prev {
    cpu_ns: u64,
    queue_offered: Vec<(u64, u64)>,
    out: (u64, u64),
    inb: (u64, u64),
    instance_arrivals: Vec<u64>,
    retransmits: u64,
    drops: u64,
    sent: Vec<u64>,
    stats: EniStats,
}

/// What one second added.
#[derive(Debug, Clone, Default)]
pub(super) struct SecondCounters {
    retransmits: u64,
    drops: u64,
    sent: Vec<u64>,
    bw_in: u64,
    bw_out: u64,
    pps: u64,
}

impl Meter {
    pub fn new(p: &Params) -> Self {
        let q = p.nic.queues as usize;
        let baseline = p.allowance.bandwidth_gbps().map_or(1.0, |b| b.0);
        let limits = BTreeMap::from([
            ("proxy_cpu", p.proxy.cores),
            ("tx_queue_pps", p.nic.queue_pps),
            ("tx_queue_gbps", p.nic.queue_gbps),
            ("bw_in", baseline),
            ("bw_out", baseline),
            ("pps", p.allowance.pps as f64),
            ("remote_workers", p.remote.workers as f64),
        ]);
        Self {
            cpu_ns: 0,
            queue_offered: vec![(0, 0); q],
            out_pkts: 0,
            out_bytes: 0,
            in_pkts: 0,
            in_offered_bytes: 0,
            instance_arrivals: vec![0; p.remote.instances as usize],
            prev: Prev {
                queue_offered: vec![(0, 0); q],
                instance_arrivals: vec![0; p.remote.instances as usize],
                sent: vec![0; q],
                ..Prev::default()
            },
            seconds: Vec::new(),
            in_allowance_bits: baseline * 1e9,
            in_backlog_bits: 0.0,
            max_in_backlog_bits: 0.0,
            max: limits.keys().map(|k| (*k, 0.0)).collect(),
            limits,
            svc_s: (p.remote.service_base_ms + p.remote.service_mean_ms) / 1000.0,
        }
    }

    fn bump(&mut self, k: &'static str, v: f64) {
        if let Some(m) = self.max.get_mut(k) {
            *m = m.max(v);
        }
    }

    /// One simulated second ended.
    pub fn tick(&mut self, retransmits: u64, drops: u64, sent: &[u64], st: &EniStats) {
        let pr = std::mem::take(&mut self.prev);
        self.bump("proxy_cpu", (self.cpu_ns - pr.cpu_ns) as f64 / 1e9);
        for (i, (n, b)) in self.queue_offered.clone().into_iter().enumerate() {
            let (pn, pb) = pr.queue_offered.get(i).copied().unwrap_or_default();
            self.bump("tx_queue_pps", (n - pn) as f64);
            self.bump("tx_queue_gbps", (b - pb) as f64 * 8.0 / 1e9);
        }
        self.bump("bw_out", (self.out_bytes - pr.out.1) as f64 * 8.0 / 1e9);
        let in_bits = (self.in_offered_bytes - pr.inb.1) as f64 * 8.0;
        self.bump("bw_in", in_bits / 1e9);
        self.in_backlog_bits = (self.in_backlog_bits + in_bits - self.in_allowance_bits).max(0.0);
        self.max_in_backlog_bits = self.max_in_backlog_bits.max(self.in_backlog_bits);
        self.bump(
            "pps",
            (self.out_pkts - pr.out.0 + self.in_pkts - pr.inb.0) as f64,
        );
        for (i, n) in self.instance_arrivals.clone().into_iter().enumerate() {
            let pn = pr.instance_arrivals.get(i).copied().unwrap_or_default();
            self.bump("remote_workers", (n - pn) as f64 * self.svc_s);
        }
        self.seconds.push(SecondCounters {
            retransmits: retransmits - pr.retransmits,
            drops: drops - pr.drops,
            sent: sent
                .iter()
                .zip(pr.sent.iter().chain(std::iter::repeat(&0)))
                .map(|(a, b)| a - b)
                .collect(),
            bw_in: st.bw_in_allowance_exceeded - pr.stats.bw_in_allowance_exceeded,
            bw_out: st.bw_out_allowance_exceeded - pr.stats.bw_out_allowance_exceeded,
            pps: st.pps_allowance_exceeded - pr.stats.pps_allowance_exceeded,
        });
        self.prev = Prev {
            cpu_ns: self.cpu_ns,
            queue_offered: self.queue_offered.clone(),
            out: (self.out_pkts, self.out_bytes),
            inb: (self.in_pkts, self.in_offered_bytes),
            instance_arrivals: self.instance_arrivals.clone(),
            retransmits,
            drops,
            sent: sent.to_vec(),
            stats: *st,
        };
    }

    /// The largest backlog the inbound allowance's baseline rate would leave of the offered response data, in
    /// seconds at that rate (`StageResult::inbound_backlog_s`).
    pub fn inbound_backlog_s(&self) -> f64 {
        self.max_in_backlog_bits / self.in_allowance_bits.max(1.0)
    }

    /// Each bottleneck's largest one-second demand divided by its limit.
    pub fn margins(&self) -> BTreeMap<String, f64> {
        self.max
            .iter()
            .map(|(k, v)| {
                let lim = self.limits.get(k).copied().unwrap_or(1.0);
                (k.to_string(), if lim > 0.0 { v / lim } else { 0.0 })
            })
            .collect()
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, schemars::JsonSchema)]
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
    /// p95 of one attempt (with p99.9 below: the shape around p99, so a reader sees how far p99 is from a cliff).
    pub attempt_p95_ms: f64,
    /// p99 of one attempt: from the client handing it to the proxy to its answer, or to its timeout.
    pub attempt_p99_ms: f64,
    /// p99.9 of one attempt.
    pub attempt_p999_ms: f64,
}

fn with_attempts(mut p: Percentiles, h: &Histogram<u64>) -> Percentiles {
    let a = pct(h);
    p.attempts = a.count;
    p.attempt_p99_ms = a.p99_ms;
    p.attempt_p999_ms = a.p999_ms;
    p.attempt_p95_ms = if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(0.95) as f64 / 1000.0
    };
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
        attempt_p95_ms: 0.0,
        attempt_p99_ms: 0.0,
        attempt_p999_ms: 0.0,
    }
}

/// One second of a stage.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct SecondPoint {
    /// Second index.
    pub t_s: u64,
    /// p99 of the requests that completed in this second.
    pub p99_ms: f64,
    /// Requests completed in this second.
    pub completed: u64,
    /// Packets dropped (qdiscs and hypervisor).
    pub drops: u64,
    /// TCP retransmissions.
    pub retransmits: u64,
    /// Share of the TX packets per queue.
    pub tx_queue_share: Vec<f64>,
    /// `bw_in_allowance_exceeded` added in this second.
    pub bw_in: u64,
    /// `bw_out_allowance_exceeded` added.
    pub bw_out: u64,
    /// `pps_allowance_exceeded` added.
    pub pps: u64,
}

/// A stage's results.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
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
    /// Warm-up reads not started because every slot of the warming pods was waiting for an answer
    /// (`clients.warmup_inflight`).
    pub warmup_held_back: u64,
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
    /// The ENA allowance counters, as nic-model's shaper counts them and `ethtool -S` names them.
    pub allowance_exceeded: EniStats,
    /// CFS periods in which the proxy was throttled.
    pub throttled_periods: u64,
    /// Requests sent to terminating remote instances.
    pub requests_to_terminating: u64,
    /// Packets simulated (TX device sends and inbound segments).
    pub packets_simulated: u64,
    /// Each bottleneck's largest one-second demand divided by its limit (above 1: past the cliff). Demand is what
    /// reaches the bottleneck: `proxy_cpu` the sidecar's CPU work, `tx_queue_pps`/`tx_queue_gbps` the packets
    /// enqueued on the busiest TX queue, `bw_out` and `pps` the packets leaving and arriving at the instance,
    /// `remote_workers` the busiest instance's requests times the mean service time; `bw_in` the response bytes
    /// the remote cache writes, each response once (schema 4; before, the segments reaching the shaper, whose
    /// retransmissions held it at 1.26 in the kernel-fix stage whether its p99 was 370 ms or the timeout).
    /// `terminations` is the share of rollout requests sent to terminating instances divided by 1% (above 1, the
    /// rollout's p99 is a timeout).
    pub margins: BTreeMap<String, f64>,
    /// The largest backlog of response data the inbound allowance would hold if it queued everything the remote
    /// writes above its baseline rate: the offered bytes above the allowance summed second by second, less the
    /// seconds below it, never below zero; in seconds at the allowance. Where `bw_in` says how far past the cliff
    /// the worst second is, this says for how long: under an open-loop overload of e for D seconds it is e x D. Over
    /// seeds 1-10 of the kernel-fix stage it orders the rollout p99 more closely than `bw_in` does (rank
    /// correlation 0.85 against 0.59).
    pub inbound_backlog_s: f64,
    /// Share of the seconds outside the rollout and its aftermath whose p99 is above [`SPIKE_MS`].
    pub outside_spike_share: f64,
    /// Largest per-second p99 during the rollout divided by the smallest: how much it oscillates.
    pub rollout_p99_swing: f64,
    /// The per-second series.
    pub series: Vec<SecondPoint>,
}

pub(super) fn build(s: &Sim<'_>) -> StageResult {
    let tx: Vec<u64> = s.queues.iter().map(|q| q.sent).collect();
    let share = shares(&tx);
    let e = s.shaper.stats();
    let all = pct(&s.all);
    let rollout = with_attempts(pct(&s.rollout), &s.attempt_rollout);
    let series = second_points(s);
    let (outside_spike_share, rollout_p99_swing) = spikes_and_swing(s.p, &series);
    let mut margins = s.meter.margins();
    let term_share = if rollout.count == 0 {
        0.0
    } else {
        s.to_terminating as f64 / rollout.count as f64
    };
    margins.insert("terminations".into(), term_share / 0.01);
    StageResult {
        name: s.name.clone(),
        p50_ms: all.p50_ms,
        p99_ms: all.p99_ms,
        p999_ms: all.p999_ms,
        rollout,
        outside: with_attempts(pct(&s.outside), &s.attempt_outside),
        requests: s.issued,
        completed: s.completed,
        failed: s.failed,
        timeouts: s.timeouts,
        proxy_rejects: s.proxy_rejects,
        warmup_held_back: s.warm_held_back,
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
        allowance_exceeded: *e,
        throttled_periods: s.cfs.throttled_periods,
        requests_to_terminating: s.to_terminating,
        packets_simulated: s.packets,
        margins,
        inbound_backlog_s: s.meter.inbound_backlog_s(),
        outside_spike_share,
        rollout_p99_swing,
        series,
    }
}

/// Each queue's share of the packets (all 0 when nothing was sent).
fn shares(sent: &[u64]) -> Vec<f64> {
    let total: u64 = sent.iter().sum();
    sent.iter()
        .map(|n| {
            if total == 0 {
                0.0
            } else {
                *n as f64 / total as f64
            }
        })
        .collect()
}

/// The per-second series: latency by completion second next to what the meter counted in that second.
fn second_points(s: &Sim<'_>) -> Vec<SecondPoint> {
    s.series
        .iter()
        .zip(s.meter.seconds.iter())
        .enumerate()
        .map(|(i, (h, c))| SecondPoint {
            t_s: i as u64,
            p99_ms: pct(h).p99_ms,
            completed: h.len(),
            drops: c.drops,
            retransmits: c.retransmits,
            tx_queue_share: shares(&c.sent),
            bw_in: c.bw_in,
            bw_out: c.bw_out,
            pps: c.pps,
        })
        .collect()
}

/// The share of seconds outside the rollout and its aftermath whose p99 is a spike, and how much the rollout's
/// per-second p99 swings (largest over smallest).
fn spikes_and_swing(p: &Params, series: &[SecondPoint]) -> (f64, f64) {
    // The rollout's aftermath: every attempt issued in it has timed out by then.
    let after = p.rollout.end_s
        + (p.clients.max_retries as f64 + 1.0) * p.clients.timeout_ms as f64 / 1000.0;
    let outside: Vec<&SecondPoint> = series
        .iter()
        .filter(|x| {
            let t = x.t_s as f64;
            (t + 1.0 <= p.rollout.start_s || t >= after) && x.completed > 0
        })
        .collect();
    let spike_share = if outside.is_empty() {
        0.0
    } else {
        outside.iter().filter(|x| x.p99_ms > SPIKE_MS).count() as f64 / outside.len() as f64
    };
    let inside: Vec<f64> = series
        .iter()
        .filter(|x| {
            let t = x.t_s as f64;
            t >= p.rollout.start_s && t + 1.0 <= p.rollout.end_s && x.completed > 0
        })
        .map(|x| x.p99_ms)
        .collect();
    let lo = inside.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = inside.iter().copied().fold(0.0, f64::max);
    let swing = if inside.is_empty() || lo <= 0.0 {
        0.0
    } else {
        hi / lo
    };
    (spike_share, swing)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn the_inbound_backlog_sums_the_excess_and_drains_below_the_allowance() {
        // The incident's m5.4xlarge: a 5 Gbit/s baseline, 625 MB a second.
        let p = Scenario::incident().unwrap().stage(0).unwrap().params;
        let mut m = Meter::new(&p);
        let st = EniStats::default();
        let second = |m: &mut Meter, share: f64| {
            m.in_offered_bytes += (625_000_000.0 * share) as u64;
            m.tick(0, 0, &[0; 8], &st);
        };
        // Below the allowance nothing is held back; 1.1x for three seconds holds 0.3 s; 0.95x then drains it by
        // 0.05 s a second (not at once: two such seconds leave 0.2 s, and a 1.2x second on top makes 0.4 s); ten
        // more drain it to nothing, and a later 1.2x second alone holds 0.2 s, below the largest.
        let backlog = |m: &Meter| m.inbound_backlog_s();
        second(&mut m, 0.9);
        assert_eq!(backlog(&m), 0.0);
        for _ in 0..3 {
            second(&mut m, 1.1);
        }
        assert!((backlog(&m) - 0.3).abs() < 1e-6, "{}", backlog(&m));
        second(&mut m, 0.95);
        second(&mut m, 0.95);
        second(&mut m, 1.2);
        assert!((backlog(&m) - 0.4).abs() < 1e-6, "{}", backlog(&m));
        for _ in 0..10 {
            second(&mut m, 0.95);
        }
        second(&mut m, 1.2);
        assert!((backlog(&m) - 0.4).abs() < 1e-6, "{}", backlog(&m));
        assert!((m.margins()["bw_in"] - 1.2).abs() < 1e-6);
        assert!(
            (m.in_backlog_bits - 0.2 * 5e9).abs() < 1e3,
            "{}",
            m.in_backlog_bits
        );
    }
}
