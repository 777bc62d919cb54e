//! Differential runs: `nic_model::TxQueue` against the compiled driver code, step by step.
//!
//! Both sides get the same packets (shape, offload context, `xmit_more`) and the same completions; after every step
//! the submission-queue bytes (host ring, or LLQ device memory), the doorbell register, the queue state (tail,
//! free entries, completion head, stopped, reset requested) and the `ethtool -S` counters must be equal, and so
//! must each step's result. The model's device fetches what the model's driver wrote and posts the completions;
//! their bytes are copied into the oracle's completion ring, so the driver sides see the same device.

use nic_model::desc::TxCdescRepr;
use nic_model::{Error, Offload, TxPacket, TxQueue, TxQueueConfig};

use crate::tx::MAX_SKB_FRAGS;
use crate::{OracleError, OracleTxQueue, Xmit};

/// Descriptor slots of the model's queue: depth 256 of 256-byte LLQ entries, or 4096 host descriptors.
pub const SLOTS: usize = 4096;

/// The model queue the differential runs use.
pub type ModelTxQueue = TxQueue<SLOTS>;

/// One packet: its shape, offload context and `xmit_more`.
///
/// The differential domain: `len` 1 to 65535 (every buffer fits a descriptor's 16-bit length, as the kernel's
/// `u16 ena_com_buf.len` assumes), `head_len <= len`, at most `MAX_SKB_FRAGS` (17) fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketSpec {
    /// `skb->len`. With `even == false` it is recomputed as `head_len` plus the fragment sizes.
    pub len: u32,
    /// `skb_headlen()`; ignored (all of `len`) without fragments.
    pub head_len: u32,
    /// `nr_frags`.
    pub nr_frags: u8,
    /// Fragment sizes (the first `nr_frags`), unless `even`.
    pub frags: [u32; MAX_SKB_FRAGS],
    /// Hand the model a [`TxPacket`] whose fragments share `len - head_len` evenly (its own rule) instead of the
    /// list; the oracle gets the same sizes, computed here.
    pub even: bool,
    /// Offload context.
    pub offload: Offload,
    /// `netdev_xmit_more()`.
    pub xmit_more: bool,
}

impl PacketSpec {
    /// The shape both sides get: `(len, head_len, fragment sizes)`, or `None` outside the differential domain.
    pub fn shape(&self) -> Option<(u32, u32, heapless_frags::Frags)> {
        let n = (self.nr_frags as usize).min(MAX_SKB_FRAGS);
        let mut frags = heapless_frags::Frags::default();
        let (len, head) = if n == 0 {
            (self.len, self.len)
        } else if self.even {
            let rest = self.len.checked_sub(self.head_len)?;
            for i in 0..n {
                frags.push(rest / n as u32 + u32::from((i as u32) < rest % n as u32));
            }
            (self.len, self.head_len)
        } else {
            let mut len = self.head_len;
            for f in &self.frags[..n] {
                frags.push(*f);
                len = len.checked_add(*f)?;
            }
            (len, self.head_len)
        };
        (1..=65535).contains(&len).then_some((len, head, frags))
    }
}

/// A fixed-capacity list of fragment sizes.
pub mod heapless_frags {
    use super::MAX_SKB_FRAGS;

    /// Up to `MAX_SKB_FRAGS` (17) fragment sizes.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Frags {
        v: [u32; MAX_SKB_FRAGS],
        n: usize,
    }

    impl Frags {
        pub(crate) fn push(&mut self, f: u32) {
            if let Some(slot) = self.v.get_mut(self.n) {
                *slot = f;
                self.n += 1;
            }
        }

        /// The sizes.
        pub fn as_slice(&self) -> &[u32] {
            &self.v[..self.n]
        }
    }
}

/// One step of a differential run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxOp {
    /// The stack hands a packet to `ndo_start_xmit`.
    Xmit(PacketSpec),
    /// The (model's) device fetches up to this many packets up to the doorbell and posts their completions.
    Device(u16),
    /// A NAPI poll: `ena_clean_tx_irq` with this budget.
    Clean(u16),
    /// A completion written by a buggy or hostile device at `slot` (modulo the depth), into both rings.
    Completion {
        /// Slot.
        slot: u16,
        /// req_id.
        req_id: u16,
        /// Status byte.
        status: u8,
        /// Flags byte (bit 0 is the phase; the kernel reads nothing else).
        flags: u8,
    },
}

