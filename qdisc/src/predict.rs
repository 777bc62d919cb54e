//! Distribution prediction: for a device, a kernel profile, a path and N flows, the share of flows each TX queue
//! receives. Deterministic selection (rx-recorded, one-entry XPS maps, a single queue, a driver hook) gives an
//! exact answer; hash-based selection gives the expected share with a band that the actual count falls inside
//! with probability at least 99.9 % for every queue at once.
//!
//! The candidate queues and their shares come from the reference selector itself, probed with 4096 hash values
//! spread evenly over the 32-bit space: `reciprocal_scale` maps contiguous hash ranges onto queues, so the probe
//! measures each queue's share of the hash space to within 1/4096.

use heapless::Vec;

use crate::select_ref::{Branch, RefSelector};
use crate::skb::{Skb, Sock, XmitCtx};
use crate::veth::{Path, egress};

const PROBES: u32 = 4096;
/// The probability that some queue falls outside its band.
pub const BAND_ALPHA: f64 = 0.001;

/// One queue's prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueShare {
    /// Share of the flows expected on this queue (0.0 ..= 1.0).
    pub expected: f64,
    /// Fewest flows consistent with the model at 99.9 % (equal to `high` in exact cases).
    pub low: u32,
    /// Most flows consistent with the model.
    pub high: u32,
}

/// A predicted distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Per TX queue.
    pub queues: Vec<QueueShare, { crate::netdev::MAX_TX_QUEUES as usize }>,
    /// True when selection does not depend on the flow hash: every flow lands on one known queue.
    pub exact: bool,
    /// The branch that decided (for the probe flow).
    pub branch: Branch,
    /// Flows predicted.
    pub flows: u32,
}

impl Prediction {
    /// Whether measured per-queue flow (or packet, with `per_flow` packets each) counts fit the prediction.
    pub fn matches(&self, counts: &[u64], per_flow: u64) -> bool {
        counts.len() == self.queues.len()
            && counts.iter().zip(&self.queues).all(|(c, q)| {
                let per_flow = per_flow.max(1);
                c % per_flow == 0 && (q.low as u64..=q.high as u64).contains(&(c / per_flow))
            })
    }

    /// The largest expected share.
    pub fn max_share(&self) -> f64 {
        self.queues.iter().map(|q| q.expected).fold(0.0, f64::max)
    }
}

/// The first packet of a flow's connected socket, with hash `hash`, sent from `cpu`.
fn probe_packet(cpu: u16, hash: u32) -> Skb {
    let mut skb = Skb::new(1500, hash as u64);
    skb.hash = Some(hash);
    skb.sender_cpu = cpu + 1;
    skb.sk = Some(Sock::connected());
    skb
}

/// Predicts how `flows` flows on `path` spread over the TX queues of `sel`'s device when the packets are sent
/// from `cpu` and veth records the rx queue or not (`veth_records`, from the kernel profile).
pub fn predict(
    sel: &RefSelector,
    path: Path,
    veth_records: bool,
    cpu: u16,
    flows: u32,
) -> Prediction {
    let n = sel.dev().real_num_tx_queues as usize;
    let mut hits = [0u32; crate::netdev::MAX_TX_QUEUES as usize];
    let ctx = XmitCtx { cpu, now_ns: 0 };
    let mut branch = Branch::Hash;
    for i in 0..PROBES {
        let h = ((i as u64 * (1u64 << 32) + (1u64 << 31)) / PROBES as u64) as u32;
        let mut skb = probe_packet(cpu, h);
        let d = egress(sel, &mut skb, path, veth_records, ctx);
        hits[d.queue as usize] += 1;
        if i == 0 {
            branch = d.branch;
        }
    }
    let used = hits[..n].iter().filter(|h| **h > 0).count();
    let exact = used == 1;
    let candidates = used.max(1) as f64;
    let l = ln(2.0 * candidates / BAND_ALPHA);
    let mut queues = Vec::new();
    for h in &hits[..n] {
        let p = *h as f64 / PROBES as f64;
        let share = if exact || p == 0.0 || p == 1.0 {
            let c = (p * flows as f64) as u32;
            QueueShare {
                expected: p,
                low: c,
                high: c,
            }
        } else {
            // Bernstein: P(|X - Np| >= t) <= 2 exp(-t^2 / (2 (Np(1-p) + t/3))); solve for t at alpha / candidates.
            let mean = flows as f64 * p;
            let var = mean * (1.0 - p);
            let t = l / 3.0 + sqrt((l / 3.0) * (l / 3.0) + 2.0 * var * l);
            let low = mean - t;
            QueueShare {
                expected: p,
                low: if low <= 0.0 { 0 } else { ceil(low) as u32 },
                high: (floor(mean + t) as u32).min(flows),
            }
        };
        let _ = queues.push(share);
    }
    Prediction {
        queues,
        exact,
        branch,
        flows,
    }
}

// `core` has no floating-point `sqrt`/`ln`: small, exact-enough versions for the band.
fn sqrt(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let mut r = if x > 1.0 { x / 2.0 } else { 1.0 };
    for _ in 0..64 {
        r = 0.5 * (r + x / r);
    }
    r
}

fn ln(x: f64) -> f64 {
    // x = m * 2^e with m in [1, 2); ln m = 2 atanh((m - 1) / (m + 1)).
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1023 << 52));
    let y = (m - 1.0) / (m + 1.0);
    let (mut term, mut sum) = (y, 0.0);
    let mut k = 1.0;
    while k < 80.0 {
        sum += term / k;
        term *= y * y;
        k += 2.0;
    }
    2.0 * sum + e as f64 * core::f64::consts::LN_2
}

fn floor(x: f64) -> f64 {
    let t = x as i64 as f64;
    if t > x { t - 1.0 } else { t }
}

fn ceil(x: f64) -> f64 {
    let t = x as i64 as f64;
    if t < x { t + 1.0 } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_helpers() {
        assert!((sqrt(2.0) - core::f64::consts::SQRT_2).abs() < 1e-12);
        assert!((ln(1000.0) - 6.907755278982137).abs() < 1e-9);
        assert!((ln(0.5) + core::f64::consts::LN_2).abs() < 1e-12);
        assert_eq!((floor(2.7), ceil(2.1), ceil(3.0)), (2.0, 3.0, 3.0));
    }
}
