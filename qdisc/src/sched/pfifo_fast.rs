//! `pfifo_fast` (`net/sched/sch_generic.c`): three FIFO bands chosen by `priority` through the priomap, band 0
//! served first; each band holds up to `txqueuelen` packets, and a packet arriving at a full band is dropped.
//!
//! The all-zero value ([`FromZeros`]) is a pfifo_fast not yet set up, with no room: it drops every packet until
//! [`PfifoFast::init`] (`pfifo_fast_init` sizing the bands' `skb_array`s) gives it its `txqueuelen`.

use core::fmt;

use zerocopy::FromZeros;

use super::fifo::{Fifo, Held};
use super::{EnqueueResult, QPkt, Qdisc, QdiscStats};
use crate::{Error, Result};

/// `prio2band`: the default priomap, `TC_PRIO_*` to band.
pub const PRIO2BAND: [u8; 16] = [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];

/// pfifo_fast with `CAP` packets of storage per band.
#[derive(FromZeros)]
pub struct PfifoFast<const CAP: usize> {
    bands: [Fifo<QPkt, CAP>; 3],
    limit: usize,
    requeued: Held,
    stats: QdiscStats,
}

impl<const CAP: usize> PfifoFast<CAP> {
    /// A pfifo_fast whose bands each hold `txqueuelen` packets (the device's, 1000 by default).
    ///
    /// The value is built where the caller puts it: for a large `CAP`, allocate a zeroed one on the heap and
    /// [`init`](Self::init) it instead.
    pub fn new(txqueuelen: u32) -> Result<Self> {
        let mut q = Self::new_zeroed();
        q.init(txqueuelen)?;
        Ok(q)
    }

    /// Sets the qdisc up in place, empty, as [`new`](Self::new) would build it. On an error nothing is changed.
    pub fn init(&mut self, txqueuelen: u32) -> Result<()> {
        if txqueuelen == 0 || txqueuelen as usize > CAP {
            return Err(Error::InvalidConfig {
                field: "txqueuelen",
                reason: "must be between 1 and the storage",
            });
        }
        self.bands.iter_mut().for_each(FromZeros::zero);
        self.limit = txqueuelen as usize;
        self.requeued.zero();
        self.stats = QdiscStats::default();
        Ok(())
    }

    /// Each band's packet limit (`txqueuelen`).
    pub fn limit(&self) -> u32 {
        self.limit as u32
    }

    /// Packets queued per band.
    pub fn band_lens(&self) -> [usize; 3] {
        [
            self.bands[0].len(),
            self.bands[1].len(),
            self.bands[2].len(),
        ]
    }
}

impl<const CAP: usize> Qdisc for PfifoFast<CAP> {
    fn enqueue(
        &mut self,
        mut pkt: QPkt,
        now_ns: u64,
        dropped: &mut dyn FnMut(&QPkt),
    ) -> EnqueueResult {
        pkt.enqueue_ns = now_ns;
        let band = &mut self.bands[PRIO2BAND[(pkt.priority & 15) as usize] as usize];
        if band.len() >= self.limit || !band.push_back(pkt) {
            self.stats.drops += 1;
            dropped(&pkt);
            return EnqueueResult::Dropped;
        }
        self.stats.qlen += 1;
        self.stats.backlog_bytes += pkt.len as u64;
        EnqueueResult::Queued
    }

    fn dequeue(&mut self, _now_ns: u64, _dropped: &mut dyn FnMut(&QPkt)) -> Option<QPkt> {
        if let Some(p) = self.requeued.take() {
            self.stats.requeued_left(&p);
            return Some(p);
        }
        let p = self.bands.iter_mut().find_map(|b| b.pop_front())?;
        self.stats.qlen -= 1;
        self.stats.backlog_bytes -= p.len as u64;
        self.stats.packets += 1;
        self.stats.bytes += p.len as u64;
        Some(p)
    }

    fn requeue(&mut self, pkt: QPkt) {
        self.stats.requeued(&pkt);
        self.requeued.put(pkt);
    }

    fn stats(&self) -> QdiscStats {
        self.stats
    }

    fn kind(&self) -> &'static str {
        "pfifo_fast"
    }

    fn fmt_params(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        f.write_str("bands 3 priomap")?;
        for b in PRIO2BAND {
            write!(f, " {b}")?;
        }
        Ok(())
    }
}