/// What a differential run compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxReport {
    /// Steps run.
    pub ops: u64,
    /// Packets offered.
    pub xmits: u64,
    /// Packets that reached the ring.
    pub sent: u64,
    /// Packets completed.
    pub completed: u64,
    /// Doorbells rung.
    pub doorbells: u64,
    /// Submission-queue bytes compared, over all steps.
    pub bytes_compared: u64,
}

impl core::ops::AddAssign for TxReport {
    fn add_assign(&mut self, o: Self) {
        self.ops += o.ops;
        self.xmits += o.xmits;
        self.sent += o.sent;
        self.completed += o.completed;
        self.doorbells += o.doorbells;
        self.bytes_compared += o.bytes_compared;
    }
}

/// Why a differential run stopped. Each variant's text includes its cause, so none is reported again as a
/// source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// The oracle is not there, or refused the configuration.
    #[error("{0}")]
    Oracle(OracleError),
    /// The model refused the configuration (outside its storage or rules): nothing to compare.
    #[error("configuration refused by the model: {0}")]
    Config(Error),
    /// The model and the driver disagree.
    #[error("nic-model and the ENA driver differ after step {op} ({step}): {what}")]
    Mismatch {
        /// Index of the step after which they disagree.
        op: usize,
        /// The step.
        step: String,
        /// What differs.
        what: Difference,
    },
}

/// What differs between the model and the driver after a step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Difference {
    /// `ena_start_xmit` and the model's `xmit` returned different results.
    #[error("ndo_start_xmit: model {model}, driver {driver}")]
    Xmit {
        /// The model's result.
        model: String,
        /// The driver's result.
        driver: String,
    },
    /// The model's device refused descriptors the driver wrote (the driver accepted them).
    #[error("the model's device refused what the driver wrote: {0}")]
    DeviceRefused(Error),
    /// A ring has different sizes on both sides.
    #[error("{ring} rings of {model} and {driver} bytes")]
    RingSize {
        /// `submission` or `completion`.
        ring: &'static str,
        /// The model's bytes.
        model: usize,
        /// The driver's bytes.
        driver: usize,
    },
    /// `ena_clean_tx_irq` and the model's `clean_tx_irq` disagree.
    #[error("ena_clean_tx_irq: model {model}, driver {packets} packets rc {rc}")]
    CleanTx {
        /// The model's result.
        model: String,
        /// Packets the driver cleaned.
        packets: u32,
        /// The driver's return code.
        rc: i32,
    },
    /// `ena_clean_rx_irq` (one packet) and the model's `poll` disagree.
    #[error("ena_clean_rx_irq: model {model}, driver {driver}")]
    CleanRx {
        /// The model's result and descriptor.
        model: String,
        /// The driver's return code and packet.
        driver: String,
    },
    /// A byte of the submission queue (LLQ device memory) differs.
    #[error("submission queue byte {at} (descriptor slot {}): model {model:02x?}, driver {driver:02x?}", at / 16)]
    SqByte {
        /// The byte's offset.
        at: usize,
        /// The model's descriptor holding it.
        model: [u8; 16],
        /// The driver's descriptor holding it.
        driver: [u8; 16],
    },
    /// A counter or a piece of queue state differs.
    #[error("{name}: model {model}, driver {driver}")]
    Counter {
        /// The counter as `ethtool -S` names it, or the state.
        name: &'static str,
        /// The model's value.
        model: u64,
        /// The driver's value.
        driver: u64,
    },
}

/// Runs `ops` on a model queue and an oracle queue of configuration `cfg`, comparing after every step.
pub fn run_tx(cfg: &TxQueueConfig, ops: &[TxOp]) -> Result<TxReport, DiffError> {
    let mut model = Box::new(ModelTxQueue::new(*cfg).map_err(DiffError::Config)?);
    let mut oracle = OracleTxQueue::new(cfg).map_err(DiffError::Oracle)?;
    let mut report = TxReport::default();
    compare(&model, &oracle, &mut report).map_err(|what| DiffError::Mismatch {
        op: 0,
        step: "setup".into(),
        what,
    })?;
    for (i, op) in ops.iter().enumerate() {
        let r = step(&mut model, &mut oracle, op, &mut report)
            .and_then(|()| compare(&model, &oracle, &mut report));
        r.map_err(|what| DiffError::Mismatch {
            op: i,
            step: format!("{op:?}"),
            what,
        })?;
        report.ops += 1;
    }
    report.doorbells = model.stats().doorbells;
    Ok(report)
}

