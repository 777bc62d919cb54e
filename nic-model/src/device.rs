//! Device side of an ENA TX queue: fetch what the driver wrote up to the doorbell, validate it, hand each
//! packet on, post completions.
//!
//! The device trusts nothing: an entry with the wrong phase inside the doorbell range, must-be-zero bits,
//! a broken first/last sequence, a req_id beyond the ring, an empty packet, a header length beyond the room or
//! too many descriptors is refused.
//!
//! It accepts exactly what the 6.1 driver writes (`ena_com_prepare_tx`): the req_id, the completion request and
//! the offload bits travel in the packet's first data descriptor only; later data descriptors and the meta
//! descriptor carry req_id 0, and the device reads none there. The header-length field of the first data
//! descriptor counts bytes pushed inline under LLQ; in host placement it only tells the device how much of the
//! first buffer is header (at most the `max_tx_header_size` it advertised) and adds no bytes. The real device answers such input by asking for a
//! reset; the model returns the [`Error`], counts it and sets the queue's reset flag.

use crate::desc::{TxCdesc, TxCtrl, TxDesc, TxMetaDesc};
use crate::tx_queue::TxQueue;
use crate::{Error, Result};

/// A packet the device fetched, handed to the next stage (the hypervisor's shaper, the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceTxPacket {
    /// req_id it travels under.
    pub req_id: u16,
    /// Total bytes: pushed header plus buffers.
    pub bytes: u32,
    /// Descriptors used, meta descriptor included.
    pub descs: u16,
    /// Ring entries used.
    pub entries: u16,
    /// The first data descriptor's header length: bytes pushed inline under LLQ, header bytes inside the first
    /// buffer in host placement.
    pub header_len: u16,
    /// TSO MSS from the meta descriptor, 0 without.
    pub mss: u16,
}

