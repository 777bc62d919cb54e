//! The veth hop and the paths a pod's packet takes to the physical device.

use crate::skb::{Skb, XmitCtx};
use crate::{Decision, RefSelector};

/// `veth_xmit` as seen by the packet: the veth TX queue it used becomes, on kernels with edbea9220251 and without
/// the fix 710ad98c363a, a recorded rx queue (`skb_record_rx_queue(skb, rxq)`); crossing into another namespace
/// orphans it (`__dev_forward_skb` -> `skb_scrub_packet` with `xnet`), so the next device sees no socket.
/// `sender_cpu` survives: the packet is processed on as the same CPU's backlog (`netif_rx`).
#[inline]
pub fn veth_xmit(skb: &mut Skb, veth_txq: u16, records_rx_queue: bool, crosses_netns: bool) {
    skb.queue_mapping = 0;
    if records_rx_queue {
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
    /// A socket in a pod's namespace sends through a veth pair into the host, which forwards it out of the
    /// physical device (the incident's path).
    PodViaVeth,
}

/// The whole egress path of one packet in one call: on [`Path::PodViaVeth`] the pod's socket sends through a
/// single-queue veth (TX queue 0) into the host namespace, which forwards it; then the physical device's
/// selection runs (`__dev_queue_xmit` -> `netdev_core_pick_tx`). `veth_records_rx_queue` comes from the kernel
/// profile.
pub fn egress(
    sel: &RefSelector,
    skb: &mut Skb,
    path: Path,
    veth_records_rx_queue: bool,
    ctx: XmitCtx,
) -> Decision {
    if path == Path::PodViaVeth {
        veth_xmit(skb, 0, veth_records_rx_queue, true);
    }
    sel.select(skb, ctx)
}