fn step(
    model: &mut ModelTxQueue,
    oracle: &mut OracleTxQueue,
    op: &TxOp,
    report: &mut TxReport,
) -> Result<(), Difference> {
    match op {
        TxOp::Xmit(spec) => xmit(model, oracle, spec, report)?,
        TxOp::Device(budget) => {
            let r = model.device_process(*budget, |_| {});
            if let Err(e) = r
                && e != Error::ResetPending
            {
                return Err(Difference::DeviceRefused(e));
            }
            let depth = model.config().depth as usize;
            copy_completions(
                zerocopy::IntoBytes::as_bytes(&model.cq_raw_mut()[..depth]),
                oracle.cq_bytes_mut(),
            )?;
        }
        TxOp::Completion {
            slot,
            req_id,
            status,
            flags,
        } => {
            let depth = model.config().depth as usize;
            let i = *slot as usize % depth;
            let c = TxCdescRepr {
                req_id: *req_id,
                status: *status,
                flags: *flags,
                ..TxCdescRepr::default()
            }
            .emit();
            model.cq_raw_mut()[i] = c;
            if let Some(d) = oracle.cq_bytes_mut().get_mut(i * 8..i * 8 + 8) {
                d.copy_from_slice(zerocopy::IntoBytes::as_bytes(&c));
            }
        }
        TxOp::Clean(budget) => clean(model, oracle, *budget, report)?,
    }
    Ok(())
}

/// `ena_start_xmit` and the model's `xmit` on the same packet: both send it (and the descriptors are compared
/// afterwards), or both refuse it for the same reason.
fn xmit(
    model: &mut ModelTxQueue,
    oracle: &mut OracleTxQueue,
    spec: &PacketSpec,
    report: &mut TxReport,
) -> Result<(), Difference> {
    let Some((len, head, frags)) = spec.shape() else {
        return Ok(()); // outside the differential domain: not offered to either side
    };
    report.xmits += 1;
    let frags = frags.as_slice();
    let pkt = TxPacket {
        len,
        frags: frags.len() as u16 + 1,
        head_len: head,
        offload: spec.offload,
        xmit_more: spec.xmit_more,
    };
    let m = if spec.even || frags.is_empty() {
        model.xmit(&pkt)
    } else {
        model.xmit_frags(&pkt, frags)
    };
    let o = oracle.xmit(len, head, frags, &spec.offload, spec.xmit_more);
    let agree = match (m, o) {
        (Ok(a), Xmit::Sent(b)) => a == b,
        (Err(Error::QueueStopped), Xmit::Stopped) => true,
        (Err(Error::ResetPending), Xmit::ResetPending) => true,
        (Err(Error::NoSpace), Xmit::Failed(-12)) => true,
        (Err(Error::TxBurstExceeded), Xmit::Failed(-28)) => true,
        (Err(Error::HeaderTooLong { .. }), Xmit::Failed(-14 | -22)) => true,
        _ => false,
    };
    if !agree {
        return Err(Difference::Xmit {
            model: format!("{m:?}"),
            driver: format!("{o:?}"),
        });
    }
    report.sent += m.is_ok() as u64;
    Ok(())
}

/// `ena_clean_tx_irq` and the model's `clean_tx_irq` with the same budget: the same packets cleaned, or the
/// same error (`-EINVAL` for a bad req_id, `-EFAULT` for one not outstanding).
fn clean(
    model: &mut ModelTxQueue,
    oracle: &mut OracleTxQueue,
    budget: u16,
    report: &mut TxReport,
) -> Result<(), Difference> {
    let before = model.in_flight();
    let m = model.clean_tx_irq(budget);
    let (n, rc) = oracle.clean_tx_irq(budget as u32);
    let agree = match m {
        Ok(k) => rc == 0 && k as u32 == n,
        Err(Error::BadReqId { .. }) => rc == -22,
        Err(Error::ReqIdNotOutstanding { .. }) => rc == -14,
        Err(_) => false,
    };
    if !agree {
        return Err(Difference::CleanTx {
            model: format!("{m:?}"),
            packets: n,
            rc,
        });
    }
    report.completed += before.saturating_sub(model.in_flight()) as u64;
    Ok(())
}

