//! The discrete-event simulation of one stage: clients -> sidecar proxy (CFS quota) -> TCP flows -> veth ->
//! TX-queue selection (kernel profile) -> per-queue qdisc -> ENA TX ring -> device -> hypervisor shaper -> wire
//! -> remote cache -> responses back through the inbound allowance -> proxy -> client.
//!
//! Time is integer nanoseconds; every random draw comes from one seeded generator, so a stage run twice gives the
//! same result. The same seed is used for every stage (common random numbers): stages differ only by mechanism.
//!
//! Both directions of every connection run Linux's loss recovery (`tcp.rs`: one retransmission timer, RACK, tail
//! loss probes, fast recovery). The client's ACKs of response data cross the node's TX path like any packet
//! (selection, qdisc, ring, device, shaper), so a congested TX queue slows the remote's ACK clock.
//!
//! Simplifications, each stated where it is made: a request is one batched message (its queries share its
//! latency) sent as one GSO packet; the proxy is a fluid FIFO of CPU work; the RX ring is not simulated (inbound
//! segments are shaped by the hypervisor and then delivered); the remote's ACKs of request data are not shaped
//! (one 66-byte packet per request, next to 64 KB of response).

mod events;
mod proxy;
mod result;
pub mod tcp;
pub mod time;
pub mod txpath;

pub use result::{AllowanceCounters, SecondPoint, StageResult};

use std::collections::VecDeque;

use hdrhistogram::Histogram;
use nic_model::shaper::{Direction, Shaper, Verdict};
use qdisc::sched::QPkt;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp};
use rand_pcg::Pcg64Mcg;

use crate::scenario::Params;
use events::{Events, Kind};
use proxy::Cfs;
use tcp::{Actions, Payload, TcpReceiver, TcpSender};
use time::Ns;
use txpath::{Selection, TxPath};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
/// Bytes of an ACK on the wire (Ethernet + IP + TCP with timestamps).
const ACK_BYTES: u32 = 66;
/// Bytes of headers added to each data segment.
const HDR_BYTES: u32 = 52 + 14;

#[derive(Clone, Copy, Debug, Default)]
struct Req {
    issued: u64,
    /// When the current attempt was handed to the proxy.
    attempt_start: u64,
    attempt: u8,
    flow: u16,
    done: bool,
    segs_got: u16,
}

/// One upstream connection from the sidecar to a remote-cache instance: both directions' TCP state.
struct Flow {
    hash: u32,
    queue: u16,
    instance: u32,
    /// The client's sender (request data) and the remote's receiver of it.
    up: TcpSender,
    up_rx: TcpReceiver,
    /// The remote's sender (response data) and the client's receiver of it.
    down: TcpSender,
    down_rx: TcpReceiver,
    /// When the remote's NIC is done serialising this connection's previous segment.
    remote_link_free: u64,
}

/// A remote-cache instance: `workers` requests in service at once, the rest wait in FIFO order.
#[derive(Default)]
struct Instance {
    busy: u32,
    waiting: VecDeque<(u16, u32, u8)>,
}

/// Egress packet tags: connection, kind (request data or ACK of response data), and a transmission index or an
/// ACK's log position.
const TAG_ACK: u64 = 1 << 47;
/// The connection number of other pods' packets (connections are 0..65535).
const BG_FLOW: u16 = u16::MAX;
fn tag(flow: u16, ack: bool, v: u64) -> u64 {
    ((flow as u64) << 48) | if ack { TAG_ACK } else { 0 } | (v & (TAG_ACK - 1))
}
fn untag(t: u64) -> (u16, bool, u64) {
    ((t >> 48) as u16, t & TAG_ACK != 0, t & (TAG_ACK - 1))
}

/// Runs one stage. `progress` is called with the simulated fraction done, about once per simulated second.
pub fn run_stage(
    name: &str,
    p: &Params,
    progress: impl FnMut(f64) + Send,
) -> Result<StageResult, String> {
    // Parameters that did not come through a scenario file are checked here: nothing invalid reaches the model.
    crate::scenario::validate(p).map_err(|e| format!("stage `{name}`: {e}"))?;
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(format!("sim-{name}"))
            .stack_size(SIM_STACK)
            .spawn_scoped(s, move || run_stage_here(name, p, progress))
            .map_err(|e| format!("cannot start the simulation thread: {e}"))?
            .join()
            .map_err(|_| "the simulation thread panicked".to_string())?
    })
}

