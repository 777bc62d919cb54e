//! The discrete-event simulation of one stage: clients -> sidecar proxy (CFS quota) -> TCP flows -> veth ->
//! TX-queue selection (kernel profile) -> per-queue qdisc -> ENA TX ring -> device -> hypervisor shaper -> wire
//! -> remote cache -> responses back through the inbound allowance -> proxy -> client.
//!
//! Time is integer nanoseconds; every random draw comes from one seeded generator, so a stage run twice gives the
//! same result. The same seed is used for every stage (common random numbers): stages differ only by mechanism.
//!
//! Simplifications, each stated where it is made: a request is one batched message (its queries share its
//! latency); the proxy is a fluid FIFO of CPU work; the RX ring is not simulated (inbound segments are shaped by
//! the hypervisor and then delivered); ACKs are sent for every second inbound segment and for the last, and a lost
//! ACK costs nothing (cumulative ACKs recover); a remote instance has no capacity limit (the incident's step 1:
//! scaling it out changed nothing).

mod proxy;
mod result;
pub mod txpath;

pub use result::{AllowanceCounters, SecondPoint, StageResult};

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use hdrhistogram::Histogram;
use nic_model::shaper::{AllowanceConfig, BandwidthConfig, Direction, OverLimit, Shaper, Verdict};
use qdisc::sched::QPkt;
use qdisc::veth::Path;
use qdisc::{KernelProfile, NetDev, PickRules, RefSelector, Skb, Sock, XmitCtx};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp};
use rand_pcg::Pcg64Mcg;

use crate::scenario::Params;
use proxy::Cfs;
use txpath::TxPath;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
/// Bytes of an ACK on the wire (Ethernet + IP + TCP with timestamps).
const ACK_BYTES: u32 = 66;
/// Bytes of headers added to each data segment.
const HDR_BYTES: u32 = 52 + 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The client process: `issue` is false when the event only redraws the next arrival at a rate change.
    Arrival {
        issue: bool,
    },
    ProxyDone {
        req: u32,
        inbound: bool,
    },
    QueueServe(u16),
    RemoteArrive {
        req: u32,
        attempt: u8,
    },
    RemoteDone {
        req: u32,
        attempt: u8,
    },
    InboundShape {
        req: u32,
        attempt: u8,
        seg: u16,
        flow: u16,
    },
    InboundAck {
        flow: u16,
    },
    InboundResend {
        req: u32,
        attempt: u8,
        seg: u16,
        flow: u16,
    },
    InboundArrive {
        req: u32,
        attempt: u8,
    },
    Timeout {
        req: u32,
        attempt: u8,
    },
    LossCheck,
    Retransmit {
        req: u32,
        attempt: u8,
    },
}

#[derive(Clone, Copy, Debug)]
struct LossCheck {
    req: u32,
    attempt: u8,
    flow: u16,
    mark: u64,
    dropped_at: u64,
}

