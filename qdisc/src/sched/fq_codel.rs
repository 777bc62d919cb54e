//! `fq_codel` (`net/sched/sch_fq_codel.c`): packets hashed into flow buckets, deficit round robin over a list of
//! new flows (served first) and old flows, CoDel on each flow's queue, and when the qdisc is over its packet or
//! memory limit, a batch drop from the head of the fattest flow (up to half its backlog, at most `drop_batch`
//! packets).
//!
//! The device enters through `psched_mtu` (`FqCodel::new`): it sets the DRR quantum (unless configured) and
//! CoDel's "at most one MTU queued never drops" threshold, as `fq_codel_init` does. ECN is on by default
//! (`q->cparams.ecn = true`): an ECN-capable packet CoDel would drop is marked CE and sent, counted as `ecn_mark`.
//!
//! Storage is a fixed pool of `CAP` packet slots linked per flow, and `F` flow buckets: no allocation. The all-zero
//! value ([`FromZeros`]) is an fq_codel not yet set up, which drops every packet: allocate it zeroed (on the heap,
//! `FromZeros::new_box_zeroed`) and set it up in place with [`FqCodel::init`], as `fq_codel_init` fills the
//! `struct fq_codel_sched_data` that `qdisc_alloc` zeroed.
//! Assumption, documented: a packet's memory charge (`skb->truesize`) is its length plus 576 bytes of `sk_buff`
//! and shared-info overhead, rounded up to 64 bytes.

use core::fmt;

use zerocopy::FromZeros;

use super::codel::{CodelParams, CodelQueue, CodelStats, CodelVars, codel_dequeue};
use super::fifo::{Fifo, Held};
use super::{EnqueueResult, QPkt, Qdisc, QdiscStats};
use crate::hash::reciprocal_scale;
use crate::{Error, Result};

/// A link to a packet slot: slot `i` is `i + 1`, and 0 is none (so that zeroed storage links nothing).
const NIL: u32 = 0;

#[inline]
fn slot_index(link: u32) -> usize {
    link.wrapping_sub(1) as usize
}

/// The largest quantum (`FQ_CODEL_QUANTUM_MAX`, `net/sched/sch_fq_codel.c`).
pub const FQ_CODEL_QUANTUM_MAX: u32 = 1 << 20;

/// `tc qdisc add ... fq_codel` parameters, with the kernel's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FqCodelConfig {
    /// Packets at most (`limit`, default 10240).
    pub limit: u32,
    /// Flow buckets (`flows`, default 1024).
    pub flows: u32,
    /// DRR quantum in bytes (`quantum`); `None`: the device's `psched_mtu` (1514 at MTU 1500, 9015 at ENA's
    /// 9001), clamped to 256..=`FQ_CODEL_QUANTUM_MAX` (`fq_codel_init`). A configured quantum below 256 is
    /// raised to 256 and one above the maximum is an error (`fq_codel_change`).
    pub quantum: Option<u32>,
    /// CoDel's acceptable standing delay (`target`, default 5 ms).
    pub target_ns: u64,
    /// CoDel's interval (`interval`, default 100 ms).
    pub interval_ns: u64,
    /// Mark ECN-capable packets CE instead of dropping them (`ecn`, default on; `noecn` turns it off).
    pub ecn: bool,
    /// Memory limit in bytes (`memory_limit`, default 32 MiB).
    pub memory_limit: u64,
    /// Packets dropped at most per overlimit event (`drop_batch`, default 64).
    pub drop_batch: u32,
}

impl Default for FqCodelConfig {
    fn default() -> Self {
        Self {
            limit: 10240,
            flows: 1024,
            quantum: None,
            target_ns: 5_000_000,
            interval_ns: 100_000_000,
            ecn: true,
            memory_limit: 32 << 20,
            drop_batch: 64,
        }
    }
}