/// Stack of the simulation thread: the per-queue qdiscs and rings are fixed-size (the `no_std` model crates do not
/// allocate, and have no in-place constructors) and are built on the stack before they are boxed, which needs more
/// than a default thread's 2 MiB.
const SIM_STACK: usize = 64 << 20;

fn run_stage_here(
    name: &str,
    p: &Params,
    mut progress: impl FnMut(f64),
) -> Result<StageResult, String> {
    let mut s = Sim::new(name, p)?;
    let end = s.end;
    let mut next_tick = SEC;
    s.ev.push(0, Kind::Arrival { issue: false });
    s.next_background_burst();
    while let Some((t, kind)) = s.ev.pop() {
        if t > end {
            break;
        }
        while t >= next_tick {
            s.now = next_tick;
            s.second_tick();
            progress(next_tick as f64 / end as f64);
            next_tick += SEC;
        }
        s.now = t;
        s.dispatch(kind);
    }
    while next_tick <= end.div_ceil(SEC) * SEC {
        s.now = next_tick;
        s.second_tick();
        next_tick += SEC;
    }
    progress(1.0);
    Ok(s.finish(end))
}

struct Sim<'a> {
    name: String,
    p: &'a Params,
    now: u64,
    /// End of the stage.
    end: u64,
    ev: Events,
    /// Reused for the packets a qdisc drops during one call (no allocation per packet).
    drop_buf: Vec<u64>,
    actions: Actions,
    rng: Pcg64Mcg,
    svc_exp: Exp<f64>,
    cfs: Cfs,
    pending: usize,
    proxy_queue: VecDeque<(u32, bool)>,
    proxy_busy: bool,
    reqs: Vec<Req>,
    flows: Vec<Flow>,
    instances: Vec<Instance>,
    next_flow: usize,
    sel: Selection,
    queues: Vec<TxPath>,
    shaper: Box<Shaper<1024>>,
    terminating: Vec<(u64, u64, u32)>,
    /// Other pods' flows: (hash, TX queue).
    bg_flows: Vec<(u32, u16)>,
    bg_rng: Pcg64Mcg,
    /// The client request rate: (from this time, requests/s), in time order.
    rates: Vec<(u64, f64)>,
    rate_idx: usize,
    /// Segments of one response.
    resp_segs: u16,
    // Measurements.
    all: Histogram<u64>,
    rollout: Histogram<u64>,
    outside: Histogram<u64>,
    attempt_rollout: Histogram<u64>,
    attempt_outside: Histogram<u64>,
    series: Vec<(Histogram<u64>, u64, u64)>,
    qdisc_drops: u64,
    shaper_drops: u64,
    to_terminating: u64,
    timeouts: u64,
    failed: u64,
    completed: u64,
    issued: u64,
    packets: u64,
    proxy_rejects: u64,
    /// Cumulative demand counters, read once per simulated second into the series.
    meter: result::Meter,
}

fn hist() -> Histogram<u64> {
    // Microseconds, 1 us to 10^4 s, 3 significant digits.
    Histogram::new_with_bounds(1, 10_000_000_000, 3).unwrap_or_else(|_| unreachable_hist())
}

/// For the per-second series: 2 significant digits (a tenth of the memory; an hour-long stage has 3600 of them).
fn hist_coarse() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 2).unwrap_or_else(|_| unreachable_hist())
}

fn unreachable_hist() -> Histogram<u64> {
    // The bounds above are valid; this keeps `hist` free of a panic path.
    Histogram::new(3)
        .unwrap_or_else(|_| Histogram::new(2).unwrap_or_else(|_| std::process::abort()))
}

