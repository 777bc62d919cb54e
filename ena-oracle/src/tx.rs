//! The TX queue of the compiled driver code: `oracle_start_xmit` / `oracle_clean_tx_irq` in `csrc/oracle.c`
//! around the real `ena_com_prepare_tx`.

use nic_model::llq::Placement;
use nic_model::{Offload, TxQueueConfig};

use crate::OracleError;

/// Most page fragments a packet has (`MAX_SKB_FRAGS`).
pub const MAX_SKB_FRAGS: usize = 17;

/// `struct oracle_state` of `csrc/oracle.c`: the driver's counters and queue state.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OracleState {
    /// `tx_cnt`.
    pub cnt: u64,
    /// `tx_bytes`.
    pub bytes: u64,
    /// `queue_stop`.
    pub queue_stop: u64,
    /// `queue_wakeup`.
    pub queue_wakeup: u64,
    /// `linearize`.
    pub linearize: u64,
    /// `doorbells`.
    pub doorbells: u64,
    /// `prepare_ctx_err`.
    pub prepare_ctx_err: u64,
    /// `bad_req_id`.
    pub bad_req_id: u64,
    /// `llq_buffer_copy`.
    pub llq_buffer_copy: u64,
    /// Calls of `ena_reset_device`.
    pub resets: u64,
    /// `io_sq->tail`.
    pub tail: u64,
    /// `io_sq->next_to_comp`.
    pub next_to_comp: u64,
    /// `io_sq->phase`.
    pub sq_phase: u64,
    /// The last value written to the doorbell register.
    pub db_reg: u64,
    /// `io_cq->head`.
    pub cq_head: u64,
    /// `io_cq->phase`.
    pub cq_phase: u64,
    /// `tx_ring->next_to_use`.
    pub next_to_use: u64,
    /// `tx_ring->next_to_clean`.
    pub next_to_clean: u64,
    /// The driver stopped the queue.
    pub drv_xoff: u64,
    /// The byte queue limit stopped the queue.
    pub stack_xoff: u64,
    /// A reset was requested.
    pub reset_pending: u64,
    /// `io_sq->entries_in_tx_burst_left`.
    pub entries_in_tx_burst_left: u64,
}

#[cfg_attr(not(ena_oracle), allow(dead_code))]
#[repr(C)]
struct CfgC {
    bql_limit: u32,
    depth: u16,
    entry_size: u16,
    max_entries_in_tx_burst: u16,
    sgl_size: u16,
    descs_before_header: u8,
    disable_meta_caching: u8,
    max_header_size: u8,
    pad: u8,
}

#[cfg_attr(not(ena_oracle), allow(dead_code))]
#[repr(C)]
struct PktC {
    len: u32,
    head_len: u32,
    frags: [u32; MAX_SKB_FRAGS],
    offload_flags: u32,
    nr_frags: u16,
    mss: u16,
    l3_proto: u8,
    l4_proto: u8,
    l3_hdr_len: u8,
    l3_hdr_off: u8,
    l4_hdr_len: u8,
    xmit_more: u8,
    pad: [u8; 2],
}

#[repr(C)]
struct Txq {
    _opaque: [u8; 0],
}

#[cfg(ena_oracle)]
unsafe extern "C" {
    fn oracle_txq_new(cfg: *const CfgC) -> *mut Txq;
    fn oracle_txq_free(q: *mut Txq);
    fn oracle_start_xmit(q: *mut Txq, pkt: *const PktC, req_id: *mut u16) -> i32;
    fn oracle_clean_tx_irq(q: *mut Txq, budget: u32, rc: *mut i32) -> i32;
    fn oracle_sq_mem(q: *mut Txq, len: *mut usize) -> *mut u8;
    fn oracle_cq_mem(q: *mut Txq, len: *mut usize) -> *mut u8;
    fn oracle_state(q: *const Txq, out: *mut OracleState);
}

