//! The node's egress: packets into the per-queue qdisc, the ring and device (`txpath.rs`), then the hypervisor's
//! outbound allowance and the wire; the once-a-second counters.

use super::*;

impl Sim<'_> {
    /// Closes one simulated second of the per-second series.
    pub(super) fn second_tick(&mut self) {
        let retransmits = self
            .flows
            .iter()
            .map(|f| f.up.retransmits + f.down.retransmits)
            .sum();
        let sent: Vec<u64> = self.queues.iter().map(|q| q.sent).collect();
        let st = *self.shaper.stats();
        let drops = self.qdisc_drops + self.shaper_drops;
        self.meter.tick(retransmits, drops, &sent, &st);
    }

    /// One packet into the TX path of its connection's queue.
    pub(super) fn egress(&mut self, flow: u16, bytes: u32, t: u64) {
        let f = &self.flows[flow as usize];
        let (q, hash) = (f.queue as usize, f.hash);
        self.enqueue_on(q, hash, bytes, t);
    }

    /// One packet into TX queue `q`'s qdisc, then `qdisc_run`.
    pub(super) fn enqueue_on(&mut self, q: usize, hash: u32, bytes: u32, t: u64) {
        let pkt = QPkt {
            len: bytes,
            hash,
            priority: 0,
            tag: t,
            enqueue_ns: 0,
            // Not ECN-capable: Linux TCP does not ask for ECN on connections it opens (tcp_ecn = 2).
            ecn: qdisc::sched::INET_ECN_NOT_ECT,
        };
        let now = self.now;
        self.meter.queue_offered[q].0 += 1;
        self.meter.queue_offered[q].1 += bytes as u64;
        let (Some(child), Some(path)) = (self.qdiscs.child_mut(q as u16), self.queues.get_mut(q))
        else {
            return; // Selection never returns a queue beyond the device's.
        };
        let mut dropped = std::mem::take(&mut self.drop_buf);
        child.enqueue(pkt, now.0, &mut |d| dropped.push(d.tag));
        let next = path.kick(child, now, &mut |d| dropped.push(d.tag));
        // A qdisc drop is silent to TCP here: the sender finds it by RACK, a probe or the RTO.
        self.qdisc_drops += dropped.len() as u64;
        dropped.clear();
        self.drop_buf = dropped;
        if let Some(t) = next {
            self.ev.push(t, Kind::QueueServe(q as u16));
        }
    }

    pub(super) fn on_queue_serve(&mut self, q: u16) {
        let now = self.now;
        let (Some(child), Some(path)) = (self.qdiscs.child_mut(q), self.queues.get_mut(q as usize))
        else {
            return;
        };
        let mut dropped = std::mem::take(&mut self.drop_buf);
        let (pkt, next) = path.serve(child, now, &mut |d| dropped.push(d.tag));
        self.qdisc_drops += dropped.len() as u64;
        dropped.clear();
        self.drop_buf = dropped;
        if let Some(t) = next {
            self.ev.push(t, Kind::QueueServe(q));
        }
        let Some(pkt) = pkt else { return };
        self.packets += 1;
        self.meter.out_pkts += 1;
        self.meter.out_bytes += pkt.len as u64;
        match self.shaper.shape(now.0, Direction::Egress, pkt.len, false) {
            Verdict::Pass { at_ns } => {
                let (flow, ack, v) = untag(pkt.tag);
                let at = Ns(at_ns) + Ns::from_us(self.p.network.one_way_us);
                if flow == BG_FLOW {
                    // Another pod's packet: it leaves; nothing here waits for it.
                } else if ack {
                    self.ev
                        .push_lane(Lane::WireOut, at, Kind::DownAck { flow, pos: v });
                } else {
                    self.ev
                        .push_lane(Lane::WireOut, at, Kind::UpArrive { flow, xmit: v });
                }
            }
            Verdict::Drop(_) => self.shaper_drops += 1,
        }
    }
}