impl<'a> Sim<'a> {
    fn new(name: &str, p: &'a Params) -> Result<Self, String> {
        let sel = Selection::new(p)?;
        let mut rng = Pcg64Mcg::seed_from_u64(p.seed);
        let rtt = Ns::from_us(2 * p.network.one_way_us);
        let rto_min = Ns::from_ms(p.tcp.rto_min_ms);
        let (init, max) = (p.tcp.init_cwnd as f64, p.tcp.max_cwnd as f64);
        let mut flows = Vec::new();
        for c in 0..p.proxy.connections {
            flows.push(Flow {
                hash: rng.random(),
                queue: 0,
                instance: c % p.remote.instances,
                up: TcpSender::new(init, max, rto_min, rtt),
                up_rx: TcpReceiver::default(),
                down: TcpSender::new(init, max, rto_min, rtt),
                down_rx: TcpReceiver::default(),
                remote_link_free: 0,
            });
        }
        let queues = (0..p.nic.queues)
            .map(|_| TxPath::new(&p.nic))
            .collect::<Result<Vec<_>, _>>()?;
        let shaper = txpath::shaper(&p.allowance)?;
        // Terminations: a Poisson process over the rollout window, each of an instance drawn at random (its own
        // generator, so that the rest of the run does not shift with the count).
        let mut trng = Pcg64Mcg::seed_from_u64(p.seed ^ 0x7465_726d_696e_6174);
        let rates = rate_schedule(p, &mut trng);
        let (rs, re) = (p.rollout.start_s, p.rollout.end_s.min(p.duration_s));
        let mut terminating = Vec::new();
        if p.remote.terminations_per_min > 0.0 && re > rs {
            let rate = p.remote.terminations_per_min / 60.0;
            let mut t = rs;
            loop {
                t += -(1.0 - trng.random::<f64>()).ln() / rate;
                if t >= re {
                    break;
                }
                let inst = trng.random_range(0..p.remote.instances);
                let start = (t * SEC as f64) as u64;
                terminating.push((
                    start,
                    start + (p.remote.terminating_s * SEC as f64) as u64,
                    inst,
                ));
            }
        }
        let duration_s = p.duration_s.ceil() as usize;
        let mut s = Self {
            name: name.to_string(),
            p,
            now: 0,
            end: (p.duration_s * SEC as f64) as u64,
            ev: Events::default(),
            drop_buf: Vec::new(),
            actions: Actions::default(),
            rng,
            svc_exp: Exp::new(1.0 / p.remote.service_mean_ms.max(1e-6))
                .map_err(|e| format!("remote: {e}"))?,
            cfs: Cfs::new(
                p.proxy.cores,
                p.proxy.cfs_period_ms * MS,
                p.proxy.threads as u64,
            ),
            pending: 0,
            proxy_queue: VecDeque::new(),
            proxy_busy: false,
            reqs: Vec::new(),
            flows,
            instances: (0..p.remote.instances)
                .map(|_| Instance::default())
                .collect(),
            next_flow: 0,
            sel,
            queues,
            shaper: Box::new(shaper),
            terminating,
            rates,
            rate_idx: 0,
            bg_flows: Vec::new(),
            bg_rng: Pcg64Mcg::seed_from_u64(p.seed ^ 0x6267_5f65_6772_6573),
            resp_segs: p.remote.response_bytes.div_ceil(p.network.mss).max(1) as u16,
            all: hist(),
            rollout: hist(),
            outside: hist(),
            attempt_rollout: hist(),
            attempt_outside: hist(),
            series: (0..duration_s).map(|_| (hist_coarse(), 0, 0)).collect(),
            qdisc_drops: 0,
            shaper_drops: 0,
            to_terminating: 0,
            timeouts: 0,
            failed: 0,
            completed: 0,
            issued: 0,
            packets: 0,
            proxy_rejects: 0,
            meter: result::Meter::new(p),
        };
        for f in 0..s.flows.len() {
            s.flows[f].queue = s.sel.queue(s.flows[f].hash, f, 0);
        }
        for i in 0..p.background.flows as usize {
            let h: u32 = s.bg_rng.random();
            let q = s.sel.queue(h, s.flows.len() + i, 0);
            s.bg_flows.push((h, q));
        }
        Ok(s)
    }

