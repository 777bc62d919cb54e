//! `desc_validate`: arbitrary bytes as an ENA submission ring: the device model's validation.

use arbitrary::{Arbitrary, Unstructured};
use nic_model::{TxQueue, TxQueueConfig};

/// Arbitrary bytes as the submission ring and doorbell: the device never panics, and every refusal is counted and
/// requests a reset.
pub fn desc_validate(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(mut cfg) = TxQueueConfig::arbitrary(&mut u) else {
        return;
    };
    cfg.depth = 1 << u.int_in_range(1..=5u32).unwrap_or(3);
    let Ok(mut q) = TxQueue::<512>::new(cfg) else {
        return;
    };
    let tail = u.arbitrary::<u16>().unwrap_or(0);
    let bytes = u.take_rest();
    let sq = zerocopy::IntoBytes::as_mut_bytes(q.sq_raw_mut().as_mut_slice());
    let n = bytes.len().min(sq.len());
    sq[..n].copy_from_slice(&bytes[..n]);
    q.doorbell_raw(tail);
    let before = q.device_stats().malformed;
    match q.device_process(u16::MAX, |_| {}) {
        Ok(_) => assert_eq!(q.device_stats().malformed, before),
        Err(_) => {
            assert_eq!(
                q.device_stats().malformed,
                before + 1,
                "refusal not counted"
            );
            assert!(q.reset_pending(), "refusal without a reset request");
        }
    }
}