/// The model device's completion ring, as bytes, copied over the driver's: both then read the same completions.
fn copy_completions(model: &[u8], driver: &mut [u8]) -> Result<(), Difference> {
    if driver.len() != model.len() {
        return Err(Difference::RingSize {
            ring: "completion",
            model: model.len(),
            driver: driver.len(),
        });
    }
    driver.copy_from_slice(model);
    Ok(())
}

fn compare(
    model: &ModelTxQueue,
    oracle: &OracleTxQueue,
    report: &mut TxReport,
) -> Result<(), Difference> {
    let (a, b) = (model.sq_bytes(), oracle.sq_bytes());
    if a.len() != b.len() {
        return Err(Difference::RingSize {
            ring: "submission",
            model: a.len(),
            driver: b.len(),
        });
    }
    if let Some(at) = a.iter().zip(b).position(|(x, y)| x != y) {
        let slot = |ring: &[u8]| {
            let mut d = [0u8; 16];
            let start = at / 16 * 16;
            let got = ring.get(start..start + 16).unwrap_or_default();
            d[..got.len()].copy_from_slice(got);
            d
        };
        return Err(Difference::SqByte {
            at,
            model: slot(a),
            driver: slot(b),
        });
    }
    report.bytes_compared += a.len() as u64;
    tx_state_agrees(model, oracle)
}

/// The TX counters `ethtool -S` shows and the queue's state (tail, free entries, doorbell, completion head, the
/// stop and reset flags), on both sides.
fn tx_state_agrees(model: &ModelTxQueue, oracle: &OracleTxQueue) -> Result<(), Difference> {
    let s = oracle.state();
    let m = model.stats();
    let depth = model.config().depth;
    let oracle_free = (depth - 1).wrapping_sub((s.tail as u16).wrapping_sub(s.next_to_comp as u16));
    let pairs: [(&str, u64, u64); 16] = [
        ("tx_cnt", m.cnt, s.cnt),
        ("tx_bytes", m.bytes, s.bytes),
        ("queue_stop", m.queue_stop, s.queue_stop),
        ("queue_wakeup", m.queue_wakeup, s.queue_wakeup),
        ("linearize", m.linearize, s.linearize),
        ("doorbells", m.doorbells, s.doorbells),
        ("prepare_ctx_err", m.prepare_ctx_err, s.prepare_ctx_err),
        ("bad_req_id", m.bad_req_id, s.bad_req_id),
        ("llq_buffer_copy", m.llq_buffer_copy, s.llq_buffer_copy),
        ("sq tail", model.sq_tail() as u64, s.tail & 0xffff),
        (
            "free entries",
            model.free_entries() as u64,
            oracle_free as u64,
        ),
        (
            "doorbell register",
            model.doorbell_tail() as u64,
            s.db_reg & 0xffff,
        ),
        (
            "completion head",
            model.completion_head() as u64,
            s.cq_head & 0xffff,
        ),
        (
            "driver stopped the queue",
            model.is_stopped() as u64,
            s.drv_xoff,
        ),
        (
            "queue stopped for the stack",
            model.is_xmit_stopped() as u64,
            (s.drv_xoff | s.stack_xoff != 0) as u64,
        ),
        (
            "reset requested",
            model.reset_pending() as u64,
            s.reset_pending,
        ),
    ];
    counters_agree(&pairs)
}