    /// Schedules the next burst of other pods' egress (a Poisson process over the stage).
    fn next_background_burst(&mut self) {
        let rate = self.p.background.bursts_per_min / 60.0;
        if rate <= 0.0 || self.p.background.burst_pps <= 0.0 {
            return;
        }
        let gap = -(1.0 - self.bg_rng.random::<f64>()).ln() / rate * SEC as f64;
        let t = self.now as f64 + gap;
        if t < self.end as f64 {
            self.ev.push(t as u64, Kind::BackgroundBurst);
        }
    }

    fn on_background_burst(&mut self) {
        let b = &self.p.background;
        let n = (b.burst_pps * b.burst_ms / 1000.0) as u32;
        if n > 0 {
            self.on_background_packet(n - 1);
        }
        self.next_background_burst();
    }

    /// One packet of another pod, on a random one of their flows, into the TX path; the next follows at the
    /// burst's packet rate.
    fn on_background_packet(&mut self, left: u32) {
        let i = self.bg_rng.random_range(0..self.bg_flows.len().max(1));
        if let Some(&(hash, q)) = self.bg_flows.get(i) {
            self.enqueue_on(
                q as usize,
                hash,
                self.p.background.packet_bytes,
                tag(BG_FLOW, false, 0),
            );
        }
        if left > 0 {
            let gap = (SEC as f64 / self.p.background.burst_pps) as u64;
            self.ev.push(
                self.now + gap.max(1),
                Kind::BackgroundPacket { left: left - 1 },
            );
        }
    }

    /// Closes one simulated second of the per-second series.
    fn second_tick(&mut self) {
        let retransmits = self
            .flows
            .iter()
            .map(|f| f.up.retransmits + f.down.retransmits)
            .sum();
        let sent: Vec<u64> = self.queues.iter().map(|q| q.sent).collect();
        let st = *self.shaper.stats();
        let drops = self.qdisc_drops + self.shaper_drops;
        self.meter.tick(retransmits, drops, &sent, &st);
    }

    fn in_rollout(&self, t: u64) -> bool {
        let t = t as f64 / SEC as f64;
        t >= self.p.rollout.start_s && t < self.p.rollout.end_s
    }

    fn instance_terminating(&self, inst: u32, t: u64) -> bool {
        self.terminating
            .iter()
            .any(|(a, b, i)| *i == inst && t >= *a && t < *b)
    }

    fn dispatch(&mut self, k: Kind) {
        match k {
            Kind::Arrival { issue } => self.on_arrival(issue),
            Kind::ProxyDone { req, inbound } => self.on_proxy_done(req, inbound),
            Kind::QueueServe(q) => self.on_queue_serve(q),
            Kind::UpArrive { flow, xmit } => self.on_up_arrive(flow, xmit),
            Kind::UpAck { flow, pos } => self.on_ack(flow, true, pos),
            Kind::RemoteDone { flow, req, attempt } => self.on_remote_done(flow, req, attempt),
            Kind::DownShape { flow, xmit } => self.on_down_shape(flow, xmit),
            Kind::DownArrive { flow, xmit } => self.on_down_arrive(flow, xmit),
            Kind::DownAck { flow, pos } => self.on_ack(flow, false, pos),
            Kind::Timer {
                flow,
                up,
                generation,
            } => self.on_timer(flow, up, generation),
            Kind::Timeout { req, attempt } => self.on_timeout(req, attempt),
            Kind::BackgroundBurst => self.on_background_burst(),
            Kind::BackgroundPacket { left } => self.on_background_packet(left),
        }
    }

    /// Poisson arrivals whose rate changes when a pod starts or ends its warm-up: a gap that crosses a change is
    /// redrawn there at the new rate (memorylessness makes that exact).
    fn on_arrival(&mut self, issue: bool) {
        while self
            .rates
            .get(self.rate_idx + 1)
            .is_some_and(|&(t, _)| t <= self.now)
        {
            self.rate_idx += 1;
        }
        let rate = self.rates.get(self.rate_idx).map_or(0.0, |r| r.1);
        let edge = self.rates.get(self.rate_idx + 1).map(|r| r.0 as f64);
        let gap_ns = if rate > 0.0 {
            -(1.0 - self.rng.random::<f64>()).ln() / rate * SEC as f64
        } else {
            f64::INFINITY
        };
        let next = self.now as f64 + gap_ns.max(1.0);
        match edge {
            Some(e) if next >= e => self.ev.push(e as u64, Kind::Arrival { issue: false }),
            _ if next < self.end as f64 => self.ev.push(next as u64, Kind::Arrival { issue: true }),
            _ => {}
        }
        if !issue {
            return;
        }
        let id = self.reqs.len() as u32;
        self.reqs.push(Req {
            issued: self.now,
            attempt_start: self.now,
            ..Req::default()
        });
        self.issued += 1;
        self.proxy_submit(id, false);
    }

