//! txqlab against what a user would use instead, measured side by side in one run (issue 13 §1):
//!
//! - `mq_link`: N open-loop flows through an 8-queue `mq` with `fq_codel` children (`qdisc::sched`) and one
//!   rate-limited link, on a small event loop. Its twin is `benches/peers/mq_fq_codel_link.cc` on ns-3's event
//!   core and traffic-control objects: same constants, same event order. The outcome (drops, sojourn
//!   percentiles, per-queue shares) and the speed are printed as `PEERS ...` lines that `benches/peers/run.sh`
//!   sets beside ns-3's.
//! - `admission`: nic-model's exact token bucket against `governor` (GCRA) on the same stream of decision times.
//! - `ring`: nic-model's ENA TX ring against rust-vmm `virtio-queue` (a different device: a split virtqueue),
//!   each adding, consuming and completing 64 single-descriptor packets per round.
//!
//! Run: `cargo bench -p txqlab-benches --bench peers` (or `benches/peers/run.sh` for the ratio table).

#![allow(missing_docs)]

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use governor::clock::Clock;
use governor::nanos::Nanos;
use governor::{Quota, RateLimiter};
use nic_model::shaper::TokenBucket;
use qdisc::sched::{ETH_HLEN, FqCodel, FqCodelConfig, Mq, QPkt, Qdisc, psched_mtu};
use std::sync::atomic::Ordering;
use virtio_queue::desc::RawDescriptor;
use virtio_queue::desc::split::{Descriptor as SplitDescriptor, VirtqUsedElem};
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

type BoxError = Box<dyn std::error::Error>;

/// The mq + fq_codel + link workload; the constants are those of `mq_fq_codel_link.cc`.
mod mq_link {
    use super::*;

    pub const QUEUES: u16 = 8;
    pub const FLOWS: u32 = 32;
    pub const PKT_BYTES: u32 = 1500;
    pub const LINK_BPS: u64 = 100_000_000;
    pub const TX_NS: u64 = PKT_BYTES as u64 * 8 * 1_000_000_000 / LINK_BPS;
    pub const BASE_PERIOD_NS: u64 = 15_710_000;
    pub const DURATION_NS: u64 = 20_000_000_000;
    /// fq_codel's `limit` is 10240 packets; the pool needs one slot more for the packet that overflows it.
    pub const CAP: usize = 10_248;
    const LINK_DONE: u32 = u32::MAX;

    pub type Child = FqCodel<1024, CAP>;

    pub fn signature() -> String {
        format!(
            "queues={QUEUES} flows={FLOWS} pkt={PKT_BYTES} link_bps={LINK_BPS} base_period_ns={BASE_PERIOD_NS} duration_ns={DURATION_NS}"
        )
    }

    fn flow_period(f: u32) -> u64 {
        BASE_PERIOD_NS / (1 + (f % QUEUES as u32) as u64)
    }

    /// Per-flow xorshift64 jitter: each gap is period x [3/4, 5/4).
    fn next_gap(x: &mut u64, period: u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        period - period / 4 + *x % (period / 2)
    }

    #[derive(Debug, Default)]
    pub struct Outcome {
        pub arrivals: u64,
        pub sent: u64,
        pub drops: u64,
        pub drops_overlimit: u64,
        pub drops_codel: u64,
        pub backlog_end: u64,
        pub sojourn_ns: Vec<u64>,
        pub sent_per_queue: [u64; QUEUES as usize],
    }

    /// The kernel's fq_codel defaults (`fq_codel_init`), as the ns-3 side sets them explicitly.
    pub fn build() -> Result<Box<Mq<Child, { QUEUES as usize }>>, BoxError> {
        Ok(Box::new(Mq::new(1, QUEUES, |_| {
            Child::new(FqCodelConfig::default(), psched_mtu(1500, ETH_HLEN))
        })?))
    }

    /// The event core of txqlab's simulator (`txqlab/src/sim`): a binary heap ordered by (time, sequence) for
    /// events at arbitrary times, and a lane beside it for the one fixed-delay event (the link's completion),
    /// merged by (time, sequence). Events at the same time run in the order they were scheduled, as in ns-3.
    struct Sim {
        /// Arrivals: `(time << 64) | (sequence << 32) | flow`, smallest first.
        heap: BinaryHeap<Reverse<u128>>,
        /// The link's completion, `(time, sequence)`, if the link is busy.
        link_done: Option<(u64, u64)>,
        seq: u64,
        last_queue: u16,
    }

