//! Driver side of one ENA TX queue: `ena_start_xmit`, `ena_com_prepare_tx`, the doorbell, `ena_clean_tx_irq`,
//! and queue stop/wake, over descriptor rings the device side (`device.rs`) reads.

use heapless::Deque;

use crate::desc::{TxCdesc, TxCtrl, TxDesc, TxMetaCtrl, TxMetaDesc, TxOffload};
use crate::llq::Placement;
use crate::ring::{RingPos, check_depth, free_entries};
use crate::stats::{DeviceTxStats, TxStats};
use crate::{Error, Result, defs};

/// Static configuration of a TX queue (what `ena_create_io_tx_queue` and the device negotiated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TxQueueConfig {
    /// Ring depth in entries (descriptors for host placement, LLQ lines for LLQ); a power of two.
    pub depth: u16,
    /// Host or LLQ placement.
    pub placement: Placement,
    /// Scatter-gather limit the device advertised (`max_tx_sgl_size`, the driver's `sgl_size`).
    pub max_sg: u16,
    /// `max_entries_in_tx_burst` the device advertised for LLQ; 0 when it sets none.
    pub max_entries_in_tx_burst: u16,
}

impl Default for TxQueueConfig {
    fn default() -> Self {
        Self {
            depth: defs::ENA_DEFAULT_RING_SIZE,
            placement: Placement::Host,
            max_sg: defs::MAX_SKB_FRAGS,
            max_entries_in_tx_burst: 0,
        }
    }
}

/// Offload wishes of a packet, the part of `struct ena_com_tx_ctx` that `ena_tx_csum` fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Offload {
    /// L3 protocol index ([`defs::L3_PROTO_IPV4`], [`defs::L3_PROTO_IPV6`], 0 unknown).
    pub l3_proto: u8,
    /// L4 protocol index ([`defs::L4_PROTO_TCP`], [`defs::L4_PROTO_UDP`], 0 unknown).
    pub l4_proto: u8,
    /// Offload bits for the data descriptors.
    pub flags: TxOffload,
    /// TSO maximum segment size; 0 without TSO.
    pub mss: u16,
    /// L3 header length.
    pub l3_hdr_len: u8,
    /// L3 header offset.
    pub l3_hdr_off: u8,
    /// L4 header length in 32-bit words.
    pub l4_hdr_len_words: u8,
}

impl Offload {
    /// Whether this packet carries a meta context at all (`ena_tx_ctx.meta_valid`): TSO or checksum offload.
    pub fn meta_valid(&self) -> bool {
        self.mss != 0
            || self
                .flags
                .intersects(TxOffload::TSO_EN | TxOffload::L4_CSUM_EN | TxOffload::L3_CSUM_EN)
    }

    fn same_context(&self, other: &Self) -> bool {
        (
            self.mss,
            self.l3_hdr_len,
            self.l3_hdr_off,
            self.l4_hdr_len_words,
        ) == (
            other.mss,
            other.l3_hdr_len,
            other.l3_hdr_off,
            other.l4_hdr_len_words,
        )
    }
}

/// One packet as the stack hands it to `ndo_start_xmit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TxPacket {
    /// `skb->len` in bytes.
    pub len: u32,
    /// Buffers: the linear part plus page fragments (`nr_frags + 1`).
    pub frags: u16,
    /// Protocol header bytes; under LLQ up to the entry's header room is pushed inline.
    pub header_len: u16,
    /// Offload wishes.
    pub offload: Offload,
    /// `netdev_xmit_more()`: more packets follow at once, so the doorbell may wait.
    pub xmit_more: bool,
}

/// What the driver remembers per outstanding req_id (`struct ena_tx_buffer`).
#[derive(Debug, Clone, Copy, Default)]
struct TxInfo {
    entries: u16,
    in_flight: bool,
}

/// Device-side state of the queue (see `device.rs`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DeviceTx {
    pub head: RingPos,
    pub db_tail: u16,
    pub cq_tail: RingPos,
    pub stats: DeviceTxStats,
}

