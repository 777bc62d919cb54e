//! One ENA RX queue: the driver posts empty buffers (`ena_refill_rx_bufs`), the device writes received packets
//! into them and posts completions carrying the RSS hash, the driver consumes them (`ena_clean_rx_irq`,
//! `ena_com_rx_pkt`).

use heapless::Deque;

use crate::desc::{RxCdesc, RxCdescRepr, RxCtrl, RxDesc, RxStatus};
use crate::ring::{RingPos, check_depth, free_entries};
use crate::stats::{DeviceRxStats, RxStats};
use crate::{Error, Result, defs};

/// Configuration of an RX queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RxQueueConfig {
    /// Ring depth; a power of two.
    pub depth: u16,
    /// Bytes per posted buffer (a page minus headroom in the real driver; 0 means 64 KiB).
    pub buf_size: u16,
    /// Buffers one packet may span (`ENA_PKT_MAX_BUFS`, 19).
    pub max_bufs_per_pkt: u16,
    /// Packets up to this length are copied into a fresh skb (`rx_copybreak`, 256 by default).
    pub rx_copybreak: u16,
}

impl Default for RxQueueConfig {
    fn default() -> Self {
        Self {
            depth: defs::ENA_DEFAULT_RING_SIZE,
            buf_size: 4096 - 256,
            max_bufs_per_pkt: 19,
            rx_copybreak: 256,
        }
    }
}

/// A packet arriving from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RxPacket {
    /// Bytes on the wire (without FCS).
    pub len: u32,
    /// The RSS hash the device computes over the flow.
    pub hash: u32,
    /// L3 protocol index.
    pub l3_proto: u8,
    /// L4 protocol index.
    pub l4_proto: u8,
    /// Checksum verdict bits (`L4_CSUM_CHECKED`, `L4_CSUM_ERR`, ...).
    pub csum: RxStatus,
}

/// A packet the driver took off the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxDelivered {
    /// Total bytes.
    pub len: u32,
    /// RSS hash from the packet's last completion (`ena_com_rx_set_flags`; what `skb_set_hash` records).
    pub hash: u32,
    /// Buffers it spanned.
    pub bufs: u16,
}

/// One RX queue with its rings, driver state and device state. `N` is the storage in entries.
pub struct RxQueue<const N: usize> {
    cfg: RxQueueConfig,
    mask: u16,
    sq: [RxDesc; N],
    cq: [RxCdesc; N],
    tail: RingPos,
    next_to_comp: u16,
    cq_head: RingPos,
    /// `io_cq->cur_rx_pkt_cdesc_count`: completions of the unfinished packet already passed.
    cur_rx_count: u16,
    /// `io_cq->cur_rx_pkt_cdesc_start_idx`: where the current packet's completions start.
    cur_rx_start: u16,
    free_ids: Deque<u16, N>,
    posted: [bool; N],
    empty_checks: u8,
    reset_pending: bool,
    stats: RxStats,
    dev_head: RingPos,
    dev_db_tail: u16,
    dev_cq_tail: RingPos,
    dev_stats: DeviceRxStats,
}

impl<const N: usize> RxQueue<N> {
    /// Creates an RX queue with no buffers posted yet.
    pub fn new(cfg: RxQueueConfig) -> Result<Self> {
        let mask = check_depth("rx.depth", cfg.depth, N)?;
        if cfg.max_bufs_per_pkt == 0 {
            return Err(Error::InvalidConfig {
                field: "rx.max_bufs_per_pkt",
                reason: "must be at least 1",
            });
        }
        let mut free_ids = Deque::new();
        for id in 0..cfg.depth {
            let _ = free_ids.push_back(id);
        }
        Ok(Self {
            cfg,
            mask,
            sq: [RxDesc::default(); N],
            cq: [RxCdesc::default(); N],
            tail: RingPos::default(),
            next_to_comp: 0,
            cq_head: RingPos::default(),
            cur_rx_count: 0,
            cur_rx_start: 0,
            free_ids,
            posted: [false; N],
            empty_checks: 0,
            reset_pending: false,
            stats: RxStats::default(),
            dev_head: RingPos::default(),
            dev_db_tail: 0,
            dev_cq_tail: RingPos::default(),
            dev_stats: DeviceRxStats::default(),
        })
    }

    /// Driver counters (`queue_N_rx_*`).
    pub fn stats(&self) -> &RxStats {
        &self.stats
    }

    /// Device-side counters.
    pub fn device_stats(&self) -> &DeviceRxStats {
        &self.dev_stats
    }

    /// Buffers posted and not yet consumed by the driver.
    pub fn posted(&self) -> u16 {
        self.cfg.depth - self.free_ids.len() as u16
    }

    /// Whether a reset was requested.
    pub fn reset_pending(&self) -> bool {
        self.reset_pending
    }