    impl Sim {
        fn schedule_arrival(&mut self, at: u64, flow: u32) {
            self.seq += 1;
            self.heap.push(Reverse(
                ((at as u128) << 64) | ((self.seq as u128) << 32) | flow as u128,
            ));
        }

        fn schedule_link_done(&mut self, at: u64) {
            self.seq += 1;
            self.link_done = Some((at, self.seq));
        }

        /// The next event: `(time, flow)` or `(time, LINK_DONE)`.
        fn next(&mut self) -> Option<(u64, u32)> {
            let top = self.heap.peek().map(|r| r.0);
            match (top, self.link_done) {
                (Some(k), Some((t, seq))) if ((t as u128) << 64 | (seq as u128) << 32) < k => {
                    self.link_done = None;
                    Some((t, LINK_DONE))
                }
                (Some(k), _) => {
                    self.heap.pop();
                    Some(((k >> 64) as u64, k as u32))
                }
                (None, Some((t, _))) => {
                    self.link_done = None;
                    Some((t, LINK_DONE))
                }
                (None, None) => None,
            }
        }
    }

    /// The link: when idle, serve the TX queues round robin, one packet per turn, `TX_NS` per packet.
    fn kick(
        s: &mut Sim,
        mq: &mut Mq<Child, { QUEUES as usize }>,
        o: &mut Outcome,
        now: u64,
    ) -> Result<(), BoxError> {
        if s.link_done.is_some() {
            return Ok(());
        }
        for i in 1..=QUEUES {
            let q = (s.last_queue + i) % QUEUES;
            let child = mq.child_mut(q).ok_or("mq child missing")?;
            if let Some(p) = child.dequeue(now, &mut |_| {}) {
                o.sojourn_ns.push(now - p.enqueue_ns);
                o.sent += 1;
                o.sent_per_queue[q as usize] += 1;
                s.last_queue = q;
                s.schedule_link_done(now + TX_NS);
                return Ok(());
            }
        }
        Ok(())
    }

    /// One whole run: build the qdiscs, simulate `DURATION_NS`, collect the outcome.
    pub fn run() -> Result<Outcome, BoxError> {
        let mut mq = build()?;
        let mut o = Outcome {
            sojourn_ns: Vec::with_capacity((DURATION_NS / TX_NS) as usize + 16),
            ..Outcome::default()
        };
        let mut s = Sim {
            heap: BinaryHeap::with_capacity(FLOWS as usize + 4),
            link_done: None,
            seq: 0,
            last_queue: QUEUES - 1,
        };
        let mut rng: Vec<u64> = (0..FLOWS)
            .map(|f| 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(f as u64 + 1))
            .collect();
        for f in 0..FLOWS {
            let first = next_gap(&mut rng[f as usize], flow_period(f)) % flow_period(f);
            s.schedule_arrival(first, f);
        }
        while let Some((now, ev)) = s.next() {
            if now >= DURATION_NS {
                break;
            }
            if ev != LINK_DONE {
                let f = ev;
                o.arrivals += 1;
                let pkt = QPkt {
                    len: PKT_BYTES,
                    // fq_codel's bucket is reciprocal_scale(hash, 1024) = hash >> 22: flow f in bucket f, as on
                    // the ns-3 side (whose bucket is hash % 1024).
                    hash: f << 22,
                    tag: o.arrivals,
                    ..QPkt::default()
                };
                mq.enqueue((f % QUEUES as u32) as u16, pkt, now, &mut |_| {});
                let gap = next_gap(&mut rng[f as usize], flow_period(f));
                if now + gap < DURATION_NS {
                    s.schedule_arrival(now + gap, f);
                }
            }
            kick(&mut s, &mut mq, &mut o, now)?;
        }
        let st = mq.stats();
        o.drops = st.drops;
        o.backlog_end = st.qlen;
        for q in 0..QUEUES {
            let c = mq.child(q).ok_or("mq child missing")?;
            o.drops_overlimit += c.xstats().drop_overlimit;
            o.drops_codel += c.xstats().codel_drops;
        }
        Ok(o)
    }