/// The first of `(name, model, driver)` whose two values differ, as a [`Difference::Counter`].
fn counters_agree(pairs: &[(&'static str, u64, u64)]) -> Result<(), Difference> {
    match pairs.iter().find(|(_, x, y)| x != y) {
        Some(&(name, model, driver)) => Err(Difference::Counter {
            name,
            model,
            driver,
        }),
        None => Ok(()),
    }
}

/// Reproducible random cases for the differential test (a xorshift generator, no dependency).
pub mod random {
    use nic_model::defs::{L3_PROTO_IPV4, L3_PROTO_IPV6, L4_PROTO_TCP, L4_PROTO_UDP};
    use nic_model::desc::TxOffload;
    use nic_model::llq::{LlqConfig, LlqEntrySize, Placement};
    use nic_model::{Offload, TxQueueConfig};

    use super::{MAX_SKB_FRAGS, PacketSpec, TxOp};

    /// A xorshift64* generator.
    #[derive(Debug, Clone)]
    pub struct Rng(u64);

    impl Rng {
        /// Seeded generator (a zero seed is replaced).
        pub fn new(seed: u64) -> Self {
            Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
        }

        /// Next 64 random bits.
        pub fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// Uniform in `0..n` (`n > 0`).
        pub fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n.max(1)
        }
    }

    /// A configuration the driver could be given: host or LLQ (every entry size and descriptors-before-header
    /// the model accepts), burst limit, meta caching, header size, sgl_size, byte queue limit, small rings so
    /// that they wrap.
    pub fn config(r: &mut Rng) -> TxQueueConfig {
        let host = r.below(3) == 0;
        // 2..=128 entries; host rings, whose queue stops below sgl_size + 2 free descriptors, mostly 32..=256.
        let depth = if host && r.below(4) != 0 {
            1u16 << (5 + r.below(4))
        } else {
            1u16 << (1 + r.below(7))
        };
        let placement = if host {
            Placement::Host
        } else {
            let entry_size =
                [LlqEntrySize::B128, LlqEntrySize::B192, LlqEntrySize::B256][r.below(3) as usize];
            let before = [1u8, 2, 4, 8][r.below(4) as usize];
            Placement::Llq(LlqConfig {
                entry_size,
                descs_before_header: if entry_size == LlqEntrySize::B128 && before == 8 {
                    2
                } else {
                    before
                },
                disable_meta_caching: r.below(4) == 0,
            })
        };
        TxQueueConfig {
            depth,
            placement,
            max_sg: [17, 17, 19, 4, 1, 8][r.below(6) as usize],
            max_entries_in_tx_burst: [0, 0, 1, 2, 3, 4, 8, 16][r.below(8) as usize],
            max_header_size: [0, 0, 64, 128, 255][r.below(5) as usize],
            bql_limit: [0, 0, 3000, 20_000][r.below(4) as usize],
        }
    }

    /// A packet: linear or fragmented (even or listed sizes, tiny fragments included), short to 64 KiB, with or
    /// without an offload context.
    pub fn packet(r: &mut Rng) -> PacketSpec {
        let nr_frags = match r.below(5) {
            0 | 1 => 0,
            2 => 1 + r.below(4) as u8,
            3 => 15 + r.below(5) as u8, // around sgl_size: 15..=19 (above 17 is cut to 17)
            _ => r.below(MAX_SKB_FRAGS as u64 + 1) as u8,
        }
        .min(MAX_SKB_FRAGS as u8);
        let mut frags = [0u32; MAX_SKB_FRAGS];
        let small = r.below(3) == 0;
        for f in frags.iter_mut().take(nr_frags as usize) {
            *f = if small {
                1 + r.below(64) as u32
            } else {
                1 + r.below(3000) as u32
            };
        }
        let head_len =
            [0, 14, 54, 66, 95, 96, 97, 128, 1500][r.below(9) as usize] as u32 + r.below(3) as u32;
        let len = match r.below(4) {
            0 => 1 + r.below(120) as u32,
            1 => 60 + r.below(1500) as u32,
            2 => 1000 + r.below(9000) as u32,
            _ => 1 + r.below(65535) as u32,
        };
        let offload = match r.below(4) {
            0 => Offload {
                l3_proto: L3_PROTO_IPV4,
                l4_proto: L4_PROTO_TCP,
                flags: TxOffload::TSO_EN
                    | TxOffload::L4_CSUM_EN
                    | TxOffload::L3_CSUM_EN
                    | TxOffload::DF,
                mss: [1448, 8949, 536][r.below(3) as usize],
                l3_hdr_len: 20,
                l3_hdr_off: 14,
                l4_hdr_len_words: 5 + r.below(3) as u8,
            },
            1 => Offload {
                l3_proto: if r.below(2) == 0 {
                    L3_PROTO_IPV4
                } else {
                    L3_PROTO_IPV6
                },
                l4_proto: L4_PROTO_UDP,
                flags: TxOffload::L4_CSUM_EN | TxOffload::L4_CSUM_PARTIAL,
                l3_hdr_len: 20 + 20 * r.below(2) as u8,
                l3_hdr_off: 14,
                ..Offload::default()
            },
            2 => Offload {
                l3_proto: r.below(16) as u8,
                l4_proto: r.below(32) as u8,
                flags: TxOffload::from_bits_truncate(r.next_u64() as u32),
                mss: r.below(3) as u16 * r.below(16384) as u16,
                l3_hdr_len: r.next_u64() as u8,
                l3_hdr_off: r.next_u64() as u8,
                l4_hdr_len_words: r.below(64) as u8,
            },
            _ => Offload::default(),
        };
        PacketSpec {
            len,
            head_len: head_len.min(len),
            nr_frags,
            frags,
            even: r.below(2) == 0,
            offload,
            xmit_more: r.below(3) != 0,
        }
    }

    /// An RX queue: small rings and buffers, so packets span buffers and rings wrap.
    pub fn rx_config(r: &mut Rng) -> nic_model::RxQueueConfig {
        nic_model::RxQueueConfig {
            depth: 1 << (2 + r.below(6)),
            buf_size: [256, 512, 1024, 2048, 4096 - 256][r.below(5) as usize],
            max_bufs_per_pkt: 1 + r.below(19) as u16,
            rx_copybreak: [0, 256, 1500][r.below(3) as usize],
        }
    }

    /// An RX step: packets, refills and polls, now and then a completion rewritten by the device.
    pub fn rx_op(r: &mut Rng, depth: u16) -> super::RxOp {
        use super::RxOp;
        use nic_model::desc::RxStatus;
        match r.below(16) {
            0..=5 => RxOp::Packet(nic_model::RxPacket {
                len: {
                    let max = if r.below(2) == 0 { 1600 } else { 9000 };
                    1 + r.below(max) as u32
                },
                hash: r.next_u64() as u32,
                l3_proto: [0, 8, 11][r.below(3) as usize],
                l4_proto: [0, 1, 12, 13][r.below(4) as usize],
                csum: RxStatus::from_bits_truncate(r.next_u64() as u32)
                    & (RxStatus::L3_CSUM_ERR
                        | RxStatus::L4_CSUM_ERR
                        | RxStatus::IPV4_FRAG
                        | RxStatus::L4_CSUM_CHECKED),
            }),
            6..=8 => RxOp::Refill(depth),
            9..=13 => RxOp::Poll(1 + r.below(8) as u16),
            _ => {
                let bits = [
                    1u32 << 26,
                    1 << 27,
                    1 << 24,
                    1 << 13,
                    1 << 14,
                    1 << 15,
                    1 << 16,
                    0x1f,
                    0x1f00,
                ];
                RxOp::Mutate {
                    back: 1 + r.below(4) as u8,
                    status_xor: bits[r.below(bits.len() as u64) as usize],
                    length: if r.below(3) == 0 {
                        r.next_u64() as u16
                    } else {
                        0
                    },
                    hash: if r.below(3) == 0 {
                        r.next_u64() as u32
                    } else {
                        0
                    },
                    req_id_beyond: if r.below(6) == 0 {
                        1 + r.below(200) as u8
                    } else {
                        0
                    },
                }
            }
        }
    }

    /// A step: mostly packets, then devices and polls with small budgets, now and then a hostile completion.
    pub fn op(r: &mut Rng) -> TxOp {
        match r.below(20) {
            0..=9 => TxOp::Xmit(packet(r)),
            10..=14 => TxOp::Device(1 + r.below(8) as u16),
            15..=18 => TxOp::Clean(1 + r.below(16) as u16),
            _ => TxOp::Completion {
                slot: r.next_u64() as u16,
                req_id: if r.below(2) == 0 {
                    r.below(8) as u16
                } else {
                    r.next_u64() as u16
                },
                status: r.next_u64() as u8,
                flags: r.next_u64() as u8,
            },
        }
    }
}

/// One step of an RX differential run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxOp {
    /// `ena_refill_rx_bufs` on the model (the oracle takes every buffer as posted).
    Refill(u16),
    /// A packet from the wire: the model's device places it and writes its completions.
    Packet(nic_model::RxPacket),
    /// A buggy or hostile device rewrites the completion `back` entries behind the device's tail: XOR into the
    /// status word, a new length, a new hash, or a req_id beyond the ring (both rings get the same bytes).
    Mutate {
        /// How far behind the tail (1 = the last completion written).
        back: u8,
        /// XORed into the status word (first, last, phase, checksum bits, protocols).
        status_xor: u32,
        /// Replaces the length when non-zero.
        length: u16,
        /// Replaces the hash when non-zero.
        hash: u32,
        /// Sets the req_id to the ring depth plus this, when non-zero.
        req_id_beyond: u8,
    },
    /// `ena_clean_rx_irq` with this budget.
    Poll(u16),
}

