//! The fast selector: the device configuration compiled into flat tables, with a single-packet and a batch API.
//! It returns exactly what [`RefSelector`](crate::RefSelector) returns, with the same side effects on the skb
//! and its socket, for every input (the `select_diff` fuzz target and the property tests hold it to that).
//!
//! What changes is only how: per-priority queue ranges and traffic classes are looked up instead of recomputed,
//! the rx-recorded reduction (repeated subtraction in `skb_tx_hash`) is a table for rx queues below 64 and a
//! remainder above, XPS maps are flattened, and a batch on a device without a driver hook runs a kernel
//! specialised for the device (`batch_kernel`) that decides the common packets inline and sends the others
//! through `select`.

use heapless::Vec;

use crate::hash::{reciprocal_scale, skb_get_hash};
use crate::netdev::{DriverHook, NetDev, TC_MAX};
use crate::select_ref::PickRules;
use crate::skb::{NO_QUEUE_MAPPING, Skb, XmitCtx};
use crate::{RefSelector, Result};

const RX_TABLE: usize = 64;

#[derive(Debug, Clone)]
struct FlatXps {
    nr_ids: u32,
    num_tc: u32,
    /// `(start, len)` into `queues` per `id * num_tc + tc`.
    slots: Vec<(u16, u16), { crate::netdev::MAX_XPS_MAPS }>,
    queues: Vec<u16, { crate::netdev::MAX_XPS_MAPS * crate::netdev::MAX_XPS_QUEUES }>,
}

impl FlatXps {
    fn new(m: &crate::netdev::XpsMaps) -> Self {
        let mut f = Self {
            nr_ids: m.nr_ids as u32,
            num_tc: m.num_tc as u32,
            slots: Vec::new(),
            queues: Vec::new(),
        };
        for map in &m.maps {
            let start = f.queues.len() as u16;
            for q in map {
                let _ = f.queues.push(*q);
            }
            let _ = f.slots.push((start, map.len() as u16));
        }
        f
    }
}

/// The compiled selector.
#[derive(Debug, Clone)]
pub struct FastSelector {
    real: u16,
    hook: DriverHook,
    nr_cpus: u16,
    seed: u64,
    reselect_ns: Option<u64>,
    prio_tc: [u8; TC_MAX],
    /// `(qoffset, qcount)` of `skb_tx_hash` per priority.
    prio_range: [(u16, u16); TC_MAX],
    /// Priorities whose traffic class is empty on a kernel without the fallback: a recorded rx queue spins.
    prio_spins: [bool; TC_MAX],
    /// Rx-recorded result per priority for rx queues below `RX_TABLE`.
    rx_table: [[u16; RX_TABLE]; TC_MAX],
    xps_cpus: Option<FlatXps>,
    xps_rxqs: Option<FlatXps>,
    /// The cpus map resolved per `(cpu, priority)`: `(start, len)` into `xps_cpus.queues` at
    /// `[cpu.min(MAX_XPS_MAPS) * TC_MAX + priority]`, `(0, 0)` where `xps_idx` finds no map (the last row,
    /// for CPUs beyond the table, stays empty).
    xps_cpu_slot: [(u16, u16); (crate::netdev::MAX_XPS_MAPS + 1) * TC_MAX],
    /// Some priority maps to a queue range other than all queues (traffic classes).
    tc_ranges: bool,
}