/// fq_codel's own statistics (`tc -s` prints them under the counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, FromZeros)]
pub struct FqCodelStats {
    /// Largest packet CoDel has looked at, at dequeue (`q->cstats.maxpacket`, set in `codel_should_drop`).
    pub maxpacket: u32,
    /// Packets dropped because the qdisc was over its limit.
    pub drop_overlimit: u64,
    /// Of those, dropped because of the memory limit.
    pub drop_overmemory: u64,
    /// Flows that became active.
    pub new_flow_count: u64,
    /// Packets CoDel dropped.
    pub codel_drops: u64,
    /// Packets CoDel marked CE instead of dropping (`q->cstats.ecn_mark`).
    pub ecn_mark: u64,
}

#[derive(Debug, Clone, Copy, FromZeros)]
struct Slot {
    pkt: QPkt,
    next: u32,
}

/// One flow bucket (`struct fq_codel_flow`); zero is an empty, inactive flow (`fq_codel_init` leaves them so).
#[derive(Debug, Clone, Copy, Default, FromZeros)]
struct Flow {
    head: u32,
    tail: u32,
    backlog: u64,
    deficit: i64,
    active: bool,
    cvars: CodelVars,
}

/// What the qdisc keeps of its configuration (the quantum is kept resolved, CoDel's part in `cparams`).
#[derive(Debug, Clone, Copy, FromZeros)]
struct Limits {
    limit: u32,
    flows: u32,
    memory_limit: u64,
    drop_batch: u32,
}

/// fq_codel with `F` flow buckets of storage and `CAP` packet slots.
#[derive(FromZeros)]
pub struct FqCodel<const F: usize, const CAP: usize> {
    limits: Limits,
    quantum: u32,
    cparams: CodelParams,
    cstats: CodelStats,
    slots: [Slot; CAP],
    /// Freed slots, most recently freed first.
    free: u32,
    /// Slots `0..fresh` have been used; the rest are taken in order once `free` is empty.
    fresh: u32,
    flows: [Flow; F],
    new_flows: Fifo<u16, F>,
    old_flows: Fifo<u16, F>,
    memory: u64,
    requeued: Held,
    stats: QdiscStats,
    xstats: FqCodelStats,
}

fn truesize(len: u32) -> u64 {
    (len as u64 + 576).div_ceil(64) * 64
}

impl<const F: usize, const CAP: usize> FqCodel<F, CAP> {
    /// Builds the qdisc on a device whose `psched_mtu` is `psched_mtu` (see [`super::psched_mtu`]): as
    /// `fq_codel_init`, CoDel's mtu is `min(psched_mtu, FQ_CODEL_QUANTUM_MAX)` and the default quantum that
    /// clamped to at least 256. `flows` must fit `F`, and `limit` must leave a slot in `CAP` for the packet that
    /// overflows it.
    ///
    /// The value is built where the caller puts it (for large `F` and `CAP`, on the stack): allocate a zeroed one
    /// on the heap and [`init`](Self::init) it instead.
    pub fn new(cfg: FqCodelConfig, psched_mtu: u32) -> Result<Self> {
        let mut q = Self::new_zeroed();
        q.init(cfg, psched_mtu)?;
        Ok(q)
    }