    /// Schedules a client timeout (always `now + timeout`, so in time order).
    fn push_timeout(&mut self, req: u32, attempt: u8) {
        let t = self.now + self.p.clients.timeout_ms * MS;
        self.ev.push(t, Kind::Timeout { req, attempt });
    }

    /// Hands a request (outbound) or its response (inbound) to the proxy.
    fn proxy_submit(&mut self, req: u32, inbound: bool) {
        if !inbound {
            // The client's per-attempt timer starts when it sends the attempt to the sidecar.
            let a = self.reqs[req as usize].attempt;
            self.push_timeout(req, a);
        }
        if !inbound && self.pending >= self.p.proxy.max_pending {
            // Envoy refuses the request: the client hears nothing and retries after its timeout.
            self.proxy_rejects += 1;
            return;
        }
        if !inbound {
            self.pending += 1;
        }
        // Offered CPU (what the margin compares with the quota), whether or not the quota lets it run.
        self.meter.cpu_ns += self.p.proxy.cpu_per_request_us * 1000 / 2;
        self.proxy_queue.push_back((req, inbound));
        self.proxy_start();
    }

    fn proxy_start(&mut self) {
        if self.proxy_busy {
            return;
        }
        if let Some(&(req, inbound)) = self.proxy_queue.front() {
            self.proxy_busy = true;
            let cost = self.p.proxy.cpu_per_request_us * 1000 / 2;
            let done = self.cfs.run(self.now, cost);
            self.ev.push(done, Kind::ProxyDone { req, inbound });
        }
    }

    fn on_proxy_done(&mut self, req: u32, inbound: bool) {
        self.proxy_queue.pop_front();
        self.proxy_busy = false;
        if inbound {
            self.complete(req);
        } else {
            self.pending -= 1;
            self.dispatch_request(req);
        }
        self.proxy_start();
    }

    /// Picks a connection (skipping terminating instances when draining) and sends the request on it.
    fn dispatch_request(&mut self, req: u32) {
        let n = self.flows.len();
        let mut f = self.next_flow % n;
        if self.p.remote.drain {
            for _ in 0..n {
                if !self.instance_terminating(self.flows[f].instance, self.now) {
                    break;
                }
                f = (f + 1) % n;
            }
        }
        self.next_flow = f + 1;
        let r = &mut self.reqs[req as usize];
        r.flow = f as u16;
        r.segs_got = 0;
        let attempt = r.attempt;
        if self.instance_terminating(self.flows[f].instance, self.now) {
            self.to_terminating += 1;
        }
        self.flows[f].up.write(Payload {
            req,
            attempt,
            seg: 0,
        });
        self.pump(f as u16, true);
    }

    /// Whether data of request `d` was abandoned (the client moved to another attempt or gave up: Envoy resets
    /// the stream, so unsent data of it is never sent).
    fn stale(reqs: &[Req], d: Payload) -> bool {
        let r = reqs[d.req as usize];
        r.done || r.attempt != d.attempt
    }

    /// Lets a connection's sender transmit what its window allows.
    fn pump(&mut self, flow: u16, up: bool) {
        let mut a = std::mem::take(&mut self.actions);
        let now = Ns(self.now);
        let reqs = &self.reqs;
        let f = &mut self.flows[flow as usize];
        let s = if up { &mut f.up } else { &mut f.down };
        s.pump(now, &mut |d| Self::stale(reqs, d), &mut a);
        self.apply(flow, up, a);
    }

