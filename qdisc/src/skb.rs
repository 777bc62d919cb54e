//! The packet and socket metadata that TX-queue selection reads and writes.

/// `NO_QUEUE_MAPPING` (`include/net/sock.h`): no queue cached.
pub const NO_QUEUE_MAPPING: u16 = 0xffff;

/// The fields of `struct sock` that selection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Sock {
    /// `sk_tx_queue_mapping`, [`NO_QUEUE_MAPPING`] when unset.
    pub tx_queue: u16,
    /// When the cached queue was stored (for the 6.19 reselection timeout).
    pub tx_queue_set_ns: u64,
    /// `sk_rx_queue_mapping`: the rx queue this socket's packets last arrived on, [`NO_QUEUE_MAPPING`] when unset.
    pub rx_queue: u16,
    /// `sk_fullsock()`: a full socket (not a request or timewait socket).
    pub full: bool,
    /// `sk_dst_cache` is set: the socket has a cached route.
    pub dst_cached: bool,
}

impl Sock {
    /// A connected TCP socket with nothing cached yet.
    pub const fn connected() -> Self {
        Self {
            tx_queue: NO_QUEUE_MAPPING,
            tx_queue_set_ns: 0,
            rx_queue: NO_QUEUE_MAPPING,
            full: true,
            dst_cached: true,
        }
    }
}

/// The `struct sk_buff` fields that selection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Skb {
    /// `skb->len`.
    pub len: u32,
    /// `skb->hash` when set (the NIC's RSS hash, `sk_txhash`, or an earlier flow-dissector result).
    pub hash: Option<u32>,
    /// The flow the flow dissector would hash when no hash is set.
    pub flow: u64,
    /// `skb->queue_mapping`: on receive paths `rx queue + 1` (`skb_record_rx_queue`), 0 when nothing is recorded;
    /// after selection, the TX queue chosen (`skb_set_queue_mapping`).
    pub queue_mapping: u16,
    /// `skb->ooo_okay`: reordering is harmless now (TCP sets it when nothing is in flight), so a cached queue may
    /// be re-picked.
    pub ooo_okay: bool,
    /// `skb->sender_cpu`: CPU + 1 of the sender, 0 when unset.
    pub sender_cpu: u16,
    /// `skb->priority` (traffic-class selection uses `priority & 15`).
    pub priority: u32,
    /// `skb->sk`, when the packet still belongs to a local socket.
    pub sk: Option<Sock>,
    /// A tc egress hook set the queue itself (`skb_get_dst_pending`/"skip txqueue" in newer kernels).
    pub skip_txqueue: bool,
}

impl Skb {
    /// A packet of `len` bytes of flow `flow` with nothing recorded.
    pub const fn new(len: u32, flow: u64) -> Self {
        Self {
            len,
            hash: None,
            flow,
            queue_mapping: 0,
            ooo_okay: false,
            sender_cpu: 0,
            priority: 0,
            sk: None,
            skip_txqueue: false,
        }
    }

    /// `skb_rx_queue_recorded`.
    #[inline(always)]
    pub fn rx_queue_recorded(&self) -> bool {
        self.queue_mapping != 0
    }

    /// `skb_get_rx_queue`.
    #[inline(always)]
    pub fn rx_queue(&self) -> u16 {
        self.queue_mapping.wrapping_sub(1)
    }

    /// `skb_record_rx_queue`.
    #[inline(always)]
    pub fn record_rx_queue(&mut self, rxq: u16) {
        self.queue_mapping = rxq.wrapping_add(1);
    }
}

/// Where and when the transmit runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct XmitCtx {
    /// `raw_smp_processor_id()`.
    pub cpu: u16,
    /// Current time (for the socket queue reselection timeout).
    pub now_ns: u64,
}
