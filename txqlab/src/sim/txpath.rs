//! The node's TX queues: `mq` with one child qdisc per queue (`qdisc::sched::Mq` of `AnyQdisc`, the kind the
//! scenario names, as `mq_init` creates `default_qdisc_ops` children), and per queue its ENA TX ring (with BQL)
//! and the device draining the ring.
//!
//! The mq and its children (about 700 KB per fq_codel) are allocated zeroed on the heap and set up in place
//! (`FromZeros::new_box_zeroed`, `Mq::init`): nothing large is built on the stack, so a stage runs on a default
//! 2 MiB thread stack.
//!
//! `qdisc_run` moves packets from the qdisc into the ring while BQL allows and the ring is not stopped
//! (`netdev_tx_sent_queue`, `netif_tx_queue_stopped`); the driver keeps each packet under the req_id the ring gave
//! it (`tx_info[req_id].skb` in `ena_netdev.c`). The ring is the device: the device model fetches the packet at
//! the ring's head (`device_process`), transmits it at the queue's packet and bit rates, and posts its
//! completion; the packet that leaves is the one stored under that completion's req_id. `ena_clean_tx_irq` then
//! frees the entries and the BQL budget and wakes the queue.

use nic_model::shaper::{AllowanceConfig, BandwidthConfig, OverLimit, Shaper};
use nic_model::{TxPacket, TxQueue, TxQueueConfig};
use qdisc::sched::{AnyQdisc, ETH_HLEN, FqCodel, FqCodelConfig, Mq, QPkt, Qdisc, psched_mtu};
use qdisc::veth::Path;
use qdisc::{Driver, KernelProfile, RefSelector, Skb, Sock, XmitCtx};
use zerocopy::FromZeros;

use super::time::Ns;
use crate::error::{Error, Result};
use crate::scenario::{
    Allowance, MAX_FQ_CODEL_LIMIT, MAX_RING, MAX_TXQUEUELEN, Nic, Params, QdiscKind,
};

/// TX-queue selection on the node: the kernel profile's veth behaviour and the ENA driver's `ndo_select_queue`.
/// Every use of the `qdisc` crate's selection API is here, so that a change there is adapted in one place.
pub struct Selection {
    sel: RefSelector,
    cpu: u16,
    /// The node's kernel, with the scenario's veth override applied.
    profile: KernelProfile,
}

/// The NIC section's settings refused by `qdisc`'s device model.
fn nic_field(source: qdisc::Error) -> Error {
    Error::Qdisc {
        field: "nic",
        source,
    }
}

impl Selection {
    /// From the stage's kernel and NIC.
    pub fn new(p: &Params) -> Result<Self> {
        let profile =
            KernelProfile::from_release(&p.kernel.release).map_err(|source| Error::Qdisc {
                field: "kernel.release",
                source,
            })?;
        let profile = match p.kernel.veth_records_rx_queue {
            Some(v) => profile.with_override(v),
            None => profile,
        };
        // The incident's NIC: the in-tree ENA driver, its hook as the kernel has it (`qdisc::driver`); XPS by CPU
        // when the scenario sets it (ENA installs none of its own). The flow-hash key is the run's seed: each seed
        // is another boot.
        let xps = Some(p.nic.xps_cpus);
        let dev = Driver::Ena(qdisc::driver::EnaBuild::InTree)
            .netdev(&profile, p.nic.queues, p.nic.queues.min(64), xps)
            .map_err(nic_field)?;
        let sel = RefSelector::new(dev, profile.rules, p.seed).map_err(nic_field)?;
        Ok(Self {
            sel,
            cpu: p.kernel.cpu,
            profile,
        })
    }

    /// The node kernel's profile (with the scenario's veth override applied).
    pub fn kernel(&self) -> &KernelProfile {
        &self.profile
    }

    /// The physical TX queue of connection `flow` with socket hash `hash`: its packet leaves the pod's socket,
    /// crosses the veth, and is selected on the ENA device as the kernel profile says.
    pub fn queue(&self, hash: u32, flow: usize, now: Ns) -> u16 {
        let mut skb = Skb::new(1500, flow as u64);
        skb.hash = Some(hash);
        skb.sk = Some(Sock::connected());
        skb.sender_cpu = self.cpu + 1;
        let ctx = XmitCtx {
            cpu: self.cpu,
            now_ns: now.0,
        };
        qdisc::veth::egress(
            &self.sel,
            &mut skb,
            Path::PodViaVeth,
            self.profile.veth_records_rx_queue,
            ctx,
        )
        .queue
    }
}

