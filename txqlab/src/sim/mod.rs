//! The discrete-event simulation of one stage: clients -> sidecar proxy (CFS quota) -> TCP flows -> veth ->
//! TX-queue selection (kernel profile) -> per-queue qdisc -> ENA TX ring -> device -> hypervisor shaper -> wire
//! -> remote cache -> responses back through the inbound allowance -> proxy -> client.
//!
//! Time is integer nanoseconds in the `Ns` newtype (`time.rs`), from the event queue to every component; every
//! random draw comes from seeded generators, so a stage run twice gives the same result. The same seed is used for
//! every stage (common random numbers): stages differ only by mechanism.
//!
//! Files: `events.rs` (the event type and the ordered queue), `clients.rs` (arrivals, timeouts, retries, latency),
//! `proxy.rs` (the sidecar's CFS-limited CPU), `connections.rs` and `tcp.rs` (TCP of both directions), `node.rs`
//! and `txpath.rs` (the node's egress: qdisc, ring, device, shaper), `others.rs` (other pods' egress on the same
//! path), `remote.rs` (the remote cache and its NIC), `result.rs` (measurements), `time.rs` (the time newtype).
//! This file holds the state and the dispatch.
//!
//! Both directions of every connection run Linux's loss recovery (`tcp.rs`: one retransmission timer, RACK, tail
//! loss probes, fast recovery). The client's ACKs of response data cross the node's TX path like any packet
//! (selection, qdisc, ring, device, shaper), so a congested TX queue slows the remote's ACK clock.
//!
//! Simplifications, each stated where it is made: a request is one batched message (its queries share its
//! latency) sent as one GSO packet; the proxy is a fluid FIFO of CPU work; the RX ring is not simulated (inbound
//! segments are shaped by the hypervisor and then delivered); the remote's ACKs of request data are not shaped
//! (one 66-byte packet per request, next to 64 KB of response).

mod clients;
mod connections;
mod events;
pub mod jiffies;
mod node;
mod others;
mod proxy;
mod remote;
mod result;
pub mod tcp;
pub mod time;
pub mod txpath;

pub use result::{SecondPoint, StageResult};

use std::collections::VecDeque;

use hdrhistogram::Histogram;
use nic_model::shaper::{Direction, Shaper, Verdict};
use qdisc::sched::{QPkt, Qdisc};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp};
use rand_pcg::Pcg64Mcg;

use crate::error::{Error, Result};
use crate::scenario::Params;
use clients::rate_schedule;
use events::{Events, Kind, Lane};
use proxy::Cfs;
use remote::Instance;
use tcp::{AckNow, Actions, Payload, TcpReceiver, TcpSender, TlpFloor};
use time::Ns;
use txpath::{Selection, TxPath};

const SEC: u64 = 1_000_000_000;
/// Bytes of an ACK on the wire (Ethernet + IP + TCP with timestamps).
const ACK_BYTES: u32 = 66;
/// Bytes of headers added to each data segment.
const HDR_BYTES: u32 = 52 + 14;

