//! A driver/device harness that runs sequences of ring operations against [`TxQueue`] and checks them against a
//! plain model: the shared test double of unit tests, quickcheck properties, the `ring_ops` fuzz target and the
//! benches (see rust-vmm's `mock.rs`).
//!
//! Honest operations must never make the device refuse anything; hostile ones (corrupting the rings, writing a
//! wild doorbell) may produce errors but never a panic, and after [`RingOp::Reset`] the queue behaves again.

use heapless::Deque;

use crate::desc::TxCdescRepr;
use crate::{Error, Offload, TxPacket, TxQueue, TxQueueConfig};

/// One step of a ring-operation sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RingOp {
    /// The stack transmits a packet.
    Xmit {
        /// Bytes.
        len: u16,
        /// Buffers (linear part plus fragments).
        frags: u8,
        /// Bytes in the linear part (at most `len`).
        head_len: u8,
        /// `xmit_more`.
        more: bool,
        /// Ask for TSO with this MSS (0: none), which may add a meta descriptor.
        mss: u16,
    },
    /// The driver rings the doorbell.
    Doorbell,
    /// The device fetches up to this many packets.
    Device(u8),
    /// A NAPI poll cleans up to this many completions.
    Clean(u8),
    /// Hostile: overwrite one 32-bit word of the submission ring.
    CorruptSq {
        /// Slot.
        slot: u16,
        /// Word 0..4.
        word: u8,
        /// Value written.
        value: u32,
    },
    /// Hostile: overwrite one completion entry.
    CorruptCq {
        /// Slot.
        slot: u16,
        /// req_id written.
        req_id: u16,
        /// flags written (bit 0 is the phase).
        flags: u8,
    },
    /// Hostile: write a wild tail into the doorbell register.
    WildDoorbell(u16),
    /// Reset the queue (what the driver does after a reset request).
    Reset,
}

/// An invariant the queue broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// The same req_id was handed out while still outstanding.
    DuplicateReqId(u16),
    /// The free list and the outstanding set do not add up to the ring depth.
    LostReqId,
    /// The device refused an honest submission.
    HonestRefused(Error),
    /// Completions arrived for other req_ids than were sent, or in another order.
    WrongCompletion,
    /// A counter disagrees with the model.
    Counter(&'static str),
    /// After everything drained, the ring is not back to its initial free space.
    NotDrained,
}

/// Runs `ops` on a fresh queue of `cfg` and checks the model after every step; ends by draining the queue.
pub fn run_ring_ops<const N: usize>(cfg: TxQueueConfig, ops: &[RingOp]) -> Result<(), Violation> {
    let Ok(mut q) = TxQueue::<N>::new(cfg) else {
        return Ok(()); // Impossible configurations are refused up front; nothing to check.
    };
    let mut m = Model::<N>::new();
    for op in ops {
        m.step(&mut q, *op)?;
    }
    // Drain: doorbell, device, clean until nothing moves. A reset the driver itself requested (an honest packet
    // the device cannot take, such as an all-header LLQ packet over the burst budget: `ena_com_prepare_tx` returns
    // -ENOSPC) is carried out first, as the driver's reset task does (`ena_fw_reset_device` frees every TX
    // buffer and brings the queue back empty).
    if !m.hostile {
        if q.reset_pending() {
            m.step(&mut q, RingOp::Reset)?;
        }
        q.doorbell();
        for _ in 0..4 {
            m.step(&mut q, RingOp::Device(255))?;
            m.step(&mut q, RingOp::Clean(255))?;
        }
        while m.step_drain(&mut q)? {}
        if q.in_flight() != 0 || q.free_entries() != cfg.depth - 1 {
            return Err(Violation::NotDrained);
        }
    }
    Ok(())
}

struct Model<const N: usize> {
    outstanding: [bool; N],
    fetched: Deque<u16, N>,
    sent_ok: u64,
    device_pkts: u64,
    hostile: bool,
    resets: u32,
}

impl<const N: usize> Model<N> {
    fn new() -> Self {
        Self {
            outstanding: [false; N],
            fetched: Deque::new(),
            sent_ok: 0,
            device_pkts: 0,
            hostile: false,
            resets: 0,
        }
    }

    fn step_drain(&mut self, q: &mut TxQueue<N>) -> Result<bool, Violation> {
        let before = q.in_flight();
        self.step(q, RingOp::Doorbell)?;
        self.step(q, RingOp::Device(255))?;
        self.step(q, RingOp::Clean(255))?;
        Ok(q.in_flight() < before)
    }