/// What `ena_start_xmit` did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Xmit {
    /// On the ring under this req_id.
    Sent(u16),
    /// The queue is stopped (driver or byte queue limit): the stack would not have called the driver.
    Stopped,
    /// A reset is pending: the driver is going down.
    ResetPending,
    /// `ena_com_prepare_tx` (or the skb check) failed with this `-errno`; the packet was dropped.
    Failed(i32),
}

/// A TX queue of the compiled driver code, configured like a `nic_model::TxQueue`.
pub struct OracleTxQueue {
    q: core::ptr::NonNull<Txq>,
}

impl OracleTxQueue {
    /// Sets up the queue as `ena_com_create_io_queue` and `ena_setup_tx_resources` do for `cfg`.
    pub fn new(cfg: &TxQueueConfig) -> Result<Self, OracleError> {
        if let Some(why) = crate::unavailable() {
            return Err(OracleError::Unavailable(why));
        }
        let (entry_size, before, dmc) = match cfg.placement {
            Placement::Host => (0, 0, 0),
            Placement::Llq(l) => (
                l.entry_size.bytes(),
                l.descs_before_header,
                l.disable_meta_caching as u8,
            ),
        };
        let c = CfgC {
            bql_limit: cfg.bql_limit,
            depth: cfg.depth,
            entry_size,
            max_entries_in_tx_burst: cfg.max_entries_in_tx_burst,
            sgl_size: cfg.max_sg,
            descs_before_header: before,
            disable_meta_caching: dmc,
            max_header_size: cfg.max_header_size,
            pad: 0,
        };
        Self::create(&c)
    }

    #[cfg(ena_oracle)]
    fn create(c: &CfgC) -> Result<Self, OracleError> {
        // SAFETY: `c` is a valid `struct oracle_cfg` for the call; the function only reads it and returns a new
        // allocation or NULL.
        let q = unsafe { oracle_txq_new(c) };
        core::ptr::NonNull::new(q)
            .map(|q| Self { q })
            .ok_or(OracleError::Config(
                "oracle_txq_new refused the configuration",
            ))
    }

    #[cfg(not(ena_oracle))]
    fn create(_c: &CfgC) -> Result<Self, OracleError> {
        Err(OracleError::Unavailable(
            crate::unavailable().unwrap_or("not built"),
        ))
    }

    /// `ena_start_xmit` for a packet of `len` bytes with `head_len` in the linear part and page fragments of
    /// `frags` bytes each, carrying the offload context `offload`. At most `MAX_SKB_FRAGS` (17) fragments.
    pub fn xmit(
        &mut self,
        len: u32,
        head_len: u32,
        frags: &[u32],
        offload: &Offload,
        xmit_more: bool,
    ) -> Xmit {
        let mut p = PktC {
            len,
            head_len,
            frags: [0; MAX_SKB_FRAGS],
            offload_flags: offload.flags.bits(),
            nr_frags: frags.len().min(MAX_SKB_FRAGS) as u16,
            mss: offload.mss,
            l3_proto: offload.l3_proto,
            l4_proto: offload.l4_proto,
            l3_hdr_len: offload.l3_hdr_len,
            l3_hdr_off: offload.l3_hdr_off,
            l4_hdr_len: offload.l4_hdr_len_words,
            xmit_more: xmit_more as u8,
            pad: [0; 2],
        };
        for (d, s) in p.frags.iter_mut().zip(frags) {
            *d = *s;
        }
        let mut req_id = 0u16;
        let rc = self.start_xmit(&p, &mut req_id);
        match rc {
            0 => Xmit::Sent(req_id),
            1000 => Xmit::Stopped,
            1001 => Xmit::ResetPending,
            e => Xmit::Failed(e),
        }
    }

    #[cfg(ena_oracle)]
    fn start_xmit(&mut self, p: &PktC, req_id: &mut u16) -> i32 {
        // SAFETY: `self.q` is a live queue from `oracle_txq_new`, owned by `self` (no aliasing: `&mut self`);
        // `p` and `req_id` are valid for the call. nr_frags <= MAX_SKB_FRAGS, the size of `p.frags`.
        unsafe { oracle_start_xmit(self.q.as_ptr(), p, req_id) }
    }