#[derive(Clone, Copy, Debug, Default)]
struct Req {
    issued: Ns,
    /// When the current attempt was handed to the proxy.
    attempt_start: Ns,
    attempt: u8,
    flow: u16,
    done: bool,
    /// A warming pod's read (it holds one of the pod's slots until it is answered or given up).
    warm: bool,
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
    remote_link_free: Ns,
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
pub fn run_stage(name: &str, p: &Params, progress: impl FnMut(f64) + Send) -> Result<StageResult> {
    // Parameters that did not come through a scenario file are checked here: nothing invalid reaches the model.
    crate::scenario::validate(p).map_err(|invalid| Error::StageInvalid {
        stage: name.to_string(),
        invalid,
    })?;
    run_stage_here(name, p, progress)
}

fn run_stage_here(name: &str, p: &Params, mut progress: impl FnMut(f64)) -> Result<StageResult> {
    let mut s = Sim::new(name, p)?;
    let end = s.end;
    let mut next_tick = Ns::SECOND;
    s.ev.push(Ns::ZERO, Kind::Arrival { issue: false });
    for source in 0..others::SOURCES as u8 {
        s.next_burst(source);
    }
    while let Some((t, kind)) = s.ev.pop() {
        if t > end {
            break;
        }
        while t >= next_tick {
            s.now = next_tick;
            s.second_tick();
            progress(next_tick.0 as f64 / end.0 as f64);
            next_tick = next_tick + Ns::SECOND;
        }
        s.now = t;
        s.dispatch(kind);
    }
    let last_tick = Ns(end.0.div_ceil(SEC) * SEC);
    while next_tick <= last_tick {
        s.now = next_tick;
        s.second_tick();
        next_tick = next_tick + Ns::SECOND;
    }
    progress(1.0);
    Ok(s.finish(end))
}

struct Sim<'a> {
    name: String,
    p: &'a Params,
    now: Ns,
    /// End of the stage.
    end: Ns,
    ev: Events,
    /// Reused for the packets a qdisc drops during one call (no allocation per packet).
    drop_buf: Vec<u64>,
    actions: Actions,
    rng: Pcg64Mcg,
    svc_exp: Exp<f64>,
    cfs: Cfs,
    pending: usize,
    proxy_queue: VecDeque<(u32, bool)>,
    /// Client timeouts started and not yet expired, in time order: (when, place in the event order, request,
    /// attempt).
    timeouts_due: VecDeque<(Ns, u64, u32, u8)>,
    /// Whether a `Timeout` event is queued for the front of `timeouts_due`.
    timeout_armed: bool,
    proxy_busy: bool,
    reqs: Vec<Req>,
    flows: Vec<Flow>,
    instances: Vec<Instance>,
    next_flow: usize,
    sel: Selection,
    /// The node's root qdisc: mq with one child per TX queue.
    qdiscs: Box<txpath::Qdiscs>,
    /// Each TX queue's ring and device.
    queues: Vec<TxPath>,
    shaper: Box<Shaper<1024>>,
    terminating: Vec<(Ns, Ns, u32)>,
    /// Other pods' traffic sources.
    others: [others::Source; others::SOURCES],
    /// The client request rate: (from this time, requests/s), in time order.
    rates: Vec<clients::Rate>,
    rate_idx: usize,
    /// Warm-up reads in flight, and those not started because every slot of the warming pods was busy.
    warm_inflight: u64,
    warm_held_back: u64,
    /// Segments of one response.
    resp_segs: u16,
    // Measurements.
    all: Histogram<u64>,
    rollout: Histogram<u64>,
    outside: Histogram<u64>,
    attempt_rollout: Histogram<u64>,
    attempt_outside: Histogram<u64>,
    /// Latency per simulated second (by completion time).
    series: Vec<Histogram<u64>>,
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
    /// Builds every component of the stage. Longer than 80 lines because it is the one place every field of the
    /// simulation is initialised (a struct literal of about 50 fields); the parts with logic of their own are
    /// helpers (`connections::open`, `rate_schedule`, `remote::termination_schedule`, `txpath::qdiscs`).
    fn new(name: &str, p: &'a Params) -> Result<Self> {
        let sel = Selection::new(p)?;
        let mut rng = Pcg64Mcg::seed_from_u64(p.seed);
        let node_floor = TlpFloor::of(sel.kernel());
        let remote_floor = match &p.remote.kernel_release {
            Some(r) => TlpFloor::of(&qdisc::KernelProfile::from_release(r).map_err(|source| {
                Error::Qdisc {
                    field: "remote.kernel_release",
                    source,
                }
            })?),
            None => node_floor,
        };
        let flows = connections::open(p, (node_floor, remote_floor), &mut rng);
        // The device MTU is the MSS plus 52 bytes of IP and TCP headers (9001 for the incident's 8949).
        let qdiscs = txpath::qdiscs(&p.nic, p.network.mss.saturating_add(52))?;
        let queues = (0..p.nic.queues)
            .map(|_| TxPath::new(&p.nic))
            .collect::<Result<Vec<_>, _>>()?;
        let shaper = txpath::shaper(&p.allowance)?;
        // The rollout's pod starts and its terminations draw from a generator of their own, so that the rest of
        // the run does not shift with their count.
        let mut trng = Pcg64Mcg::seed_from_u64(p.seed ^ 0x7465_726d_696e_6174);
        let rates = rate_schedule(p, &mut trng);
        let terminating = remote::termination_schedule(p, &mut trng);
        let others = others::open(p, &sel, flows.len());
        let duration_s = p.duration_s.ceil() as usize;
        let mut s = Self {
            name: name.to_string(),
            p,
            now: Ns::ZERO,
            end: Ns::from_secs_f64(p.duration_s),
            ev: Events::default(),
            drop_buf: Vec::new(),
            actions: Actions::default(),
            rng,
            svc_exp: Exp::new(1.0 / p.remote.service_mean_ms.max(1e-6)).map_err(|e| {
                Error::Distribution {
                    field: "remote.service_mean_ms",
                    detail: e.to_string(),
                }
            })?,
            cfs: Cfs::new(
                p.proxy.cores,
                Ns::from_ms(p.proxy.cfs_period_ms),
                p.proxy.threads as u64,
            ),
            pending: 0,
            proxy_queue: VecDeque::new(),
            timeouts_due: VecDeque::new(),
            timeout_armed: false,
            proxy_busy: false,
            reqs: Vec::new(),
            flows,
            instances: (0..p.remote.instances)
                .map(|_| Instance::default())
                .collect(),
            next_flow: 0,
            sel,
            qdiscs,
            queues,
            shaper: Box::new(shaper),
            terminating,
            rates,
            rate_idx: 0,
            warm_inflight: 0,
            warm_held_back: 0,
            others,
            resp_segs: p.remote.response_bytes.div_ceil(p.network.mss).max(1) as u16,
            all: hist(),
            rollout: hist(),
            outside: hist(),
            attempt_rollout: hist(),
            attempt_outside: hist(),
            series: (0..duration_s).map(|_| hist_coarse()).collect(),
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
            s.flows[f].queue = s.sel.queue(s.flows[f].hash, f, Ns::ZERO);
        }
        Ok(s)
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
            Kind::DelayedAck { flow } => self.on_delayed_ack(flow),
            Kind::Timeout => self.on_timeouts(),
            Kind::BackgroundBurst { source } => self.on_burst(source),
            Kind::BackgroundPacket { source, left } => self.on_other_packet(source, left),
        }
    }

    fn finish(mut self, end: Ns) -> StageResult {
        // Requests still open at the end count with the time they have waited so far (they are the tail).
        let open: Vec<(Ns, Ns)> = self
            .reqs
            .iter()
            .filter(|r| !r.done)
            .map(|r| (r.issued, end.saturating_sub(r.issued)))
            .collect();
        for (issued, lat) in open {
            if lat >= Ns::from_ms(self.p.clients.timeout_ms) {
                self.record(issued, lat);
            }
        }
        result::build(&self)
    }
}