    /// Sets the qdisc up in place, empty, as [`new`](Self::new) would build it (`fq_codel_init` on the zeroed
    /// private data `qdisc_alloc` made). On an error nothing is changed.
    pub fn init(&mut self, cfg: FqCodelConfig, psched_mtu: u32) -> Result<()> {
        if cfg.flows == 0 || cfg.flows as usize > F || cfg.flows > 65536 {
            return Err(Error::InvalidConfig {
                field: "fq_codel.flows",
                reason: "must be between 1 and the storage",
            });
        }
        if cfg.limit == 0 || cfg.limit as usize >= CAP || CAP >= u32::MAX as usize {
            return Err(Error::InvalidConfig {
                field: "fq_codel.limit",
                reason: "must be between 1 and the storage - 1",
            });
        }
        if cfg.quantum.is_some_and(|q| q > FQ_CODEL_QUANTUM_MAX) {
            return Err(Error::InvalidConfig {
                field: "fq_codel.quantum",
                reason: "must be at most FQ_CODEL_QUANTUM_MAX (1048576)",
            });
        }
        if cfg.drop_batch == 0 {
            return Err(Error::InvalidConfig {
                field: "fq_codel.drop_batch",
                reason: "must be > 0",
            });
        }
        if cfg.interval_ns == 0 {
            return Err(Error::InvalidConfig {
                field: "fq_codel.interval",
                reason: "must be > 0",
            });
        }
        let mtu = psched_mtu.min(FQ_CODEL_QUANTUM_MAX);
        self.zero();
        self.limits = Limits {
            limit: cfg.limit,
            flows: cfg.flows,
            memory_limit: cfg.memory_limit,
            drop_batch: cfg.drop_batch,
        };
        self.quantum = cfg.quantum.unwrap_or(mtu).max(256);
        self.cparams = CodelParams {
            target_ns: cfg.target_ns,
            interval_ns: cfg.interval_ns,
            mtu,
            ecn: cfg.ecn,
        };
        Ok(())
    }

    /// The configuration in use (`fq_codel_dump`), the quantum resolved.
    pub fn config(&self) -> FqCodelConfig {
        FqCodelConfig {
            limit: self.limits.limit,
            flows: self.limits.flows,
            quantum: Some(self.quantum),
            target_ns: self.cparams.target_ns,
            interval_ns: self.cparams.interval_ns,
            ecn: self.cparams.ecn,
            memory_limit: self.limits.memory_limit,
            drop_batch: self.limits.drop_batch,
        }
    }

    /// fq_codel's own statistics.
    pub fn xstats(&self) -> FqCodelStats {
        FqCodelStats {
            maxpacket: self.cstats.maxpacket,
            ecn_mark: self.cstats.ecn_mark,
            ..self.xstats
        }
    }

    /// The DRR quantum in use (`q->quantum`).
    pub fn quantum(&self) -> u32 {
        self.quantum
    }

    /// CoDel's parameters in use (`q->cparams`), with the mtu taken from the device.
    pub fn codel_params(&self) -> &CodelParams {
        &self.cparams
    }

    /// Active flows on the new and old lists.
    pub fn flows_len(&self) -> (usize, usize) {
        (self.new_flows.len(), self.old_flows.len())
    }

    fn push_tail(&mut self, idx: usize, pkt: QPkt) -> bool {
        let s = if self.free != NIL {
            let s = self.free;
            self.free = self.slots[slot_index(s)].next;
            s
        } else if (self.fresh as usize) < CAP {
            self.fresh += 1;
            self.fresh
        } else {
            return false;
        };
        self.slots[slot_index(s)] = Slot { pkt, next: NIL };
        let f = &mut self.flows[idx];
        if f.tail == NIL {
            f.head = s;
        } else {
            self.slots[slot_index(f.tail)].next = s;
        }
        f.tail = s;
        f.backlog += pkt.len as u64;
        true
    }

    /// Takes the head of flow `idx`, updating every counter of what is queued.
    fn pop_head(&mut self, idx: usize) -> Option<QPkt> {
        let f = &mut self.flows[idx];
        let s = f.head;
        if s == NIL {
            return None;
        }
        let slot = self.slots[slot_index(s)];
        f.head = slot.next;
        if f.head == NIL {
            f.tail = NIL;
        }
        f.backlog -= slot.pkt.len as u64;
        self.slots[slot_index(s)].next = self.free;
        self.free = s;
        self.stats.qlen -= 1;
        self.stats.backlog_bytes -= slot.pkt.len as u64;
        self.memory -= truesize(slot.pkt.len);
        Some(slot.pkt)
    }

