//! The RX queue: refill, device writes, driver consumes; hostile completions are refused and counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nic_model::desc::{RxCdesc, RxCdescRepr, RxStatus};
use nic_model::{Error, RxPacket, RxQueue, RxQueueConfig, defs};

fn queue(depth: u16) -> RxQueue<64> {
    RxQueue::new(RxQueueConfig {
        depth,
        buf_size: 2048,
        ..RxQueueConfig::default()
    })
    .unwrap()
}

fn pkt(len: u32, hash: u32) -> RxPacket {
    RxPacket {
        len,
        hash,
        l3_proto: defs::L3_PROTO_IPV4,
        l4_proto: defs::L4_PROTO_TCP,
        csum: RxStatus::L4_CSUM_CHECKED,
    }
}

/// A completion as the device writes it (phase 1 unless `phase` says 0).
fn completion(
    req_id: u16,
    length: u16,
    hash: u32,
    l3: u8,
    l4: u8,
    flags: RxStatus,
    phase: u8,
) -> RxCdesc {
    let mut status = flags;
    status.set(RxStatus::PHASE, phase == 1);
    RxCdescRepr {
        req_id,
        length,
        hash,
        l3_proto: l3,
        l4_proto: l4,
        status,
    }
    .emit()
}

#[test]
fn packets_arrive_with_their_hash_and_span_buffers() {
    let mut q = queue(16);
    assert_eq!(q.refill(15), 15);
    assert_eq!(q.stats().refil_partial, 0);
    assert!(q.device_receive(&pkt(100, 0xabcd)).unwrap());
    assert!(
        q.device_receive(&pkt(5000, 0x1234)).unwrap(),
        "5000 B spans three 2048 B buffers"
    );
    let mut got = Vec::new();
    assert_eq!(q.poll(64, |p| got.push(*p)).unwrap(), 2);
    assert_eq!((got[0].len, got[0].hash, got[0].bufs), (100, 0xabcd, 1));
    assert_eq!((got[1].len, got[1].hash, got[1].bufs), (5000, 0x1234, 3));
    let s = q.stats();
    assert_eq!(
        (s.cnt, s.bytes, s.csum_good, s.rx_copybreak_pkt),
        (2, 5100, 2, 1)
    );
    assert_eq!(q.posted(), 15 - 4);
}

#[test]
fn phases_stay_right_over_three_wraps() {
    let mut q = queue(8);
    let mut delivered = 0;
    for i in 0..8 * 3 + 5 {
        q.refill(7);
        assert!(q.device_receive(&pkt(64, i)).unwrap(), "packet {i}");
        delivered += q.poll(8, |p| assert_eq!(p.hash, i)).unwrap();
    }
    assert_eq!(delivered, 29);
}

#[test]
fn no_buffers_means_a_device_drop_and_the_watchdog_counts_an_empty_ring() {
    let mut q = queue(8);
    assert!(!q.device_receive(&pkt(64, 1)).unwrap());
    assert_eq!(q.device_stats().rx_drops, 1);
    q.check_for_empty_rx_ring();
    assert_eq!(
        q.stats().empty_rx_ring,
        0,
        "counted on the second check in a row"
    );
    q.check_for_empty_rx_ring();
    assert_eq!(q.stats().empty_rx_ring, 1);
    // A refill asked for more than the ring can take is partial.
    assert_eq!(q.refill(20), 7);
    assert_eq!(q.stats().refil_partial, 1);
}