impl FastSelector {
    /// Compiles a device configuration.
    pub fn new(dev: &NetDev, rules: PickRules, hash_seed: u64) -> Result<Self> {
        dev.validate()?;
        let mut prio_range = [(0, dev.real_num_tx_queues); TC_MAX];
        let mut prio_tc = [0u8; TC_MAX];
        let mut prio_spins = [false; TC_MAX];
        for p in 0..TC_MAX {
            prio_tc[p] = dev.prio_tc_map[p];
            if dev.num_tc != 0 {
                let t = dev.tc_to_txq[dev.prio_tc_map[p] as usize];
                prio_spins[p] = t.count == 0 && rules.tc_empty_class_spins;
                prio_range[p] = if t.count == 0 {
                    (0, dev.real_num_tx_queues)
                } else {
                    (t.offset, t.count)
                };
            }
        }
        let mut rx_table = [[0u16; RX_TABLE]; TC_MAX];
        for p in 0..TC_MAX {
            for rx in 0..RX_TABLE as u16 {
                rx_table[p][rx as usize] = reduce_rx(rx, prio_range[p]);
            }
        }
        let xps_cpus = dev.xps_cpus.as_ref().map(FlatXps::new);
        let mut xps_cpu_slot = [(0u16, 0u16); (crate::netdev::MAX_XPS_MAPS + 1) * TC_MAX];
        if let Some(m) = &xps_cpus {
            for cpu in 0..crate::netdev::MAX_XPS_MAPS as u32 {
                for (p, tc) in prio_tc.iter().enumerate() {
                    let tc = *tc as u32;
                    if tc < m.num_tc
                        && cpu < m.nr_ids
                        && let Some(slot) = m.slots.get((cpu * m.num_tc + tc) as usize)
                    {
                        xps_cpu_slot[cpu as usize * TC_MAX + p] = *slot;
                    }
                }
            }
        }
        Ok(Self {
            real: dev.real_num_tx_queues,
            hook: dev.driver,
            nr_cpus: dev.nr_cpus,
            seed: hash_seed,
            reselect_ns: rules.txq_reselection_ms.map(|ms| ms as u64 * 1_000_000),
            prio_tc,
            prio_spins,
            prio_range,
            rx_table,
            xps_cpus,
            xps_rxqs: dev.xps_rxqs.as_ref().map(FlatXps::new),
            xps_cpu_slot,
            tc_ranges: prio_range.iter().any(|r| *r != (0, dev.real_num_tx_queues)),
        })
    }

    /// Compiles the configuration of a reference selector.
    pub fn from_ref(r: &RefSelector) -> Result<Self> {
        Self::new(r.dev(), r.rules(), r.hash_seed())
    }

    /// Selects the TX queue of one packet (and records it in `skb.queue_mapping`).
    #[inline(always)]
    pub fn select(&self, skb: &mut Skb, ctx: XmitCtx) -> u16 {
        let q = if skb.skip_txqueue {
            skb.queue_mapping
        } else {
            if skb.sender_cpu.wrapping_sub(1) >= self.nr_cpus {
                skb.sender_cpu = ctx.cpu.wrapping_add(1);
            }
            if self.real == 1 {
                0
            } else {
                match self.hook {
                    DriverHook::None => self.pick_tx(skb, ctx),
                    DriverHook::EnaLegacy if skb.queue_mapping != 0 => skb.queue_mapping - 1,
                    DriverHook::EnaLegacy => self.pick_tx(skb, ctx),
                    DriverHook::EnaModulo if skb.queue_mapping != 0 => {
                        (skb.queue_mapping - 1) % self.real
                    }
                    DriverHook::EnaModulo => self.pick_tx(skb, ctx),
                    DriverHook::Bonding if skb.queue_mapping != 0 => {
                        (skb.queue_mapping - 1) % self.real
                    }
                    DriverHook::Bonding => 0,
                }
            }
        };
        let q = if q >= self.real { 0 } else { q };
        skb.queue_mapping = q;
        q
    }

    /// Selects the queues of a batch: `out[i]` for `skbs[i]`, exactly as `select` on each in turn. `out` must be
    /// at least as long as `skbs`; extra packets are left unselected.
    #[inline]
    pub fn select_batch(&self, skbs: &mut [Skb], ctx: XmitCtx, out: &mut [u16]) {
        match (
            self.hook == DriverHook::None && self.real != 1,
            self.tc_ranges,
            self.xps_cpus.is_some(),
        ) {
            (false, _, _) => {
                for (skb, o) in skbs.iter_mut().zip(out.iter_mut()) {
                    *o = self.select(skb, ctx);
                }
            }
            (true, false, false) => self.batch_kernel::<false, false>(skbs, ctx, out),
            (true, true, false) => self.batch_kernel::<true, false>(skbs, ctx, out),
            (true, false, true) => self.batch_kernel::<false, true>(skbs, ctx, out),
            (true, true, true) => self.batch_kernel::<true, true>(skbs, ctx, out),
        }
    }