    fn buf_size(&self) -> u32 {
        match self.cfg.buf_size {
            0 => 65536,
            n => n as u32,
        }
    }

    /// `ena_refill_rx_bufs`: post up to `wanted` buffers and ring the doorbell. Posting fewer than wanted
    /// (no free req_id or no ring space) counts `refil_partial`. Returns the buffers posted.
    pub fn refill(&mut self, wanted: u16) -> u16 {
        let mut done = 0;
        while done < wanted
            && free_entries(self.cfg.depth, self.tail.counter, self.next_to_comp) > 0
        {
            let Some(req_id) = self.free_ids.pop_front() else {
                break;
            };
            let addr = 0x2000_0000 + ((req_id as u64) << 16);
            self.sq[self.tail.slot(self.mask)] =
                RxDesc::new(self.cfg.buf_size, req_id, self.tail.phase, addr);
            self.posted[req_id as usize] = true;
            self.tail.inc(self.mask);
            done += 1;
        }
        if done < wanted {
            self.stats.refil_partial += 1;
        }
        if done > 0 {
            self.dev_db_tail = self.tail.counter;
        }
        done
    }

    /// Device side: place `pkt` into posted buffers and post its completions. Returns `Ok(false)` when too few
    /// buffers are posted (the device drops it and counts `rx_drops`), and an error (plus a reset request) when
    /// a posted descriptor is malformed.
    pub fn device_receive(&mut self, pkt: &RxPacket) -> Result<bool> {
        if self.reset_pending {
            return Err(Error::ResetPending);
        }
        let buf = self.buf_size();
        let bufs = pkt.len.max(1).div_ceil(buf);
        let available = self.dev_db_tail.wrapping_sub(self.dev_head.counter) as u32;
        if bufs > self.cfg.max_bufs_per_pkt as u32 || available > self.cfg.depth as u32 {
            self.dev_stats.malformed += (available > self.cfg.depth as u32) as u64;
            self.dev_stats.rx_drops += 1;
            return Ok(false);
        }
        if available < bufs {
            self.dev_stats.rx_drops += 1;
            return Ok(false);
        }
        let mut left = pkt.len;
        for i in 0..bufs {
            let d = self.sq[self.dev_head.slot(self.mask)];
            if d.malformed() || (d.ctrl().contains(RxCtrl::PHASE) as u8) != self.dev_head.phase {
                self.dev_stats.malformed += 1;
                self.reset_pending = true;
                return Err(Error::PhaseMismatch {
                    index: self.dev_head.counter & self.mask,
                });
            }
            let req_id = d.req_id();
            if req_id >= self.cfg.depth {
                self.dev_stats.malformed += 1;
                self.reset_pending = true;
                return Err(Error::BadReqId {
                    req_id,
                    depth: self.cfg.depth,
                });
            }
            let len = left.min(d.buffer_len());
            left -= len;
            let mut flags = pkt.csum & !(RxStatus::FIRST | RxStatus::LAST | RxStatus::PHASE);
            flags.set(RxStatus::FIRST, i == 0);
            flags.set(RxStatus::LAST, i + 1 == bufs);
            flags |= RxStatus::BUFFER;
            let slot = self.dev_cq_tail.slot(self.mask);
            flags.set(RxStatus::PHASE, self.dev_cq_tail.phase == 1);
            self.cq[slot] = RxCdescRepr {
                req_id,
                length: len as u16,
                hash: pkt.hash,
                l3_proto: pkt.l3_proto,
                l4_proto: pkt.l4_proto,
                status: flags,
            }
            .emit();
            self.dev_cq_tail.inc(self.mask);
            self.dev_head.inc(self.mask);
        }
        self.dev_stats.packets += 1;
        Ok(true)
    }