    /// Nearest rank, as on the ns-3 side.
    pub fn pct(sorted: &[u64], per_mille: u64) -> u64 {
        if sorted.is_empty() {
            return 0;
        }
        let rank = (sorted.len() as u64 * per_mille).div_ceil(1000);
        sorted[rank.saturating_sub(1) as usize]
    }

    /// Nanoseconds this thread has spent on a CPU (the first field of `/proc/thread-self/schedstat`): the per-core
    /// measure, which the load of other processes does not inflate. The ns-3 program reads the same file.
    fn on_cpu_ns() -> Result<u64, BoxError> {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat")?;
        Ok(s.split_whitespace()
            .next()
            .ok_or("/proc/thread-self/schedstat is empty")?
            .parse()?)
    }

    /// Prints the outcome and the best-of-`reps` speed as `PEERS` lines (the same method as the ns-3 program).
    pub fn report(reps: u32) -> Result<(), BoxError> {
        println!("PEERS workload {}", signature());
        let (mut best, mut best_cpu) = (f64::MAX, f64::MAX);
        let mut last = Outcome::default();
        for rep in 0..reps {
            let c0 = on_cpu_ns()?;
            let t0 = Instant::now();
            let o = run()?;
            let secs = t0.elapsed().as_secs_f64();
            let cpu = (on_cpu_ns()? - c0) as f64 / 1e9;
            best = best.min(secs);
            best_cpu = best_cpu.min(cpu);
            println!(
                "PEERS run {rep} wall_s {secs:.6} cpu_s {cpu:.6} arrivals {}",
                o.arrivals
            );
            last = o;
        }
        let mut o = last;
        o.sojourn_ns.sort_unstable();
        println!("PEERS arrivals {}", o.arrivals);
        println!("PEERS sent {}", o.sent);
        println!("PEERS drops {}", o.drops);
        println!("PEERS drops_overlimit {}", o.drops_overlimit);
        println!("PEERS drops_codel {}", o.drops_codel);
        println!("PEERS backlog_end {}", o.backlog_end);
        for (name, pm) in [("p50", 500), ("p90", 900), ("p99", 990)] {
            println!("PEERS sojourn_{name}_ns {}", pct(&o.sojourn_ns, pm));
        }
        for (q, n) in o.sent_per_queue.iter().enumerate() {
            let share = if o.sent == 0 {
                0.0
            } else {
                *n as f64 / o.sent as f64
            };
            println!("PEERS share_q{q} {share:.4}");
        }
        println!("PEERS packets_per_wall_s {:.0}", o.arrivals as f64 / best);
        println!("PEERS best_wall_s {best:.6}");
        println!(
            "PEERS packets_per_cpu_s {:.0}",
            o.arrivals as f64 / best_cpu
        );
        println!("PEERS best_cpu_s {best_cpu:.6}");
        Ok(())
    }
}

/// governor's clock, set by the stream rather than read from the system: the same explicit time the
/// nic-model bucket is given.
struct StreamClock<'a>(&'a Cell<u64>);

impl Clock for StreamClock<'_> {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(self.0.get())
    }
}

/// Admission stream: one decision every `GAP_NS`, 1.43 M decisions/s offered against 1 M/s with a burst of
/// 10 000, so the bucket is soon empty and about 70 % of decisions pass.
mod admission {
    pub const RATE: u32 = 1_000_000;
    pub const BURST: u32 = 10_000;
    pub const GAP_NS: u64 = 700;
    pub const N: u64 = 1024;
}

fn admitted_over_stream(decisions: u64) -> Result<(u64, u64), BoxError> {
    use admission::*;
    let mut tb = TokenBucket::new("peers.admission", RATE as u64, BURST as u64)?;
    let now = Cell::new(0u64);
    let quota = Quota::per_second(RATE.try_into()?).allow_burst(BURST.try_into()?);
    let gov = RateLimiter::direct_with_clock(quota, StreamClock(&now));
    let (mut a, mut b) = (0u64, 0u64);
    for i in 1..=decisions {
        let t = i * GAP_NS;
        now.set(t);
        a += tb.try_take(t, 1) as u64;
        b += gov.check().is_ok() as u64;
    }
    Ok((a, b))
}