/// One ENA TX queue: the submission and completion rings, the driver's state and the device's state.
///
/// `N` is the storage in descriptor slots (and completion entries); it must hold `depth` entries of the
/// placement's size (1 slot per entry for host placement, `entry_size / 16` for LLQ).
pub struct TxQueue<const N: usize> {
    pub(crate) cfg: TxQueueConfig,
    pub(crate) mask: u16,
    pub(crate) sq: [TxDesc; N],
    pub(crate) cq: [TxCdesc; N],
    tail: RingPos,
    next_to_comp: u16,
    cq_head: RingPos,
    free_ids: Deque<u16, N>,
    tx_info: [TxInfo; N],
    stopped: bool,
    pub(crate) reset_pending: bool,
    entries_since_doorbell: u16,
    cached_meta: Option<Offload>,
    stats: TxStats,
    pub(crate) dev: DeviceTx,
}

impl<const N: usize> TxQueue<N> {
    /// Creates a queue, checking the configuration against the storage.
    pub fn new(cfg: TxQueueConfig) -> Result<Self> {
        let slots = cfg.placement.slots_per_entry() as usize;
        if let Placement::Llq(llq) = cfg.placement {
            llq.validate()?;
        }
        let mask = check_depth("tx.depth", cfg.depth, N / slots.max(1))?;
        if cfg.max_sg == 0 || cfg.max_sg > 255 {
            return Err(Error::InvalidConfig {
                field: "tx.max_sg",
                reason: "must be between 1 and 255",
            });
        }
        let mut q = Self {
            cfg,
            mask,
            sq: [TxDesc::default(); N],
            cq: [TxCdesc::default(); N],
            tail: RingPos::default(),
            next_to_comp: 0,
            cq_head: RingPos::default(),
            free_ids: Deque::new(),
            tx_info: [TxInfo::default(); N],
            stopped: false,
            reset_pending: false,
            entries_since_doorbell: 0,
            cached_meta: None,
            stats: TxStats::default(),
            dev: DeviceTx::default(),
        };
        q.init_rings();
        Ok(q)
    }

    fn init_rings(&mut self) {
        self.sq.fill(TxDesc::default());
        self.cq.fill(TxCdesc::default());
        self.tail = RingPos::default();
        self.next_to_comp = 0;
        self.cq_head = RingPos::default();
        self.free_ids.clear();
        // `free_ids[i] = i` at init (`ena_setup_tx_resources`); depth <= N, so this never overflows.
        for id in 0..self.cfg.depth {
            let _ = self.free_ids.push_back(id);
        }
        self.tx_info.fill(TxInfo::default());
        self.stopped = false;
        self.reset_pending = false;
        self.entries_since_doorbell = 0;
        self.cached_meta = None;
        let stats = self.dev.stats;
        self.dev = DeviceTx {
            stats,
            ..DeviceTx::default()
        };
    }

    /// The configuration.
    pub fn config(&self) -> &TxQueueConfig {
        &self.cfg
    }

    /// Driver counters (`queue_N_tx_*`).
    pub fn stats(&self) -> &TxStats {
        &self.stats
    }

    /// Device-side counters.
    pub fn device_stats(&self) -> &DeviceTxStats {
        &self.dev.stats
    }

    /// Free submission entries (`ena_com_free_q_entries`).
    #[inline(always)]
    pub fn free_entries(&self) -> u16 {
        free_entries(self.cfg.depth, self.tail.counter, self.next_to_comp)
    }

    /// Packets handed to the device whose completion has not been processed.
    pub fn in_flight(&self) -> u16 {
        self.cfg.depth - self.free_ids.len() as u16
    }

    /// Whether the stack may not transmit on this queue (`netif_tx_queue_stopped`).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Whether a reset was requested (by the device on malformed input, or by the driver on a bad completion).
    pub fn reset_pending(&self) -> bool {
        self.reset_pending
    }

    /// Resets the queue as `ena_destroy_device`/`ena_restore_device` do: rings re-initialised, outstanding
    /// packets dropped, counters kept.
    pub fn reset(&mut self) {
        self.init_rings();
    }