/// What an RX differential run compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxReport {
    /// Steps run.
    pub ops: u64,
    /// Packets delivered (on both sides).
    pub delivered: u64,
    /// Errors both sides found.
    pub errors: u64,
    /// Runs ended at a buffer the model knows is not posted (see [`run_rx`]).
    pub not_compared: u64,
}

impl core::ops::AddAssign for RxReport {
    fn add_assign(&mut self, o: Self) {
        self.ops += o.ops;
        self.delivered += o.delivered;
        self.errors += o.errors;
        self.not_compared += o.not_compared;
    }
}

/// RX slots of the model's queue.
pub const RX_SLOTS: usize = 1024;

/// Runs `ops` on a `nic_model::RxQueue` of `cfg` and the real `ena_com_rx_pkt`; after every poll each packet
/// (length, hash, buffers) or error, and the RX counters, must agree. Stops comparing once both requested a reset,
/// or when the model refuses a completion for a buffer it does not hold: the kernel's check for that
/// (`ena_rx_skb`: `rx_info->page == NULL`) depends on page reuse, which the model does not follow.
pub fn run_rx(cfg: &nic_model::RxQueueConfig, ops: &[RxOp]) -> Result<RxReport, DiffError> {
    use nic_model::desc::RxCdesc;

    let mut model = Box::new(ModelRxQueue::new(*cfg).map_err(DiffError::Config)?);
    let mut oracle = crate::OracleRxQueue::new(cfg.depth).map_err(DiffError::Oracle)?;
    let depth = cfg.depth as usize;
    let mut report = RxReport::default();
    // Where the model's device writes its next completion: the driver cannot see it, the harness counts.
    let mut cq_tail: usize = 0;
    let mismatch = |i: usize, op: &RxOp, what: Difference| DiffError::Mismatch {
        op: i,
        step: format!("{op:?}"),
        what,
    };
    for (i, op) in ops.iter().enumerate() {
        report.ops += 1;
        match op {
            RxOp::Refill(n) => {
                model.refill(*n);
            }
            RxOp::Packet(p) => {
                let before = model.device_stats().packets;
                let _ = model.device_receive(p);
                if model.device_stats().packets != before {
                    cq_tail += p.len.max(1).div_ceil(match cfg.buf_size {
                        0 => 65536,
                        b => b as u32,
                    }) as usize;
                }
            }
            RxOp::Mutate {
                back,
                status_xor,
                length,
                hash,
                req_id_beyond,
            } => {
                let slot = (cq_tail + depth * 4 - (*back as usize).max(1)) % depth;
                let c: &mut RxCdesc = &mut model.cq_raw_mut()[slot];
                let length = if *length != 0 { *length } else { c.length() };
                let hash = if *hash != 0 { *hash } else { c.hash() };
                let req_id = if *req_id_beyond != 0 {
                    cfg.depth.saturating_add(*req_id_beyond as u16 - 1)
                } else {
                    c.req_id()
                };
                c.corrupt(c.status_word() ^ status_xor, length, req_id, hash);
            }
            RxOp::Poll(budget) => {
                let flow = poll_rx(&mut model, &mut oracle, cfg, *budget, &mut report)
                    .map_err(|what| mismatch(i, op, what))?;
                if flow == Flow::Stop {
                    return Ok(report);
                }
            }
        }
    }
    Ok(report)
}

