//! `ring_ops`: nic-model's TX ring under arbitrary operation sequences, against `nic_model::mock`.

use arbitrary::{Arbitrary, Unstructured};
use nic_model::TxQueueConfig;
use nic_model::mock::{RingOp, run_ring_ops};

/// nic-model ring operation sequences (honest and hostile) against the model in `nic_model::mock`.
pub fn ring_ops(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(mut cfg) = TxQueueConfig::arbitrary(&mut u) else {
        return;
    };
    cfg.depth = 1 << u.int_in_range(1..=6u32).unwrap_or(4);
    let mut ops: heapless::Vec<RingOp, 256> = heapless::Vec::new();
    while !u.is_empty()
        && let Ok(op) = RingOp::arbitrary(&mut u)
    {
        if ops.push(op).is_err() {
            break;
        }
    }
    if let Err(v) = run_ring_ops::<1024>(cfg, &ops) {
        panic!("ring invariant broken: {v:?} with {cfg:?}");
    }
}