    fn on_ack(&mut self, flow: u16, up: bool, pos: u64) {
        let mut a = std::mem::take(&mut self.actions);
        let now = Ns(self.now);
        let reqs = &self.reqs;
        let f = &mut self.flows[flow as usize];
        let (s, rx) = if up {
            (&mut f.up, &mut f.up_rx)
        } else {
            (&mut f.down, &mut f.down_rx)
        };
        s.on_ack(now, &rx.log, pos, &mut |d| Self::stale(reqs, d), &mut a);
        rx.log.trim(s.acked_log());
        self.apply(flow, up, a);
    }

    fn on_timer(&mut self, flow: u16, up: bool, generation: u32) {
        let mut a = std::mem::take(&mut self.actions);
        let now = Ns(self.now);
        let reqs = &self.reqs;
        let f = &mut self.flows[flow as usize];
        let s = if up { &mut f.up } else { &mut f.down };
        s.on_timer(now, generation, &mut |d| Self::stale(reqs, d), &mut a);
        if up && a.rto_fired {
            // The RTO re-draws the socket's txhash (`sk_rethink_txhash` from `tcp_write_timeout`): on a fixed
            // kernel the connection may move to another TX queue.
            let f = flow as usize;
            self.flows[f].hash = self.rng.random();
            self.flows[f].queue = self.sel.queue(self.flows[f].hash, f, self.now);
        }
        self.apply(flow, up, a);
    }

    /// Carries out what a sender asked for: transmissions and its timer.
    fn apply(&mut self, flow: u16, up: bool, mut a: Actions) {
        if let Some((t, generation)) = a.timer.take() {
            self.ev.push(
                t.0,
                Kind::Timer {
                    flow,
                    up,
                    generation,
                },
            );
        }
        for &(xmit, data, _) in &a.send {
            if up {
                let bytes = self.p.proxy.request_bytes
                    + HDR_BYTES * self.p.proxy.request_bytes.div_ceil(self.p.network.mss);
                self.egress(flow, bytes, tag(flow, false, xmit));
            } else {
                self.remote_send(flow, xmit, data);
            }
        }
        a.send.clear();
        a.rto_fired = false;
        self.actions = a;
    }

