//! [`AnyQdisc`]: one of the child qdiscs, chosen at run time, behind one type (smoltcp's `AnyController`
//! pattern: an enum with one variant per one-file implementation, delegating the trait).
//!
//! The kernel chooses the kind the same way: `mq_init` (`net/sched/sch_mq.c`) creates every TX queue's child with
//! `qdisc_create_dflt(dev_queue, get_default_qdisc_ops(dev, ntx), ...)`, and `default_qdisc_ops` is `pfifo_fast`
//! (`net/sched/sch_generic.c`) unless `net.core.default_qdisc` names another, such as `fq_codel`
//! (`net/sched/sch_fq_codel.c`), the default of most distributions. Calls go through the chosen `Qdisc_ops`
//! (`q->enqueue`, `q->dequeue`); here through a `match`, so they can be inlined.

use core::fmt;

use zerocopy::FromZeros;

use super::{EnqueueResult, FqCodel, FqCodelConfig, PfifoFast, QPkt, Qdisc, QdiscStats};
use crate::Result;

/// A child qdisc of either kind: fq_codel with `FLOWS` flow buckets and `FQ_CAP` packet slots, or pfifo_fast with
/// `BAND_CAP` packet slots per band. The value is as large as the larger of the two.
///
/// The all-zero value ([`FromZeros`]) is an fq_codel not yet set up (it drops every packet): allocate a zeroed one
/// (or an [`Mq`](super::Mq) of them) on the heap, then [`init_fq_codel`](Self::init_fq_codel) or
/// [`init_pfifo_fast`](Self::init_pfifo_fast) it in place.
#[derive(FromZeros)]
#[repr(u8)]
pub enum AnyQdisc<const FLOWS: usize, const FQ_CAP: usize, const BAND_CAP: usize> {
    /// `fq_codel` (`net/sched/sch_fq_codel.c`); the zero value's variant.
    FqCodel(FqCodel<FLOWS, FQ_CAP>) = 0,
    /// `pfifo_fast` (`net/sched/sch_generic.c`).
    PfifoFast(PfifoFast<BAND_CAP>) = 1,
}

impl<const FLOWS: usize, const FQ_CAP: usize, const BAND_CAP: usize>
    AnyQdisc<FLOWS, FQ_CAP, BAND_CAP>
{
    /// Makes this child an fq_codel set up as [`FqCodel::init`] does, in place: a slot that already holds an
    /// fq_codel (or zeroes) is reused without building one elsewhere. On an error the slot is an fq_codel that
    /// drops every packet, or unchanged.
    pub fn init_fq_codel(&mut self, cfg: FqCodelConfig, psched_mtu: u32) -> Result<()> {
        if !matches!(self, Self::FqCodel(_)) {
            *self = Self::FqCodel(FqCodel::new_zeroed());
        }
        match self {
            Self::FqCodel(q) => q.init(cfg, psched_mtu),
            Self::PfifoFast(_) => Ok(()),
        }
    }

    /// Makes this child a pfifo_fast whose bands hold `txqueuelen` packets, as [`PfifoFast::init`] does. Switching
    /// from another kind writes a zeroed pfifo_fast into the slot (the compiler's memset; no copy of the slot).
    pub fn init_pfifo_fast(&mut self, txqueuelen: u32) -> Result<()> {
        if !matches!(self, Self::PfifoFast(_)) {
            *self = Self::PfifoFast(PfifoFast::new_zeroed());
        }
        match self {
            Self::PfifoFast(q) => q.init(txqueuelen),
            Self::FqCodel(_) => Ok(()),
        }
    }

    /// An fq_codel, built by value (see [`FqCodel::new`]).
    pub fn fq_codel(cfg: FqCodelConfig, psched_mtu: u32) -> Result<Self> {
        FqCodel::new(cfg, psched_mtu).map(Self::FqCodel)
    }

    /// A pfifo_fast, built by value (see [`PfifoFast::new`]).
    pub fn pfifo_fast(txqueuelen: u32) -> Result<Self> {
        PfifoFast::new(txqueuelen).map(Self::PfifoFast)
    }

    /// The child as the trait.
    pub fn inner(&self) -> &dyn Qdisc {
        match self {
            Self::FqCodel(q) => q,
            Self::PfifoFast(q) => q,
        }
    }

    /// The child as the trait, mutable.
    pub fn inner_mut(&mut self) -> &mut dyn Qdisc {
        match self {
            Self::FqCodel(q) => q,
            Self::PfifoFast(q) => q,
        }
    }
}

