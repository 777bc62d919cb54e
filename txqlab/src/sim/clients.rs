//! The clients: Poisson arrivals whose rate follows the rollout's pod warm-ups, per-attempt timeouts and
//! retries, and the latency they see (per attempt and end to end, in the rollout and outside it).

use super::*;

impl Sim<'_> {
    pub(super) fn in_rollout(&self, t: Ns) -> bool {
        let t = t.as_secs_f64();
        t >= self.p.rollout.start_s && t < self.p.rollout.end_s
    }

    /// Poisson arrivals whose rate changes when a pod starts or ends its warm-up: a gap that crosses a change is
    /// redrawn there at the new rate (memorylessness makes that exact).
    pub(super) fn on_arrival(&mut self, issue: bool) {
        while self
            .rates
            .get(self.rate_idx + 1)
            .is_some_and(|r| r.from <= self.now)
        {
            self.rate_idx += 1;
        }
        let (rate, warming) = self
            .rates
            .get(self.rate_idx)
            .map_or((0.0, 0), |r| (r.rps(&self.p.clients), r.warming));
        let edge = self.rates.get(self.rate_idx + 1).map(|r| r.from);
        let gap_ns = if rate > 0.0 {
            -(1.0 - self.rng.random::<f64>()).ln() / rate * SEC as f64
        } else {
            f64::INFINITY
        };
        let next = self.now.0 as f64 + gap_ns.max(1.0);
        match edge {
            Some(e) if next >= e.0 as f64 => self.ev.push(e, Kind::Arrival { issue: false }),
            _ if next < self.end.0 as f64 => {
                self.ev.push(Ns(next as u64), Kind::Arrival { issue: true })
            }
            _ => {}
        }
        if !issue {
            return;
        }
        // The arrivals are the sum of the steady clients and the warming pods (two Poisson processes): an arrival is
        // a warm-up read with the warm-up's share of the rate. A warming pod reads with at most
        // `warmup_inflight` requests outstanding; when all are, the read is not started (its worker is waiting).
        // Without a limit the draw is skipped, so that the rest of the run does not depend on it.
        let cap = self.p.clients.warmup_inflight as u64;
        let warm_rps = self.p.clients.warmup_rps * warming as f64;
        let warm = cap > 0 && warm_rps > 0.0 && self.rng.random::<f64>() * rate < warm_rps;
        if warm {
            let slots = cap * warming as u64;
            if self.warm_inflight >= slots {
                self.warm_held_back += 1;
                return;
            }
            self.warm_inflight += 1;
        }
        let id = self.reqs.len() as u32;
        self.reqs.push(Req {
            issued: self.now,
            attempt_start: self.now,
            warm,
            ..Req::default()
        });
        self.issued += 1;
        self.proxy_submit(id, false);
    }

    /// Starts a client timeout. Every timeout is `now + timeout_ms`, so they expire in the order they start: they
    /// wait in a FIFO, and one event stands for the earliest that may still fire (most attempts are answered
    /// long before, and their entries are skipped without an event of their own). Each entry keeps the place in
    /// the event order it would have had as an event of its own, so events at the same nanosecond run in the
    /// order they were scheduled, as before.
    pub(super) fn push_timeout(&mut self, req: u32, attempt: u8) {
        let t = self.now + Ns::from_ms(self.p.clients.timeout_ms);
        let seq = self.ev.reserve();
        self.timeouts_due.push_back((t, seq, req, attempt));
        if !self.timeout_armed {
            self.arm_timeout();
        }
    }

    /// Whether the attempt a timeout entry was started for is still waiting.
    fn timeout_live(&self, req: u32, attempt: u8) -> bool {
        let r = &self.reqs[req as usize];
        !r.done && r.attempt == attempt
    }

    /// Drops answered attempts from the front of the FIFO and schedules the event for the first live one.
    fn arm_timeout(&mut self) {
        while let Some(&(t, seq, req, attempt)) = self.timeouts_due.front() {
            if self.timeout_live(req, attempt) {
                self.ev.push_reserved(t, seq, Kind::Timeout);
                self.timeout_armed = true;
                return;
            }
            self.timeouts_due.pop_front();
        }
        self.timeout_armed = false;
    }

    /// The timeout event of the FIFO's front entry: its attempt times out unless it was answered since the event
    /// was scheduled; then the event for the next live entry.
    pub(super) fn on_timeouts(&mut self) {
        self.timeout_armed = false;
        if let Some((_, _, req, attempt)) = self.timeouts_due.pop_front()
            && self.timeout_live(req, attempt)
        {
            self.on_timeout(req);
        }
        if !self.timeout_armed {
            self.arm_timeout();
        }
    }

    fn on_timeout(&mut self, req: u32) {
        let r = &mut self.reqs[req as usize];
        self.timeouts += 1;
        let (start, issued) = (r.attempt_start, r.issued);
        if r.attempt as u32 >= self.p.clients.max_retries {
            r.done = true;
            self.warm_inflight -= r.warm as u64;
            self.failed += 1;
            self.record_attempt(start);
            let lat = self.now - issued;
            self.record(issued, lat);
            return;
        }
        r.attempt += 1;
        r.attempt_start = self.now;
        self.record_attempt(start);
        self.proxy_submit(req, false);
    }

    pub(super) fn complete(&mut self, req: u32) {
        let r = &mut self.reqs[req as usize];
        if r.done {
            return;
        }
        r.done = true;
        self.warm_inflight -= r.warm as u64;
        self.completed += 1;
        let (issued, start, lat) = (r.issued, r.attempt_start, self.now - r.issued);
        self.record_attempt(start);
        self.record(issued, lat);
    }

    /// An attempt ended (answered or timed out): its latency, capped by the client's timeout.
    pub(super) fn record_attempt(&mut self, start: Ns) {
        let us = (self.now - start).as_us().max(1);
        let h = if self.in_rollout(start) {
            &mut self.attempt_rollout
        } else {
            &mut self.attempt_outside
        };
        let _ = h.record(us);
    }

    pub(super) fn record(&mut self, issued: Ns, lat: Ns) {
        let us = lat.as_us().max(1);
        let _ = self.all.record(us);
        if self.in_rollout(issued) {
            let _ = self.rollout.record(us);
        } else {
            let _ = self.outside.record(us);
        }
        let sec = self.now.as_secs() as usize;
        if let Some(b) = self.series.get_mut(sec) {
            let _ = b.record(us);
        }
    }
}

