//! The veth hop and the paths a pod's packet takes to the physical device.

use crate::hash::{reciprocal_scale, skb_get_hash};
use crate::skb::{Skb, XmitCtx};
use crate::{Decision, RefSelector};

/// `veth_xmit` as seen by the packet, which arrives with `queue_mapping` = `veth_txq`, the veth TX queue
/// `netdev_core_pick_tx` chose for it (`skb_set_queue_mapping`).
///
/// - Kernels with edbea9220251 and without the fix 710ad98c363a (`records_rx_queue`): when the peer has that rx
///   queue (`rxq < rcv->real_num_rx_queues`), `skb_record_rx_queue(skb, rxq)` makes the mapping `rxq + 1`;
///   otherwise the mapping stays `rxq`.
/// - Fixed kernels: `veth_xmit` leaves the mapping alone, so it stays `veth_txq`; on the next device a mapping of
///   `k > 0` reads as "rx queue `k - 1` recorded". A default single-queue veth (k = 0) hands on nothing; a
///   multi-queue one hands on a recorded queue even with the fix.
/// - `__dev_forward_skb` keeps `queue_mapping` and the hash; crossing into another namespace orphans the skb
///   (`skb_scrub_packet` with `xnet`), so the next device sees no socket. `sender_cpu` survives: the packet is
///   processed on as the same CPU's backlog (`netif_rx`).
#[inline]
pub fn veth_xmit(
    skb: &mut Skb,
    veth_txq: u16,
    peer_rx_queues: u16,
    records_rx_queue: bool,
    crosses_netns: bool,
) {
    skb.queue_mapping = veth_txq;
    if records_rx_queue && veth_txq < peer_rx_queues {
        skb.record_rx_queue(veth_txq);
    }
    if crosses_netns {
        skb.sk = None;
    }
}

/// Where a packet starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Path {
    /// A socket in the host (root) namespace sends straight out of the physical device.
    Host,
    /// A socket in a pod's namespace sends through a default (single-queue) veth pair into the host, which
    /// forwards it out of the physical device (the incident's path).
    PodViaVeth,
    /// As [`Path::PodViaVeth`] through a veth created with `numtxqueues N numrxqueues N` on both ends.
    PodViaMultiQueueVeth {
        /// N.
        queues: u16,
    },
}

impl Path {
    /// The name used in output.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::PodViaVeth => "veth",
            Self::PodViaMultiQueueVeth { .. } => "multi-queue veth",
        }
    }
}

/// The veth's own `netdev_core_pick_tx` for a pod socket's packet: one queue gives 0; several give
/// `skb_tx_hash` over them (a veth has no `ndo_select_queue` and no default XPS map). The hash is computed here and
/// kept on the skb, as the kernel keeps it for the next device.
fn veth_pick_tx(skb: &mut Skb, queues: u16, hash_seed: u64) -> u16 {
    if queues <= 1 {
        return 0;
    }
    reciprocal_scale(skb_get_hash(skb, hash_seed), queues as u32) as u16
}

/// The whole egress path of one packet in one call: on the pod paths the pod's socket sends through a veth into
/// the host namespace, which forwards it; then the physical device's selection runs (`__dev_queue_xmit` ->
/// `netdev_core_pick_tx`). `veth_records_rx_queue` comes from the kernel profile.
pub fn egress(
    sel: &RefSelector,
    skb: &mut Skb,
    path: Path,
    veth_records_rx_queue: bool,
    ctx: XmitCtx,
) -> Decision {
    match path {
        Path::Host => {}
        Path::PodViaVeth => veth_xmit(skb, 0, 1, veth_records_rx_queue, true),
        Path::PodViaMultiQueueVeth { queues } => {
            let k = veth_pick_tx(skb, queues, sel.hash_seed());
            veth_xmit(skb, k, queues, veth_records_rx_queue, true);
        }
    }
    sel.select(skb, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_xmit_per_kernel() {
        let run = |txq, peer_rx, records| {
            let mut skb = Skb::new(100, 1);
            veth_xmit(&mut skb, txq, peer_rx, records, true);
            skb.queue_mapping
        };
        // Default single-queue veth: buggy records rx 0 (mapping 1), fixed hands on nothing.
        assert_eq!((run(0, 1, true), run(0, 1, false)), (1, 0));
        // Multi-queue veth, queue 3: buggy records rx 3; fixed leaves 3, read as rx 2 on the next device.
        assert_eq!((run(3, 8, true), run(3, 8, false)), (4, 3));
        // Buggy, but the peer lacks that rx queue: the mapping is left as it was.
        assert_eq!(run(3, 2, true), 3);
    }
}