fn bench_admission(c: &mut Criterion) -> Result<(), BoxError> {
    use admission::*;
    let (a, b) = admitted_over_stream(1_000_000)?;
    println!("PEERS admission_admitted_of_1000000 txqlab {a} governor {b}");
    let mut g = c.benchmark_group("peers_admission");
    g.throughput(Throughput::Elements(N));

    let mut tb = TokenBucket::new("peers.admission", RATE as u64, BURST as u64)?;
    let mut t = 0u64;
    g.bench_function("txqlab_token_bucket", |bch| {
        bch.iter(|| {
            let mut passed = 0u32;
            for _ in 0..N {
                t += GAP_NS;
                passed += tb.try_take(black_box(t), 1) as u32;
            }
            passed
        })
    });

    let now = Cell::new(0u64);
    let quota = Quota::per_second(RATE.try_into()?).allow_burst(BURST.try_into()?);
    let gov = RateLimiter::direct_with_clock(quota, StreamClock(&now));
    let mut t = 0u64;
    g.bench_function("governor_direct", |bch| {
        bch.iter(|| {
            let mut passed = 0u32;
            for _ in 0..N {
                t += GAP_NS;
                now.set(black_box(t));
                passed += gov.check().is_ok() as u32;
            }
            passed
        })
    });
    g.finish();
    Ok(())
}

const RING_BATCH: u16 = 64;

/// The same round on a virtio split queue of 256 entries, device side by `virtio_queue::Queue`: the driver writes
/// 64 one-descriptor chains and their avail entries into guest memory and publishes the avail index once
/// (release); the device pops each chain, walks its descriptor and adds it to the used ring; the driver reads the
/// used index (acquire) and the 64 used elements back (its completions).
///
/// The driver side writes the rings itself rather than through `virtio_queue::mock::MockSplitQueue`: in 0.18.0
/// the mock places the used ring `len` bytes after the avail ring's start (`SplitQueueRing::end` adds the element
/// count, not its size in bytes), so on a 256-entry queue the used ring overwrites avail entries 126 and up, and
/// after a few rounds the device pops a used index as a chain head (`add_used` then refuses it). Its tests use
/// few chains, so they never reach that half of the ring. Upstream: rust-vmm/vm-virtio pull request 400, moved to
/// rust-vmm/rust-vmm pull request 149.
struct VirtioRound<'a> {
    queue: Queue,
    mem: &'a GuestMemoryMmap,
    avail_idx: u16,
    used_seen: u16,
}

const VQ_SIZE: u16 = 256;
const VQ_DESC: u64 = 0x0;
const VQ_AVAIL: u64 = 0x1000;
const VQ_USED: u64 = 0x2000;
const VQ_BUFFERS: u64 = 0x10_0000;

impl<'a> VirtioRound<'a> {
    fn new(mem: &'a GuestMemoryMmap) -> Result<Self, BoxError> {
        let mut queue = Queue::new(VQ_SIZE)?;
        queue.set_size(VQ_SIZE);
        queue.set_desc_table_address(Some(VQ_DESC as u32), Some(0));
        queue.set_avail_ring_address(Some(VQ_AVAIL as u32), Some(0));
        queue.set_used_ring_address(Some(VQ_USED as u32), Some(0));
        queue.set_ready(true);
        if !queue.is_valid(mem) {
            return Err("virtio queue layout refused".into());
        }
        Ok(Self {
            queue,
            mem,
            avail_idx: 0,
            used_seen: 0,
        })
    }

    fn round(&mut self) -> Result<u64, BoxError> {
        let mem = self.mem;
        for i in 0..RING_BATCH {
            let slot = self.avail_idx.wrapping_add(i) % VQ_SIZE;
            let desc = SplitDescriptor::new(VQ_BUFFERS + slot as u64 * 0x800, 1448, 0, 0);
            mem.write_obj(
                RawDescriptor::from(desc),
                GuestAddress(VQ_DESC + slot as u64 * 16),
            )?;
            mem.write_obj(
                black_box(slot).to_le(),
                GuestAddress(VQ_AVAIL + 4 + slot as u64 * 2),
            )?;
        }
        self.avail_idx = self.avail_idx.wrapping_add(RING_BATCH);
        mem.store(
            self.avail_idx.to_le(),
            GuestAddress(VQ_AVAIL + 2),
            Ordering::Release,
        )?;

        let mut bytes = 0u64;
        while let Some(chain) = self.queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let mut len = 0u32;
            for d in chain {
                len += d.len();
            }
            bytes += len as u64;
            self.queue.add_used(mem, head, len)?;
        }