    /// `fq_codel_drop`: drop from the head of the fattest flow until half its backlog or `drop_batch` packets
    /// are gone. Returns that flow.
    fn drop_fattest(&mut self, dropped: &mut dyn FnMut(&QPkt)) -> usize {
        let n = self.limits.flows as usize;
        let mut idx = 0;
        for i in 0..n {
            if self.flows[i].backlog > self.flows[idx].backlog {
                idx = i;
            }
        }
        let threshold = self.flows[idx].backlog / 2;
        let (mut len, mut i) = (0u64, 0u32);
        while let Some(p) = self.pop_head(idx) {
            len += p.len as u64;
            i += 1;
            dropped(&p);
            if i >= self.limits.drop_batch || len >= threshold {
                break;
            }
        }
        self.flows[idx].cvars.count += i;
        self.stats.drops += i as u64;
        self.xstats.drop_overlimit += i as u64;
        idx
    }
}

impl<const F: usize, const CAP: usize> FqCodel<F, CAP> {
    /// `codel_dequeue` on flow `idx` (`fq_codel_dequeue` hands it the flow's queue and CoDel state).
    fn codel_dequeue_flow(
        &mut self,
        idx: usize,
        now_ns: u64,
        dropped: &mut dyn FnMut(&QPkt),
    ) -> Option<QPkt> {
        let params = self.cparams;
        let mut cvars = self.flows[idx].cvars;
        let mut cstats = self.cstats;
        let mut drops = 0u64;
        let pkt = {
            let mut fq = FlowQueue { q: self, idx };
            codel_dequeue(
                &mut fq,
                &params,
                &mut cvars,
                &mut cstats,
                now_ns,
                &mut |p| {
                    drops += 1;
                    dropped(p)
                },
            )
        };
        self.flows[idx].cvars = cvars;
        self.cstats = cstats;
        self.stats.drops += drops;
        self.xstats.codel_drops += drops;
        pkt
    }
}

struct FlowQueue<'a, const F: usize, const CAP: usize> {
    q: &'a mut FqCodel<F, CAP>,
    idx: usize,
}

impl<const F: usize, const CAP: usize> CodelQueue for FlowQueue<'_, F, CAP> {
    fn pop(&mut self) -> Option<QPkt> {
        self.q.pop_head(self.idx)
    }
    fn backlog(&self) -> u64 {
        // `__fq_codel_dequeue` hands `codel_dequeue` the qdisc's backlog (`&sch->qstats.backlog`), which
        // `dequeue_func` decreases as each packet leaves: every flow's bytes, not this flow's.
        self.q.stats.backlog_bytes
    }
}

impl<const F: usize, const CAP: usize> Qdisc for FqCodel<F, CAP> {
    fn enqueue(
        &mut self,
        mut pkt: QPkt,
        now_ns: u64,
        dropped: &mut dyn FnMut(&QPkt),
    ) -> EnqueueResult {
        let idx = reciprocal_scale(pkt.hash, self.limits.flows) as usize;
        pkt.enqueue_ns = now_ns;
        // Not set up (zeroed, no flows): nothing is queued.
        if self.limits.flows == 0 || !self.push_tail(idx, pkt) {
            // Storage exhausted before the limit check could run (only with a huge memory charge): drop.
            self.stats.drops += 1;
            self.xstats.drop_overlimit += 1;
            dropped(&pkt);
            return EnqueueResult::Dropped;
        }
        self.stats.qlen += 1;
        self.stats.backlog_bytes += pkt.len as u64;
        if !self.flows[idx].active {
            self.flows[idx].active = true;
            self.flows[idx].deficit = self.quantum as i64;
            self.new_flows.push_back(idx as u16);
            self.xstats.new_flow_count += 1;
        }
        self.memory += truesize(pkt.len);
        let memory_limited = self.memory > self.limits.memory_limit;
        if self.stats.qlen <= self.limits.limit as u64 && !memory_limited {
            return EnqueueResult::Queued;
        }
        let before = self.stats.qlen;
        let fat = self.drop_fattest(dropped);
        if memory_limited {
            self.xstats.drop_overmemory += before - self.stats.qlen;
        }
        if fat == idx {
            EnqueueResult::Congested
        } else {
            EnqueueResult::Queued
        }
    }

