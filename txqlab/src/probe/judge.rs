//! The verdict: measured per-queue counts against `qdisc::predict` for a kernel whose veth records the rx queue
//! (the bug: edbea9220251 without 710ad98c363a) and one whose veth does not.
//!
//! The node's own traffic (`Path::Host`) is the control: it spreads by flow hash on every kernel, so if it does not
//! fit its prediction, something other than veth decides (an XPS map, a tc filter, a driver hook) and no verdict
//! is given. The pod's forwarded traffic (`Path::PodViaVeth`) then decides: all on the queue the recorded rx queue
//! selects (`skb_tx_hash`: `skb_get_rx_queue` reduced into the queue range) is affected; inside the flow-hash
//! bands is not affected. A result that fits both (too few flows) or neither is inconclusive, with the reason.

use qdisc::predict::{Prediction, predict};
use qdisc::veth::Path;
use qdisc::{Branch, PickRules};

use super::ProbeError;
use serde::Serialize;

/// The probe's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Forwarded pod traffic is pinned where the recorded rx queue puts it: this kernel has the veth bug.
    Affected,
    /// Forwarded pod traffic spreads by flow hash: this kernel does not have the bug.
    NotAffected,
    /// The measurement cannot tell (see the reason).
    Inconclusive,
}

impl Verdict {
    /// The words the table prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Affected => "affected",
            Self::NotAffected => "not_affected",
            Self::Inconclusive => "inconclusive",
        }
    }
}

/// The deciding branch as a stable identifier (`qdisc::Branch::id`, shared by every command's JSON).
pub fn branch_name(b: Branch) -> &'static str {
    b.id()
}

/// The three predictions the probe compares against.
#[derive(Debug, Clone)]
pub struct Predictions {
    /// Pod traffic on a kernel whose veth records the rx queue.
    pub pod_if_affected: Prediction,
    /// Pod traffic on a kernel whose veth does not.
    pub pod_if_fixed: Prediction,
    /// The node's own traffic (either kernel).
    pub node: Prediction,
}

/// Predicts `flows` flows sent from `cpu` over an egress device with `queues` TX queues, no XPS map and no driver
/// hook (a veth: `drivers/net/veth.c` installs neither), under `rules` (from the kernel profile).
pub fn predictions(
    rules: PickRules,
    queues: u16,
    cpu: u16,
    flows: u32,
) -> Result<Predictions, ProbeError> {
    let egress = |source| ProbeError::Egress { queues, source };
    // The egress is a veth (`qdisc::driver`: no hook whatever the kernel, no XPS map, which the probe clears
    // anyway), selected with the kernel's rules and the one prediction seed.
    let mut dev = qdisc::NetDev::new(queues).map_err(egress)?;
    if let Some(h) = qdisc::Driver::Veth.hook_of_driver() {
        dev.driver = h.hook;
    }
    let sel =
        qdisc::RefSelector::new(dev, rules, qdisc::driver::PREDICTION_SEED).map_err(egress)?;
    Ok(Predictions {
        pod_if_affected: predict(&sel, Path::PodViaVeth, true, cpu, flows),
        pod_if_fixed: predict(&sel, Path::PodViaVeth, false, cpu, flows),
        node: predict(&sel, Path::Host, false, cpu, flows),
    })
}

/// A verdict with its reason and the branch that the matching prediction says decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// One sentence: why.
    pub reason: String,
    /// The deciding branch of the prediction that matched the pod's traffic (`None` when inconclusive).
    pub branch: Option<&'static str>,
}

fn inconclusive(reason: String) -> Judgement {
    Judgement {
        verdict: Verdict::Inconclusive,
        reason,
        branch: None,
    }
}

fn total(counts: &[u64]) -> u128 {
    counts.iter().map(|c| u128::from(*c)).sum()
}

fn used(counts: &[u64]) -> usize {
    counts.iter().filter(|c| **c > 0).count()
}

/// Judges measured per-queue packet counts (`pod`: forwarded pod traffic, `node`: the node's own) of
/// `per_flow` packets per flow against `p`.
pub fn judge(p: &Predictions, pod: &[u64], node: &[u64], per_flow: u32) -> Judgement {
    let queues = p.node.queues.len();
    let flows = p.node.flows;
    let expected = u128::from(flows) * u128::from(per_flow);
    for (what, c) in [("pod", pod), ("node", node)] {
        if c.len() != queues {
            return inconclusive(format!(
                "{what} counts cover {} TX queues, the egress device has {queues}",
                c.len()
            ));
        }
        let got = total(c);
        if got != expected {
            return inconclusive(format!(
                "the egress device counted {got} packets from the {what}, {expected} were sent ({flows} flows x \
                 {per_flow}): traffic {} on the way, so the spread cannot be judged",
                if got < expected {
                    "was lost"
                } else {
                    "was added"
                }
            ));
        }
    }
    let per = u64::from(per_flow);
    if !p.node.matches(node, per) {
        return inconclusive(format!(
            "the control failed: the node's own traffic ({} of {queues} queues used) does not fit the flow-hash \
             prediction, so something other than veth chooses the queue here (an XPS map, a tc filter, a driver), \
             or, about once in 1000 boots, chance: rerun with another --flows",
            used(node)
        ));
    }
    let aff = p.pod_if_affected.matches(pod, per);
    let fix = p.pod_if_fixed.matches(pod, per);
    match (aff, fix) {
        (true, false) => Judgement {
            verdict: Verdict::Affected,
            reason: format!(
                "forwarded pod traffic used {} of {queues} TX queues, exactly where the recorded rx queue puts it: \
                 veth_xmit records its TX queue as the rx queue (edbea9220251 without the fix 710ad98c363a)",
                used(pod)
            ),
            branch: Some(branch_name(p.pod_if_affected.branch)),
        },
        (false, true) => Judgement {
            verdict: Verdict::NotAffected,
            reason: format!(
                "forwarded pod traffic spread over {} of {queues} TX queues within the flow-hash bands, like the \
                 node's own traffic: veth does not record an rx queue",
                used(pod)
            ),
            branch: Some(branch_name(p.pod_if_fixed.branch)),
        },
        (true, true) => inconclusive(format!(
            "{flows} flows are too few to tell the two predictions apart: raise --flows"
        )),
        (false, false) => inconclusive(format!(
            "forwarded pod traffic ({} of {queues} queues used) fits neither the affected prediction (all on one \
             queue) nor the flow-hash bands (a hash spread leaves its 99.9 % bands about once in 1000 boots: rerun \
             with another --flows)",
            used(pod)
        )),
    }
}
