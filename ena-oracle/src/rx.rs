//! The RX completion side of the compiled driver code: the real `ena_com_rx_pkt` over a completion ring the caller
//! fills.

use crate::OracleError;

/// Buffers one RX packet may span (`ENA_PKT_MAX_BUFS`).
pub const MAX_BUFS: usize = 19;

/// What one call of `ena_com_rx_pkt` returned and left behind (`struct oracle_rx_result`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxPkt {
    /// 0, or `-EFAULT` (first bit inside a packet), `-ENOSPC` (more than `max_bufs`), `-EIO` (req_id beyond the
    /// ring).
    pub rc: i32,
    /// Completion descriptors of the packet; 0 when none is complete yet.
    pub descs: u16,
    pad: u16,
    /// RSS hash, from the packet's last completion.
    pub hash: u32,
    /// Buffer lengths.
    pub lens: [u16; MAX_BUFS],
    /// Buffer req_ids.
    pub req_ids: [u16; MAX_BUFS],
    /// L3 protocol index (last completion).
    pub l3_proto: u8,
    /// L4 protocol index.
    pub l4_proto: u8,
    /// L3 checksum error.
    pub l3_csum_err: u8,
    /// L4 checksum error.
    pub l4_csum_err: u8,
    /// L4 checksum checked.
    pub l4_csum_checked: u8,
    /// IPv4 fragment.
    pub frag: u8,
    /// Offset of the data in the first buffer.
    pub pkt_offset: u8,
    pad2: u8,
    /// `io_cq->head` afterwards.
    pub cq_head: u16,
    /// `io_sq->next_to_comp` afterwards.
    pub sq_next_to_comp: u16,
    /// `io_cq->cur_rx_pkt_cdesc_count` afterwards (completions of an unfinished packet).
    pub cur_rx_pkt_cdesc_count: u16,
    /// `io_cq->cur_rx_pkt_cdesc_start_idx` afterwards.
    pub cur_rx_pkt_cdesc_start_idx: u16,
    /// `io_cq->phase` afterwards.
    pub cq_phase: u8,
    pad3: [u8; 7],
}

/// RX counters of the oracle's `ena_clean_rx_irq` (`struct oracle_rx_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OracleRxStats {
    /// `rx_cnt`.
    pub cnt: u64,
    /// `rx_bytes`.
    pub bytes: u64,
    /// `rx_copybreak_pkt`.
    pub rx_copybreak_pkt: u64,
    /// `csum_good`.
    pub csum_good: u64,
    /// `csum_bad`.
    pub csum_bad: u64,
    /// `csum_unchecked`.
    pub csum_unchecked: u64,
    /// `bad_desc_num`.
    pub bad_desc_num: u64,
    /// `bad_req_id`.
    pub bad_req_id: u64,
    /// Calls of `ena_reset_device`.
    pub resets: u64,
}

#[repr(C)]
struct Rxq {
    _opaque: [u8; 0],
}

#[cfg(ena_oracle)]
unsafe extern "C" {
    fn oracle_rxq_new(depth: u16) -> *mut Rxq;
    fn oracle_rxq_free(q: *mut Rxq);
    fn oracle_rxq_cq_mem(q: *mut Rxq, len: *mut usize) -> *mut u8;
    fn oracle_rx_pkt(q: *mut Rxq, max_bufs: u16, out: *mut RxPkt);
    fn oracle_clean_rx_one(q: *mut Rxq, max_bufs: u16, copybreak: u16, out: *mut RxPkt) -> i32;
    fn oracle_rx_stats(q: *const Rxq, out: *mut OracleRxStats);
}

/// An RX completion queue of the compiled driver code.
pub struct OracleRxQueue {
    #[cfg_attr(not(ena_oracle), allow(dead_code))]
    q: core::ptr::NonNull<Rxq>,
}

impl OracleRxQueue {
    /// An RX queue pair of `depth` entries, as `ena_com_create_io_queue` sets it up.
    pub fn new(depth: u16) -> Result<Self, OracleError> {
        if let Some(why) = crate::unavailable() {
            return Err(OracleError::Unavailable(why));
        }
        Self::create(depth)
    }

    #[cfg(ena_oracle)]
    fn create(depth: u16) -> Result<Self, OracleError> {
        // SAFETY: plain value argument; returns a new allocation or NULL.
        let q = unsafe { oracle_rxq_new(depth) };
        core::ptr::NonNull::new(q)
            .map(|q| Self { q })
            .ok_or(OracleError::Config(
                "depth must be a power of two, at least 2",
            ))
    }

    #[cfg(not(ena_oracle))]
    fn create(_depth: u16) -> Result<Self, OracleError> {
        Err(OracleError::Unavailable(
            crate::unavailable().unwrap_or("not built"),
        ))
    }

    /// The completion ring (`struct ena_eth_io_rx_cdesc_base` entries), for the caller to play the device.
    #[cfg(ena_oracle)]
    pub fn cq_bytes_mut(&mut self) -> &mut [u8] {
        let mut len = 0usize;
        // SAFETY: the queue is live; the function returns its own calloc'd ring and its length, which
        // `&mut self` keeps exclusive for the borrow.
        unsafe {
            let p = oracle_rxq_cq_mem(self.q.as_ptr(), &mut len);
            core::slice::from_raw_parts_mut(p, len)
        }
    }

    /// The completion ring (empty: the oracle was not built).
    #[cfg(not(ena_oracle))]
    pub fn cq_bytes_mut(&mut self) -> &mut [u8] {
        &mut []
    }

    /// One `ena_com_rx_pkt` call with `max_bufs` (`rx_ring->sgl_size`).
    pub fn rx_pkt(&mut self, max_bufs: u16) -> RxPkt {
        let mut out = RxPkt::default();
        #[cfg(ena_oracle)]
        // SAFETY: the queue is live and exclusively borrowed; `out` is a valid `struct oracle_rx_result`.
        unsafe {
            oracle_rx_pkt(self.q.as_ptr(), max_bufs, &mut out)
        };
        #[cfg(not(ena_oracle))]
        let _ = max_bufs;
        out
    }
}

impl OracleRxQueue {
    /// One turn of `ena_clean_rx_irq`'s loop (all buffers posted, no XDP): 1 and the packet, 0 when none is
    /// complete, -1 after an error (counted, reset requested).
    pub fn clean_rx_one(&mut self, max_bufs: u16, rx_copybreak: u16) -> (i32, RxPkt) {
        let mut out = RxPkt::default();
        #[cfg(ena_oracle)]
        // SAFETY: the queue is live and exclusively borrowed; `out` is a valid `struct oracle_rx_result`.
        let r = unsafe { oracle_clean_rx_one(self.q.as_ptr(), max_bufs, rx_copybreak, &mut out) };
        #[cfg(not(ena_oracle))]
        let r = {
            let _ = (max_bufs, rx_copybreak);
            -1
        };
        (r, out)
    }

    /// The counters.
    pub fn stats(&self) -> OracleRxStats {
        let mut s = OracleRxStats::default();
        #[cfg(ena_oracle)]
        // SAFETY: the queue is live; `s` is a valid `struct oracle_rx_stats`.
        unsafe {
            oracle_rx_stats(self.q.as_ptr(), &mut s)
        };
        s
    }
}

impl Drop for OracleRxQueue {
    fn drop(&mut self) {
        #[cfg(ena_oracle)]
        // SAFETY: the queue came from `oracle_rxq_new` and is freed once, here.
        unsafe {
            oracle_rxq_free(self.q.as_ptr())
        }
    }
}
