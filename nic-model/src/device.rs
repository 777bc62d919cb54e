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

use crate::desc::{TxCdesc, TxCtrl, TxDesc, TxDescRepr, TxMetaCtrl, TxMetaDesc, TxMetaDescRepr};
use crate::llq::Placement;
use crate::tx_queue::TxQueue;
use crate::{Error, Result};

/// A packet the device fetched, handed to the next stage (the hypervisor's shaper, the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
        match self.fetch_single() {
            Some(p) => Ok(p),
            None => self.fetch_general(),
        }
    }

    /// Fast path: a packet in one descriptor (host placement) or in the first slot of one LLQ line, every field
    /// in order. Anything else, well-formed or not, is `None` and takes [`fetch_general`](Self::fetch_general),
    /// which checks the same rules one by one and says which one failed.
    #[inline(always)]
    fn fetch_single(&self) -> Option<(DeviceTxPacket, bool)> {
        let head = self.dev.head;
        let (slot, room, pushed) = match self.cfg.placement {
            Placement::Host => (head.slot(self.mask), self.cfg.max_header_size as u16, false),
            Placement::Llq(l) => (
                head.slot(self.mask) * l.descs_per_entry() as usize,
                l.header_room(),
                true,
            ),
        };
        let d = self.sq.get(slot)?;
        let want = TxCtrl::FIRST | TxCtrl::LAST | TxCtrl::COMP_REQ;
        if self.dev.db_tail.wrapping_sub(head.counter) > self.cfg.depth
            || d.ctrl().intersection(want | TxCtrl::META_DESC) != want
            || d.phase() != head.phase
            || d.validate(0).is_err()
        {
            return None;
        }
        let (req_id, header) = (d.req_id(), d.header_len() as u16);
        let bytes = d.length() as u32 + if pushed { header as u32 } else { 0 };
        if req_id >= self.cfg.depth || header > room || bytes == 0 {
            return None;
        }
        let pkt = DeviceTxPacket {
            req_id,
            bytes,
            descs: 1,
            entries: 1,
            header_len: header,
            mss: 0,
        };
        Some((pkt, true))
    }

    /// Every packet shape: walks the descriptors from the device's head, line by line under LLQ, until `last`.
    fn fetch_general(&self) -> Result<(DeviceTxPacket, bool)> {
        let placement = self.cfg.placement;
        let spl = placement.slots_per_entry();
        let mask = self.mask;
        // sgl_size + 1 buffers (host placement: the linear part and sgl_size fragments, which
        // `ena_check_and_linearize_skb` lets through with a short linear part) and a meta descriptor.
        let max_descs = self.cfg.max_sg + 2;
        let available = self.dev.db_tail.wrapping_sub(self.dev.head.counter);
        if available > self.cfg.depth {
            // The doorbell names a tail further than a whole ring ahead: garbage from the driver.
            return Err(Error::BadFirstLast {
                index: self.dev.head.counter & mask,
            });
        }
        let mut entry = self.dev.head;
        let mut entries: u16 = 1;
        let mut slot: u16 = 0;
        let mut limit = placement.first_entry_slots();
        let mut walk = PacketWalk::default();
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
            walk.pkt.descs += 1;
            if walk.pkt.descs > max_descs {
                return Err(Error::TooManyDescriptors {
                    count: walk.pkt.descs,
                    max: max_descs,
                });
            }
            if d.phase() != entry.phase {
                return Err(Error::PhaseMismatch { index });
            }
            if d.is_meta() {
                walk.meta(&zerocopy::transmute!(d), index)?;
            } else if walk.data(
                &d,
                index,
                placement,
                self.cfg.max_header_size,
                self.cfg.depth,
            )? {
                break;
            }
        }
        if walk.pkt.bytes == 0 {
            return Err(Error::EmptyPacket {
                index: self.dev.head.counter & mask,
            });
        }
        walk.pkt.entries = entries;
        Ok((walk.pkt, walk.comp_req))
    }
}

