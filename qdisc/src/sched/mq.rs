//! `mq` (`net/sched/sch_mq.c`): one child qdisc per TX queue, attached as classes `handle:1` .. `handle:N`;
//! its own counters are the sums of its children's (`mq_dump`).

use core::fmt;

use heapless::Vec;

use super::{EnqueueResult, QPkt, Qdisc, QdiscStats};
use crate::{Error, Result};

/// mq over up to `NQ` TX queues, each with a child of type `Q`.
pub struct Mq<Q: Qdisc, const NQ: usize> {
    handle: u16,
    children: Vec<Q, NQ>,
}

impl<Q: Qdisc, const NQ: usize> Mq<Q, NQ> {
    /// mq with handle `handle:` and one child per TX queue, made by `child(queue)`.
    pub fn new(handle: u16, queues: u16, mut child: impl FnMut(u16) -> Result<Q>) -> Result<Self> {
        if queues == 0 || queues as usize > NQ {
            return Err(Error::InvalidConfig {
                field: "mq.queues",
                reason: "must be between 1 and the storage",
            });
        }
        let mut children = Vec::new();
        for q in 0..queues {
            if children.push(child(q)?).is_err() {
                return Err(Error::InvalidConfig {
                    field: "mq.queues",
                    reason: "more than the storage",
                });
            }
        }
        Ok(Self { handle, children })
    }

    /// The child of TX queue `q`.
    pub fn child(&self, q: u16) -> Option<&Q> {
        self.children.get(q as usize)
    }

    /// The child of TX queue `q`, mutable.
    pub fn child_mut(&mut self, q: u16) -> Option<&mut Q> {
        self.children.get_mut(q as usize)
    }

    /// Number of TX queues.
    pub fn queues(&self) -> u16 {
        self.children.len() as u16
    }

    /// Enqueues on the child of the TX queue selection chose; a queue beyond the device drops the packet.
    pub fn enqueue(
        &mut self,
        queue: u16,
        pkt: QPkt,
        now_ns: u64,
        dropped: &mut dyn FnMut(&QPkt),
    ) -> EnqueueResult {
        match self.children.get_mut(queue as usize) {
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
        for c in &self.children {
            s.add(&c.stats());
        }
        s
    }

    /// Renders `tc -s qdisc show dev DEV` for the mq and its children.
    pub fn write_tc_s(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(f, "qdisc mq {:x}: root ", self.handle)?;
        writeln!(f, "{}", self.stats())?;
        for (i, c) in self.children.iter().enumerate() {
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
