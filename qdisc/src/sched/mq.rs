//! `mq` (`net/sched/sch_mq.c`): one child qdisc per TX queue, attached as classes `handle:1` .. `handle:N`;
//! its own counters are the sums of its children's (`mq_dump`).
//!
//! `mq_init` makes each child with `qdisc_create_dflt(dev_queue, get_default_qdisc_ops(dev, ntx), ...)`: the
//! kind chosen at run time (`default_qdisc_ops`, set by `net.core.default_qdisc`) for the queues in use, and
//! `pfifo_fast` for queues past `real_num_tx_queues` (`get_default_qdisc_ops`, `include/net/sch_generic.h`).
//! With [`AnyQdisc`](super::AnyQdisc) as `Q` the kind is chosen the same way, per queue, in [`Mq::init`]. The all-zero value ([`FromZeros`]) has no queues (it drops every packet):
//! a large mq is allocated zeroed on the heap and set up in place with [`Mq::init`], each child in its slot.

use core::fmt;

use zerocopy::FromZeros;

use super::{EnqueueResult, QPkt, Qdisc, QdiscStats};
use crate::{Error, Result};

/// mq over up to `NQ` TX queues, each with a child of type `Q`.
#[derive(FromZeros)]
pub struct Mq<Q: Qdisc, const NQ: usize> {
    handle: u16,
    /// TX queues in use: `children[..queues]`.
    queues: u16,
    children: [Q; NQ],
}

impl<Q: Qdisc + FromZeros, const NQ: usize> Mq<Q, NQ> {
    /// mq with handle `handle:` and one child per TX queue, made by `child(queue)`.
    ///
    /// The value (all `NQ` children's storage) is built where the caller puts it: for large children, allocate a
    /// zeroed mq on the heap and [`init`](Self::init) it instead.
    pub fn new(handle: u16, queues: u16, mut child: impl FnMut(u16) -> Result<Q>) -> Result<Self> {
        let mut mq = Self::new_zeroed();
        mq.init(handle, queues, |q, slot| {
            *slot = child(q)?;
            Ok(())
        })?;
        Ok(mq)
    }
}

impl<Q: Qdisc, const NQ: usize> Mq<Q, NQ> {
    /// Sets the mq up in place (`mq_init`): handle `handle:`, `queues` TX queues, and `init_child(queue, slot)` sets
    /// up each child in its slot (the slot holds whatever was there: zeroes, or an earlier child). On an error
    /// the mq is left with no queues.
    pub fn init(
        &mut self,
        handle: u16,
        queues: u16,
        mut init_child: impl FnMut(u16, &mut Q) -> Result<()>,
    ) -> Result<()> {
        if queues == 0 || queues as usize > NQ {
            return Err(Error::InvalidConfig {
                field: "mq.queues",
                reason: "must be between 1 and the storage",
            });
        }
        self.queues = 0;
        self.handle = handle;
        for (q, slot) in self.children.iter_mut().take(queues as usize).enumerate() {
            init_child(q as u16, slot)?;
        }
        self.queues = queues;
        Ok(())
    }

    fn active(&self) -> &[Q] {
        self.children.get(..self.queues as usize).unwrap_or(&[])
    }

    /// The child of TX queue `q`.
    #[inline]
    pub fn child(&self, q: u16) -> Option<&Q> {
        self.active().get(q as usize)
    }

    /// The child of TX queue `q`, mutable.
    #[inline]
    pub fn child_mut(&mut self, q: u16) -> Option<&mut Q> {
        if q >= self.queues {
            return None;
        }
        self.children.get_mut(q as usize)
    }

    /// Number of TX queues.
    pub fn queues(&self) -> u16 {
        self.queues
    }

    /// The children, TX queue 0 first.
    pub fn children(&self) -> impl Iterator<Item = &Q> {
        self.active().iter()
    }

    /// Enqueues on the child of the TX queue selection chose; a queue beyond the device drops the packet.
    pub fn enqueue(
        &mut self,
        queue: u16,
        pkt: QPkt,
        now_ns: u64,
        dropped: &mut dyn FnMut(&QPkt),
    ) -> EnqueueResult {
        match self.child_mut(queue) {
            Some(c) => c.enqueue(pkt, now_ns, dropped),
            None => {
                dropped(&pkt);
                EnqueueResult::Dropped
            }
        }
    }

    /// The sums over all children (`mq_dump`).
    pub fn stats(&self) -> QdiscStats {
        let mut s = QdiscStats::default();
        for c in self.active() {
            s.add(&c.stats());
        }
        s
    }

    /// Renders `tc -s qdisc show dev DEV` for the mq and its children.
    pub fn write_tc_s(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(f, "qdisc mq {:x}: root ", self.handle)?;
        writeln!(f, "{}", self.stats())?;
        for (i, c) in self.active().iter().enumerate() {
            write!(
                f,
                "qdisc {} 0: parent {:x}:{:x} ",
                c.kind(),
                self.handle,
                i + 1
            )?;
            c.fmt_params(f)?;
            writeln!(f)?;
            writeln!(f, "{}", c.stats())?;
            let mut x = XBuf::default();
            c.fmt_xstats(&mut x)?;
            if x.any {
                c.fmt_xstats(f)?;
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// Tells whether a child writes any extended statistics, without storing them.
#[derive(Default)]
struct XBuf {
    any: bool,
}

impl fmt::Write for XBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.any |= !s.is_empty();
        Ok(())
    }
}