/// The hypervisor's allowance shaper of the node's instance.
pub fn shaper(a: &Allowance) -> Result<Shaper<1024>> {
    let (baseline, peak) = a.bandwidth_gbps()?;
    let gbps = |g: f64| (g * 1e9) as u64;
    let burst_bits = (a.burst_mbit * 1e6) as u64;
    let credits = ((peak - baseline) * 1e9 * a.credit_s) as u64;
    let bw = BandwidthConfig {
        baseline_bps: gbps(baseline),
        peak_bps: gbps(peak),
        peak_burst_bits: burst_bits.max(1),
        credit_bits: credits.max(burst_bits).max(1),
    };
    Shaper::new(AllowanceConfig {
        bw_out: bw,
        bw_in: bw,
        pps: a.pps,
        pps_burst: ((a.pps as f64 * a.pps_burst_ms / 1000.0) as u64).max(1),
        // AWS: 1024 packets per second per ENI to link-local services (DNS, IMDS, NTP); unused here.
        linklocal_pps: 1024,
        linklocal_burst: 1024,
        // Connection tracking is not modelled: the sidecar's few hundred long-lived connections are far below
        // any instance's conntrack allowance, so the table is never consulted.
        conntrack_max: 1024,
        conntrack_idle_timeout_ns: 432_000 * 1_000_000_000,
        over_limit: OverLimit::Queue {
            max_delay_ns: Ns::from_ms_f64(a.max_delay_ms).0,
        },
    })
    .map_err(|source| Error::Nic {
        field: "allowance",
        source,
    })
}

/// Ring storage: the largest ring the scenario accepts (`scenario::MAX_RING`).
pub const RING_SLOTS: usize = MAX_RING as usize;

/// Packet slots of fq_codel: the largest `limit` the scenario accepts plus the one packet that overflows it
/// (`FqCodel::new` wants `limit < CAP`).
const FQ_CAP: usize = MAX_FQ_CODEL_LIMIT as usize + 1;

/// fq_codel with the kernel's 1024 flows and room for the largest limit the scenario accepts (its default 10240).
pub type FqCodelChild = FqCodel<1024, FQ_CAP>;

/// The child qdisc of one TX queue: fq_codel as [`FqCodelChild`], or pfifo_fast with bands of up to
/// `scenario::MAX_TXQUEUELEN` packets.
pub type Child = AnyQdisc<1024, FQ_CAP, { MAX_TXQUEUELEN as usize }>;

/// TX queues mq can hold: the most the scenario accepts (`nic.queues`).
pub const MAX_QUEUES: usize = 64;

/// The node's root qdisc.
pub type Qdiscs = Mq<Child, MAX_QUEUES>;

/// The root qdisc of the scenario's NIC, allocated zeroed on the heap and set up in place: `mq` with handle 1
/// and one child of the scenario's kind per TX queue, on a device with MTU `mtu` (fq_codel takes its quantum
/// and CoDel's mtu from it, `fq_codel_init`).
pub fn qdiscs(nic: &Nic, mtu: u32) -> Result<Box<Qdiscs>> {
    let mut mq = Qdiscs::new_box_zeroed().map_err(|_| Error::Alloc {
        what: "the qdiscs",
        bytes: size_of::<Qdiscs>(),
    })?;
    let cfg = FqCodelConfig {
        limit: nic.fq_codel_limit,
        ..FqCodelConfig::default()
    };
    let init = mq.init(1, nic.queues, |_, c| match nic.qdisc {
        QdiscKind::FqCodel => c.init_fq_codel(cfg, psched_mtu(mtu, ETH_HLEN)),
        QdiscKind::PfifoFast => c.init_pfifo_fast(nic.txqueuelen),
    });
    init.map_err(|source| {
        let field = match (source, nic.qdisc) {
            (
                qdisc::Error::InvalidConfig {
                    field: "mq.queues", ..
                },
                _,
            ) => "nic.queues",
            (_, QdiscKind::FqCodel) => "nic.fq_codel_limit",
            (_, QdiscKind::PfifoFast) => "nic.txqueuelen",
        };
        Error::Qdisc { field, source }
    })?;
    Ok(mq)
}

/// A TX queue's ring and device (its qdisc is its child in [`Qdiscs`]).
pub struct TxPath {
    ring: Box<TxQueue<RING_SLOTS>>,
    /// The packet behind each outstanding req_id.
    tx_info: Vec<Option<QPkt>>,
    /// Packets posted to the ring and not yet fetched by the device.
    posted: u32,
    /// The packet the device is transmitting: its req_id.
    on_wire: Option<u16>,
    bql_bytes: u64,
    bql_limit: u64,
    /// The device is transmitting the ring's head.
    busy: bool,
    ns_per_pkt: u64,
    ps_per_byte: u64,
    /// Packets the device sent from this queue.
    pub sent: u64,
}

