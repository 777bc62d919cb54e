//! Driver side of one ENA TX queue: `ena_start_xmit`, `ena_com_prepare_tx`, the doorbell, `ena_clean_tx_irq`,
//! and queue stop/wake, over descriptor rings the device side (`device.rs`) reads.

use crate::defs::DESC_SIZE;
use crate::desc::{TxCdesc, TxCtrl, TxDesc, TxDescRepr, TxMetaCtrl, TxMetaDescRepr, TxOffload};
use crate::llq::{LlqConfig, Placement};
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
    /// The driver's `tx_ring->sgl_size`: `max_tx_sgl_size`, the device's per-packet descriptor limit capped at
    /// `ENA_PKT_MAX_BUFS` (19) by `ena_calc_io_queue_size`; 1 to 19.
    pub max_sg: u16,
    /// `max_entries_in_tx_burst` the device advertised for LLQ; 0 when it sets none.
    pub max_entries_in_tx_burst: u16,
    /// Host placement only: the `max_tx_header_size` the device advertised (`ena_ring.tx_max_header_size` is a
    /// `u8`). The driver writes `min(skb_headlen, this)` into the first descriptor's header-length field and uses
    /// it in `ena_check_and_linearize_skb`. Under LLQ the entry layout decides it ([`Placement::max_header`]).
    pub max_header_size: u8,
    /// Byte queue limit of the stack's TX queue (`dql.limit`), held fixed: once more than this many bytes are in
    /// flight `netdev_tx_sent_queue` stops the queue (`__QUEUE_STATE_STACK_XOFF`) and `ena_start_xmit` rings the
    /// doorbell whatever `xmit_more` says. The kernel adapts the limit (`dql_completed`); the model does not.
    /// 0: byte queue limits not modelled.
    pub bql_limit: u32,
}

impl Default for TxQueueConfig {
    fn default() -> Self {
        Self {
            depth: defs::ENA_DEFAULT_RING_SIZE,
            placement: Placement::Host,
            max_sg: defs::MAX_SKB_FRAGS,
            max_entries_in_tx_burst: 0,
            max_header_size: 0,
            bql_limit: 0,
        }
    }
}

/// Offload context of a packet: the `struct ena_com_tx_ctx` fields that `ena_tx_csum` fills.
///
/// The data descriptor carries these bits only when the packet has a meta context ([`Offload::meta_valid`]), as
/// in `ena_com_prepare_tx`; `ena_tx_csum` sets none of them otherwise, so the model then writes none.
/// [`TxOffload::ETHERNET_FCS_DIS`] has no `ena_com_tx_ctx` field in 6.1 and is never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Offload {
    /// L3 protocol index ([`defs::L3_PROTO_IPV4`], [`defs::L3_PROTO_IPV6`], 0 unknown).
    pub l3_proto: u8,
    /// L4 protocol index ([`defs::L4_PROTO_TCP`], [`defs::L4_PROTO_UDP`], 0 unknown).
    pub l4_proto: u8,
    /// Offload bits for the first data descriptor.
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
}

/// One packet as the stack hands it to `ndo_start_xmit`: its length, its shape (linear part and page
/// fragments), its offload context and `xmit_more`.
///
/// The page fragments share `len - head_len` evenly, the first ones one byte more when it does not divide;
/// [`TxQueue::xmit_frags`] takes their sizes one by one instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TxPacket {
    /// `skb->len` in bytes.
    pub len: u32,
    /// Buffers: the linear part plus page fragments (`nr_frags + 1`); 0 reads as 1.
    pub frags: u16,
    /// `skb_headlen()`: bytes in the linear part. Ignored for a packet without page fragments, whose linear
    /// part is all of `len`.
    pub head_len: u32,
    /// Offload context.
    pub offload: Offload,
    /// `netdev_xmit_more()`: more packets follow at once, so the doorbell may wait.
    pub xmit_more: bool,
}

/// The DMA address the model gives buffer `buf` (in `ena_com_buf` order) of the packet sent under `req_id`.
/// The model maps no memory; a fixed pattern lets a comparison with the real driver feed it the same addresses.
#[inline(always)]
pub const fn dma_addr(req_id: u16, buf: u16) -> u64 {
    0x1000_0000 + ((req_id as u64) << 16) + ((buf as u64) << 32)
}

/// Byte `offset` of the packet sent under `req_id`: the model carries no payload, but the bytes it pushes
/// inline under LLQ follow this pattern so a comparison can check where each one lands.
#[inline(always)]
pub const fn packet_byte(req_id: u16, offset: u16) -> u8 {
    (req_id as u8) ^ (offset as u8)
}

/// Writes the first `room.len()` bytes of the packet sent under `req_id` ([`packet_byte`]) into `room`, eight at a
/// time: byte k is `req_id ^ k`, and k < 256 never carries between bytes.
#[inline(always)]
fn fill_pushed_header(room: &mut [u8], req_id: u16) {
    let splat = (req_id as u8 as u64) * 0x0101_0101_0101_0101;
    let done = room.len() / 8 * 8;
    let mut chunks = room.chunks_exact_mut(8);
    let mut k = 0x0706_0504_0302_0100u64;
    for c in &mut chunks {
        c.copy_from_slice(&(k ^ splat).to_le_bytes());
        k = k.wrapping_add(0x0808_0808_0808_0808);
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b = packet_byte(req_id, (done + i) as u16);
    }
}

