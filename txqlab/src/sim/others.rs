//! Other pods on the node. Their egress leaves through veths too, so it meets the sidecar's in TX-queue
//! selection, the qdiscs, the ring and the hypervisor's shaper; on a kernel with the veth bug it shares TX queue 0.
//! Two sources, each a Poisson process of bursts over the stage with packets at a fixed rate on random ones of
//! its flows: `[background]` (batch uploads, jumbo frames, a few dozen flows) and `[fanout]` (a fan-out over
//! thousands of short flows). Open loop: drops do not slow them.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::events::Kind;
use super::time::Ns;
use super::txpath::Selection;
use super::{BG_FLOW, SEC, Sim, tag};
use crate::scenario::{Background, Params};

/// The sources, in the order of their index in events.
pub(super) const SOURCES: usize = 2;

/// One source's flows, as (socket hash, TX queue), and its own generator (so that one source's draws do not shift
/// the other's).
#[derive(Debug)]
pub(super) struct Source {
    flows: Vec<(u32, u16)>,
    rng: Pcg64Mcg,
}

fn params(p: &Params, source: u8) -> &Background {
    if source == 0 {
        &p.background
    } else {
        &p.fanout
    }
}

/// Each source's flows, numbered after the sidecar's `first_flow` connections, placed on TX queues as `sel` does.
pub(super) fn open(p: &Params, sel: &Selection, first_flow: usize) -> [Source; SOURCES] {
    let seeds = [0x6267_5f65_6772_6573, 0x6661_6e6f_7574_2121];
    let mut next = first_flow;
    std::array::from_fn(|i| {
        let mut rng = Pcg64Mcg::seed_from_u64(p.seed ^ seeds[i]);
        let flows = (0..params(p, i as u8).flows as usize)
            .map(|_| {
                let h: u32 = rng.random();
                next += 1;
                (h, sel.queue(h, next - 1, Ns::ZERO))
            })
            .collect();
        Source { flows, rng }
    })
}

impl Sim<'_> {
    /// Schedules `source`'s next burst.
    pub(super) fn next_burst(&mut self, source: u8) {
        let b = params(self.p, source);
        let rate = b.bursts_per_min / 60.0;
        if rate <= 0.0 || b.burst_pps <= 0.0 {
            return;
        }
        let rng = &mut self.others[source as usize].rng;
        let gap = -(1.0 - rng.random::<f64>()).ln() / rate * SEC as f64;
        let t = self.now.0 as f64 + gap;
        if t < self.end.0 as f64 {
            self.ev.push(Ns(t as u64), Kind::BackgroundBurst { source });
        }
    }

    pub(super) fn on_burst(&mut self, source: u8) {
        let b = params(self.p, source);
        let n = (b.burst_pps * b.burst_ms / 1000.0) as u32;
        if n > 0 {
            self.on_other_packet(source, n - 1);
        }
        self.next_burst(source);
    }

    /// One packet of another pod, on a random one of the source's flows, into the TX path; the next follows at
    /// the burst's packet rate.
    pub(super) fn on_other_packet(&mut self, source: u8, left: u32) {
        let b = params(self.p, source);
        let (bytes, pps) = (b.packet_bytes, b.burst_pps);
        let s = &mut self.others[source as usize];
        let i = s.rng.random_range(0..s.flows.len().max(1));
        if let Some(&(hash, q)) = s.flows.get(i) {
            self.enqueue_on(q as usize, hash, bytes, tag(BG_FLOW, false, 0));
        }
        if left > 0 {
            let gap = Ns((SEC as f64 / pps) as u64);
            self.ev.push(
                self.now + gap.max(Ns(1)),
                Kind::BackgroundPacket {
                    source,
                    left: left - 1,
                },
            );
        }
    }
}