impl TxPath {
    /// Builds a queue's ring and device from the scenario's NIC section.
    pub fn new(nic: &Nic) -> Result<Self> {
        let ring = TxQueue::new(TxQueueConfig {
            depth: nic.ring_depth,
            ..TxQueueConfig::default()
        })
        .map_err(|source| Error::Nic {
            field: "nic.ring_depth",
            source,
        })?;
        Ok(Self {
            ring: Box::new(ring),
            tx_info: vec![None; RING_SLOTS],
            posted: 0,
            on_wire: None,
            bql_bytes: 0,
            bql_limit: nic.bql_limit_bytes.max(1),
            busy: false,
            ns_per_pkt: (1e9 / nic.queue_pps) as u64,
            ps_per_byte: (8e12 / (nic.queue_gbps * 1e9)) as u64,
            sent: 0,
        })
    }

    /// `qdisc_run` of this queue's qdisc `qdisc`: fill the ring. Returns the time the device finishes the head
    /// packet if it must start now.
    pub fn kick(
        &mut self,
        qdisc: &mut impl Qdisc,
        now: Ns,
        dropped: &mut dyn FnMut(&QPkt),
    ) -> Option<Ns> {
        while self.bql_bytes < self.bql_limit && !self.ring.is_stopped() {
            let Some(p) = qdisc.dequeue(now.0, dropped) else {
                break;
            };
            let pkt = TxPacket {
                len: p.len,
                frags: 1,
                xmit_more: false,
                ..TxPacket::default()
            };
            match self.ring.xmit(&pkt) {
                Ok(req_id) => {
                    self.bql_bytes += p.len as u64;
                    self.posted += 1;
                    if let Some(slot) = self.tx_info.get_mut(req_id as usize) {
                        *slot = Some(p);
                    }
                }
                // The stack never calls a stopped queue: it keeps the packet (`dev_requeue_skb`).
                Err(nic_model::Error::QueueStopped | nic_model::Error::ResetPending) => {
                    qdisc.requeue(p);
                    break;
                }
                // A failed `ena_com_prepare_tx` drops the packet (`ena_start_xmit` frees it, NETDEV_TX_OK).
                Err(_) => dropped(&p),
            }
        }
        if !self.busy && self.posted > 0 {
            // The device fetches the packet at the ring's head and starts sending it.
            let mut got: Option<(u16, u32)> = None;
            let _ = self
                .ring
                .device_process(1, |d| got = Some((d.req_id, d.bytes)));
            if let Some((req_id, bytes)) = got {
                self.posted -= 1;
                self.busy = true;
                self.on_wire = Some(req_id);
                return Some(now + Ns(self.ns_per_pkt.max(bytes as u64 * self.ps_per_byte / 1000)));
            }
        }
        None
    }

    /// The device finished the head packet: it leaves, its completion frees the ring. Returns the packet and, if
    /// the device goes on, when it finishes the next one.
    pub fn serve(
        &mut self,
        qdisc: &mut impl Qdisc,
        now: Ns,
        dropped: &mut dyn FnMut(&QPkt),
    ) -> (Option<QPkt>, Option<Ns>) {
        // The packet on the wire is the one stored under the req_id the device fetched; its completion (posted
        // at fetch) is cleaned now that it has left.
        let p = self
            .on_wire
            .take()
            .and_then(|id| self.tx_info.get_mut(id as usize).and_then(Option::take));
        let _ = self.ring.clean_tx_irq(64);
        if let Some(p) = &p {
            self.bql_bytes -= p.len as u64;
            self.sent += 1;
        }
        self.busy = false;
        let next = self.kick(qdisc, now, dropped);
        (p, next)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn the_packet_that_leaves_is_the_one_the_ring_completes() {
        let p = Scenario::incident().unwrap().stage(0).unwrap().params;
        let mut mq = qdiscs(&p.nic, p.network.mss.saturating_add(52)).unwrap();
        let child = mq.child_mut(0).unwrap();
        let mut q = TxPath::new(&p.nic).unwrap();
        let mut drops = |_: &QPkt| {};
        for tag in 1..=3u64 {
            let pkt = QPkt {
                len: 1000 * tag as u32,
                hash: 7,
                priority: 0,
                tag,
                enqueue_ns: 0,
                ecn: qdisc::sched::INET_ECN_NOT_ECT,
            };
            child.enqueue(pkt, 0, &mut drops);
        }
        let mut t = q.kick(child, Ns::ZERO, &mut drops).unwrap();
        // 1000 bytes at 5 Gbit/s is 1.6 us, below the 1/queue_pps packet time.
        assert_eq!(t, Ns((1e9 / p.nic.queue_pps) as u64));
        let mut out = Vec::new();
        loop {
            let (pkt, next) = q.serve(child, t, &mut drops);
            out.push(pkt.unwrap().tag);
            match next {
                Some(n) => t = n,
                None => break,
            }
        }
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(q.sent, 3);
        // Every packet was fetched and completed by the ring model, and its entries freed.
        assert_eq!(q.ring.device_stats().packets, 3);
        assert_eq!(q.ring.in_flight(), 0);
    }
}