#[test]
fn bad_req_id_and_bad_descriptor_chains_are_counted_and_request_a_reset() {
    // A req_id beyond the ring.
    let mut q = queue(8);
    q.cq_raw_mut()[0] = completion(99, 64, 0, 8, 12, RxStatus::FIRST | RxStatus::LAST, 1);
    assert_eq!(
        q.poll(8, |_| {}),
        Err(Error::BadReqId {
            req_id: 99,
            depth: 8
        })
    );
    assert_eq!(q.stats().bad_req_id, 1);
    assert!(q.reset_pending());

    // A req_id in range but never posted.
    let mut q = queue(8);
    q.cq_raw_mut()[0] = completion(3, 64, 0, 8, 12, RxStatus::FIRST | RxStatus::LAST, 1);
    assert_eq!(
        q.poll(8, |_| {}),
        Err(Error::ReqIdNotOutstanding { req_id: 3 })
    );
    assert_eq!(q.stats().bad_req_id, 1);

    // A chain whose second descriptor claims to be first again: `ena_com_cdesc_rx_pkt_get` returns -EFAULT and
    // `ena_clean_rx_irq` resets (ENA_REGS_RESET_RX_DESCRIPTOR_MALFORMED) without counting anything.
    let mut q = queue(8);
    q.refill(4);
    q.cq_raw_mut()[0] = completion(0, 64, 0, 8, 12, RxStatus::FIRST, 1);
    q.cq_raw_mut()[1] = completion(1, 64, 0, 8, 12, RxStatus::FIRST | RxStatus::LAST, 1);
    assert_eq!(q.poll(8, |_| {}), Err(Error::BadFirstLast { index: 1 }));
    assert_eq!((q.stats().bad_desc_num, q.stats().bad_req_id), (0, 0));
    assert!(q.reset_pending());
    assert_eq!(q.device_receive(&pkt(64, 0)), Err(Error::ResetPending));
}

#[test]
fn checksum_verdicts_are_counted() {
    let mut q = queue(16);
    q.refill(15);
    for csum in [
        RxStatus::L4_CSUM_CHECKED,
        RxStatus::L4_CSUM_CHECKED | RxStatus::L4_CSUM_ERR,
        RxStatus::empty(),
    ] {
        q.device_receive(&RxPacket { csum, ..pkt(64, 0) }).unwrap();
    }
    q.poll(16, |_| {}).unwrap();
    let s = q.stats();
    assert_eq!((s.csum_good, s.csum_bad, s.csum_unchecked), (1, 1, 1));
}

#[test]
fn impossible_configurations_are_errors() {
    assert!(
        RxQueue::<64>::new(RxQueueConfig {
            depth: 100,
            ..RxQueueConfig::default()
        })
        .is_err()
    );
    assert!(
        RxQueue::<64>::new(RxQueueConfig {
            depth: 128,
            ..RxQueueConfig::default()
        })
        .is_err()
    );
    assert!(
        RxQueue::<64>::new(RxQueueConfig {
            depth: 64,
            max_bufs_per_pkt: 0,
            ..RxQueueConfig::default()
        })
        .is_err()
    );
}

#[test]
fn flags_and_hash_come_from_the_last_completion_and_a_missing_first_bit_is_accepted() {
    // `ena_com_rx_pkt` hands `ena_com_rx_set_flags` the packet's last completion; nothing checks that the first
    // one carries the first bit.
    let mut q = queue(8);
    q.refill(4);
    q.cq_raw_mut()[0] = completion(0, 1000, 0x1111, 0, 0, RxStatus::empty(), 1);
    q.cq_raw_mut()[1] = completion(
        1,
        200,
        0x2222,
        8,
        12,
        RxStatus::LAST | RxStatus::L4_CSUM_CHECKED,
        1,
    );
    let mut got = Vec::new();
    assert_eq!(q.poll(8, |p| got.push(*p)), Ok(1));
    assert_eq!(got[0].hash, 0x2222);
    assert_eq!((got[0].len, got[0].bufs), (1200, 2));
    assert_eq!(q.stats().csum_good, 1);
    // rx_copybreak looks at the first buffer only (1000 > 256).
    assert_eq!(q.stats().rx_copybreak_pkt, 0);
}

#[test]
fn checksum_counters_follow_ena_rx_checksum() {
    // Fragments and protocols other than TCP/UDP count nothing; an L3 error counts only for IPv4.
    let mut q = queue(16);
    q.refill(15);
    let cases = [
        (8, 12, RxStatus::IPV4_FRAG | RxStatus::L4_CSUM_ERR),
        (11, 12, RxStatus::L3_CSUM_ERR | RxStatus::L4_CSUM_CHECKED),
        (8, 1, RxStatus::L4_CSUM_ERR),
        (8, 13, RxStatus::L3_CSUM_ERR),
    ];
    for (l3_proto, l4_proto, csum) in cases {
        q.device_receive(&RxPacket {
            l3_proto,
            l4_proto,
            csum,
            ..pkt(64, 0)
        })
        .unwrap();
    }
    assert_eq!(q.poll(16, |_| {}), Ok(4));
    let s = q.stats();
    assert_eq!((s.csum_good, s.csum_bad, s.csum_unchecked), (1, 1, 0));
}