/// A 128-byte LLQ line of the 6.1 driver's default layout (two descriptor slots, 96 header bytes) for a packet of
/// at least 96 bytes: `desc`, a zero slot, then bytes 0 to 95 of the packet sent under `req_id` ([`packet_byte`]).
#[inline(always)]
fn default_llq_line(desc: TxDesc, req_id: u16) -> [TxDesc; 8] {
    let first: [u64; 2] = zerocopy::transmute!(desc);
    let splat = (req_id as u8 as u64) * 0x0101_0101_0101_0101;
    let mut words = [0u64; 16];
    words[0] = first[0];
    words[1] = first[1];
    for (i, w) in words[4..].iter_mut().enumerate() {
        // Bytes 8i .. 8i + 7 of the header: k ^ req_id with k < 96, so no carry between bytes.
        *w = ((0x0706_0504_0302_0100u64 + i as u64 * 0x0808_0808_0808_0808) ^ splat).to_le();
    }
    zerocopy::transmute!(words)
}

/// `ENA_PKT_MAX_BUFS`: buffers per packet the driver's `ena_tx_buffer` holds.
pub const ENA_PKT_MAX_BUFS: u16 = 19;

/// Most buffers a packet can map: a page fragment per `sgl_size` plus the linear part, which stays a buffer of
/// its own in host placement when `ena_check_and_linearize_skb` lets `sgl_size` fragments through.
const MAX_BUFS: usize = ENA_PKT_MAX_BUFS as usize + 1;

/// `struct ena_com_tx_meta`: compared whole against the queue's cached copy (`ena_com_meta_desc_changed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct TxMeta {
    mss: u16,
    l3_hdr_len: u16,
    l3_hdr_offset: u16,
    l4_hdr_len: u16,
}

/// `struct ena_com_tx_ctx`, as `ena_start_xmit` hands it to `ena_com_prepare_tx`.
#[derive(Debug, Clone, Copy)]
struct TxCtx {
    meta: TxMeta,
    bufs: [u16; MAX_BUFS],
    num_bufs: u16,
    req_id: u16,
    header_len: u16,
    meta_valid: bool,
    l3_proto: u8,
    l4_proto: u8,
    flags: TxOffload,
}

impl TxCtx {
    /// Appends a buffer of `len` bytes (`ena_com_buf`); one over 65535 bytes cannot be described.
    fn push_buf(&mut self, len: u32) -> Result<()> {
        let len = u16::try_from(len).map_err(|_| Error::InvalidConfig {
            field: "packet",
            reason: "a buffer would exceed 65535 bytes",
        })?;
        if let Some(b) = self.bufs.get_mut(self.num_bufs as usize) {
            *b = len;
        }
        self.num_bufs += 1;
        Ok(())
    }
}

/// The skb's shape as `ena_start_xmit` sees it after `ena_check_and_linearize_skb`.
#[derive(Debug, Clone, Copy)]
struct SkbShape {
    /// `skb_headlen()`: bytes in the linear part.
    head: u32,
    /// Page fragments (0 once linearized).
    nr_frags: usize,
    /// Bytes in page fragments before linearizing.
    paged: u32,
    /// Fragments the paged bytes are shared among when no sizes are given (at least 1).
    split: u32,
}

impl SkbShape {
    /// Size of fragment `i`: from `frag_lens`, or the even share of [`TxPacket`] (the first ones one byte more).
    fn frag_len(&self, frag_lens: Option<&[u32]>, i: usize) -> u32 {
        match frag_lens {
            Some(f) => f.get(i).copied().unwrap_or(0),
            None => self.paged / self.split + u32::from((i as u32) < self.paged % self.split),
        }
    }
}

/// LLQ write state: the bounce buffer of the line being built (`ena_com_llq_pkt_ctrl`) and the burst budget.
#[derive(Debug, Clone, Copy)]
struct LlqState {
    bounce: [TxDesc; 16],
    idx: u16,
    descs_left_in_line: u16,
    entries_in_tx_burst_left: u16,
}

/// What the driver remembers per outstanding req_id (`struct ena_tx_buffer`).
#[derive(Debug, Clone, Copy, Default)]
struct TxInfo {
    /// `tx_descs`: ring entries the packet took (`nb_hw_desc`), given back at completion.
    entries: u16,
    /// `skb->len`, for the byte queue limit.
    len: u32,
    /// `tx_info->skb != NULL`.
    in_flight: bool,
}

/// `tx_ring->free_ids` with its two indices: `ena_start_xmit` sends under `free_ids[next_to_use]` and moves
/// `next_to_use` on, `ena_clean_tx_irq` writes each completed req_id at `free_ids[next_to_clean]` and moves
/// `next_to_clean` on (`ENA_TX_RING_IDX_NEXT`). The indices run free here and are masked with `depth - 1`; the
/// free req_ids are those from `next_to_use` up to `next_to_clean + depth`, in the order they will be handed out.
#[derive(Debug, Clone, Copy)]
struct FreeIds<const N: usize> {
    ids: [u16; N],
    next_to_use: u16,
    next_to_clean: u16,
}