    /// Response segment sizes: full MSS, the last one the remainder, plus headers.
    fn seg_bytes(&self, seg: u16) -> u32 {
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
    fn remote_send(&mut self, flow: u16, xmit: u64, data: Payload) {
        let bytes = self.seg_bytes(data.seg) as f64;
        let seg_ns = (bytes * 8.0 / self.p.remote.line_gbps) as u64;
        let f = &mut self.flows[flow as usize];
        let dep = self.now.max(f.remote_link_free);
        f.remote_link_free = dep + seg_ns;
        self.ev.push(
            dep + self.p.network.one_way_us * 1000,
            Kind::DownShape { flow, xmit },
        );
    }

    /// One packet into the TX path of its connection's queue.
    fn egress(&mut self, flow: u16, bytes: u32, t: u64) {
        let f = &self.flows[flow as usize];
        let (q, hash) = (f.queue as usize, f.hash);
        self.enqueue_on(q, hash, bytes, t);
    }

    /// One packet into TX queue `q`'s qdisc, then `qdisc_run`.
    fn enqueue_on(&mut self, q: usize, hash: u32, bytes: u32, t: u64) {
        let pkt = QPkt {
            len: bytes,
            hash,
            priority: 0,
            tag: t,
            enqueue_ns: 0,
        };
        let now = self.now;
        self.meter.queue_offered[q].0 += 1;
        self.meter.queue_offered[q].1 += bytes as u64;
        let mut dropped = std::mem::take(&mut self.drop_buf);
        self.queues[q].enqueue(pkt, now, &mut |d| dropped.push(d.tag));
        let next = self.queues[q].kick(now, &mut |d| dropped.push(d.tag));
        // A qdisc drop is silent to TCP here: the sender finds it by RACK, a probe or the RTO.
        self.qdisc_drops += dropped.len() as u64;
        dropped.clear();
        self.drop_buf = dropped;
        if let Some(t) = next {
            self.ev.push(t, Kind::QueueServe(q as u16));
        }
    }

    fn on_queue_serve(&mut self, q: u16) {
        let now = self.now;
        let mut dropped = std::mem::take(&mut self.drop_buf);
        let (pkt, next) = self.queues[q as usize].serve(now, &mut |d| dropped.push(d.tag));
        self.qdisc_drops += dropped.len() as u64;
        dropped.clear();
        self.drop_buf = dropped;
        if let Some(t) = next {
            self.ev.push(t, Kind::QueueServe(q));
        }
        let Some(pkt) = pkt else { return };
        self.packets += 1;
        self.meter.out_pkts += 1;
        self.meter.out_bytes += pkt.len as u64;
        match self.shaper.shape(now, Direction::Egress, pkt.len, false) {
            Verdict::Pass { at_ns } => {
                let (flow, ack, v) = untag(pkt.tag);
                let at = at_ns + self.p.network.one_way_us * 1000;
                if flow == BG_FLOW {
                    // Another pod's packet: it leaves; nothing here waits for it.
                } else if ack {
                    self.ev.push(at, Kind::DownAck { flow, pos: v });
                } else {
                    self.ev.push(at, Kind::UpArrive { flow, xmit: v });
                }
            }
            Verdict::Drop(_) => self.shaper_drops += 1,
        }
    }

    /// Request data reaches the remote: its kernel ACKs it at once; the instance serves a new request unless it is
    /// terminating (it swallows it: the client's timeout retries).
    fn on_up_arrive(&mut self, flow: u16, xmit: u64) {
        let f = &mut self.flows[flow as usize];
        let Some((seq, d)) = f.up.lookup(xmit) else {
            return; // A copy of data the sender already knows delivered.
        };
        let arr = f.up_rx.arrive(xmit, seq);
        let pos = f.up_rx.log.end();
        let inst = f.instance;
        self.ev.push(
            self.now + self.p.network.one_way_us * 1000,
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

    fn start_service(&mut self, flow: u16, req: u32, attempt: u8) {
        let svc = self.p.remote.service_base_ms + self.svc_exp.sample(&mut self.rng);
        self.ev.push(
            self.now + (svc * MS as f64) as u64,
            Kind::RemoteDone { flow, req, attempt },
        );
    }

    fn on_remote_done(&mut self, flow: u16, req: u32, attempt: u8) {
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
            self.flows[flow as usize]
                .down
                .write(Payload { req, attempt, seg });
        }
        self.pump(flow, false);
    }

    fn on_down_shape(&mut self, flow: u16, xmit: u64) {
        let Some((_, d)) = self.flows[flow as usize].down.lookup(xmit) else {
            return;
        };
        let bytes = self.seg_bytes(d.seg);
        self.packets += 1;
        self.meter.in_pkts += 1;
        self.meter.in_bytes += bytes as u64;
        match self
            .shaper
            .shape(self.now, Direction::Ingress, bytes, false)
        {
            Verdict::Pass { at_ns } if at_ns == self.now => self.on_down_arrive(flow, xmit),
            Verdict::Pass { at_ns } => self.ev.push(at_ns, Kind::DownArrive { flow, xmit }),
            Verdict::Drop(_) => self.shaper_drops += 1,
        }
    }

    /// A response segment reaches the client's socket; the client ACKs through the TX path.
    fn on_down_arrive(&mut self, flow: u16, xmit: u64) {
        let n = self.resp_segs;
        let f = &mut self.flows[flow as usize];
        let Some((seq, d)) = f.down.lookup(xmit) else {
            return;
        };
        let arr = f.down_rx.arrive(xmit, seq);
        let mut complete = false;
        let r = &mut self.reqs[d.req as usize];
        if arr.new && !r.done && r.attempt == d.attempt {
            r.segs_got += 1;
            complete = r.segs_got == n;
        }
        if let Some(pos) = f.down_rx.ack_policy(arr.ack_now, complete) {
            self.egress(flow, ACK_BYTES, tag(flow, true, pos));
        }
        if complete {
            self.proxy_submit(d.req, true);
        }
    }

    fn on_timeout(&mut self, req: u32, attempt: u8) {
        let r = &mut self.reqs[req as usize];
        if r.done || r.attempt != attempt {
            return;
        }
        self.timeouts += 1;
        let (start, issued) = (r.attempt_start, r.issued);
        if r.attempt as u32 >= self.p.clients.max_retries {
            r.done = true;
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

    fn complete(&mut self, req: u32) {
        let r = &mut self.reqs[req as usize];
        if r.done {
            return;
        }
        r.done = true;
        self.completed += 1;
        let (issued, start, lat) = (r.issued, r.attempt_start, self.now - r.issued);
        self.record_attempt(start);
        self.record(issued, lat);
    }

    /// An attempt ended (answered or timed out): its latency, capped by the client's timeout.
    fn record_attempt(&mut self, start: u64) {
        let us = ((self.now - start) / 1000).max(1);
        let h = if self.in_rollout(start) {
            &mut self.attempt_rollout
        } else {
            &mut self.attempt_outside
        };
        let _ = h.record(us);
    }

    fn record(&mut self, issued: u64, lat_ns: u64) {
        let us = (lat_ns / 1000).max(1);
        let _ = self.all.record(us);
        if self.in_rollout(issued) {
            let _ = self.rollout.record(us);
        } else {
            let _ = self.outside.record(us);
        }
        let sec = (self.now / SEC) as usize;
        if let Some(b) = self.series.get_mut(sec) {
            let _ = b.0.record(us);
        }
    }

    fn finish(mut self, end: u64) -> StageResult {
        // Requests still open at the end count with the time they have waited so far (they are the tail).
        let open: Vec<(u64, u64)> = self
            .reqs
            .iter()
            .filter(|r| !r.done)
            .map(|r| (r.issued, end.saturating_sub(r.issued)))
            .collect();
        for (issued, lat) in open {
            if lat >= self.p.clients.timeout_ms * MS {
                self.record(issued, lat);
            }
        }
        result::build(&self, end)
    }
}

/// The client request rate over the stage: the steady rate, plus `warmup_rps` for each new pod warming its cache.
/// Pods start one after the other over the rollout window at jittered intervals (each within a quarter of an
/// interval of its slot, as a rolling update's readiness gates vary), so the load of a rollout rises and falls as
/// warm-ups overlap.
fn rate_schedule(p: &Params, rng: &mut Pcg64Mcg) -> Vec<(u64, f64)> {
    let r = &p.rollout;
    let n = r.pods.max(1);
    let room = (r.end_s - r.start_s - r.warmup_s).max(0.0);
    let interval = if n > 1 { room / (n - 1) as f64 } else { 0.0 };
    let mut edges: Vec<(u64, i32)> = Vec::new();
    for i in 0..n {
        let jitter = (rng.random::<f64>() - 0.5) * interval / 2.0;
        let t0 = (r.start_s + i as f64 * interval + jitter).clamp(r.start_s, r.start_s + room);
        edges.push(((t0 * SEC as f64) as u64, 1));
        edges.push((((t0 + r.warmup_s) * SEC as f64) as u64, -1));
    }
    edges.sort_unstable();
    let mut out = vec![(0, p.clients.steady_rps)];
    let mut warming = 0i32;
    for (t, d) in edges {
        warming += d;
        let rate = p.clients.steady_rps + p.clients.warmup_rps * warming.max(0) as f64;
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 = rate,
            _ => out.push((t, rate)),
        }
    }
    out
}

/// Runs independent stage runs on all cores (std threads taking the next job from a shared counter); results come
/// back in job order. `done` is called with the number of finished jobs.
pub fn run_parallel(
    jobs: &[(String, Params)],
    done: &(dyn Fn(usize) + Sync),
) -> Result<Vec<StageResult>, String> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<StageResult, String>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((name, p)) = jobs.get(i) else { break };
                    let r = run_stage(name, p, |_| {});
                    if let Ok(mut v) = slots.lock() {
                        v[i] = Some(r);
                    }
                    done(finished.fetch_add(1, Ordering::Relaxed) + 1);
                }
            });
        }
    });
    let v = slots
        .into_inner()
        .map_err(|_| "a simulation thread panicked".to_string())?;
    v.into_iter()
        .map(|r| r.unwrap_or_else(|| Err("a simulation run did not finish".into())))
        .collect()
}