    /// `ena_clean_rx_irq`: take up to `budget` packets off the completion ring, calling `sink` for each.
    ///
    /// Errors, as `ena_com_rx_pkt` and `ena_rx_skb` find them and `ena_clean_rx_irq` answers them (each requests
    /// a reset): a first bit inside a packet ([`Error::BadFirstLast`], no counter: `RX_DESCRIPTOR_MALFORMED`),
    /// more completions than `max_bufs_per_pkt` (`bad_desc_num`), a req_id beyond the ring or without a posted
    /// buffer (`bad_req_id`).
    pub fn poll(&mut self, budget: u16, mut sink: impl FnMut(&RxDelivered)) -> Result<u16> {
        let mut done = 0;
        while done < budget {
            match self.next_packet() {
                Ok(Some((p, last, first_len))) => {
                    self.stats.cnt += 1;
                    self.stats.bytes += p.len as u64;
                    // `ena_clean_rx_irq` compares the first buffer's length with rx_copybreak.
                    if first_len <= self.cfg.rx_copybreak {
                        self.stats.rx_copybreak_pkt += 1;
                    }
                    self.rx_checksum(&last);
                    sink(&p);
                    done += 1;
                }
                Ok(None) => break,
                Err(e) => {
                    self.reset_pending = true;
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    /// `ena_rx_checksum` with `NETIF_F_RXCSUM` on: the verdict of the packet's last completion.
    fn rx_checksum(&mut self, c: &RxCdesc) {
        let f = c.flags();
        if f.contains(RxStatus::IPV4_FRAG) {
            return;
        }
        if c.l3_proto() == defs::L3_PROTO_IPV4 && f.contains(RxStatus::L3_CSUM_ERR) {
            self.stats.csum_bad += 1;
            return;
        }
        if c.l4_proto() == defs::L4_PROTO_TCP || c.l4_proto() == defs::L4_PROTO_UDP {
            if f.contains(RxStatus::L4_CSUM_ERR) {
                self.stats.csum_bad += 1;
            } else if f.contains(RxStatus::L4_CSUM_CHECKED) {
                self.stats.csum_good += 1;
            } else {
                self.stats.csum_unchecked += 1;
            }
        }
    }

    /// `ena_com_rx_pkt` (with `ena_com_cdesc_rx_pkt_get`) and the buffer check of `ena_rx_skb`. Returns the
    /// packet, its last completion (flags and hash come from there) and its first buffer's length.
    ///
    /// Like the kernel, each completion's phase, first and last bits are read once, as the head passes it; an
    /// unfinished packet's completions are consumed and counted (`cur_rx_pkt_cdesc_count`) until its last one
    /// arrives. Lengths, req_ids, flags and hash are read when the packet is complete.
    fn next_packet(&mut self) -> Result<Option<(RxDelivered, RxCdesc, u16)>> {
        let mut count = self.cur_rx_count;
        loop {
            let c = self.cq[self.cq_head.slot(self.mask)];
            if c.phase() != self.cq_head.phase {
                self.cur_rx_count = count;
                return Ok(None);
            }
            let index = self.cq_head.counter & self.mask;
            self.cq_head.inc(self.mask);
            if c.flags().contains(RxStatus::FIRST) && count != 0 {
                return Err(Error::BadFirstLast { index });
            }
            count = count.wrapping_add(1);
            if c.flags().contains(RxStatus::LAST) {
                break;
            }
        }
        let start = self.cur_rx_start;
        self.cur_rx_count = 0;
        self.cur_rx_start = self.cq_head.counter;
        if count > self.cfg.max_bufs_per_pkt {
            self.stats.bad_desc_num += 1;
            return Err(Error::BadDescNum { count });
        }
        let at = |i: u16| self.cq[(start.wrapping_add(i) & self.mask) as usize];
        let mut len = 0u32;
        for i in 0..count {
            let c = at(i);
            let req_id = c.req_id();
            if req_id >= self.cfg.depth {
                self.stats.bad_req_id += 1;
                return Err(Error::BadReqId {
                    req_id,
                    depth: self.cfg.depth,
                });
            }
            len += c.length() as u32;
        }
        let (first, last) = (at(0), at(count.wrapping_sub(1)));
        // `ena_rx_skb`: the buffers must be ones the driver posted.
        for i in 0..count {
            let id = at(i).req_id();
            if !self.posted.get(id as usize).copied().unwrap_or(false) {
                self.stats.bad_req_id += 1;
                return Err(Error::ReqIdNotOutstanding { req_id: id });
            }
        }
        // Give the buffers back to the free list.
        for i in 0..count {
            let id = at(i).req_id();
            if let Some(p) = self.posted.get_mut(id as usize)
                && *p
            {
                *p = false;
                let _ = self.free_ids.push_back(id);
            }
        }
        self.next_to_comp = self.next_to_comp.wrapping_add(count);
        Ok(Some((
            RxDelivered {
                len,
                hash: last.hash(),
                bufs: count,
            },
            last,
            first.length(),
        )))
    }

    /// The watchdog's `check_for_empty_rx_ring`: a ring found without buffers on two checks in a row counts
    /// `empty_rx_ring`.
    pub fn check_for_empty_rx_ring(&mut self) {
        if self.posted() == 0 {
            self.empty_checks += 1;
            if self.empty_checks >= 2 {
                self.stats.empty_rx_ring += 1;
                self.empty_checks = 0;
            }
        } else {
            self.empty_checks = 0;
        }
    }

    /// Raw completion ring, for hostile-device tests.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn cq_raw_mut(&mut self) -> &mut [RxCdesc; N] {
        &mut self.cq
    }

    /// Raw submission ring, for hostile-driver tests.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn sq_raw_mut(&mut self) -> &mut [RxDesc; N] {
        &mut self.sq
    }
}
