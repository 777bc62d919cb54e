//! The single-descriptor fast paths (`TxQueue::xmit` for a linear packet without offload context, and the
//! device's one-descriptor check) against the general paths they short-cut: the same bytes in the ring, the same
//! counters, the same packets handed on, for every placement, entry layout, burst budget and packet length.
//! `xmit_frags` with no fragments takes the general path for the same packet. (The device's fast path against its
//! general walk, corrupted descriptors included, is a unit test in `src/device.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nic_model::llq::{LlqConfig, LlqEntrySize, Placement};
use nic_model::{DeviceTxPacket, TxPacket, TxQueue, TxQueueConfig};

const N: usize = 4096;

fn configs() -> Vec<TxQueueConfig> {
    let mut v = Vec::new();
    for max_header_size in [0, 42, 96] {
        v.push(TxQueueConfig {
            depth: 64,
            max_header_size,
            ..TxQueueConfig::default()
        });
    }
    for (entry_size, descs_before_header) in [
        (LlqEntrySize::B128, 2),
        (LlqEntrySize::B128, 1),
        (LlqEntrySize::B128, 4),
        (LlqEntrySize::B192, 1),
        (LlqEntrySize::B256, 2),
        (LlqEntrySize::B256, 8),
    ] {
        for max_entries_in_tx_burst in [0, 1, 3, 16] {
            for disable_meta_caching in [false, true] {
                v.push(TxQueueConfig {
                    depth: 64,
                    placement: Placement::Llq(LlqConfig {
                        entry_size,
                        descs_before_header,
                        disable_meta_caching,
                    }),
                    max_entries_in_tx_burst,
                    ..TxQueueConfig::default()
                });
            }
        }
    }
    v
}

fn lengths() -> Vec<u32> {
    let mut v: Vec<u32> = (1..=260).collect();
    v.extend([1447, 1448, 1449, 9001, 65534, 65535, 65536, 70000]);
    v
}

/// Drives both queues with the same packet and checks every observable after each step.
fn step(fast: &mut TxQueue<N>, general: &mut TxQueue<N>, p: &TxPacket, what: &str) {
    let a = fast.xmit(p);
    let b = general.xmit_frags(p, &[]);
    assert_eq!(a, b, "{what}: xmit result");
    assert_eq!(fast.sq_bytes(), general.sq_bytes(), "{what}: ring bytes");
    assert_eq!(fast.stats(), general.stats(), "{what}: driver counters");
    assert_eq!(
        (fast.sq_tail(), fast.doorbell_tail(), fast.is_stopped()),
        (
            general.sq_tail(),
            general.doorbell_tail(),
            general.is_stopped()
        ),
        "{what}: tail, doorbell, stop"
    );
}

fn device(q: &mut TxQueue<N>) -> (Result<u16, nic_model::Error>, Vec<DeviceTxPacket>) {
    let mut seen = Vec::new();
    let r = q.device_process(u16::MAX, |p| seen.push(*p));
    (r, seen)
}

#[test]
fn the_fast_paths_write_and_read_exactly_what_the_general_paths_do() {
    for cfg in configs() {
        let lens = lengths();
        for i in 0..lens.len() {
            let mut fast = Box::new(TxQueue::<N>::new(cfg).unwrap());
            let mut general = Box::new(TxQueue::<N>::new(cfg).unwrap());
            // Enough packets to wrap the 64-entry ring twice (both phases), with a doorbell now and then.
            for k in 0..150u32 {
                // Lengths vary from packet to packet, so a line is rewritten over a longer packet's bytes.
                let len = lens[(i + k as usize * 37) % lens.len()];
                let p = TxPacket {
                    len,
                    frags: (k % 2) as u16,
                    xmit_more: !(k + i as u32).is_multiple_of(5),
                    ..TxPacket::default()
                };
                let what = format!("{cfg:?} len {len} packet {k}");
                step(&mut fast, &mut general, &p, &what);
                if k % 7 == 6 {
                    fast.doorbell();
                    general.doorbell();
                    // The device reads both rings (the fast queue's through its fast path too): same packets.
                    assert_eq!(device(&mut fast), device(&mut general), "{what}: device");
                    assert_eq!(fast.device_stats(), general.device_stats(), "{what}");
                    assert_eq!(fast.clean_tx_irq(64), general.clean_tx_irq(64), "{what}");
                }
            }
        }
    }
}
