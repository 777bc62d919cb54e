//! Queueing disciplines on the egress path: `mq` with one child qdisc per TX queue, and the two children that
//! matter for the incident, `pfifo_fast` (the old default) and `fq_codel` (the default of most distributions).
//!
//! Packets are small records ([`QPkt`]) and time is passed in; nothing allocates: every queue has its capacity in
//! its type. [`AnyQdisc`] is either child behind one type, what `mq` holds when the child is chosen at run time
//! (the kernel's `default_qdisc_ops`). Every qdisc here is [`FromZeros`](zerocopy::FromZeros): a large one is
//! allocated zeroed on the heap by the caller and set up in place (`init`), never built on the stack. Counters follow what `tc -s qdisc show` prints: sent bytes and packets, dropped, overlimits,
//! requeues, backlog.

mod any;
mod codel;
mod fifo;
mod fq_codel;
mod mq;
mod pfifo_fast;

pub use any::AnyQdisc;
pub use codel::{CodelParams, CodelQueue, CodelStats, CodelVars, codel_dequeue, codel_time};
pub use fq_codel::{FqCodel, FqCodelConfig, FqCodelStats};
pub use mq::Mq;
pub use pfifo_fast::PfifoFast;

use core::fmt;

use zerocopy::FromZeros;

/// One packet waiting in a qdisc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, FromZeros)]
pub struct QPkt {
    /// Bytes (`qdisc_pkt_len`).
    pub len: u32,
    /// Flow hash (what `fq_codel_classify` scales onto its buckets).
    pub hash: u32,
    /// `skb->priority`.
    pub priority: u32,
    /// Caller's tag (a packet id), returned unchanged.
    pub tag: u64,
    /// Set by the qdisc at enqueue (`codel_set_enqueue_time`).
    pub enqueue_ns: u64,
    /// The two ECN bits of the IP header (`INET_ECN_NOT_ECT`, `INET_ECN_ECT_1`, `INET_ECN_ECT_0`,
    /// `INET_ECN_CE`); CoDel with `ecn` marks ECT packets CE instead of dropping them. 0 for non-IP packets.
    pub ecn: u8,
}

/// Not ECN-capable transport (`INET_ECN_NOT_ECT`, `include/net/inet_ecn.h`).
pub const INET_ECN_NOT_ECT: u8 = 0;
/// ECN-capable transport, codepoint 1 (`INET_ECN_ECT_1`).
pub const INET_ECN_ECT_1: u8 = 1;
/// ECN-capable transport, codepoint 0 (`INET_ECN_ECT_0`).
pub const INET_ECN_ECT_0: u8 = 2;
/// Congestion experienced (`INET_ECN_CE`).
pub const INET_ECN_CE: u8 = 3;

impl QPkt {
    /// `INET_ECN_set_ce` (`include/net/inet_ecn.h`, through `IP_ECN_set_ce`/`IP6_ECN_set_ce`): an ECT packet
    /// becomes CE and the answer is true; a packet already CE also answers true (it is left as it is); a
    /// Not-ECT packet is left alone and the answer is false.
    pub fn inet_ecn_set_ce(&mut self) -> bool {
        match self.ecn & 3 {
            INET_ECN_NOT_ECT => false,
            _ => {
                self.ecn = INET_ECN_CE;
                true
            }
        }
    }
}

/// Ethernet's hard header length (`ETH_HLEN`, `dev->hard_header_len` of ENA, virtio_net, veth).
pub const ETH_HLEN: u32 = 14;

/// `psched_mtu` (`include/net/pkt_sched.h`): what a qdisc takes as the device's largest packet,
/// `dev->mtu + dev->hard_header_len` (9015 for ENA at its VPC MTU of 9001, 1514 at 1500).
pub const fn psched_mtu(mtu: u32, hard_header_len: u32) -> u32 {
    mtu.saturating_add(hard_header_len)
}