    /// `select` out of line, for the packets the batch kernel does not decide itself: keeps the kernel's loop
    /// small.
    #[inline(never)]
    fn select_cold(&self, skb: &mut Skb, ctx: XmitCtx) -> u16 {
        self.select(skb, ctx)
    }

    /// The batch on a device without a driver hook and with more than one queue, specialised on whether the
    /// priorities map to different queue ranges (`TC`) and whether there is a cpus XPS map (`XPS`). The three
    /// common packets are decided inline with what `select` would compute, branch by branch:
    /// - a socket with a usable cached queue (`sk_tx_queue_get`: set, below the queue count, fresh, and the packet
    ///   not `ooo_okay`): that queue;
    /// - no socket, a recorded rx queue below `RX_TABLE`, no cpus XPS map: `skb_tx_hash`'s reduction, from the
    ///   table;
    /// - no socket, nothing recorded, a hash: the cpus XPS map of the sending CPU if it has one (the hash picks
    ///   among its queues), else `skb_tx_hash` (`reciprocal_scale` onto the priority's queue range).
    ///
    /// Everything else (`skip_txqueue`, a socket to update, no hash yet, XPS with a recorded rx queue) goes
    /// through `select`.
    #[inline(always)]
    fn batch_kernel<const TC: bool, const XPS: bool>(
        &self,
        skbs: &mut [Skb],
        ctx: XmitCtx,
        out: &mut [u16],
    ) {
        let n = skbs.len().min(out.len());
        let (skbs, out) = (&mut skbs[..n], &mut out[..n]);
        // Two packets at a time while both take the hash path (configurations a, b, d): straight-line code for
        // the pair, one predicted branch; any other pair goes packet by packet through `batch_one`.
        let mut pairs = skbs.chunks_exact_mut(2);
        let mut out_pairs = out.chunks_exact_mut(2);
        for (s2, o2) in (&mut pairs).zip(&mut out_pairs) {
            if let ([a, b], [oa, ob]) = (&mut *s2, &mut *o2)
                && !a.skip_txqueue
                && !b.skip_txqueue
                && a.queue_mapping | b.queue_mapping == 0
                && a.sk.is_none()
                && b.sk.is_none()
                // sender_cpu already in range: `select` leaves it as it is.
                && a.sender_cpu.wrapping_sub(1) < self.nr_cpus
                && b.sender_cpu.wrapping_sub(1) < self.nr_cpus
                && let (Some(ha), Some(hb)) = (a.hash, b.hash)
            {
                let qa = self.hash_path::<TC, XPS>(ha, a.sender_cpu, a.priority);
                let qb = self.hash_path::<TC, XPS>(hb, b.sender_cpu, b.priority);
                (a.queue_mapping, *oa) = (qa, qa);
                (b.queue_mapping, *ob) = (qb, qb);
            } else {
                for (skb, o) in s2.iter_mut().zip(o2.iter_mut()) {
                    self.batch_one::<TC, XPS>(skb, ctx, o);
                }
            }
        }
        for (skb, o) in pairs
            .into_remainder()
            .iter_mut()
            .zip(out_pairs.into_remainder().iter_mut())
        {
            self.batch_one::<TC, XPS>(skb, ctx, o);
        }
    }

    /// One packet of [`batch_kernel`](Self::batch_kernel), any kind.
    #[inline(always)]
    fn batch_one<const TC: bool, const XPS: bool>(&self, skb: &mut Skb, ctx: XmitCtx, o: &mut u16) {
        let real = self.real;
        // `select` first brings sender_cpu into range.
        let sc = if skb.sender_cpu.wrapping_sub(1) >= self.nr_cpus {
            ctx.cpu.wrapping_add(1)
        } else {
            skb.sender_cpu
        };
        let prio = skb.priority;
        let p = move || (prio & 15) as usize;
        let q = match (skb.skip_txqueue, &skb.sk, skb.queue_mapping, skb.hash) {
            (false, Some(sk), _, _)
                if sk.tx_queue < real
                    && !skb.ooo_okay
                    && !self.reselect_ns.is_some_and(|ns| {
                        sk.full && ctx.now_ns.saturating_sub(sk.tx_queue_set_ns) > ns
                    }) =>
            {
                sk.tx_queue
            }
            (false, None, 0, Some(h)) => self.hash_path::<TC, XPS>(h, sc, prio),
            (false, None, qm, _)
                if !XPS && qm != 0 && ((qm - 1) as usize) < RX_TABLE && !self.prio_spins[p()] =>
            {
                self.rx_table[p()][(qm - 1) as usize]
            }
            _ => {
                *o = self.select_cold(skb, ctx);
                return;
            }
        };
        skb.sender_cpu = sc;
        skb.queue_mapping = q;
        *o = q;
    }