/// What [`TxQueue::fetch_general`] has read of a packet so far.
#[derive(Default)]
struct PacketWalk {
    pkt: DeviceTxPacket,
    comp_req: bool,
    data_seen: bool,
}

impl PacketWalk {
    /// A meta descriptor: only as the packet's first descriptor, marked first and not last; it gives the MSS.
    fn meta(&mut self, d: &TxMetaDesc, index: u16) -> Result<()> {
        let m = TxMetaDescRepr::parse(d, index)?;
        if self.pkt.descs != 1
            || !m.ctrl.contains(TxMetaCtrl::FIRST)
            || m.ctrl.contains(TxMetaCtrl::LAST)
        {
            return Err(Error::BadFirstLast { index });
        }
        self.pkt.mss = m.mss;
        Ok(())
    }

    /// A data descriptor: `first` only on the packet's first descriptor; the first data descriptor gives req_id,
    /// completion request and header length, later ones a header length of 0. Returns whether it is the last.
    fn data(
        &mut self,
        d: &TxDesc,
        index: u16,
        placement: Placement,
        max_header_size: u8,
        depth: u16,
    ) -> Result<bool> {
        let r = TxDescRepr::parse(d, index)?;
        if r.ctrl.contains(TxCtrl::FIRST) != (self.pkt.descs == 1) {
            return Err(Error::BadFirstLast { index });
        }
        let header = r.header_len as u16;
        if !self.data_seen {
            self.data_seen = true;
            self.pkt.req_id = check_req_id(r.req_id, depth)?;
            self.comp_req = r.ctrl.contains(TxCtrl::COMP_REQ);
            let room = match placement {
                Placement::Host => max_header_size as u16,
                p => p.max_header(),
            };
            if header > room {
                return Err(Error::HeaderTooLong { len: header, room });
            }
            self.pkt.header_len = header;
            if let Placement::Llq(_) = placement {
                self.pkt.bytes += header as u32;
            }
        } else if header != 0 {
            return Err(Error::HeaderTooLong {
                len: header,
                room: 0,
            });
        }
        self.pkt.bytes += r.length as u32;
        Ok(r.ctrl.contains(TxCtrl::LAST))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llq::{LlqConfig, LlqEntrySize};
    use crate::{TxPacket, TxQueueConfig};

    /// Whatever the one-descriptor fast path accepts, the rule-by-rule walk accepts too, as the same packet: for
    /// every single-bit corruption of a packet's descriptor, in host placement and under LLQ.
    #[test]
    fn the_fast_path_accepts_only_what_the_general_walk_accepts() {
        let placements = [
            Placement::Host,
            Placement::Llq(LlqConfig::default()),
            Placement::Llq(LlqConfig {
                entry_size: LlqEntrySize::B256,
                descs_before_header: 1,
                disable_meta_caching: false,
            }),
        ];
        let mut fast_taken = 0;
        for placement in placements {
            for max_header_size in [0, 64] {
                let cfg = TxQueueConfig {
                    depth: 16,
                    placement,
                    max_header_size,
                    ..TxQueueConfig::default()
                };
                for len in [1, 60, 96, 97, 1448] {
                    for bit in 0..128u32 {
                        let mut q = TxQueue::<256>::new(cfg).unwrap();
                        let p = TxPacket {
                            len,
                            frags: 1,
                            ..TxPacket::default()
                        };
                        q.xmit(&p).unwrap();
                        let d = &mut q.sq[0];
                        let w = (bit / 32) as u8;
                        d.set_word(w, d.word(w) ^ (1 << (bit % 32)));
                        if let Some(fast) = q.fetch_single() {
                            fast_taken += 1;
                            assert_eq!(Ok(fast), q.fetch_general(), "{cfg:?} len {len} bit {bit}");
                        }
                    }
                }
            }
        }
        // Corruptions of the address (and some of the length) keep the packet well-formed: the fast path took
        // those, so the comparison above ran.
        assert!(fast_taken > 1000, "{fast_taken}");
    }
}