        let used = u16::from_le(mem.load(GuestAddress(VQ_USED + 2), Ordering::Acquire)?);
        while self.used_seen != used {
            let e: VirtqUsedElem = mem.read_obj(GuestAddress(
                VQ_USED + 4 + (self.used_seen % VQ_SIZE) as u64 * 8,
            ))?;
            black_box(e);
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        Ok(bytes)
    }
}

fn bench_ring(c: &mut Criterion) -> Result<(), BoxError> {
    let mut g = c.benchmark_group("peers_ring");
    g.throughput(Throughput::Elements(RING_BATCH as u64));

    // nic-model's round as in `ring.rs`: 64 xmits, one doorbell, the device consumes 64, the driver cleans 64.
    let pkts = txqlab_benches::ring_packets();
    let mut q = txqlab_benches::ring_queue(nic_model::llq::Placement::Host);
    if txqlab_benches::ring_round(&mut q, &pkts) != 64 * 1448 {
        return Err("nic-model round moved the wrong number of bytes".into());
    }
    g.bench_with_input(
        BenchmarkId::new("add_consume_complete_64", "txqlab_ena_host"),
        &pkts,
        |b, p| b.iter(|| txqlab_benches::ring_round(&mut q, p)),
    );
    // The same round under LLQ (128-byte lines, 96 bytes pushed inline), the 6.1 driver's default on Nitro.
    let mut q_llq = txqlab_benches::ring_queue(nic_model::llq::Placement::Llq(
        nic_model::llq::LlqConfig::default(),
    ));
    if txqlab_benches::ring_round(&mut q_llq, &pkts) != 64 * 1448 {
        return Err("nic-model LLQ round moved the wrong number of bytes".into());
    }
    g.bench_with_input(
        BenchmarkId::new("add_consume_complete_64", "txqlab_ena_llq128"),
        &pkts,
        |b, p| b.iter(|| txqlab_benches::ring_round(&mut q_llq, p)),
    );

    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x20_0000)])?;
    let mut v = VirtioRound::new(&mem)?;
    if v.round()? != 64 * 1448 {
        return Err("virtio round moved the wrong number of bytes".into());
    }
    let mut err = None;
    g.bench_function(
        BenchmarkId::new("add_consume_complete_64", "virtio_queue_split"),
        |b| {
            b.iter(|| match v.round() {
                Ok(n) => n,
                Err(e) => {
                    err.get_or_insert(e.to_string());
                    0
                }
            })
        },
    );
    g.finish();
    match err {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn bench_mq_link(c: &mut Criterion) -> Result<(), BoxError> {
    let arrivals = mq_link::run()?.arrivals;
    let mut g = c.benchmark_group("peers_mq_fq_codel_link");
    g.sample_size(10);
    g.throughput(Throughput::Elements(arrivals));
    let mut err = None;
    g.bench_function("txqlab_20s_simulated", |b| {
        b.iter(|| match mq_link::run() {
            Ok(o) => o.arrivals,
            Err(e) => {
                err.get_or_insert(e.to_string());
                0
            }
        })
    });
    g.finish();
    match err {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn benches(c: &mut Criterion) {
    for r in [bench_admission(c), bench_ring(c), bench_mq_link(c)] {
        if let Err(e) = r {
            eprintln!("peers: {e}");
            std::process::exit(1);
        }
    }
}

criterion_group!(peer_benches, benches);

fn main() {
    // The mq's children are large (a 10 248-slot pool each) and built by value: run on a thread with room.
    let worker = std::thread::Builder::new().stack_size(256 << 20).spawn(|| {
        // Repetitions of the mq_link run (best taken), as many as the ns-3 side runs: run.sh sets both. Under
        // `cargo test` (no `--bench` argument, criterion's test mode) one run is enough.
        let bench_mode = std::env::args().any(|a| a == "--bench");
        let reps = std::env::var("PEERS_REPS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(if bench_mode { 7 } else { 1 });
        if let Err(e) = mq_link::report(reps) {
            eprintln!("peers: mq_link: {e}");
            std::process::exit(1);
        }
        peer_benches();
        Criterion::default().configure_from_args().final_summary();
    });
    match worker.map(|h| h.join()) {
        Ok(Ok(())) => {}
        _ => {
            eprintln!("peers: the benchmark thread failed");
            std::process::exit(1);
        }
    }
}