impl<const N: usize> TxQueue<N> {
    /// Fetches and validates up to `budget` packets between the device's head and the last doorbell, calling
    /// `sink` for each and posting a completion when the driver asked for one. Returns the packets fetched.
    #[inline]
    pub fn device_process(
        &mut self,
        budget: u16,
        mut sink: impl FnMut(&DeviceTxPacket),
    ) -> Result<u16> {
        if self.reset_pending {
            return Err(Error::ResetPending);
        }
        let mut done = 0;
        while done < budget && self.dev.head.counter != self.dev.db_tail {
            match self.fetch_packet() {
                Ok((pkt, comp_req)) => {
                    self.dev.head.advance(pkt.entries, self.mask);
                    self.dev.stats.packets += 1;
                    self.dev.stats.bytes += pkt.bytes as u64;
                    self.dev.stats.entries += pkt.entries as u64;
                    if comp_req {
                        let slot = self.dev.cq_tail.slot(self.mask);
                        self.cq[slot] =
                            TxCdesc::new(pkt.req_id, self.dev.cq_tail.phase, self.dev.head.counter);
                        self.dev.cq_tail.inc(self.mask);
                        self.dev.stats.completions += 1;
                    }
                    sink(&pkt);
                    done += 1;
                }
                Err(e) => {
                    self.dev.stats.malformed += 1;
                    self.dev.stats.resets_requested += 1;
                    self.reset_pending = true;
                    #[cfg(feature = "log")]
                    log::warn!("ena model: device refused TX submission: {e}");
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    /// Parses the packet that starts at the device's head without consuming it.
    #[inline(always)]
    fn fetch_packet(&self) -> Result<(DeviceTxPacket, bool)> {
        // Fast path, host placement: a packet in one descriptor with every field in order. Anything else takes
        // the general path below, which checks the same rules one by one and says which one failed.
        if let crate::llq::Placement::Host = self.cfg.placement {
            let d = &self.sq[self.dev.head.slot(self.mask)];
            let ctrl = d.len_ctrl.get();
            let want = TxCtrl::FIRST.bits() | TxCtrl::LAST.bits() | TxCtrl::COMP_REQ.bits();
            let phase_ok =
                ((ctrl >> crate::defs::TX_DESC_PHASE_SHIFT) & 1) as u8 == self.dev.head.phase;
            if ctrl & (want | crate::defs::TX_DESC_META_DESC_MASK) == want
                && phase_ok
                && d.validate(0).is_ok()
                && d.req_id() < self.cfg.depth
                && d.header_len() <= self.cfg.max_header_size
                && d.length() != 0
            {
                let pkt = DeviceTxPacket {
                    req_id: d.req_id(),
                    bytes: d.length() as u32,
                    descs: 1,
                    entries: 1,
                    header_len: d.header_len() as u16,
                    mss: 0,
                };
                return Ok((pkt, true));
            }
        }
        let placement = self.cfg.placement;
        let spl = placement.slots_per_entry();
        let mask = self.mask;
        let depth = self.cfg.depth;
        // sgl_size + 1 buffers (host placement: the linear part and sgl_size fragments, which
        // `ena_check_and_linearize_skb` lets through with a short linear part) and a meta descriptor.
        let max_descs = self.cfg.max_sg + 2;
        let available = self.dev.db_tail.wrapping_sub(self.dev.head.counter);
        if available > depth {
            // The doorbell names a tail further than a whole ring ahead: garbage from the driver.
            return Err(Error::BadFirstLast {
                index: self.dev.head.counter & mask,
            });
        }

        let mut entry = self.dev.head;
        let mut entries: u16 = 1;
        let mut slot: u16 = 0;
        let mut limit = placement.first_entry_slots();
        let mut pkt = DeviceTxPacket {
            req_id: 0,
            bytes: 0,
            descs: 0,
            entries: 1,
            header_len: 0,
            mss: 0,
        };
        let mut comp_req = false;
        let mut data_seen = false;
        loop {
            if slot == limit {
                if entries == available {
                    // The packet runs past the doorbell: `last` never came.
                    return Err(Error::BadFirstLast {
                        index: entry.counter & mask,
                    });
                }
                entry.inc(mask);
                entries += 1;
                slot = 0;
                limit = spl;
            }
            let index = entry.counter & mask;
            let d: TxDesc = self.sq[entry.slot(mask) * spl as usize + slot as usize];
            slot += 1;
            pkt.descs += 1;
            if pkt.descs > max_descs {
                return Err(Error::TooManyDescriptors {
                    count: pkt.descs,
                    max: max_descs,
                });
            }
            if d.phase() != entry.phase {
                return Err(Error::PhaseMismatch { index });
            }
            let first_desc = pkt.descs == 1;
            if d.is_meta() {
                let m: TxMetaDesc = zerocopy::transmute!(d);
                m.validate(index)?;
                let ctrl = m.ctrl();
                if !first_desc
                    || !ctrl.contains(crate::desc::TxMetaCtrl::FIRST)
                    || ctrl.contains(crate::desc::TxMetaCtrl::LAST)
                {
                    return Err(Error::BadFirstLast { index });
                }
                pkt.mss = m.mss();
                continue;
            }
            d.validate(index)?;
            let ctrl = d.ctrl();
            if ctrl.contains(TxCtrl::FIRST) != first_desc {
                return Err(Error::BadFirstLast { index });
            }
            let header = d.header_len() as u16;
            if !data_seen {
                // The first data descriptor: req_id, completion request, header length.
                data_seen = true;
                pkt.req_id = check_req_id(d.req_id(), depth)?;
                comp_req = ctrl.contains(TxCtrl::COMP_REQ);
                let room = match placement {
                    crate::llq::Placement::Host => self.cfg.max_header_size as u16,
                    p => p.max_header(),
                };
                if header > room {
                    return Err(Error::HeaderTooLong { len: header, room });
                }
                pkt.header_len = header;
                if let crate::llq::Placement::Llq(_) = placement {
                    pkt.bytes += header as u32;
                }
            } else if header != 0 {
                return Err(Error::HeaderTooLong {
                    len: header,
                    room: 0,
                });
            }
            pkt.bytes += d.length() as u32;
            if ctrl.contains(TxCtrl::LAST) {
                break;
            }
        }
        if pkt.bytes == 0 {
            return Err(Error::EmptyPacket {
                index: self.dev.head.counter & mask,
            });
        }
        pkt.entries = entries;
        Ok((pkt, comp_req))
    }
}

#[inline(always)]
fn check_req_id(req_id: u16, depth: u16) -> Result<u16> {
    if req_id >= depth {
        Err(Error::BadReqId { req_id, depth })
    } else {
        Ok(req_id)
    }
}
