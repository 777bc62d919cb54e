//! Properties and scenarios of the TX queue: driver and device together over the shared rings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nic_model::llq::{LlqConfig, LlqEntrySize, Placement};
use nic_model::mock::{RingOp, run_ring_ops};
use nic_model::{Error, Offload, TxPacket, TxQueue, TxQueueConfig, defs};
use quickcheck::{Arbitrary, Gen, QuickCheck};

#[derive(Debug, Clone)]
struct HonestOps(Vec<RingOp>);

impl Arbitrary for HonestOps {
    fn arbitrary(g: &mut Gen) -> Self {
        let n = usize::arbitrary(g) % 400;
        let ops = (0..n)
            .map(|_| match u8::arbitrary(g) % 8 {
                0..=3 => RingOp::Xmit {
                    len: u16::arbitrary(g) % 9000 + 1,
                    frags: u8::arbitrary(g) % 24 + 1,
                    head_len: u8::arbitrary(g) % 130,
                    more: bool::arbitrary(g),
                    mss: if u8::arbitrary(g) % 4 == 0 {
                        1448 + u16::arbitrary(g) % 3
                    } else {
                        0
                    },
                },
                4 => RingOp::Doorbell,
                5 => RingOp::Device(u8::arbitrary(g)),
                _ => RingOp::Clean(u8::arbitrary(g)),
            })
            .collect();
        HonestOps(ops)
    }
}

fn configs() -> [TxQueueConfig; 4] {
    let llq = |entry_size, before| {
        Placement::Llq(LlqConfig {
            entry_size,
            descs_before_header: before,
            ..LlqConfig::default()
        })
    };
    [
        TxQueueConfig {
            depth: 64,
            ..TxQueueConfig::default()
        },
        TxQueueConfig {
            depth: 32,
            placement: llq(LlqEntrySize::B128, 2),
            max_entries_in_tx_burst: 16,
            ..TxQueueConfig::default()
        },
        TxQueueConfig {
            depth: 32,
            placement: llq(LlqEntrySize::B256, 4),
            ..TxQueueConfig::default()
        },
        TxQueueConfig {
            depth: 32,
            placement: llq(LlqEntrySize::B192, 1),
            max_sg: 4,
            ..TxQueueConfig::default()
        },
    ]
}

#[test]
fn no_req_id_lost_or_duplicated_over_arbitrary_sequences() {
    fn prop(ops: HonestOps) -> bool {
        configs()
            .iter()
            .all(|cfg| run_ring_ops::<512>(*cfg, &ops.0).is_ok())
    }
    QuickCheck::new()
        .tests(300)
        .quickcheck(prop as fn(HonestOps) -> bool);
}

fn pkt(len: u32, more: bool) -> TxPacket {
    TxPacket {
        len,
        frags: 1,
        head_len: 0,
        offload: Offload::default(),
        xmit_more: more,
    }
}

#[test]
fn phases_stay_right_over_three_wraps_of_every_placement() {
    for cfg in configs() {
        let mut q = TxQueue::<512>::new(cfg).unwrap();
        let mut total = 0u32;
        // Three wraps and then some, in bursts of 5 packets per doorbell.
        while total < cfg.depth as u32 * 3 + 7 {
            for i in 0..5 {
                q.xmit(&pkt(100 + i, i != 4)).unwrap();
            }
            assert_eq!(q.device_process(64, |_| {}).unwrap(), 5, "{cfg:?}");
            assert_eq!(q.clean_tx_irq(64).unwrap(), 5);
            total += 5;
        }
        assert_eq!(q.device_stats().packets, total as u64);
        assert_eq!(q.free_entries(), cfg.depth - 1);
    }
}

#[test]
fn free_entry_rule_and_stop_wake_thresholds() {
    // Host placement, depth 64, max_sg 17: stop when fewer than 19 entries are free.
    let cfg = TxQueueConfig {
        depth: 64,
        ..TxQueueConfig::default()
    };
    let mut q = TxQueue::<64>::new(cfg).unwrap();
    for i in 0..63 {
        q.xmit(&pkt(64, true)).unwrap();
        assert_eq!(q.free_entries(), 63 - (i + 1));
        assert_eq!(q.is_stopped(), q.free_entries() < 19, "after packet {i}");
        if q.is_stopped() {
            break;
        }
    }
    assert!(q.is_stopped());
    assert_eq!(q.free_entries(), 18);
    assert_eq!(q.stats().queue_stop, 1);
    assert_eq!(q.xmit(&pkt(64, false)), Err(Error::QueueStopped));
    // Stopping rang the doorbell even though xmit_more was set.
    assert_eq!(q.stats().doorbells, 1);
    // Completing one packet frees one entry: 19 free reaches ENA_TX_WAKEUP_THRESH and wakes the queue.
    assert_eq!(q.device_process(1, |_| {}).unwrap(), 1);
    assert_eq!(q.clean_tx_irq(64).unwrap(), 1);
    assert_eq!(q.free_entries(), defs::ENA_TX_WAKEUP_THRESH);
    assert!(!q.is_stopped());
    assert_eq!(q.stats().queue_wakeup, 1);
}