#[derive(Clone, Copy, Debug)]
struct Ev {
    t: u64,
    seq: u64,
    kind: Kind,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.seq) == (o.t, o.seq)
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    fn cmp(&self, o: &Self) -> Ordering {
        // Min-heap on (time, sequence): earliest first, ties in scheduling order.
        (o.t, o.seq).cmp(&(self.t, self.seq))
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Req {
    issued: u64,
    attempt: u8,
    flow: u16,
    done: bool,
    segs_got: u16,
    losses: u8,
}

struct Flow {
    hash: u32,
    queue: u16,
    instance: u32,
    sent: u64,
    /// The remote's sender on this connection: its congestion window, segments in flight, and the segments its
    /// socket holds until the window opens.
    cwnd: f64,
    in_flight: u32,
    backlog: VecDeque<(u32, u8, u16)>,
    /// When the last loss recovery started, and how many RTOs in a row (the backoff).
    recovery_at: u64,
    rto_backoff: u8,
}

/// Largest congestion window: the receiver's window (assumption: 6 MB of socket buffer in 8949-byte segments).
const MAX_CWND: f64 = 700.0;

/// Initial congestion window (Linux TCP_INIT_CWND = 10).
const INIT_CWND: f64 = 10.0;

/// Packet tags: request id, attempt, kind.
fn tag(req: u32, attempt: u8, ack: bool) -> u64 {
    ((req as u64) << 9) | ((attempt as u64) << 1) | ack as u64
}

fn untag(t: u64) -> (u32, u8, bool) {
    ((t >> 9) as u32, ((t >> 1) & 0xff) as u8, t & 1 == 1)
}

/// Stack of the simulation thread: the per-queue qdiscs and rings are fixed-size (the model crates do not
/// allocate) and are built on the stack before they are boxed, which needs more than a default thread's 2 MiB.
const SIM_STACK: usize = 64 << 20;

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

fn run_stage_here(
    name: &str,
    p: &Params,
    mut progress: impl FnMut(f64),
) -> Result<StageResult, String> {
    let mut s = Sim::new(name, p)?;
    let end = (p.duration_s * SEC as f64) as u64;
    let mut next_tick = SEC;
    s.push(0, Kind::Arrival { issue: false });
    while let Some((t, kind)) = s.next_event() {
        if t > end {
            break;
        }
        while t >= next_tick {
            progress(next_tick as f64 / end as f64);
            next_tick += SEC;
        }
        s.now = t;
        s.dispatch(kind);
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
    seq: u64,
    heap: BinaryHeap<Ev>,
    /// Events scheduled a fixed delay after the moment they are scheduled (client timeouts, loss checks) arrive
    /// in time order: FIFOs hold them, merged with the heap by (time, sequence), which keeps the heap small.
    timeout_queue: VecDeque<Ev>,
    lanes: [VecDeque<Ev>; 3],
    /// Reused for the packets a qdisc drops during one call (no allocation per packet).
    drop_buf: Vec<u64>,
    loss_checks: VecDeque<(u64, u64, LossCheck)>,
    pending_loss: Option<LossCheck>,
    rng: Pcg64Mcg,
    svc_exp: Exp<f64>,
    cfs: Cfs,
    pending: usize,
    proxy_queue: VecDeque<(u32, bool)>,
    proxy_busy: bool,
    reqs: Vec<Req>,
    flows: Vec<Flow>,
    next_flow: usize,
    sel: RefSelector,
    veth_records: bool,
    queues: Vec<TxPath>,
    shaper: Box<Shaper<1024>>,
    terminating: Vec<(u64, u64, u32)>,
    // Measurements.
    all: Histogram<u64>,
    rollout: Histogram<u64>,
    outside: Histogram<u64>,
    series: Vec<(Histogram<u64>, u64, u64)>,
    retransmits: u64,
    qdisc_drops: u64,
    shaper_drops: u64,
    to_terminating: u64,
    timeouts: u64,
    failed: u64,
    completed: u64,
    issued: u64,
    packets: u64,
    proxy_rejects: u64,
}

fn hist() -> Histogram<u64> {
    // Microseconds, 1 us to 10^4 s, 3 significant digits.
    Histogram::new_with_bounds(1, 10_000_000_000, 3).unwrap_or_else(|_| unreachable_hist())
}

fn unreachable_hist() -> Histogram<u64> {
    // The bounds above are valid; this keeps `hist` free of a panic path.
    Histogram::new(3)
        .unwrap_or_else(|_| Histogram::new(2).unwrap_or_else(|_| std::process::abort()))
}

impl<'a> Sim<'a> {
    fn new(name: &str, p: &'a Params) -> Result<Self, String> {
        let profile = KernelProfile::from_release(&p.kernel.release)
            .map_err(|e| format!("kernel.release: {e}"))?;
        let profile = match p.kernel.veth_records_rx_queue {
            Some(v) => profile.with_override(v),
            None => profile,
        };
        let mut dev = NetDev::new(p.nic.queues).map_err(|e| format!("nic.queues: {e}"))?;
        if profile.ena_select_queue {
            dev.driver = qdisc::DriverHook::EnaLegacy;
        }
        if p.nic.xps_cpus {
            dev = dev
                .with_virtio_default_xps(p.nic.queues.min(64))
                .map_err(|e| format!("nic.xps_cpus: {e}"))?;
        }
        let rules = PickRules {
            txq_reselection_ms: profile.rules.txq_reselection_ms,
        };
        let sel = RefSelector::new(dev, rules, p.seed).map_err(|e| format!("nic: {e}"))?;
        let mut rng = Pcg64Mcg::seed_from_u64(p.seed);
        let mut flows = Vec::new();
        for c in 0..p.proxy.connections {
            flows.push(Flow {
                hash: rng.random(),
                queue: 0,
                instance: c % p.remote.instances,
                sent: 0,
                cwnd: INIT_CWND,
                in_flight: 0,
                backlog: VecDeque::new(),
                recovery_at: 0,
                rto_backoff: 0,
            });
        }
        let queues = (0..p.nic.queues)
            .map(|_| TxPath::new(&p.nic))
            .collect::<Result<Vec<_>, _>>()?;
        let gbps = |g: f64| (g * 1e9) as u64;
        let a = &p.allowance;
        let burst_bits = 12_500_000; // 1.25 MB of micro-burst at the peak rate (assumption)
        let credits = ((a.peak_gbps - a.baseline_gbps) * 1e9 * a.credit_s) as u64;
        let bw = BandwidthConfig {
            baseline_bps: gbps(a.baseline_gbps),
            peak_bps: gbps(a.peak_gbps),
            peak_burst_bits: burst_bits,
            credit_bits: credits.max(burst_bits),
        };
        let shaper = Shaper::new(AllowanceConfig {
            bw_out: bw,
            bw_in: bw,
            pps: a.pps,
            pps_burst: (a.pps / 100).max(1),
            linklocal_pps: 1024,
            linklocal_burst: 1024,
            // Connection tracking is not modelled: the sidecar's few hundred long-lived connections are far below
            // any instance's conntrack allowance, so the table is never consulted.
            conntrack_max: 1024,
            conntrack_idle_timeout_ns: 432_000 * SEC,
            over_limit: OverLimit::Queue {
                max_delay_ns: a.max_delay_ms * MS,
            },
        })
        .map_err(|e| format!("allowance: {e}"))?;
        // Terminations spread over the rollout window, one instance after the other.
        let (rs, re) = (
            (p.rollout.start_s * SEC as f64) as u64,
            (p.rollout.end_s * SEC as f64) as u64,
        );
        let n = p.remote.terminations as u64;
        let terminating = (0..n)
            .map(|i| {
                let start = rs + (re - rs) * (2 * i + 1) / (2 * n);
                (
                    start,
                    start + (p.remote.terminating_s * SEC as f64) as u64,
                    (i as u32) % p.remote.instances,
                )
            })
            .collect();
        let duration_s = p.duration_s.ceil() as usize;
        let mut s = Self {
            name: name.to_string(),
            p,
            now: 0,
            end: (p.duration_s * SEC as f64) as u64,
            seq: 0,
            heap: BinaryHeap::with_capacity(1 << 16),
            timeout_queue: VecDeque::new(),
            lanes: Default::default(),
            drop_buf: Vec::new(),
            loss_checks: VecDeque::new(),
            pending_loss: None,
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
            next_flow: 0,
            sel,
            veth_records: profile.veth_records_rx_queue,
            queues,
            shaper: Box::new(shaper),
            terminating,
            all: hist(),
            rollout: hist(),
            outside: hist(),
            series: (0..duration_s).map(|_| (hist(), 0, 0)).collect(),
            retransmits: 0,
            qdisc_drops: 0,
            shaper_drops: 0,
            to_terminating: 0,
            timeouts: 0,
            failed: 0,
            completed: 0,
            issued: 0,
            packets: 0,
            proxy_rejects: 0,
        };
        for f in 0..s.flows.len() {
            s.flows[f].queue = s.select_queue(f);
        }
        Ok(s)
    }

    /// The physical TX queue of flow `f`: its packet leaves the pod's socket, crosses the veth, and is selected
    /// on the ENA device as the kernel profile says.
    fn select_queue(&self, f: usize) -> u16 {
        let mut skb = Skb::new(1500, f as u64);
        skb.hash = Some(self.flows[f].hash);
        skb.sk = Some(Sock::connected());
        skb.sender_cpu = self.p.kernel.cpu + 1;
        let ctx = XmitCtx {
            cpu: self.p.kernel.cpu,
            now_ns: self.now,
        };
        qdisc::veth::egress(
            &self.sel,
            &mut skb,
            Path::PodViaVeth,
            self.veth_records,
            ctx,
        )
        .queue
    }

    fn push(&mut self, t: u64, kind: Kind) {
        self.seq += 1;
        let ev = Ev {
            t,
            seq: self.seq,
            kind,
        };
        // Kinds scheduled at non-decreasing times go to their lane; anything out of order falls back to the heap,
        // so the (time, sequence) order is exact either way.
        let lane = match kind {
            Kind::InboundArrive { .. } => Some(0),
            Kind::InboundAck { .. } => Some(1),
            Kind::RemoteArrive { .. } => Some(2),
            _ => None,
        };
        match lane {
            Some(l) if self.lanes[l].back().is_none_or(|b| b.t <= t) => self.lanes[l].push_back(ev),
            _ => self.heap.push(ev),
        }
    }

    /// Schedules a client timeout (always `now + timeout`, so in time order).
    fn push_timeout(&mut self, req: u32, attempt: u8) {
        self.seq += 1;
        let t = self.now + self.p.clients.timeout_ms * MS;
        self.timeout_queue.push_back(Ev {
            t,
            seq: self.seq,
            kind: Kind::Timeout { req, attempt },
        });
    }

    /// The earliest event of the heap, the lanes and the FIFOs, by (time, sequence): the order one heap would give.
    fn next_event(&mut self) -> Option<(u64, Kind)> {
        #[derive(Clone, Copy)]
        enum Src {
            Heap,
            Timeout,
            Loss,
            Lane(usize),
        }
        let mut best: Option<((u64, u64), Src)> =
            self.heap.peek().map(|e| ((e.t, e.seq), Src::Heap));
        let mut consider = |k: Option<(u64, u64)>, src: Src| {
            if let Some(k) = k
                && best.is_none_or(|(b, _)| k < b)
            {
                best = Some((k, src));
            }
        };
        consider(
            self.timeout_queue.front().map(|e| (e.t, e.seq)),
            Src::Timeout,
        );
        consider(self.loss_checks.front().map(|e| (e.0, e.1)), Src::Loss);
        for (l, lane) in self.lanes.iter().enumerate() {
            consider(lane.front().map(|e| (e.t, e.seq)), Src::Lane(l));
        }
        match best?.1 {
            Src::Heap => self.heap.pop().map(|e| (e.t, e.kind)),
            Src::Timeout => self.timeout_queue.pop_front().map(|e| (e.t, e.kind)),
            Src::Lane(l) => self.lanes[l].pop_front().map(|e| (e.t, e.kind)),
            Src::Loss => {
                let (t, _, c) = self.loss_checks.pop_front()?;
                self.pending_loss = Some(c);
                Some((t, Kind::LossCheck))
            }
        }
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
            Kind::RemoteArrive { req, attempt } => self.on_remote_arrive(req, attempt),
            Kind::RemoteDone { req, attempt } => self.on_remote_done(req, attempt),
            Kind::InboundShape {
                req,
                attempt,
                seg,
                flow,
            } => self.on_inbound_shape(req, attempt, seg, flow),
            Kind::InboundAck { flow } => self.on_inbound_ack(flow),
            Kind::InboundResend {
                req,
                attempt,
                seg,
                flow,
            } => {
                self.flows[flow as usize]
                    .backlog
                    .push_front((req, attempt, seg));
                self.retransmits += 1;
                self.pump(flow);
            }
            Kind::InboundArrive { req, attempt } => self.on_inbound_arrive(req, attempt),
            Kind::Timeout { req, attempt } => self.on_timeout(req, attempt),
            Kind::LossCheck => {
                if let Some(c) = self.pending_loss.take() {
                    self.on_loss_check(c.req, c.attempt, c.flow, c.mark, c.dropped_at)
                }
            }
            Kind::Retransmit { req, attempt } => self.send_request_segment(req, attempt, true),
        }
    }

    /// Poisson arrivals whose rate changes at the rollout's edges: a gap that crosses an edge is redrawn there at
    /// the new rate (memorylessness makes that exact).
    fn on_arrival(&mut self, issue: bool) {
        let rate = if self.in_rollout(self.now) {
            self.p.clients.rollout_rps
        } else {
            self.p.clients.steady_rps
        };
        let edge = [self.p.rollout.start_s, self.p.rollout.end_s]
            .into_iter()
            .map(|s| s * SEC as f64)
            .find(|&t| t > self.now as f64);
        let gap_ns = if rate > 0.0 {
            -(1.0 - self.rng.random::<f64>()).ln() / rate * SEC as f64
        } else {
            f64::INFINITY
        };
        let next = self.now as f64 + gap_ns.max(1.0);
        match edge {
            Some(e) if next >= e => self.push(e as u64, Kind::Arrival { issue: false }),
            _ if next < self.end as f64 => self.push(next as u64, Kind::Arrival { issue: true }),
            _ => {}
        }
        if !issue {
            return;
        }
        let id = self.reqs.len() as u32;
        self.reqs.push(Req {
            issued: self.now,
            ..Req::default()
        });
        self.issued += 1;
        self.proxy_submit(id, false);
    }

    /// Hands a request (outbound) or its response (inbound) to the proxy.
    fn proxy_submit(&mut self, req: u32, inbound: bool) {
        if !inbound && self.pending >= self.p.proxy.max_pending {
            // Envoy refuses the request: the client hears nothing and retries after its timeout.
            self.proxy_rejects += 1;
            let a = self.reqs[req as usize].attempt;
            self.push_timeout(req, a);
            return;
        }
        if !inbound {
            self.pending += 1;
        }
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
            self.push(done, Kind::ProxyDone { req, inbound });
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
        self.push_timeout(req, attempt);
        self.send_request_segment(req, attempt, false);
    }

    fn segments(&self, bytes: u32) -> u16 {
        bytes.div_ceil(self.p.network.mss).max(1) as u16
    }

    /// Sends the request's data (one batched message) on its flow through the node's TX path.
    fn send_request_segment(&mut self, req: u32, attempt: u8, retransmit: bool) {
        let r = self.reqs[req as usize];
        if r.done || r.attempt != attempt {
            return;
        }
        if retransmit {
            self.retransmits += 1;
        }
        let bytes = self.p.proxy.request_bytes
            + HDR_BYTES * self.segments(self.p.proxy.request_bytes) as u32;
        self.egress(r.flow, bytes, tag(req, attempt, false));
    }

    /// One packet into the TX path of its flow's queue.
    fn egress(&mut self, flow: u16, bytes: u32, t: u64) {
        let f = &mut self.flows[flow as usize];
        f.sent += 1;
        let q = f.queue as usize;
        let pkt = QPkt {
            len: bytes,
            hash: f.hash,
            priority: 0,
            tag: t,
            enqueue_ns: 0,
        };
        let now = self.now;
        let mut dropped = std::mem::take(&mut self.drop_buf);
        self.queues[q].enqueue(pkt, now, &mut |d| dropped.push(d.tag));
        let next = self.queues[q].kick(now, &mut |d| dropped.push(d.tag));
        for &d in &dropped {
            self.qdisc_drops += 1;
            self.lost(d, flow);
        }
        dropped.clear();
        self.drop_buf = dropped;
        if let Some(t) = next {
            self.push(t, Kind::QueueServe(q as u16));
        }
    }

    /// A data segment was dropped: fast retransmit if enough later segments of the flow produce duplicate ACKs
    /// within about one RTT, else the RTO.
    fn lost(&mut self, tag: u64, flow: u16) {
        let (req, attempt, ack) = untag(tag);
        if ack {
            return; // A lost ACK is covered by the next one.
        }
        let rtt = 2 * self.p.network.one_way_us * 1000 + MS;
        let mark = self.flows[flow as usize].sent;
        let dropped_at = self.now;
        self.seq += 1;
        let c = LossCheck {
            req,
            attempt,
            flow,
            mark,
            dropped_at,
        };
        self.loss_checks.push_back((self.now + rtt, self.seq, c));
    }

    fn on_loss_check(&mut self, req: u32, attempt: u8, flow: u16, mark: u64, dropped_at: u64) {
        let later = self.flows[flow as usize].sent - mark;
        // A retransmission lost again waits for the RTO (no second fast retransmit of the same segment).
        if later >= self.p.tcp.dupack_threshold as u64 && self.reqs[req as usize].losses == 0 {
            self.reqs[req as usize].losses = 1;
            self.send_request_segment(req, attempt, true);
            return;
        }
        // RTO with exponential backoff; the timeout also re-draws the flow's txhash (`sk_rethink_txhash`), which
        // on a fixed kernel may move it to another queue.
        let r = &mut self.reqs[req as usize];
        let rto = (self.p.tcp.rto_min_ms * MS) << r.losses.saturating_sub(1).min(6);
        r.losses = r.losses.saturating_add(1);
        let f = flow as usize;
        self.flows[f].hash = self.rng.random();
        self.flows[f].queue = self.select_queue(f);
        self.push(dropped_at + rto, Kind::Retransmit { req, attempt });
    }

    fn on_queue_serve(&mut self, q: u16) {
        let now = self.now;
        let mut dropped = std::mem::take(&mut self.drop_buf);
        let (pkt, next) = self.queues[q as usize].serve(now, &mut |d| dropped.push(d.tag));
        for &d in &dropped {
            self.qdisc_drops += 1;
            let (req, _, _) = untag(d);
            let flow = self.reqs[req as usize].flow;
            self.lost(d, flow);
        }
        dropped.clear();
        self.drop_buf = dropped;
        if let Some(t) = next {
            self.push(t, Kind::QueueServe(q));
        }
        let Some(pkt) = pkt else { return };
        self.packets += 1;
        match self.shaper.shape(now, Direction::Egress, pkt.len, false) {
            Verdict::Pass { at_ns } => {
                let (req, attempt, ack) = untag(pkt.tag);
                if !ack {
                    self.push(
                        at_ns + self.p.network.one_way_us * 1000,
                        Kind::RemoteArrive { req, attempt },
                    );
                }
            }
            Verdict::Drop(_) => {
                self.shaper_drops += 1;
                let (req, _, _) = untag(pkt.tag);
                let flow = self.reqs[req as usize].flow;
                self.lost(pkt.tag, flow);
            }
        }
    }

    fn on_remote_arrive(&mut self, req: u32, attempt: u8) {
        let r = self.reqs[req as usize];
        if r.done || r.attempt != attempt {
            return;
        }
        let inst = self.flows[r.flow as usize].instance;
        if self.instance_terminating(inst, self.now) {
            return; // Swallowed: the client's timeout will retry it.
        }
        let svc = self.p.remote.service_base_ms + self.svc_exp.sample(&mut self.rng);
        self.push(
            self.now + (svc * MS as f64) as u64,
            Kind::RemoteDone { req, attempt },
        );
    }

    fn on_remote_done(&mut self, req: u32, attempt: u8) {
        let n = self.segments(self.p.remote.response_bytes);
        let flow = self.reqs[req as usize].flow;
        let f = &mut self.flows[flow as usize];
        for seg in 0..n {
            f.backlog.push_back((req, attempt, seg));
        }
        self.pump(flow);
    }

    /// The remote's TCP sender: send while the congestion window allows. Segments of a request the client has
    /// already given up on are skipped (Envoy resets the stream, so the remote stops sending it).
    fn pump(&mut self, flow: u16) {
        let one_way = self.p.network.one_way_us * 1000;
        // Back-to-back segments leave the remote at its line rate (assumption: 25 Gbit/s).
        let seg_ns = (self.p.network.mss as u64 + HDR_BYTES as u64) * 8 * 1000 / 25_000;
        let mut k = 0;
        loop {
            let f = &mut self.flows[flow as usize];
            if f.in_flight as f64 >= f.cwnd {
                break;
            }
            let Some((req, attempt, seg)) = f.backlog.pop_front() else {
                break;
            };
            let r = self.reqs[req as usize];
            if r.done || r.attempt != attempt {
                continue;
            }
            self.flows[flow as usize].in_flight += 1;
            self.push(
                self.now + one_way + k * seg_ns,
                Kind::InboundShape {
                    req,
                    attempt,
                    seg,
                    flow,
                },
            );
            k += 1;
        }
    }

    fn on_inbound_shape(&mut self, req: u32, attempt: u8, seg: u16, flow: u16) {
        let n = self.segments(self.p.remote.response_bytes);
        let bytes = if seg + 1 == n {
            self.p.remote.response_bytes - (n as u32 - 1) * self.p.network.mss
        } else {
            self.p.network.mss
        } + HDR_BYTES;
        self.packets += 1;
        let one_way = self.p.network.one_way_us * 1000;
        match self
            .shaper
            .shape(self.now, Direction::Ingress, bytes, false)
        {
            Verdict::Pass { at_ns } => {
                if at_ns == self.now {
                    // Not held back: delivered at once, without an event of its own.
                    self.on_inbound_arrive(req, attempt);
                } else {
                    self.push(at_ns, Kind::InboundArrive { req, attempt });
                }
                // The ACK clock: the remote learns of the delivery one way later.
                self.push(at_ns + one_way, Kind::InboundAck { flow });
            }
            Verdict::Drop(_) => {
                self.shaper_drops += 1;
                // Reno: a loss outside recovery halves the window and is fast-retransmitted when enough segments
                // follow it to produce duplicate ACKs; a loss during recovery (or without enough segments behind
                // it) waits for the RTO, which backs off and collapses the window to one segment.
                let rtt = 2 * one_way + MS;
                let now = self.now;
                let f = &mut self.flows[flow as usize];
                f.in_flight = f.in_flight.saturating_sub(1);
                let in_recovery = now < f.recovery_at + 2 * rtt && f.recovery_at != 0;
                let dupacks =
                    f.backlog.len() + f.in_flight as usize >= self.p.tcp.dupack_threshold as usize;
                let delay = if !in_recovery && dupacks {
                    f.cwnd = (f.cwnd / 2.0).max(2.0);
                    rtt
                } else {
                    f.cwnd = 1.0;
                    let rto = (self.p.tcp.rto_min_ms * MS) << f.rto_backoff.min(6);
                    f.rto_backoff = f.rto_backoff.saturating_add(1);
                    rto
                };
                f.recovery_at = now;
                self.push(
                    self.now + delay,
                    Kind::InboundResend {
                        req,
                        attempt,
                        seg,
                        flow,
                    },
                );
            }
        }
    }

    fn on_inbound_ack(&mut self, flow: u16) {
        let f = &mut self.flows[flow as usize];
        f.in_flight = f.in_flight.saturating_sub(1);
        f.rto_backoff = 0;
        // Congestion avoidance: one segment per window per RTT, up to the receive window.
        f.cwnd = (f.cwnd + 1.0 / f.cwnd).min(MAX_CWND);
        self.pump(flow);
    }

    fn on_inbound_arrive(&mut self, req: u32, attempt: u8) {
        let n = self.segments(self.p.remote.response_bytes);
        let r = &mut self.reqs[req as usize];
        if r.done || r.attempt != attempt {
            return;
        }
        r.segs_got += 1;
        let got = r.segs_got;
        let flow = r.flow;
        if got.is_multiple_of(2) || got == n {
            // Delayed ACK: every second segment, and the last at once (quick ACK at the end of a burst).
            self.egress(flow, ACK_BYTES, tag(req, attempt, true));
        }
        if got == n {
            self.proxy_submit(req, true);
        }
    }

    fn on_timeout(&mut self, req: u32, attempt: u8) {
        let r = &mut self.reqs[req as usize];
        if r.done || r.attempt != attempt {
            return;
        }
        self.timeouts += 1;
        if r.attempt as u32 >= self.p.clients.max_retries {
            r.done = true;
            self.failed += 1;
            let lat = self.now - r.issued;
            let issued = r.issued;
            self.record(issued, lat);
            return;
        }
        r.attempt += 1;
        r.losses = 0;
        self.proxy_submit(req, false);
    }

    fn complete(&mut self, req: u32) {
        let r = &mut self.reqs[req as usize];
        if r.done {
            return;
        }
        r.done = true;
        self.completed += 1;
        let (issued, lat) = (r.issued, self.now - r.issued);
        self.record(issued, lat);
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