    /// The hash path of the batch kernel: the cpus XPS map of the sending CPU `sc` if it has one (the hash picks
    /// among its queues), else `skb_tx_hash` (`reciprocal_scale` onto the priority's queue range).
    #[inline(always)]
    fn hash_path<const TC: bool, const XPS: bool>(&self, h: u32, sc: u16, priority: u32) -> u16 {
        let p = (priority & 15) as usize;
        let (off, cnt) = if TC {
            self.prio_range[p]
        } else {
            (0, self.real)
        };
        let mut q = reciprocal_scale(h, cnt as u32) as u16 + off;
        if XPS && let Some(m) = &self.xps_cpus {
            let cpu = (sc.wrapping_sub(1) as usize).min(crate::netdev::MAX_XPS_MAPS);
            let (start, len) = self.xps_cpu_slot[cpu * TC_MAX + p];
            if len != 0
                && let Some(&x) = m
                    .queues
                    .get(start as usize + reciprocal_scale(h, len as u32) as usize)
                && x < self.real
            {
                q = x;
            }
        }
        q
    }

    #[inline(always)]
    fn pick_tx(&self, skb: &mut Skb, ctx: XmitCtx) -> u16 {
        let cached = match &skb.sk {
            Some(sk) if sk.tx_queue != NO_QUEUE_MAPPING => match self.reselect_ns {
                Some(ns) if sk.full && ctx.now_ns.saturating_sub(sk.tx_queue_set_ns) > ns => None,
                _ => Some(sk.tx_queue),
            },
            _ => None,
        };
        if let Some(q) = cached
            && !skb.ooo_okay
            && q < self.real
        {
            return q;
        }
        let new = match self.xps(skb) {
            Some(q) => q,
            None => self.tx_hash(skb),
        };
        if let Some(sk) = skb.sk.as_mut()
            && sk.full
            && sk.dst_cached
            && (sk.tx_queue != new
                || (self.reselect_ns.is_some()
                    && ctx.now_ns.saturating_sub(sk.tx_queue_set_ns)
                        > crate::select_ref::TXQ_STAMP_REFRESH_NS))
        {
            sk.tx_queue = new;
            sk.tx_queue_set_ns = ctx.now_ns;
        }
        new
    }

    #[inline(always)]
    fn xps(&self, skb: &mut Skb) -> Option<u16> {
        if let Some(m) = &self.xps_rxqs
            && let Some(sk) = &skb.sk
            && sk.rx_queue != NO_QUEUE_MAPPING
            && let Some(q) = self.xps_idx(skb, m, sk.rx_queue as u32)
        {
            return Some(q);
        }
        let m = self.xps_cpus.as_ref()?;
        self.xps_idx(skb, m, (skb.sender_cpu as u32).wrapping_sub(1))
    }

    #[inline(always)]
    fn xps_idx(&self, skb: &mut Skb, m: &FlatXps, tci: u32) -> Option<u16> {
        let tc = self.prio_tc[(skb.priority & 15) as usize] as u32;
        if tc >= m.num_tc || tci >= m.nr_ids {
            return None;
        }
        let &(start, len) = m.slots.get((tci * m.num_tc + tc) as usize)?;
        let q = match len {
            0 => return None,
            1 => m.queues[start as usize],
            n => {
                m.queues[start as usize
                    + reciprocal_scale(skb_get_hash(skb, self.seed), n as u32) as usize]
            }
        };
        (q < self.real).then_some(q)
    }