    fn dequeue(&mut self, now_ns: u64, dropped: &mut dyn FnMut(&QPkt)) -> Option<QPkt> {
        if let Some(p) = self.requeued.take() {
            self.stats.requeued_left(&p);
            return Some(p);
        }
        loop {
            let from_new = !self.new_flows.is_empty();
            let list = if from_new {
                &mut self.new_flows
            } else {
                &mut self.old_flows
            };
            let idx = list.front()? as usize;
            if self.flows[idx].deficit <= 0 {
                self.flows[idx].deficit += self.quantum as i64;
                let list = if from_new {
                    &mut self.new_flows
                } else {
                    &mut self.old_flows
                };
                let _ = list.pop_front();
                self.old_flows.push_back(idx as u16);
                continue;
            }
            let pkt = if self.flows[idx].head == NIL {
                // What `codel_dequeue` does with an empty queue (its first lines), without the call: most
                // dequeues of a device that keeps up find their flow empty.
                let v = &mut self.flows[idx].cvars;
                v.first_above_time = 0;
                v.dropping = false;
                None
            } else {
                self.codel_dequeue_flow(idx, now_ns, dropped)
            };
            match pkt {
                None => {
                    // Empty: a new flow goes to the old list once (so it cannot starve old flows), an old flow
                    // becomes inactive.
                    let list = if from_new {
                        &mut self.new_flows
                    } else {
                        &mut self.old_flows
                    };
                    let _ = list.pop_front();
                    if from_new && !self.old_flows.is_empty() {
                        self.old_flows.push_back(idx as u16);
                    } else {
                        self.flows[idx].active = false;
                    }
                }
                Some(p) => {
                    self.flows[idx].deficit -= p.len as i64;
                    self.stats.packets += 1;
                    self.stats.bytes += p.len as u64;
                    return Some(p);
                }
            }
        }
    }

    fn requeue(&mut self, pkt: QPkt) {
        self.stats.requeued(&pkt);
        self.requeued.put(pkt);
    }

    fn stats(&self) -> QdiscStats {
        self.stats
    }

    fn kind(&self) -> &'static str {
        "fq_codel"
    }

    /// As iproute2's `fq_codel_print_opt` prints what `fq_codel_dump` reports: `ecn` appears between
    /// `memory_limit` and `drop_batch` when on.
    fn fmt_params(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        let c = self.config();
        write!(
            f,
            "limit {}p flows {} quantum {} target {}ms interval {}ms memory_limit {}Mb {}drop_batch {} ",
            c.limit,
            c.flows,
            self.quantum,
            c.target_ns / 1_000_000,
            c.interval_ns / 1_000_000,
            c.memory_limit >> 20,
            if c.ecn { "ecn " } else { "" },
            c.drop_batch
        )
    }

    fn fmt_xstats(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        // iproute2's `fq_codel_print_xstats`: memory_used and drop_overmemory only when non-zero.
        let x = self.xstats();
        write!(
            f,
            "  maxpacket {} drop_overlimit {} new_flow_count {} ecn_mark {}",
            x.maxpacket, x.drop_overlimit, x.new_flow_count, x.ecn_mark
        )?;
        if self.memory != 0 {
            write!(f, " memory_used {}", self.memory)?;
        }
        if x.drop_overmemory != 0 {
            write!(f, " drop_overmemory {}", x.drop_overmemory)?;
        }
        writeln!(f)?;
        write!(
            f,
            "  new_flows_len {} old_flows_len {}",
            self.new_flows.len(),
            self.old_flows.len()
        )
    }
}