/// The model's RX queue of [`RX_SLOTS`] slots.
type ModelRxQueue = nic_model::RxQueue<RX_SLOTS>;

/// Whether a differential run goes on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Both sides agree and can take the next step.
    Continue,
    /// Both sides stopped (an error the driver answers with a reset), or the rest is outside what can be compared.
    Stop,
}

/// One NAPI poll of up to `budget` packets on both sides, the model's completion ring copied to the driver's
/// first: each packet (length, hash, buffers) or error, and the RX counters after it, must agree.
fn poll_rx(
    model: &mut ModelRxQueue,
    oracle: &mut crate::OracleRxQueue,
    cfg: &nic_model::RxQueueConfig,
    budget: u16,
    report: &mut RxReport,
) -> Result<Flow, Difference> {
    let depth = cfg.depth as usize;
    copy_completions(
        zerocopy::IntoBytes::as_bytes(&model.cq_raw_mut()[..depth]),
        oracle.cq_bytes_mut(),
    )?;
    for _ in 0..budget {
        let mut got = None;
        let m = model.poll(1, |d| got = Some(*d));
        let (r, o) = oracle.clean_rx_one(cfg.max_bufs_per_pkt, cfg.rx_copybreak);
        if let Err(nic_model::Error::ReqIdNotOutstanding { .. }) = m {
            // A completion for a buffer the driver does not hold (a hostile device re-exposing an old one).
            // `ena_rx_skb` notices only when the first buffer's page was handed to the stack; with page reuse and
            // copybreak the page stays and the kernel takes the buffer again. The model refuses every such
            // buffer: not compared.
            report.not_compared += 1;
            return Ok(Flow::Stop);
        }
        let agree = match (&m, r) {
            (Ok(1), 1) => got.is_some_and(|d| {
                let lens: u32 = o.lens[..(o.descs as usize).min(o.lens.len())]
                    .iter()
                    .map(|l| *l as u32)
                    .sum();
                (d.len, d.hash, d.bufs) == (lens, o.hash, o.descs)
            }),
            (Ok(0), 0) => true,
            (Err(nic_model::Error::BadFirstLast { .. }), -1) => o.rc == -14,
            (Err(nic_model::Error::BadDescNum { .. }), -1) => o.rc == -28,
            (Err(nic_model::Error::BadReqId { .. }), -1) => o.rc == -5,
            _ => false,
        };
        if !agree {
            return Err(Difference::CleanRx {
                model: format!("{m:?} {got:?}"),
                driver: format!("{r} {o:?}"),
            });
        }
        rx_counters_agree(model, oracle)?;
        match r {
            1 => report.delivered += 1,
            0 => break,
            _ => {
                report.errors += 1;
                return Ok(Flow::Stop);
            }
        }
    }
    Ok(Flow::Continue)
}