impl<const FLOWS: usize, const FQ_CAP: usize, const BAND_CAP: usize> Qdisc
    for AnyQdisc<FLOWS, FQ_CAP, BAND_CAP>
{
    #[inline]
    fn enqueue(&mut self, pkt: QPkt, now_ns: u64, dropped: &mut dyn FnMut(&QPkt)) -> EnqueueResult {
        match self {
            Self::FqCodel(q) => q.enqueue(pkt, now_ns, dropped),
            Self::PfifoFast(q) => q.enqueue(pkt, now_ns, dropped),
        }
    }

    #[inline]
    fn dequeue(&mut self, now_ns: u64, dropped: &mut dyn FnMut(&QPkt)) -> Option<QPkt> {
        match self {
            Self::FqCodel(q) => q.dequeue(now_ns, dropped),
            Self::PfifoFast(q) => q.dequeue(now_ns, dropped),
        }
    }

    #[inline]
    fn requeue(&mut self, pkt: QPkt) {
        match self {
            Self::FqCodel(q) => q.requeue(pkt),
            Self::PfifoFast(q) => q.requeue(pkt),
        }
    }

    fn stats(&self) -> QdiscStats {
        self.inner().stats()
    }

    fn kind(&self) -> &'static str {
        self.inner().kind()
    }

    fn fmt_params(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        self.inner().fmt_params(f)
    }

    fn fmt_xstats(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        self.inner().fmt_xstats(f)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::sched::{ETH_HLEN, Mq, psched_mtu};

    fn eth(mtu: u32) -> u32 {
        psched_mtu(mtu, ETH_HLEN)
    }

    type Child = AnyQdisc<16, 64, 8>;

    fn pkt(tag: u64, hash: u32, priority: u32) -> QPkt {
        QPkt {
            len: 1000,
            hash,
            priority,
            tag,
            ..QPkt::default()
        }
    }

    /// The same packets through `A` and `B` leave in the same order with the same counters and `tc` text.
    fn same_as<A: Qdisc, B: Qdisc>(a: &mut A, b: &mut B) {
        let mut none = |_: &QPkt| {};
        for i in 0..40u64 {
            let p = pkt(i, (i as u32 % 5) << 28, (i % 8) as u32);
            assert_eq!(
                a.enqueue(p, i, &mut none),
                b.enqueue(p, i, &mut none),
                "{i}"
            );
        }
        let mut x = [0u64; 40];
        let mut n = 0;
        while let Some(p) = a.dequeue(100, &mut none) {
            assert_eq!(Some(p), b.dequeue(100, &mut none));
            x[n] = p.tag;
            n += 1;
        }
        assert_eq!(b.dequeue(100, &mut none), None);
        assert!(n > 0);
        assert_eq!(a.stats(), b.stats());
        assert_eq!(a.kind(), b.kind());
        let (mut ta, mut tb) = (
            heapless::String::<512>::new(),
            heapless::String::<512>::new(),
        );
        a.fmt_params(&mut ta).unwrap();
        b.fmt_params(&mut tb).unwrap();
        a.fmt_xstats(&mut ta).unwrap();
        b.fmt_xstats(&mut tb).unwrap();
        assert_eq!(ta, tb);
    }

    #[test]
    fn any_qdisc_behaves_as_the_child_it_holds() {
        let cfg = FqCodelConfig {
            limit: 20,
            flows: 16,
            ..FqCodelConfig::default()
        };
        let mut fq = FqCodel::<16, 64>::new(cfg, eth(1500)).unwrap();
        let mut any = Child::fq_codel(cfg, eth(1500)).unwrap();
        same_as(&mut fq, &mut any);
        let mut pf = PfifoFast::<8>::new(5).unwrap();
        let mut any = Child::pfifo_fast(5).unwrap();
        same_as(&mut pf, &mut any);
        assert_eq!(any.kind(), "pfifo_fast");
        assert_eq!(any.inner_mut().kind(), "pfifo_fast");
    }

    #[test]
    fn the_zero_value_drops_every_packet_until_set_up() {
        let mut dropped = 0;
        let mut q = Child::new_zeroed();
        assert_eq!(q.kind(), "fq_codel");
        assert_eq!(
            q.enqueue(pkt(1, 0, 0), 0, &mut |_| dropped += 1),
            EnqueueResult::Dropped
        );
        assert_eq!(q.dequeue(0, &mut |_| {}), None);
        assert_eq!(dropped, 1);
        let mut pf = PfifoFast::<8>::new_zeroed();
        assert_eq!(
            pf.enqueue(pkt(1, 0, 0), 0, &mut |_| dropped += 1),
            EnqueueResult::Dropped
        );
        assert_eq!(dropped, 2);
        let mut mq = Mq::<Child, 4>::new_zeroed();
        assert_eq!(mq.queues(), 0);
        assert_eq!(
            mq.enqueue(0, pkt(1, 0, 0), 0, &mut |_| dropped += 1),
            EnqueueResult::Dropped
        );
        assert_eq!(dropped, 3);
    }

    #[test]
    fn init_in_place_switches_kind_and_starts_empty() {
        let cfg = FqCodelConfig {
            limit: 20,
            flows: 16,
            ..FqCodelConfig::default()
        };
        let mut q = Child::new_zeroed();
        q.init_fq_codel(cfg, eth(9001)).unwrap();
        let mut none = |_: &QPkt| {};
        q.enqueue(pkt(1, 0, 0), 0, &mut none);
        assert_eq!(q.stats().qlen, 1);
        // Re-initialised: empty again, same kind, the old packet gone.
        q.init_fq_codel(cfg, eth(9001)).unwrap();
        assert_eq!(q.stats(), QdiscStats::default());
        assert_eq!(q.dequeue(0, &mut none), None);
        match &q {
            AnyQdisc::FqCodel(f) => assert_eq!(f.quantum(), 9015),
            AnyQdisc::PfifoFast(_) => panic!("kind"),
        }
        q.init_pfifo_fast(3).unwrap();
        assert_eq!(q.kind(), "pfifo_fast");
        q.enqueue(pkt(1, 0, 0), 0, &mut none);
        q.init_fq_codel(cfg, eth(1500)).unwrap();
        assert_eq!((q.kind(), q.stats().qlen), ("fq_codel", 0));
        // Bad settings are errors that name the field; the child is not left half set up.
        let e = q.init_pfifo_fast(9).unwrap_err();
        assert!(format!("{e:?}").contains("txqueuelen"), "{e:?}");
        let bad = FqCodelConfig { limit: 64, ..cfg };
        assert!(format!("{:?}", q.init_fq_codel(bad, eth(1500)).unwrap_err()).contains("limit"));
    }

    #[test]
    fn mq_of_any_qdisc_set_up_in_place_sums_its_children() {
        let cfg = FqCodelConfig {
            limit: 20,
            flows: 16,
            ..FqCodelConfig::default()
        };
        let mut mq = Mq::<Child, 4>::new_zeroed();
        mq.init(1, 3, |q, c| {
            if q == 1 {
                c.init_pfifo_fast(4)
            } else {
                c.init_fq_codel(cfg, eth(1500))
            }
        })
        .unwrap();
        assert_eq!(mq.queues(), 3);
        let mut none = |_: &QPkt| {};
        for q in 0..4u16 {
            let r = mq.enqueue(q, pkt(q as u64, 0, 0), 0, &mut none);
            assert_eq!(r == EnqueueResult::Dropped, q == 3, "queue {q}");
        }
        assert_eq!(mq.stats().qlen, 3);
        let kinds: heapless::Vec<&str, 4> = mq.children().map(Qdisc::kind).collect();
        assert_eq!(kinds, ["fq_codel", "pfifo_fast", "fq_codel"]);
        let mut out = heapless::String::<2048>::new();
        mq.write_tc_s(&mut out).unwrap();
        assert!(out.contains("qdisc pfifo_fast 0: parent 1:2 "), "{out}");
        // A failing child leaves the mq with no queues.
        assert!(mq.init(1, 2, |_, c| c.init_pfifo_fast(0)).is_err());
        assert_eq!(mq.queues(), 0);
    }
}