    /// Applies one operation, then checks the model.
    fn step(&mut self, q: &mut TxQueue<N>, op: RingOp) -> Result<(), Violation> {
        match op {
            RingOp::Xmit {
                len,
                frags,
                head_len,
                more,
                mss,
            } => self.xmit(q, len, frags, head_len, more, mss)?,
            RingOp::Doorbell => q.doorbell(),
            RingOp::Device(budget) => self.device(q, budget)?,
            RingOp::Clean(budget) => self.clean(q, budget)?,
            RingOp::CorruptSq { slot, word, value } => {
                self.hostile = true;
                q.sq_raw_mut()[slot as usize % N].set_word(word, value);
            }
            RingOp::CorruptCq {
                slot,
                req_id,
                flags,
            } => {
                self.hostile = true;
                let c = &mut q.cq_raw_mut()[slot as usize % N];
                *c = TxCdescRepr {
                    req_id,
                    flags,
                    ..TxCdescRepr::parse(c)
                }
                .emit();
            }
            RingOp::WildDoorbell(tail) => {
                self.hostile = true;
                q.doorbell_raw(tail);
            }
            RingOp::Reset => {
                q.reset();
                *self = Self {
                    sent_ok: self.sent_ok,
                    device_pkts: self.device_pkts,
                    resets: self.resets + 1,
                    ..Self::new()
                };
            }
        }
        self.check(q)
    }

    /// The stack transmits a packet (TSO with a fixed context when `mss` is set); a req_id handed out twice is
    /// a violation.
    fn xmit(
        &mut self,
        q: &mut TxQueue<N>,
        len: u16,
        frags: u8,
        head_len: u8,
        more: bool,
        mss: u16,
    ) -> Result<(), Violation> {
        let offload = if mss != 0 {
            Offload {
                mss,
                l3_hdr_len: 20,
                l3_hdr_off: 14,
                l4_hdr_len_words: 5,
                ..Offload::default()
            }
        } else {
            Offload::default()
        };
        let pkt = TxPacket {
            len: len as u32,
            frags: frags as u16,
            head_len: (head_len as u32).min(len as u32),
            offload,
            xmit_more: more,
        };
        if let Ok(id) = q.xmit(&pkt) {
            if self.outstanding[id as usize] {
                return Err(Violation::DuplicateReqId(id));
            }
            self.outstanding[id as usize] = true;
            self.sent_ok += 1;
        }
        Ok(())
    }

    /// The device fetches; on honest rings it must refuse nothing.
    fn device(&mut self, q: &mut TxQueue<N>, budget: u8) -> Result<(), Violation> {
        let fetched = &mut self.fetched;
        let mut n = 0u64;
        let r = q.device_process(budget as u16, |p| {
            let _ = fetched.push_back(p.req_id);
            n += 1;
        });
        self.device_pkts += n;
        match r {
            Err(e) if !self.hostile && e != Error::ResetPending => Err(Violation::HonestRefused(e)),
            _ => Ok(()),
        }
    }

    /// A NAPI poll: completions must come for the packets the device fetched, in order.
    fn clean(&mut self, q: &mut TxQueue<N>, budget: u8) -> Result<(), Violation> {
        match q.clean_tx_irq(budget as u16) {
            Ok(done) => {
                for _ in 0..done {
                    match self.fetched.pop_front() {
                        Some(id) if self.outstanding[id as usize] => {
                            self.outstanding[id as usize] = false
                        }
                        _ if self.hostile => {}
                        _ => return Err(Violation::WrongCompletion),
                    }
                }
                Ok(())
            }
            Err(e) if !self.hostile => Err(Violation::HonestRefused(e)),
            Err(_) => Ok(()),
        }
    }

    fn check(&self, q: &TxQueue<N>) -> Result<(), Violation> {
        let depth = q.config().depth as usize;
        let mut seen = [false; N];
        let mut free = 0;
        for id in q.free_ids() {
            let i = id as usize;
            if i >= depth || seen[i] || (!self.hostile && self.outstanding[i]) {
                return Err(Violation::LostReqId);
            }
            seen[i] = true;
            free += 1;
        }
        if free + q.in_flight() as usize != depth {
            return Err(Violation::LostReqId);
        }
        if !self.hostile {
            let outstanding = self.outstanding.iter().filter(|o| **o).count();
            if outstanding != q.in_flight() as usize {
                return Err(Violation::LostReqId);
            }
            if q.stats().cnt != self.sent_ok && self.resets == 0 {
                return Err(Violation::Counter("cnt"));
            }
            if q.device_stats().packets != self.device_pkts && self.resets == 0 {
                return Err(Violation::Counter("device packets"));
            }
        }
        let s = q.stats();
        let stopped = s.queue_stop.checked_sub(s.queue_wakeup);
        if stopped != Some(q.is_stopped() as u64) && !self.hostile && self.resets == 0 {
            return Err(Violation::Counter("queue_stop - queue_wakeup"));
        }
        Ok(())
    }
}

/// TCP over IPv4 with TSO at MSS 1448, as `ena_tx_csum` fills the offload context for such an skb (shared by the
/// fidelity tests and the oracle's differential tests).
pub fn tso_offload() -> Offload {
    Offload {
        l3_proto: crate::defs::L3_PROTO_IPV4,
        l4_proto: crate::defs::L4_PROTO_TCP,
        flags: crate::desc::TxOffload::TSO_EN
            | crate::desc::TxOffload::L4_CSUM_EN
            | crate::desc::TxOffload::L3_CSUM_EN
            | crate::desc::TxOffload::DF,
        mss: 1448,
        l3_hdr_len: 20,
        l3_hdr_off: 14,
        l4_hdr_len_words: 8,
    }
}