impl<const N: usize> FreeIds<N> {
    /// `free_ids[i] = i` (`ena_setup_tx_resources`); `depth <= N`.
    fn init(&mut self, depth: u16) {
        for (i, id) in self.ids.iter_mut().enumerate().take(depth as usize) {
            *id = i as u16;
        }
        self.next_to_use = 0;
        self.next_to_clean = 0;
    }

    /// Req_ids handed out and not given back.
    #[inline(always)]
    fn in_flight(&self) -> u16 {
        self.next_to_use.wrapping_sub(self.next_to_clean)
    }

    /// The req_id the next packet goes under, `None` when all `depth = mask + 1` are out.
    #[inline(always)]
    fn next(&self, mask: u16) -> Option<u16> {
        if self.in_flight() > mask {
            return None;
        }
        self.ids.get((self.next_to_use & mask) as usize).copied()
    }

    /// Hands out the next req_id (the caller checked there is one with [`next`](Self::next)).
    #[inline(always)]
    fn take(&mut self, mask: u16) -> u16 {
        let id = self
            .ids
            .get((self.next_to_use & mask) as usize)
            .copied()
            .unwrap_or(0);
        self.next_to_use = self.next_to_use.wrapping_add(1);
        id
    }

    /// Puts a completed req_id back; ignored when none is out.
    #[inline(always)]
    fn give_back(&mut self, req_id: u16, mask: u16) {
        if self.in_flight() == 0 {
            return;
        }
        if let Some(slot) = self.ids.get_mut((self.next_to_clean & mask) as usize) {
            *slot = req_id;
        }
        self.next_to_clean = self.next_to_clean.wrapping_add(1);
    }
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
    free_ids: FreeIds<N>,
    tx_info: [TxInfo; N],
    stopped: bool,
    stack_stopped: bool,
    bql_in_flight: u64,
    pub(crate) reset_pending: bool,
    cached_meta: TxMeta,
    llq: LlqState,
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
        if cfg.max_sg == 0 || cfg.max_sg > ENA_PKT_MAX_BUFS {
            return Err(Error::InvalidConfig {
                field: "tx.max_sg",
                reason: "must be between 1 and 19 (ENA_PKT_MAX_BUFS)",
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
            free_ids: FreeIds {
                ids: [0; N],
                next_to_use: 0,
                next_to_clean: 0,
            },
            tx_info: [TxInfo::default(); N],
            stopped: false,
            stack_stopped: false,
            bql_in_flight: 0,
            reset_pending: false,
            cached_meta: TxMeta::default(),
            llq: LlqState {
                bounce: [TxDesc::default(); 16],
                idx: 0,
                descs_left_in_line: 0,
                entries_in_tx_burst_left: 0,
            },
            stats: TxStats::default(),
            dev: DeviceTx::default(),
        };
        q.init_rings();
        Ok(q)
    }

    /// `ena_com_create_io_queue` / `ena_com_init_io_sq` and `ena_setup_tx_resources`: everything starts afresh.
    fn init_rings(&mut self) {
        self.sq.fill(TxDesc::default());
        self.cq.fill(TxCdesc::default());
        self.tail = RingPos::default();
        self.next_to_comp = 0;
        self.cq_head = RingPos::default();
        self.free_ids.init(self.cfg.depth);
        self.tx_info.fill(TxInfo::default());
        self.stopped = false;
        self.stack_stopped = false;
        self.bql_in_flight = 0;
        self.reset_pending = false;
        // The io_sq is zeroed when the queue is created: the meta cache starts as an all-zero context.
        self.cached_meta = TxMeta::default();
        self.llq.bounce.fill(TxDesc::default());
        self.llq.idx = 0;
        self.llq.descs_left_in_line = self.cfg.placement.first_entry_slots();
        self.llq.entries_in_tx_burst_left = self.cfg.max_entries_in_tx_burst;
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

    /// The driver's SQ tail (`io_sq->tail`), free-running.
    pub fn sq_tail(&self) -> u16 {
        self.tail.counter
    }

    /// The driver's completion-queue head (`io_cq->head`), free-running.
    pub fn completion_head(&self) -> u16 {
        self.cq_head.counter
    }

    /// The last tail written to the doorbell register.
    pub fn doorbell_tail(&self) -> u16 {
        self.dev.db_tail
    }

    /// Packets handed to the device whose completion has not been processed.
    pub fn in_flight(&self) -> u16 {
        self.free_ids.in_flight()
    }

    /// Whether the driver stopped the queue (`netif_tx_queue_stopped`: `__QUEUE_STATE_DRV_XOFF`).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Whether the stack may not transmit on this queue (`netif_xmit_stopped`): the driver stopped it, or the byte
    /// queue limit did.
    pub fn is_xmit_stopped(&self) -> bool {
        self.stopped || self.stack_stopped
    }

    /// Whether a reset was requested (by the device on malformed input, or by the driver on a bad completion or a
    /// failed prepare other than a full ring).
    pub fn reset_pending(&self) -> bool {
        self.reset_pending
    }

    /// Resets the queue as `ena_destroy_device`/`ena_restore_device` do: rings re-initialised, outstanding
    /// packets dropped, counters kept.
    pub fn reset(&mut self) {
        self.init_rings();
    }

    /// `ena_com_sq_have_enough_space`.
    #[inline(always)]
    fn have_enough_space(&self, required: u16) -> bool {
        self.cfg
            .placement
            .have_enough_space(self.free_entries(), required)
    }

    /// `tx_ring->tx_max_header_size`: the LLQ header room, or what the device advertised for host placement.
    #[inline(always)]
    fn tx_max_header_size(&self) -> u16 {
        match self.cfg.placement {
            Placement::Host => self.cfg.max_header_size as u16,
            p => p.max_header(),
        }
    }

    /// `ena_start_xmit` for a packet whose page fragments share `len - head_len` evenly (see [`TxPacket`]).
    /// Returns the req_id the packet travels under.
    ///
    /// An error means the packet did not reach the ring. [`Error::QueueStopped`] and [`Error::ResetPending`]:
    /// the stack would not have called the driver, it keeps the packet. Anything else: the driver dropped it
    /// (`NETDEV_TX_OK` after `dev_kfree_skb`), counted in `prepare_ctx_err` when `ena_com_prepare_tx` failed;
    /// every failure but a full ring ([`Error::NoSpace`]) also requests a reset, as `ena_xmit_common` does.
    #[inline]
    pub fn xmit(&mut self, pkt: &TxPacket) -> Result<u16> {
        if let Some(r) = self.xmit_linear(pkt) {
            return r;
        }
        self.start_xmit(pkt, None)
    }

    /// [`xmit`](Self::xmit) for a packet whose page fragments have the sizes in `frag_lens`
    /// (`skb_shinfo(skb)->frags`); `pkt.frags` is ignored. The sizes must add up to `len - head_len`.
    pub fn xmit_frags(&mut self, pkt: &TxPacket, frag_lens: &[u32]) -> Result<u16> {
        self.start_xmit(pkt, Some(frag_lens))
    }

    /// The common case on its own: a linear packet without offload context, room in the ring, one descriptor.
    /// Writes exactly what [`start_xmit`](Self::start_xmit) would (`tests/fast_path.rs` compares the two byte for
    /// byte, and `ena-oracle` compares this path with the 6.1 driver); `None` sends the packet down that path.
    #[inline(always)]
    fn xmit_linear(&mut self, pkt: &TxPacket) -> Option<Result<u16>> {
        if pkt.frags > 1
            || pkt.len.wrapping_sub(1) >= u16::MAX as u32
            || pkt.offload.meta_valid()
            || self.reset_pending
            || self.is_xmit_stopped()
            // `ena_com_prepare_tx`: num_bufs + 1 for a possible meta descriptor.
            || !self.have_enough_space(2)
        {
            return None;
        }
        let req_id = self.free_ids.next(self.mask)?;
        let mut ctrl = TxCtrl::COMP_REQ | TxCtrl::FIRST | TxCtrl::LAST;
        ctrl.set(TxCtrl::PHASE, self.tail.phase == 1);
        match self.cfg.placement {
            Placement::Host => {
                let header = (pkt.len as u16).min(self.cfg.max_header_size as u16) as u8;
                self.sq[self.tail.slot(self.mask)] = TxDescRepr {
                    length: pkt.len as u16,
                    req_id,
                    ctrl,
                    addr: dma_addr(req_id, 0),
                    header_len: header,
                    ..TxDescRepr::default()
                }
                .emit();
            }
            Placement::Llq(l) => {
                // A meta descriptor with every packet, or a line half built: the general path.
                if l.disable_meta_caching || self.llq.idx != 0 {
                    return None;
                }
                // `ena_com_is_doorbell_needed`: one line, as the packet has at most one descriptor.
                if self.cfg.max_entries_in_tx_burst != 0 {
                    if self.llq.entries_in_tx_burst_left == 0 {
                        self.doorbell();
                    }
                    self.llq.entries_in_tx_burst_left -= 1;
                }
                // `ena_tx_map_skb`: min(len, tx_max_header_size) bytes pushed, the rest one buffer (none when the
                // packet is all header).
                let push = (pkt.len as u16).min(l.header_room());
                let buf = pkt.len as u16 - push;
                let desc = TxDescRepr {
                    length: buf,
                    req_id,
                    ctrl,
                    addr: if buf != 0 { dma_addr(req_id, 0) } else { 0 },
                    header_len: push as u8,
                    ..TxDescRepr::default()
                }
                .emit();
                self.write_llq_line(l, desc, req_id, push)?;
            }
        }
        self.tail.inc(self.mask);
        Some(Ok(self.xmit_done(pkt, 1)))
    }

    /// `ena_start_xmit` for every packet shape: the skb's shape, `ena_tx_map_skb`, `ena_tx_csum`,
    /// `ena_xmit_common`.
    fn start_xmit(&mut self, pkt: &TxPacket, frag_lens: Option<&[u32]>) -> Result<u16> {
        if self.reset_pending {
            return Err(Error::ResetPending);
        }
        if self.is_xmit_stopped() {
            return Err(Error::QueueStopped);
        }
        if pkt.len == 0 {
            return Err(Error::EmptyPacket {
                index: self.tail.counter & self.mask,
            });
        }
        let shape = self.check_and_linearize(pkt, frag_lens)?;
        let Some(req_id) = self.free_ids.next(self.mask) else {
            return Err(Error::NoSpace);
        };
        let mut ctx = self.tx_map_skb(pkt, frag_lens, &shape, req_id)?;
        self.tx_csum(&mut ctx, &pkt.offload);
        self.xmit_common(pkt, &ctx)
    }

    /// The skb's shape (linear part and page fragments, checked against `len`), then
    /// `ena_check_and_linearize_skb`: as many fragments as the device takes are fine only when the linear part
    /// is shorter than the header room; more are linearized.
    fn check_and_linearize(
        &mut self,
        pkt: &TxPacket,
        frag_lens: Option<&[u32]>,
    ) -> Result<SkbShape> {
        let nr_frags = match frag_lens {
            Some(f) => f.len(),
            None => pkt.frags.saturating_sub(1) as usize,
        };
        let head = if nr_frags == 0 { pkt.len } else { pkt.head_len };
        let paged = pkt.len.checked_sub(head).ok_or(Error::InvalidConfig {
            field: "packet.head_len",
            reason: "exceeds the packet length",
        })?;
        if let Some(f) = frag_lens
            && f.iter().try_fold(0u32, |a, b| a.checked_add(*b)) != Some(paged)
        {
            return Err(Error::InvalidConfig {
                field: "packet.frags",
                reason: "fragment sizes do not add up to len - head_len",
            });
        }
        let mut shape = SkbShape {
            head,
            nr_frags,
            paged,
            split: (nr_frags as u32).max(1),
        };
        let sgl = self.cfg.max_sg as usize;
        if nr_frags >= sgl && !(nr_frags == sgl && head < self.tx_max_header_size() as u32) {
            self.stats.linearize += 1;
            shape.nr_frags = 0;
            shape.head = pkt.len;
        }
        Ok(shape)
    }

    /// `ena_tx_map_skb`: the bytes pushed inline under LLQ (`min(len, tx_max_header_size)`, whatever the
    /// headers are; what the linear part lacks comes from the fragments, `skb_header_pointer`), then one buffer
    /// for the rest of the linear part and one per fragment not consumed by the push.
    fn tx_map_skb(
        &mut self,
        pkt: &TxPacket,
        frag_lens: Option<&[u32]>,
        shape: &SkbShape,
        req_id: u16,
    ) -> Result<TxCtx> {
        let mut ctx = TxCtx {
            meta: TxMeta::default(),
            bufs: [0; MAX_BUFS],
            num_bufs: 0,
            req_id,
            header_len: 0,
            meta_valid: false,
            l3_proto: 0,
            l4_proto: 0,
            flags: TxOffload::empty(),
        };
        let max_header = self.tx_max_header_size() as u32;
        let mut push_len = 0u32;
        let mut delta = 0u32;
        if let Placement::Llq(_) = self.cfg.placement {
            push_len = pkt.len.min(max_header);
            ctx.header_len = push_len as u16;
            if shape.head < push_len {
                self.stats.llq_buffer_copy += 1;
                delta = push_len - shape.head;
            }
        } else {
            ctx.header_len = shape.head.min(max_header) as u16;
        }
        if shape.head > push_len {
            ctx.push_buf(shape.head - push_len)?;
        }
        for i in 0..shape.nr_frags {
            let len = shape.frag_len(frag_lens, i);
            if delta >= len {
                delta -= len;
                continue;
            }
            ctx.push_buf(len - delta)?;
            delta = 0;
        }
        if ctx.num_bufs as usize > MAX_BUFS {
            return Err(Error::TooManyDescriptors {
                count: ctx.num_bufs,
                max: MAX_BUFS as u16,
            });
        }
        Ok(ctx)
    }

    /// `ena_tx_csum`: the offload context, or under `disable_meta_caching` an all-zero one.
    fn tx_csum(&self, ctx: &mut TxCtx, o: &Offload) {
        if o.meta_valid() {
            ctx.meta_valid = true;
            ctx.l3_proto = o.l3_proto;
            ctx.l4_proto = o.l4_proto;
            ctx.flags = o.flags.difference(TxOffload::ETHERNET_FCS_DIS);
            ctx.meta = TxMeta {
                mss: o.mss,
                l3_hdr_len: o.l3_hdr_len as u16,
                l3_hdr_offset: o.l3_hdr_off as u16,
                l4_hdr_len: o.l4_hdr_len_words as u16,
            };
        } else if self.cfg.placement.disable_meta_caching() {
            ctx.meta_valid = true;
        }
    }

    /// `ena_xmit_common`: the doorbell a burst limit calls for, `ena_com_prepare_tx`, and on failure the drop
    /// (`prepare_ctx_err`) and, for anything but a full ring, a reset request
    /// (`ena_reset_device(adapter, ENA_REGS_RESET_DRIVER_INVALID_STATE)`).
    fn xmit_common(&mut self, pkt: &TxPacket, ctx: &TxCtx) -> Result<u16> {
        if self.is_doorbell_needed(ctx) {
            self.doorbell();
        }
        match self.prepare_tx(ctx) {
            Ok(entries) => Ok(self.xmit_done(pkt, entries)),
            Err(e) => {
                self.stats.prepare_ctx_err += 1;
                if e != Error::NoSpace {
                    self.reset_pending = true;
                    self.dev.stats.resets_requested += 1;
                }
                Err(e)
            }
        }
    }

    /// The rest of `ena_xmit_common` and `ena_start_xmit` once the descriptors are written: counters, the byte
    /// queue limit, stop/wake, doorbell.
    #[inline(always)]
    fn xmit_done(&mut self, pkt: &TxPacket, entries: u16) -> u16 {
        let req_id = self.free_ids.take(self.mask);
        self.stats.cnt += 1;
        self.stats.bytes += pkt.len as u64;
        if let Some(info) = self.tx_info.get_mut(req_id as usize) {
            *info = TxInfo {
                entries,
                len: pkt.len,
                in_flight: true,
            };
        }
        // `netdev_tx_sent_queue`.
        if self.cfg.bql_limit != 0 {
            self.bql_in_flight += pkt.len as u64;
            if self.bql_in_flight > self.cfg.bql_limit as u64 {
                self.stack_stopped = true;
            }
        }
        // Stop when a worst-case packet (sgl_size buffers, a meta descriptor and a header) might not fit, then
        // re-check once.
        if !self.have_enough_space(self.cfg.max_sg + 2) {
            self.stopped = true;
            self.stats.queue_stop += 1;
            if self.have_enough_space(defs::ENA_TX_WAKEUP_THRESH) {
                self.stopped = false;
                self.stats.queue_wakeup += 1;
            }
        }
        // `if (netif_xmit_stopped(txq) || !netdev_xmit_more())`.
        if self.is_xmit_stopped() || !pkt.xmit_more {
            self.doorbell();
        }
        req_id
    }

    /// A one-descriptor packet's line as `ena_com_write_bounce_buffer_to_dev` copies it into device memory at the
    /// tail: the descriptor, the other leading slots zero, the `push` bytes pushed, zero up to the end of the line.
    /// Written in place rather than built in the bounce buffer and copied. `None` only if the ring storage were
    /// too small, which `new` rules out.
    #[inline(always)]
    fn write_llq_line(&mut self, l: LlqConfig, desc: TxDesc, req_id: u16, push: u16) -> Option<()> {
        let spl = l.descs_per_entry() as usize;
        let before = l.descs_before_header as usize;
        let start = self.tail.slot(self.mask) * spl;
        let line = self.sq.get_mut(start..start + spl)?;
        if let (Ok(line), true) = (
            <&mut [TxDesc; 8]>::try_from(&mut *line),
            before == 2 && push == 96,
        ) {
            // The driver's default layout, a full push: the whole line in one go.
            *line = default_llq_line(desc, req_id);
        } else {
            let (descs, header) = line.split_at_mut(before);
            if let Some((first, rest)) = descs.split_first_mut() {
                *first = desc;
                rest.fill(TxDesc::default());
            }
            let header = zerocopy::IntoBytes::as_mut_bytes(header);
            let (pushed, pad) = header.split_at_mut((push as usize).min(header.len()));
            fill_pushed_header(pushed, req_id);
            pad.fill(0);
        }
        Some(())
    }

    /// `ena_com_meta_desc_changed`, or `disable_meta_caching`: whether this packet writes a meta descriptor.
    #[inline(always)]
    fn needs_meta(&self, ctx: &TxCtx) -> bool {
        self.cfg.placement.disable_meta_caching()
            || (ctx.meta_valid && ctx.meta != self.cached_meta)
    }

    /// `ena_com_is_doorbell_needed`: under LLQ with a burst limit, would this packet's entries exceed what is left
    /// of the burst? (It counts `num_bufs` descriptors plus the meta descriptor.)
    #[inline(always)]
    fn is_doorbell_needed(&self, ctx: &TxCtx) -> bool {
        let Placement::Llq(l) = self.cfg.placement else {
            return false;
        };
        if self.cfg.max_entries_in_tx_burst == 0 {
            return false;
        }
        let descs = ctx.num_bufs + self.needs_meta(ctx) as u16;
        let before = l.descs_before_header as u16;
        let mut needed = 1;
        if descs > before {
            needed += (descs - before).div_ceil(l.descs_per_entry());
        }
        needed > self.llq.entries_in_tx_burst_left
    }

    /// `ena_com_prepare_tx`: the descriptors of one packet at the tail. Returns the entries used (`nb_hw_desc`).
    #[inline(always)]
    fn prepare_tx(&mut self, ctx: &TxCtx) -> Result<u16> {
        let start_tail = self.tail.counter;
        // num_bufs + 1 for a possible meta descriptor.
        if !self.have_enough_space(ctx.num_bufs + 1) {
            return Err(Error::NoSpace);
        }
        let max_header = self.tx_max_header_size();
        if ctx.header_len > max_header {
            return Err(Error::HeaderTooLong {
                len: ctx.header_len,
                room: max_header,
            });
        }
        self.write_header_to_bounce(ctx)?;
        // `ena_com_create_and_store_tx_meta_desc`.
        let have_meta = self.needs_meta(ctx);
        if have_meta {
            if !self.cfg.placement.disable_meta_caching() {
                self.cached_meta = ctx.meta;
            }
            self.create_meta(&ctx.meta);
            self.sq_update_tail()?;
        }
        if ctx.num_bufs == 0 && ctx.header_len == 0 {
            self.close_bounce_buffer()?;
            return Ok(self.tail.counter.wrapping_sub(start_tail));
        }
        let mut ctrl = TxCtrl::COMP_REQ;
        if !have_meta {
            ctrl |= TxCtrl::FIRST;
        }
        let (l3_proto, l4_proto, mut offload) = if ctx.meta_valid {
            (ctx.l3_proto, ctx.l4_proto, ctx.flags)
        } else {
            (0, 0, TxOffload::empty())
        };
        // DF is written whether or not the context is valid (`ena_tx_csum` sets it only for a valid one).
        offload.set(TxOffload::DF, ctx.flags.contains(TxOffload::DF));
        // The first data descriptor carries req_id, completion request, offload bits and header length; the
        // others only their buffer. Every one its phase; the last one `last` (one descriptor without buffer
        // when the packet is all pushed header).
        let first = TxDescRepr {
            req_id: ctx.req_id,
            ctrl,
            l3_proto,
            l4_proto,
            offload,
            header_len: ctx.header_len as u8,
            ..TxDescRepr::default()
        };
        let descs = ctx.num_bufs.max(1);
        for i in 0..descs {
            let mut d = if i == 0 { first } else { TxDescRepr::default() };
            d.ctrl.set(TxCtrl::PHASE, self.tail.phase == 1);
            if i < ctx.num_bufs {
                d.length = ctx.bufs.get(i as usize).copied().unwrap_or(0);
                d.addr = dma_addr(ctx.req_id, i);
            }
            if i + 1 == descs {
                d.ctrl |= TxCtrl::LAST;
            }
            self.put_desc(d.emit());
            self.sq_update_tail()?;
        }
        self.close_bounce_buffer()?;
        Ok(self.tail.counter.wrapping_sub(start_tail))
    }

    /// `ena_com_write_header_to_bounce`: under LLQ the pushed bytes go after the leading descriptors of the
    /// current line.
    #[inline(always)]
    fn write_header_to_bounce(&mut self, ctx: &TxCtx) -> Result<()> {
        let Placement::Llq(l) = self.cfg.placement else {
            return Ok(());
        };
        let offset = l.descs_before_header as usize * DESC_SIZE;
        let entry = l.entry_size.bytes() as usize;
        if offset + ctx.header_len as usize > entry {
            return Err(Error::HeaderTooLong {
                len: ctx.header_len,
                room: l.header_room(),
            });
        }
        let bytes = zerocopy::IntoBytes::as_mut_bytes(&mut self.llq.bounce[..]);
        if let Some(room) = bytes.get_mut(offset..offset + ctx.header_len as usize) {
            fill_pushed_header(room, ctx.req_id);
        }
        Ok(())
    }

    /// `ena_com_create_meta`: the meta descriptor carries no req_id in 6.1.
    #[inline(always)]
    fn create_meta(&mut self, m: &TxMeta) {
        let mut ctrl = TxMetaCtrl::EXT_VALID
            | TxMetaCtrl::ETH_META_TYPE
            | TxMetaCtrl::META_STORE
            | TxMetaCtrl::FIRST;
        ctrl.set(TxMetaCtrl::PHASE, self.tail.phase == 1);
        let d = TxMetaDescRepr {
            req_id: 0,
            ctrl,
            mss: m.mss,
            l3_hdr_len: m.l3_hdr_len as u8,
            l3_hdr_off: m.l3_hdr_offset as u8,
            l4_hdr_len_words: m.l4_hdr_len as u8,
        }
        .emit();
        self.put_desc(zerocopy::transmute!(d));
    }

    /// `get_sq_desc` and the stores into it: host placement writes the ring entry at the tail, LLQ the next slot
    /// of the bounce buffer.
    #[inline(always)]
    fn put_desc(&mut self, d: TxDesc) {
        match self.cfg.placement {
            Placement::Host => self.sq[self.tail.slot(self.mask)] = d,
            Placement::Llq(_) => {
                if let Some(slot) = self.llq.bounce.get_mut(self.llq.idx as usize) {
                    *slot = d;
                }
                self.llq.idx += 1;
                self.llq.descs_left_in_line = self.llq.descs_left_in_line.wrapping_sub(1);
            }
        }
    }

    /// `ena_com_sq_update_tail`: host placement moves the tail by one descriptor; LLQ writes the line out once it
    /// is full (`ena_com_sq_update_llq_tail`).
    #[inline(always)]
    fn sq_update_tail(&mut self) -> Result<()> {
        match self.cfg.placement {
            Placement::Host => {
                self.tail.inc(self.mask);
                Ok(())
            }
            Placement::Llq(l) => {
                if self.llq.descs_left_in_line == 0 {
                    self.write_bounce_buffer_to_dev()?;
                    self.llq.idx = 0;
                    self.llq.descs_left_in_line = l.descs_per_entry();
                }
                Ok(())
            }
        }
    }

    /// `ena_com_close_bounce_buffer`: write out a line that holds anything, start the next packet's line.
    #[inline(always)]
    fn close_bounce_buffer(&mut self) -> Result<()> {
        if let Placement::Llq(l) = self.cfg.placement {
            if self.llq.idx != 0 {
                self.write_bounce_buffer_to_dev()?;
            }
            self.llq.idx = 0;
            self.llq.descs_left_in_line = l.descs_before_header as u16;
        }
        Ok(())
    }

    /// `ena_com_write_bounce_buffer_to_dev`: one whole line into device memory at the tail, within the burst
    /// budget; the next bounce buffer starts zeroed.
    #[inline(always)]
    fn write_bounce_buffer_to_dev(&mut self) -> Result<()> {
        if self.cfg.max_entries_in_tx_burst != 0 {
            if self.llq.entries_in_tx_burst_left == 0 {
                return Err(Error::TxBurstExceeded);
            }
            self.llq.entries_in_tx_burst_left -= 1;
        }
        let spl = self.cfg.placement.slots_per_entry() as usize;
        let start = self.tail.slot(self.mask) * spl;
        if let (Some(dst), Some(src)) = (
            self.sq.get_mut(start..start + spl),
            self.llq.bounce.get(..spl),
        ) {
            dst.copy_from_slice(src);
        }
        if let Some(b) = self.llq.bounce.get_mut(..spl) {
            b.fill(TxDesc::default());
        }
        self.tail.inc(self.mask);
        Ok(())
    }

    /// Writes the SQ tail to the device (`ena_ring_tx_doorbell` / `ena_com_write_sq_doorbell`), which also
    /// renews the LLQ burst budget.
    #[inline(always)]
    pub fn doorbell(&mut self) {
        self.dev.db_tail = self.tail.counter;
        self.llq.entries_in_tx_burst_left = self.cfg.max_entries_in_tx_burst;
        self.stats.doorbells += 1;
    }

    /// `ena_clean_tx_irq` run from one NAPI poll: process up to `budget` completions, free their req_ids and
    /// descriptors, and wake the queue once enough entries are free. Returns the packets completed.
    ///
    /// Only the phase bit of a completion's flags is read (`ena_com_tx_comp_req_id_get`); the other bits are
    /// ignored as the kernel ignores them. A req_id outside the ring (the completion stays unconsumed) or not
    /// outstanding bumps `bad_req_id` and requests a reset (`handle_invalid_req_id`); the packets completed before
    /// it still count.
    #[inline]
    pub fn clean_tx_irq(&mut self, budget: u16) -> Result<u16> {
        let mut done = 0;
        let mut total_done: u16 = 0;
        let mut bytes = 0u64;
        let mut result = Ok(());
        while done < budget {
            let c = self.cq[self.cq_head.slot(self.mask)];
            if c.phase() != self.cq_head.phase {
                break;
            }
            let req_id = c.req_id();
            if req_id >= self.cfg.depth {
                result = Err(Error::BadReqId {
                    req_id,
                    depth: self.cfg.depth,
                });
                break;
            }
            self.cq_head.inc(self.mask);
            let Some(info) = self
                .tx_info
                .get_mut(req_id as usize)
                .filter(|i| i.in_flight)
            else {
                result = Err(Error::ReqIdNotOutstanding { req_id });
                break;
            };
            info.in_flight = false;
            total_done = total_done.wrapping_add(info.entries);
            bytes += info.len as u64;
            self.free_ids.give_back(req_id, self.mask);
            done += 1;
        }
        if result.is_err() {
            self.stats.bad_req_id += 1;
            self.reset_pending = true;
            self.dev.stats.resets_requested += 1;
        }
        // `ena_com_comp_ack`.
        self.next_to_comp = self.next_to_comp.wrapping_add(total_done);
        // `netdev_tx_completed_queue`.
        if self.cfg.bql_limit != 0 && bytes != 0 {
            self.bql_in_flight = self.bql_in_flight.saturating_sub(bytes);
            if self.bql_in_flight <= self.cfg.bql_limit as u64 {
                self.stack_stopped = false;
            }
        }
        self.stats.tx_poll += 1;
        if done < budget {
            self.stats.napi_comp += 1;
            self.stats.unmask_interrupt += 1;
        }
        if self.stopped && self.have_enough_space(defs::ENA_TX_WAKEUP_THRESH) {
            self.stopped = false;
            self.stats.queue_wakeup += 1;
        }
        result.map(|()| done)
    }

    /// The submission ring as the device sees it: host memory for host placement, the LLQ lines in device
    /// memory (entry `i` at `i * entry_size`) for LLQ.
    pub fn sq_bytes(&self) -> &[u8] {
        let slots = self.cfg.depth as usize * self.cfg.placement.slots_per_entry() as usize;
        zerocopy::IntoBytes::as_bytes(self.sq.get(..slots).unwrap_or(&self.sq[..]))
    }

    /// Raw submission ring, for tests and fuzzers that play a hostile or buggy driver.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn sq_raw_mut(&mut self) -> &mut [TxDesc; N] {
        &mut self.sq
    }

    /// Raw completion ring, for tests and fuzzers that play a hostile or buggy device.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn cq_raw_mut(&mut self) -> &mut [TxCdesc; N] {
        &mut self.cq
    }

    /// Writes an arbitrary tail to the doorbell register, as a buggy driver might.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn doorbell_raw(&mut self, tail: u16) {
        self.dev.db_tail = tail;
    }

    /// The req_ids currently free, in the order they will be handed out.
    pub fn free_ids(&self) -> impl Iterator<Item = u16> + '_ {
        let (ntu, mask) = (self.free_ids.next_to_use, self.mask);
        let free = self.cfg.depth - self.free_ids.in_flight();
        (0..free).map(move |k| self.free_ids.ids[(ntu.wrapping_add(k) & mask) as usize])
    }
}