#[test]
fn doorbell_waits_for_xmit_more_and_respects_the_llq_burst_limit() {
    let cfg = TxQueueConfig {
        depth: 64,
        placement: Placement::Llq(LlqConfig::default()),
        max_entries_in_tx_burst: 4,
        ..TxQueueConfig::default()
    };
    let mut q = TxQueue::<512>::new(cfg).unwrap();
    for _ in 0..3 {
        q.xmit(&pkt(64, true)).unwrap();
    }
    assert_eq!(q.stats().doorbells, 0);
    assert_eq!(
        q.device_process(64, |_| {}).unwrap(),
        0,
        "nothing visible before the doorbell"
    );
    q.xmit(&pkt(64, true)).unwrap();
    q.xmit(&pkt(64, true)).unwrap();
    assert_eq!(
        q.stats().doorbells,
        1,
        "the fifth entry forces a doorbell first"
    );
    assert_eq!(q.device_process(64, |_| {}).unwrap(), 4);
    q.xmit(&pkt(64, false)).unwrap();
    assert_eq!(q.stats().doorbells, 2);
    assert_eq!(q.device_process(64, |_| {}).unwrap(), 2);
}

#[test]
fn llq_entry_layout_puts_descriptors_then_the_header() {
    let cfg = TxQueueConfig {
        depth: 16,
        placement: Placement::Llq(LlqConfig::default()),
        ..TxQueueConfig::default()
    };
    let mut q = TxQueue::<128>::new(cfg).unwrap();
    // A 54-byte linear part and two fragments of 1473 bytes: 96 bytes are pushed (54 from the linear part, 42
    // from the first fragment), so the buffers are 1431 and 1473 bytes. With the meta descriptor that is 3
    // descriptors: meta and buffer 0 in the first entry, buffer 1 in the next.
    let offload = Offload {
        mss: 1448,
        l3_hdr_len: 20,
        l3_hdr_off: 14,
        l4_hdr_len_words: 5,
        ..Offload::default()
    };
    let id = q
        .xmit(&TxPacket {
            len: 3000,
            frags: 3,
            head_len: 54,
            offload,
            xmit_more: false,
        })
        .unwrap();
    assert_eq!(q.stats().llq_buffer_copy, 1);
    let sq = q.sq_raw_mut();
    assert!(sq[0].is_meta());
    assert!(!sq[1].is_meta());
    assert_eq!(sq[1].header_len(), 96);
    assert_eq!(sq[1].req_id(), id);
    assert_eq!(sq[1].length(), 1431);
    // Header bytes start at byte 32 of the entry (slot 2): the packet's first 96 bytes fill the entry.
    let bytes = zerocopy::IntoBytes::as_bytes(&sq[2..8]);
    assert_eq!(bytes[0], id as u8);
    assert_eq!(bytes[95], (id as u8) ^ 95);
    // The second entry holds buffer 1, which carries LAST and req_id 0.
    assert_eq!(sq[8].length(), 1473);
    assert_eq!(sq[8].ctrl().bits() & (1 << 27), 1 << 27);
    assert_eq!(sq[8].req_id(), 0);
    assert!(sq[9..16].iter().all(|d| *d == Default::default()));
    let mut seen = None;
    assert_eq!(q.device_process(8, |p| seen = Some(*p)).unwrap(), 1);
    let p = seen.unwrap();
    assert_eq!(
        (p.bytes, p.descs, p.entries, p.header_len, p.mss),
        (3000, 3, 2, 96, 1448)
    );
}

#[test]
fn too_many_fragments_are_linearized() {
    let cfg = TxQueueConfig {
        depth: 64,
        max_sg: 4,
        ..TxQueueConfig::default()
    };
    let mut q = TxQueue::<64>::new(cfg).unwrap();
    q.xmit(&TxPacket {
        len: 9000,
        frags: 9,
        ..pkt(0, false)
    })
    .unwrap();
    assert_eq!(q.stats().linearize, 1);
    assert_eq!(q.free_entries(), 62);
}

#[test]
fn impossible_configurations_are_errors() {
    assert!(
        TxQueue::<64>::new(TxQueueConfig {
            depth: 100,
            ..TxQueueConfig::default()
        })
        .is_err()
    );
    assert!(
        TxQueue::<64>::new(TxQueueConfig {
            depth: 128,
            ..TxQueueConfig::default()
        })
        .is_err()
    );
    let llq = TxQueueConfig {
        depth: 64,
        placement: Placement::Llq(LlqConfig::default()),
        ..TxQueueConfig::default()
    };
    assert!(matches!(
        TxQueue::<64>::new(llq),
        Err(Error::InvalidConfig {
            field: "tx.depth",
            ..
        })
    ));
}