/// The RX counters `ethtool -S` shows, on both sides.
fn rx_counters_agree(
    model: &ModelRxQueue,
    oracle: &crate::OracleRxQueue,
) -> Result<(), Difference> {
    let (ms, os) = (model.stats(), oracle.stats());
    let pairs = [
        ("rx_cnt", ms.cnt, os.cnt),
        ("rx_bytes", ms.bytes, os.bytes),
        ("rx_copybreak_pkt", ms.rx_copybreak_pkt, os.rx_copybreak_pkt),
        ("csum_good", ms.csum_good, os.csum_good),
        ("csum_bad", ms.csum_bad, os.csum_bad),
        ("csum_unchecked", ms.csum_unchecked, os.csum_unchecked),
        ("bad_desc_num", ms.bad_desc_num, os.bad_desc_num),
        ("bad_req_id", ms.bad_req_id, os.bad_req_id),
    ];
    counters_agree(&pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_counter_that_differs_is_the_one_reported() {
        assert!(counters_agree(&[("a", 1, 1), ("b", 2, 2)]).is_ok());
        match counters_agree(&[("a", 1, 1), ("b", 2, 3), ("c", 4, 5)]) {
            Err(Difference::Counter {
                name: "b",
                model: 2,
                driver: 3,
            }) => {}
            other => panic!("{other:?}"),
        }
    }
}