/// Runs independent stage runs on all cores (std threads taking the next job from a shared counter); results come
/// back in job order. `done` is called with the number of finished jobs.
pub fn run_parallel(
    jobs: &[(String, Params)],
    done: &(dyn Fn(usize) + Sync),
) -> Result<Vec<StageResult>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<StageResult>>>> =
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
        .map_err(|_| Error::SimThread("panicked"))?;
    v.into_iter()
        .map(|r| r.unwrap_or(Err(Error::SimThread("did not finish"))))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::scenario::{QdiscKind, Scenario};

    #[test]
    fn a_stage_runs_on_a_default_thread_stack() {
        // The model structures are allocated on the heap: a thread with std's default 2 MiB stack (set explicitly,
        // so that RUST_MIN_STACK cannot raise it) runs a stage with either child qdisc; so does one of 512 KiB,
        // less than one fq_codel child (about 700 KB). (The stage ran on a 64 MiB thread of its own before.)
        let s = Scenario::incident().unwrap();
        let mut p = s
            .stage(s.stage_index("kernel-fix").unwrap())
            .unwrap()
            .params;
        p.duration_s = 2.0;
        for (kind, stack) in [
            (QdiscKind::FqCodel, 2 << 20),
            (QdiscKind::PfifoFast, 2 << 20),
            (QdiscKind::FqCodel, 512 << 10),
        ] {
            let mut p = p.clone();
            p.nic.qdisc = kind;
            let r = std::thread::Builder::new()
                .stack_size(stack)
                .spawn(move || run_stage("stack", &p, |_| {}))
                .unwrap()
                .join()
                .unwrap()
                .unwrap();
            assert!(
                r.packets_simulated > 10_000,
                "{kind:?}: {}",
                r.packets_simulated
            );
        }
    }
}
