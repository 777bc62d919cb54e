//! One TX queue of the node: its child qdisc, its ENA TX ring (with BQL), and the device draining the ring.
//!
//! `qdisc_run` moves packets from the qdisc into the ring while BQL allows and the ring is not stopped
//! (`netdev_tx_sent_queue`, `netif_tx_queue_stopped`); the device serves the ring at the queue's packet and bit
//! rates; completions free ring entries and BQL budget and wake the queue (`ena_clean_tx_irq`).

use std::collections::VecDeque;

use nic_model::{TxPacket, TxQueue, TxQueueConfig};
use qdisc::sched::{
    ETH_HLEN, EnqueueResult, FqCodel, FqCodelConfig, PfifoFast, QPkt, Qdisc, psched_mtu,
};

use crate::scenario::{Nic, QdiscKind};

/// Ring storage: up to 4096 descriptors.
pub const RING_SLOTS: usize = 4096;

/// fq_codel with the kernel's 1024 flows and room for its 10240-packet default limit.
pub type FqCodelChild = FqCodel<1024, 16384>;

/// The child qdisc of one TX queue.
pub enum Child {
    /// fq_codel.
    FqCodel(Box<FqCodelChild>),
    /// pfifo_fast.
    PfifoFast(Box<PfifoFast<4096>>),
}

impl Child {
    fn q(&mut self) -> &mut dyn Qdisc {
        match self {
            Child::FqCodel(q) => q.as_mut(),
            Child::PfifoFast(q) => q.as_mut(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> qdisc::sched::QdiscStats {
        match self {
            Child::FqCodel(q) => q.stats(),
            Child::PfifoFast(q) => q.stats(),
        }
    }
}

/// A TX queue with its qdisc, ring and device.
pub struct TxPath {
    /// The child qdisc.
    pub child: Child,
    ring: Box<TxQueue<RING_SLOTS>>,
    in_ring: VecDeque<QPkt>,
    bql_bytes: u64,
    bql_limit: u64,
    /// The device is transmitting the ring's head.
    pub busy: bool,
    ns_per_pkt: u64,
    ps_per_byte: u64,
    /// Packets the device sent from this queue.
    pub sent: u64,
}

impl TxPath {
    /// Builds a queue from the scenario's NIC section on a device with MTU `mtu` (fq_codel takes its quantum
    /// and CoDel's mtu from it, `fq_codel_init`).
    pub fn new(nic: &Nic, mtu: u32) -> Result<Self, String> {
        let child = match nic.qdisc {
            QdiscKind::FqCodel => Child::FqCodel(Box::new(
                FqCodel::new(
                    FqCodelConfig {
                        limit: nic.fq_codel_limit,
                        ..FqCodelConfig::default()
                    },
                    psched_mtu(mtu, ETH_HLEN),
                )
                .map_err(|e| format!("nic.fq_codel_limit: {e}"))?,
            )),
            QdiscKind::PfifoFast => Child::PfifoFast(Box::new(
                PfifoFast::new(nic.txqueuelen).map_err(|e| format!("nic.txqueuelen: {e}"))?,
            )),
        };
        let ring = TxQueue::new(TxQueueConfig {
            depth: nic.ring_depth,
            ..TxQueueConfig::default()
        })
        .map_err(|e| format!("nic.ring_depth: {e}"))?;
        Ok(Self {
            child,
            ring: Box::new(ring),
            in_ring: VecDeque::new(),
            bql_bytes: 0,
            bql_limit: nic.bql_limit_bytes.max(1),
            busy: false,
            ns_per_pkt: (1e9 / nic.queue_pps) as u64,
            ps_per_byte: (8e12 / (nic.queue_gbps * 1e9)) as u64,
            sent: 0,
        })
    }

    /// Enqueues a packet; `dropped` sees every packet the qdisc drops (this one or others).
    pub fn enqueue(&mut self, p: QPkt, now: u64, dropped: &mut dyn FnMut(&QPkt)) -> EnqueueResult {
        self.child.q().enqueue(p, now, dropped)
    }

    /// `qdisc_run`: fill the ring. Returns the time the device finishes the head packet if it must start now.
    pub fn kick(&mut self, now: u64, dropped: &mut dyn FnMut(&QPkt)) -> Option<u64> {
        while self.bql_bytes < self.bql_limit && !self.ring.is_stopped() {
            let Some(p) = self.child.q().dequeue(now, dropped) else {
                break;
            };
            let pkt = TxPacket {
                len: p.len,
                frags: 1,
                xmit_more: false,
                ..TxPacket::default()
            };
            match self.ring.xmit(&pkt) {
                Ok(_) => {
                    self.bql_bytes += p.len as u64;
                    self.in_ring.push_back(p);
                }
                // The stack never calls a stopped queue: it keeps the packet (`dev_requeue_skb`).
                Err(nic_model::Error::QueueStopped | nic_model::Error::ResetPending) => {
                    self.child.q().requeue(p);
                    break;
                }
                // A failed `ena_com_prepare_tx` drops the packet (`ena_start_xmit` frees it, NETDEV_TX_OK).
                Err(_) => dropped(&p),
            }
        }
        if !self.busy && !self.in_ring.is_empty() {
            self.busy = true;
            return Some(now + self.service_ns());
        }
        None
    }

    fn service_ns(&self) -> u64 {
        let bytes = self.in_ring.front().map_or(0, |p| p.len as u64);
        self.ns_per_pkt.max(bytes * self.ps_per_byte / 1000)
    }

    /// The device finished the head packet: it leaves, its completion frees the ring. Returns the packet and, if
    /// the device goes on, when it finishes the next one.
    pub fn serve(
        &mut self,
        now: u64,
        dropped: &mut dyn FnMut(&QPkt),
    ) -> (Option<QPkt>, Option<u64>) {
        let _ = self.ring.device_process(1, |_| {});
        let _ = self.ring.clean_tx_irq(64);
        let p = self.in_ring.pop_front();
        if let Some(p) = &p {
            self.bql_bytes -= p.len as u64;
            self.sent += 1;
        }
        self.busy = false;
        let next = self.kick(now, dropped);
        (p, next)
    }

    /// The ENA counters of this queue's ring.
    pub fn ring_stats(&self) -> &nic_model::stats::TxStats {
        self.ring.stats()
    }
}
