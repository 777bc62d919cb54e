//! The remote cache: instances with a bounded number of requests in service, terminations during rollouts, and
//! the remote's NIC sending response segments, which meet the node's inbound allowance on arrival.

use super::*;

/// A remote-cache instance: `workers` requests in service at once, the rest wait in FIFO order.
#[derive(Default)]
pub(super) struct Instance {
    pub(super) busy: u32,
    pub(super) waiting: VecDeque<(u16, u32, u8)>,
}

impl Sim<'_> {
    pub(super) fn instance_terminating(&self, inst: u32, t: Ns) -> bool {
        self.terminating
            .iter()
            .any(|(a, b, i)| *i == inst && t >= *a && t < *b)
    }

    /// Response segment sizes: full MSS, the last one the remainder, plus headers.
    pub(super) fn seg_bytes(&self, seg: u16) -> u32 {
        let n = self.resp_segs;
        if seg + 1 == n {
            self.p.remote.response_bytes - (n as u32 - 1) * self.p.network.mss
        } else {
            self.p.network.mss
        }
        .min(self.p.remote.response_bytes)
            + HDR_BYTES
    }

    /// The remote's NIC puts a response segment on the wire: back-to-back segments of a connection are serialised
    /// at the remote's line rate; the segment reaches the node's instance one way later.
    pub(super) fn remote_send(&mut self, flow: u16, xmit: u64, data: Payload) {
        let bytes = self.seg_bytes(data.seg) as f64;
        let seg_ns = Ns((bytes * 8.0 / self.p.remote.line_gbps) as u64);
        let f = &mut self.flows[flow as usize];
        let dep = self.now.max(f.remote_link_free);
        f.remote_link_free = dep + seg_ns;
        self.ev.push_lane(
            Lane::WireDown,
            dep + Ns::from_us(self.p.network.one_way_us),
            Kind::DownShape { flow, xmit },
        );
    }

    /// Request data reaches the remote: its kernel ACKs it at once; the instance serves a new request unless it is
    /// terminating (it swallows it: the client's timeout retries).
    pub(super) fn on_up_arrive(&mut self, flow: u16, xmit: u64) {
        let f = &mut self.flows[flow as usize];
        let Some((seq, d)) = f.up.lookup(xmit) else {
            return; // A copy of data the sender already knows delivered.
        };
        let arr = f.up_rx.arrive(xmit, seq);
        let pos = f.up_rx.log.end();
        let inst = f.instance;
        self.ev.push_lane(
            Lane::WireIn,
            self.now + Ns::from_us(self.p.network.one_way_us),
            Kind::UpAck { flow, pos },
        );
        if !arr.new || Self::stale(&self.reqs, d) || self.instance_terminating(inst, self.now) {
            return;
        }
        self.meter.instance_arrivals[inst as usize] += 1;
        let i = &mut self.instances[inst as usize];
        if i.busy < self.p.remote.workers {
            i.busy += 1;
            self.start_service(flow, d.req, d.attempt);
        } else {
            i.waiting.push_back((flow, d.req, d.attempt));
        }
    }

    pub(super) fn start_service(&mut self, flow: u16, req: u32, attempt: u8) {
        let svc = self.p.remote.service_base_ms + self.svc_exp.sample(&mut self.rng);
        self.ev.push(
            self.now + Ns::from_ms_f64(svc),
            Kind::RemoteDone { flow, req, attempt },
        );
    }

    pub(super) fn on_remote_done(&mut self, flow: u16, req: u32, attempt: u8) {
        let inst = self.flows[flow as usize].instance as usize;
        match self.instances[inst].waiting.pop_front() {
            Some((f, r, a)) => self.start_service(f, r, a),
            None => self.instances[inst].busy -= 1,
        }
        let r = self.reqs[req as usize];
        if r.done || r.attempt != attempt {
            return;
        }
        for seg in 0..self.resp_segs {
            self.meter.in_offered_bytes += self.seg_bytes(seg) as u64;
            self.flows[flow as usize]
                .down
                .write(Payload { req, attempt, seg });
        }
        self.pump(flow, false);
    }

    pub(super) fn on_down_shape(&mut self, flow: u16, xmit: u64) {
        let Some((_, d)) = self.flows[flow as usize].down.lookup(xmit) else {
            return;
        };
        let bytes = self.seg_bytes(d.seg);
        self.packets += 1;
        self.meter.in_pkts += 1;
        match self
            .shaper
            .shape(self.now.0, Direction::Ingress, bytes, false)
        {
            Verdict::Pass { at_ns } if at_ns == self.now.0 => self.on_down_arrive(flow, xmit),
            Verdict::Pass { at_ns } => {
                self.ev
                    .push_lane(Lane::Shaped, Ns(at_ns), Kind::DownArrive { flow, xmit })
            }
            Verdict::Drop(_) => self.shaper_drops += 1,
        }
    }
}

/// Terminations: a Poisson process over the rollout window, each of an instance drawn at random, as (start, end,
/// instance). `rng` is the terminations' own generator, so the rest of the run does not shift with the count.
pub(super) fn termination_schedule(p: &Params, rng: &mut Pcg64Mcg) -> Vec<(Ns, Ns, u32)> {
    let (rs, re) = (p.rollout.start_s, p.rollout.end_s.min(p.duration_s));
    let mut terminating = Vec::new();
    if p.remote.terminations_per_min > 0.0 && re > rs {
        let rate = p.remote.terminations_per_min / 60.0;
        let mut t = rs;
        loop {
            t += -(1.0 - rng.random::<f64>()).ln() / rate;
            if t >= re {
                break;
            }
            let inst = rng.random_range(0..p.remote.instances);
            let start = Ns::from_secs_f64(t);
            terminating.push((
                start,
                start + Ns::from_secs_f64(p.remote.terminating_s),
                inst,
            ));
        }
    }
    terminating
}