    #[inline(always)]
    fn have_enough_space(&self, required: u16) -> bool {
        self.cfg
            .placement
            .have_enough_space(self.free_entries(), required)
    }

    /// `ena_start_xmit`: map `pkt` into descriptors, maybe stop the queue, maybe ring the doorbell.
    /// Returns the req_id the packet travels under.
    #[inline]
    pub fn xmit(&mut self, pkt: &TxPacket) -> Result<u16> {
        if self.reset_pending {
            return Err(Error::ResetPending);
        }
        if self.stopped {
            return Err(Error::QueueStopped);
        }
        let req_id = match self
            .prepare_single_host(pkt)
            .map_or_else(|| self.prepare(pkt), Ok)
        {
            Ok(id) => id,
            Err(e) => {
                self.stats.prepare_ctx_err += 1;
                return Err(e);
            }
        };
        self.stats.cnt += 1;
        self.stats.bytes += pkt.len as u64;

        // Stop when a worst-case packet might not fit, then re-check once (`ena_start_xmit`).
        if !self.have_enough_space(self.cfg.max_sg + 2) {
            self.stopped = true;
            self.stats.queue_stop += 1;
            if self.have_enough_space(defs::ENA_TX_WAKEUP_THRESH) {
                self.stopped = false;
                self.stats.queue_wakeup += 1;
            }
        }
        if self.stopped || !pkt.xmit_more {
            self.doorbell();
        }
        Ok(req_id)
    }

    /// The common case of `ena_com_prepare_tx` on its own: host placement, one buffer, no offload context, room
    /// in the ring. Writes exactly what [`prepare`](Self::prepare) would; `None` sends the packet down that path.
    #[inline(always)]
    fn prepare_single_host(&mut self, pkt: &TxPacket) -> Option<u16> {
        if !matches!(self.cfg.placement, Placement::Host)
            || pkt.frags > 1
            || pkt.len.wrapping_sub(1) >= u16::MAX as u32
            || pkt.offload.meta_valid()
            || self.free_entries() == 0
        {
            return None;
        }
        let req_id = self.free_ids.pop_front()?;
        let mut ctrl = TxCtrl::COMP_REQ | TxCtrl::FIRST | TxCtrl::LAST;
        ctrl.set(TxCtrl::PHASE, self.tail.phase == 1);
        let o = &pkt.offload;
        let addr = 0x1000_0000 + ((req_id as u64) << 16);
        self.sq[self.tail.slot(self.mask)] = TxDesc::data(
            pkt.len as u16,
            req_id,
            ctrl,
            o.l3_proto,
            o.l4_proto,
            o.flags,
            addr,
            0,
        );
        self.tx_info[req_id as usize] = TxInfo {
            entries: 1,
            in_flight: true,
        };
        self.tail.inc(self.mask);
        self.entries_since_doorbell += 1;
        Some(req_id)
    }