    #[cfg(not(ena_oracle))]
    fn start_xmit(&mut self, _p: &PktC, _req_id: &mut u16) -> i32 {
        -1
    }

    /// `ena_clean_tx_irq` with this budget: the packets completed, and 0 or the `-errno` of the bad req_id
    /// that stopped it (`-EINVAL` beyond the ring, `-EFAULT` not outstanding).
    pub fn clean_tx_irq(&mut self, budget: u32) -> (u32, i32) {
        let mut rc = 0;
        let n = self.clean(budget, &mut rc);
        (n.max(0) as u32, rc)
    }

    #[cfg(ena_oracle)]
    fn clean(&mut self, budget: u32, rc: &mut i32) -> i32 {
        // SAFETY: as in `start_xmit`; `rc` is valid for the call.
        unsafe { oracle_clean_tx_irq(self.q.as_ptr(), budget, rc) }
    }

    #[cfg(not(ena_oracle))]
    fn clean(&mut self, _budget: u32, _rc: &mut i32) -> i32 {
        0
    }

    /// The submission ring as the device sees it: host memory, or the LLQ device memory as
    /// `__iowrite64_copy` wrote it from the bounce buffers.
    pub fn sq_bytes(&self) -> &[u8] {
        self.mem(false)
    }

    /// The completion ring, for the caller to play the device.
    pub fn cq_bytes_mut(&mut self) -> &mut [u8] {
        self.mem_mut(true)
    }

    #[cfg(ena_oracle)]
    fn raw_mem(&self, cq: bool) -> (*mut u8, usize) {
        let mut len = 0usize;
        // SAFETY: the queue is live; the functions return its own allocation and its length.
        let p = unsafe {
            if cq {
                oracle_cq_mem(self.q.as_ptr(), &mut len)
            } else {
                oracle_sq_mem(self.q.as_ptr(), &mut len)
            }
        };
        (p, len)
    }

    #[cfg(ena_oracle)]
    fn mem(&self, cq: bool) -> &[u8] {
        let (p, len) = self.raw_mem(cq);
        // SAFETY: `p` points to `len` initialised bytes (calloc) owned by the queue, which outlives the borrow of
        // `self`; the C side writes them only inside calls that take `&mut self`.
        unsafe { core::slice::from_raw_parts(p, len) }
    }

    #[cfg(ena_oracle)]
    fn mem_mut(&mut self, cq: bool) -> &mut [u8] {
        let (p, len) = self.raw_mem(cq);
        // SAFETY: as in `mem`, and `&mut self` makes this the only access while the borrow lives.
        unsafe { core::slice::from_raw_parts_mut(p, len) }
    }

    #[cfg(not(ena_oracle))]
    fn mem(&self, _cq: bool) -> &[u8] {
        &[]
    }

    #[cfg(not(ena_oracle))]
    fn mem_mut(&mut self, _cq: bool) -> &mut [u8] {
        &mut []
    }

    /// Counters and queue state.
    pub fn state(&self) -> OracleState {
        let mut s = OracleState::default();
        self.read_state(&mut s);
        s
    }

    #[cfg(ena_oracle)]
    fn read_state(&self, s: &mut OracleState) {
        // SAFETY: the queue is live and `s` is a valid `struct oracle_state`.
        unsafe { oracle_state(self.q.as_ptr(), s) }
    }

    #[cfg(not(ena_oracle))]
    fn read_state(&self, _s: &mut OracleState) {}
}

impl Drop for OracleTxQueue {
    fn drop(&mut self) {
        #[cfg(ena_oracle)]
        // SAFETY: the queue came from `oracle_txq_new` and is freed once, here.
        unsafe {
            oracle_txq_free(self.q.as_ptr())
        }
    }
}