/// The client request rate over the stage: the steady rate, plus `warmup_rps` for each new pod warming its cache.
/// Pods start one after the other over the rollout window at jittered intervals (each within a quarter of an
/// interval of its slot, as a rolling update's readiness gates vary), so the load of a rollout rises and falls as
/// warm-ups overlap.
pub(super) fn rate_schedule(p: &Params, rng: &mut Pcg64Mcg) -> Vec<Rate> {
    let r = &p.rollout;
    let n = r.pods.max(1);
    let room = (r.end_s - r.start_s - r.warmup_s).max(0.0);
    let interval = if n > 1 { room / (n - 1) as f64 } else { 0.0 };
    let mut edges: Vec<(Ns, i32)> = Vec::new();
    for i in 0..n {
        let jitter = (rng.random::<f64>() - 0.5) * interval / 2.0;
        let t0 = (r.start_s + i as f64 * interval + jitter).clamp(r.start_s, r.start_s + room);
        edges.push((Ns::from_secs_f64(t0), 1));
        edges.push((Ns::from_secs_f64(t0 + r.warmup_s), -1));
    }
    edges.sort_unstable();
    let mut out = vec![Rate {
        from: Ns::ZERO,
        warming: 0,
    }];
    let mut warming = 0i32;
    for (t, d) in edges {
        warming += d;
        let w = warming.max(0) as u32;
        let rate = Rate {
            from: t,
            warming: w,
        };
        match out.last_mut() {
            Some(last) if last.from == t => *last = rate,
            _ => out.push(rate),
        }
    }
    out
}

/// The client request rate from one instant on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rate {
    /// From this time.
    pub from: Ns,
    /// Pods warming their cache.
    pub warming: u32,
}

impl Rate {
    /// Requests per second: the steady clients plus each warming pod's reads.
    pub(super) fn rps(&self, c: &crate::scenario::Clients) -> f64 {
        c.steady_rps + c.warmup_rps * self.warming as f64
    }
}