/// What enqueue did (`NET_XMIT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueueResult {
    /// Queued (`NET_XMIT_SUCCESS`); other packets may have been dropped to make room (fq_codel).
    Queued,
    /// Queued, but packets of the same flow were dropped to make room (`NET_XMIT_CN`).
    Congested,
    /// This packet was dropped (`NET_XMIT_DROP`).
    Dropped,
}

/// The counters `tc -s qdisc show` prints for every qdisc (`struct gnet_stats_basic` + `gnet_stats_queue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, FromZeros)]
pub struct QdiscStats {
    /// Bytes dequeued to the driver ("Sent B bytes").
    pub bytes: u64,
    /// Packets dequeued ("P pkt").
    pub packets: u64,
    /// Packets dropped.
    pub drops: u64,
    /// Overlimits.
    pub overlimits: u64,
    /// Requeues (the driver said busy and the packet went back).
    pub requeues: u64,
    /// Bytes queued now.
    pub backlog_bytes: u64,
    /// Packets queued now.
    pub qlen: u64,
}

impl QdiscStats {
    /// `dev_requeue_skb`: a packet the driver refused goes back into the queue length and backlog. It was counted
    /// as sent when it first left and is not counted again when it leaves for good (`dequeue_skb` takes it from
    /// `gso_skb`), so sent bytes and packets stay as they are.
    pub fn requeued(&mut self, pkt: &QPkt) {
        self.requeues += 1;
        self.qlen += 1;
        self.backlog_bytes += pkt.len as u64;
    }

    /// A requeued packet leaving again: out of the queue length and backlog only.
    pub fn requeued_left(&mut self, pkt: &QPkt) {
        self.qlen -= 1;
        self.backlog_bytes -= pkt.len as u64;
    }

    /// Adds another qdisc's counters (how `mq_dump` sums its children).
    pub fn add(&mut self, o: &Self) {
        self.bytes += o.bytes;
        self.packets += o.packets;
        self.drops += o.drops;
        self.overlimits += o.overlimits;
        self.requeues += o.requeues;
        self.backlog_bytes += o.backlog_bytes;
        self.qlen += o.qlen;
    }
}

/// Renders the two counter lines of `tc -s qdisc show`.
impl fmt::Display for QdiscStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            " Sent {} bytes {} pkt (dropped {}, overlimits {} requeues {}) ",
            self.bytes, self.packets, self.drops, self.overlimits, self.requeues
        )?;
        write!(
            f,
            " backlog {}b {}p requeues {}",
            self.backlog_bytes, self.qlen, self.requeues
        )
    }
}

/// A child qdisc of `mq`.
pub trait Qdisc {
    /// Enqueues `pkt` at `now_ns`; returns what happened to it, and calls `dropped` for every packet dropped
    /// (this one or others).
    fn enqueue(&mut self, pkt: QPkt, now_ns: u64, dropped: &mut dyn FnMut(&QPkt)) -> EnqueueResult;
    /// Dequeues the next packet to hand to the driver at `now_ns`, calling `dropped` for packets the AQM drops
    /// on the way.
    fn dequeue(&mut self, now_ns: u64, dropped: &mut dyn FnMut(&QPkt)) -> Option<QPkt>;
    /// Puts back a packet the driver refused (`dev_requeue_skb`): it leaves first next time.
    fn requeue(&mut self, pkt: QPkt);
    /// Counters.
    fn stats(&self) -> QdiscStats;
    /// The qdisc's kind as `tc` names it.
    fn kind(&self) -> &'static str;
    /// Writes the kind-specific parameters of the `tc qdisc show` line (after the handle and parent).
    fn fmt_params(&self, f: &mut dyn fmt::Write) -> fmt::Result;
    /// Writes the kind-specific statistics lines of `tc -s qdisc show`, if any.
    fn fmt_xstats(&self, _f: &mut dyn fmt::Write) -> fmt::Result {
        Ok(())
    }
}