    #[inline(always)]
    fn tx_hash(&self, skb: &mut Skb) -> u16 {
        let p = (skb.priority & 15) as usize;
        if skb.queue_mapping != 0 {
            if self.prio_spins[p] {
                return 0;
            }
            let rx = skb.queue_mapping - 1;
            return match self.rx_table[p].get(rx as usize) {
                Some(q) => *q,
                None => reduce_rx(rx, self.prio_range[p]),
            };
        }
        let (off, cnt) = self.prio_range[p];
        reciprocal_scale(skb_get_hash(skb, self.seed), cnt as u32) as u16 + off
    }
}

/// `skb_tx_hash`'s reduction of a recorded rx queue into `(qoffset, qcount)`: repeated subtraction is a remainder.
#[inline(always)]
fn reduce_rx(rx: u16, (off, cnt): (u16, u16)) -> u16 {
    let h = if rx >= off { rx - off } else { rx };
    h % cnt.max(1) + off
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PickRules;
    use crate::netdev::TcTxq;
    use crate::skb::Sock;

    fn devices() -> [NetDev; 3] {
        let plain = NetDev::new(8).unwrap();
        let xps = NetDev::new(8).unwrap().with_virtio_default_xps(2).unwrap();
        let mut tc = NetDev::new(8).unwrap();
        tc.num_tc = 2;
        tc.tc_to_txq[0] = TcTxq {
            offset: 0,
            count: 4,
        };
        tc.tc_to_txq[1] = TcTxq {
            offset: 4,
            count: 4,
        };
        tc.prio_tc_map[1] = 1;
        [plain, xps, tc]
    }

    /// A packet of one of the kinds the batch kernel tells apart, chosen by `kind`, with `r` for its fields.
    fn packet(kind: u64, r: u64, nr_cpus: u16) -> Skb {
        let mut s = Skb::new(1500, r);
        s.hash = Some((r >> 7) as u32);
        s.sender_cpu = 1 + (r % 2) as u16;
        s.priority = (r >> 3) as u32 % 3;
        match kind % 8 {
            0..=2 => {}
            // At and beyond the edges of `1..=nr_cpus`.
            3 => s.sender_cpu = [0, nr_cpus, nr_cpus + 1, u16::MAX][(r % 4) as usize],
            4 => s.record_rx_queue((r % 70) as u16),
            5 => {
                s.sk = Some(Sock {
                    tx_queue: (r % 10) as u16,
                    ..Sock::connected()
                })
            }
            6 => s.hash = None,
            _ => s.skip_txqueue = true,
        }
        s
    }

    /// The batch kernel decides pairs of hash-path packets together and everything else one by one: batches
    /// mixing every kind at every position and parity give what `RefSelector::select` gives packet by packet,
    /// side effects included.
    #[test]
    fn batches_of_mixed_packets_select_as_the_reference_does() {
        let mut r = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            r
        };
        for dev in devices() {
            let reference = RefSelector::new(dev.clone(), PickRules::default(), 7).unwrap();
            let fast = FastSelector::from_ref(&reference).unwrap();
            for round in 0..3000 {
                let len = (next() % 13) as usize;
                // Mostly hash-path packets, so that pairs of them meet other kinds on either side.
                let mut batch: std::vec::Vec<Skb> = (0..len)
                    .map(|_| {
                        let k = next();
                        packet(if k % 3 == 0 { k >> 2 } else { 0 }, next(), dev.nr_cpus)
                    })
                    .collect();
                let ctx = XmitCtx {
                    cpu: (round % 3) as u16,
                    now_ns: 0,
                };
                let mut expect = batch.clone();
                let want: std::vec::Vec<u16> = expect
                    .iter_mut()
                    .map(|s| reference.select(s, ctx).queue)
                    .collect();
                let mut out = std::vec![0u16; len + (round % 2)];
                fast.select_batch(&mut batch, ctx, &mut out);
                assert_eq!(&out[..len], &want[..], "round {round}");
                assert_eq!(batch, expect, "round {round}");
            }
        }
    }
}