    /// `ena_com_prepare_tx`: write the packet's descriptors at the tail.
    #[inline(always)]
    fn prepare(&mut self, pkt: &TxPacket) -> Result<u16> {
        let placement = self.cfg.placement;
        let push = pkt
            .header_len
            .min(placement.max_header())
            .min(pkt.len.min(u16::MAX as u32) as u16);
        let payload = pkt.len - push as u32;
        let mut bufs = if payload == 0 { 0 } else { pkt.frags.max(1) };
        if bufs > self.cfg.max_sg {
            // `ena_check_and_linearize_skb`: too many fragments for the device.
            self.stats.linearize += 1;
            bufs = 1;
        }
        if (bufs as u32 * u16::MAX as u32) < payload {
            return Err(Error::InvalidConfig {
                field: "packet.len",
                reason: "a buffer would exceed 65535 bytes",
            });
        }
        if push == 0 && payload == 0 {
            return Err(Error::EmptyPacket {
                index: self.tail.counter & self.mask,
            });
        }
        let meta = pkt.offload.meta_valid()
            && self
                .cached_meta
                .is_none_or(|c| !c.same_context(&pkt.offload));
        let descs = bufs.max(1) + meta as u16;
        let entries = placement.entries_for(descs);
        if !self.have_enough_space(descs) || entries > self.free_entries() {
            return Err(Error::NoSpace);
        }
        // `ena_com_is_doorbell_needed`: ring before the burst limit would be exceeded.
        let burst = self.cfg.max_entries_in_tx_burst;
        if burst != 0 && self.entries_since_doorbell + entries > burst {
            self.doorbell();
        }
        let Some(req_id) = self.free_ids.pop_front() else {
            return Err(Error::NoSpace);
        };
        if meta {
            self.cached_meta = Some(pkt.offload);
        }
        self.write_descs(pkt, req_id, meta, bufs, push, payload);
        self.tx_info[req_id as usize] = TxInfo {
            entries,
            in_flight: true,
        };
        self.tail.advance(entries, self.mask);
        self.entries_since_doorbell += entries;
        Ok(req_id)
    }

    #[inline(always)]
    fn write_descs(
        &mut self,
        pkt: &TxPacket,
        req_id: u16,
        meta: bool,
        bufs: u16,
        push: u16,
        payload: u32,
    ) {
        let spl = self.cfg.placement.slots_per_entry();
        let first_slots = self.cfg.placement.first_entry_slots();
        let base_entry = self.tail;
        let mut entry = base_entry;
        let mut slot: u16 = 0;
        let mut limit = first_slots;
        let next_slot =
            |entry: &mut RingPos, slot: &mut u16, limit: &mut u16, mask: u16| -> usize {
                if *slot == *limit {
                    entry.inc(mask);
                    *slot = 0;
                    *limit = spl;
                }
                let idx = entry.slot(mask) * spl as usize + *slot as usize;
                *slot += 1;
                idx
            };
        if spl > 1 {
            // LLQ: the bounce buffer of each entry starts zeroed.
            let lines = self.cfg.placement.entries_for(bufs.max(1) + meta as u16);
            let mut e = base_entry;
            for _ in 0..lines {
                let start = e.slot(self.mask) * spl as usize;
                self.sq[start..start + spl as usize].fill(TxDesc::default());
                e.inc(self.mask);
            }
        }
        let o = &pkt.offload;
        if meta {
            let mut ctrl = TxMetaCtrl::EXT_VALID
                | TxMetaCtrl::ETH_META_TYPE
                | TxMetaCtrl::META_STORE
                | TxMetaCtrl::FIRST;
            ctrl.set(TxMetaCtrl::PHASE, entry.phase == 1);
            let m = TxMetaDesc::new(
                req_id,
                ctrl,
                o.mss,
                o.l3_hdr_len,
                o.l3_hdr_off,
                o.l4_hdr_len_words,
            );
            let idx = next_slot(&mut entry, &mut slot, &mut limit, self.mask);
            self.sq[idx] = zerocopy::transmute!(m);
        }
        let n = bufs.max(1);
        let (each, rem) = if bufs == 0 {
            (0, 0)
        } else {
            (payload / bufs as u32, payload % bufs as u32)
        };
        for i in 0..n {
            let mut ctrl = TxCtrl::empty();
            if i == 0 {
                ctrl |= TxCtrl::COMP_REQ;
                if !meta {
                    ctrl |= TxCtrl::FIRST;
                }
            }
            if i + 1 == n {
                ctrl |= TxCtrl::LAST;
            }
            let idx = next_slot(&mut entry, &mut slot, &mut limit, self.mask);
            ctrl.set(TxCtrl::PHASE, entry.phase == 1);
            let len = each + if i == 0 { rem } else { 0 };
            let header = if i == 0 { push as u8 } else { 0 };
            let addr = 0x1000_0000 + ((req_id as u64) << 16) + i as u64 * 0x1_0000_0000;
            self.sq[idx] = TxDesc::data(
                len as u16,
                req_id,
                ctrl,
                o.l3_proto,
                o.l4_proto,
                o.flags,
                addr & 0xffff_ffff_ffff,
                header,
            );
        }
        if push > 0 {
            // The header is copied into the first entry after the leading descriptors.
            let start = base_entry.slot(self.mask) * spl as usize + first_slots as usize;
            let room = zerocopy::IntoBytes::as_mut_bytes(
                &mut self.sq[start..start + (spl - first_slots) as usize],
            );
            let len = (push as usize).min(room.len());
            for (k, b) in room[..len].iter_mut().enumerate() {
                *b = (req_id as u8) ^ (k as u8);
            }
        }
    }

    /// Writes the SQ tail to the device (`ena_com_write_sq_doorbell`).
    #[inline(always)]
    pub fn doorbell(&mut self) {
        self.dev.db_tail = self.tail.counter;
        self.entries_since_doorbell = 0;
        self.stats.doorbells += 1;
    }

    /// `ena_clean_tx_irq` run from one NAPI poll: process up to `budget` completions, free their req_ids and
    /// descriptors, and wake the queue once enough entries are free. Returns the packets completed.
    ///
    /// A completion with a req_id outside the ring or not outstanding bumps `bad_req_id` and requests a reset
    /// (`handle_invalid_req_id`); must-be-zero flag bits also request a reset.
    #[inline]
    pub fn clean_tx_irq(&mut self, budget: u16) -> Result<u16> {
        let mut done = 0;
        let mut result = Ok(());
        while done < budget {
            let c = self.cq[self.cq_head.slot(self.mask)];
            if c.phase() != self.cq_head.phase {
                break;
            }
            if let Err(e) = self.complete_one(&c) {
                self.reset_pending = true;
                self.dev.stats.resets_requested += 1;
                result = Err(e);
                break;
            }
            self.cq_head.inc(self.mask);
            done += 1;
        }
        self.stats.tx_poll += 1;
        if done < budget {
            self.stats.napi_comp += 1;
            self.stats.unmask_interrupt += 1;
        }
        if self.stopped && !self.reset_pending && self.have_enough_space(defs::ENA_TX_WAKEUP_THRESH)
        {
            self.stopped = false;
            self.stats.queue_wakeup += 1;
        }
        result.map(|()| done)
    }

    #[inline(always)]
    fn complete_one(&mut self, c: &TxCdesc) -> Result<()> {
        if c.mbz_bits() != 0 {
            return Err(Error::MustBeZero {
                index: self.cq_head.counter & self.mask,
                word: 0,
                bits: (c.mbz_bits() as u32) << 24,
            });
        }
        let req_id = c.req_id.get();
        if req_id >= self.cfg.depth {
            self.stats.bad_req_id += 1;
            return Err(Error::BadReqId {
                req_id,
                depth: self.cfg.depth,
            });
        }
        let info = &mut self.tx_info[req_id as usize];
        if !info.in_flight {
            self.stats.bad_req_id += 1;
            return Err(Error::ReqIdNotOutstanding { req_id });
        }
        info.in_flight = false;
        self.next_to_comp = self.next_to_comp.wrapping_add(info.entries);
        // Cannot fail: at most `depth` ids exist and this one was taken out.
        let _ = self.free_ids.push_back(req_id);
        Ok(())
    }

    /// Raw submission ring, for tests and fuzzers that play a hostile or buggy driver.
    pub fn sq_raw_mut(&mut self) -> &mut [TxDesc; N] {
        &mut self.sq
    }

    /// Raw completion ring, for tests and fuzzers that play a hostile or buggy device.
    pub fn cq_raw_mut(&mut self) -> &mut [TxCdesc; N] {
        &mut self.cq
    }

    /// Writes an arbitrary tail to the doorbell register, as a buggy driver might.
    pub fn doorbell_raw(&mut self, tail: u16) {
        self.dev.db_tail = tail;
    }

    /// The req_ids currently free, in the order they will be handed out.
    pub fn free_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.free_ids.iter().copied()
    }
}
