//! The TX path against what the 6.1 driver does, one behaviour per test, each named after the kernel code it
//! follows (`drivers/net/ethernet/amazon/ena/ena_eth_com.c`, `ena_netdev.c`). The differential test in
//! `ena-oracle` checks the same and more against the driver's own compiled code; these stay readable on their own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nic_model::defs::{L3_PROTO_IPV4, L4_PROTO_TCP};
use nic_model::desc::{TxCdesc, TxCdescRepr, TxCtrl, TxDescRepr, TxMetaDesc, TxOffload};
use nic_model::llq::{LlqConfig, Placement};
use nic_model::{Error, Offload, TxPacket, TxQueue, TxQueueConfig};

fn host(depth: u16) -> TxQueueConfig {
    TxQueueConfig {
        depth,
        ..TxQueueConfig::default()
    }
}

fn llq(depth: u16) -> TxQueueConfig {
    TxQueueConfig {
        depth,
        placement: Placement::Llq(LlqConfig::default()),
        ..TxQueueConfig::default()
    }
}

fn linear(len: u32) -> TxPacket {
    TxPacket {
        len,
        frags: 1,
        ..TxPacket::default()
    }
}

use nic_model::mock::tso_offload as tso;

/// Checksum offload only (`CHECKSUM_PARTIAL`, no GSO).
fn csum() -> Offload {
    Offload {
        l3_proto: L3_PROTO_IPV4,
        l4_proto: L4_PROTO_TCP,
        flags: TxOffload::L4_CSUM_EN | TxOffload::L4_CSUM_PARTIAL,
        l3_hdr_len: 20,
        l3_hdr_off: 14,
        ..Offload::default()
    }
}

/// Sends `n` one-buffer packets and completes them, so the next req_id handed out is `n`.
fn burn_req_ids<const N: usize>(q: &mut TxQueue<N>, n: u16) {
    for _ in 0..n {
        q.xmit(&linear(100)).unwrap();
    }
    assert_eq!(q.device_process(n, |_| {}).unwrap(), n);
    assert_eq!(q.clean_tx_irq(n).unwrap(), n);
}

#[test]
fn req_id_and_offload_bits_go_into_the_first_data_descriptor_only() {
    // `ena_com_prepare_tx`: req_id and the offload bits are written before the buffer loop; the loop's later
    // descriptors get phase, length and address only.
    let mut q = TxQueue::<64>::new(host(64)).unwrap();
    burn_req_ids(&mut q, 5);
    let id = q
        .xmit(&TxPacket {
            len: 3000,
            frags: 2,
            head_len: 1000,
            offload: csum(),
            xmit_more: false,
        })
        .unwrap();
    assert_eq!(id, 5);
    let sq = q.sq_raw_mut();
    // Entry 5 is the meta descriptor, 6 the first data descriptor, 7 the second.
    let meta: TxMetaDesc = zerocopy::transmute!(sq[5]);
    assert!(sq[5].is_meta());
    assert_eq!(meta.req_id(), 0, "the meta descriptor carries no req_id");
    assert!(!meta.ctrl().contains(nic_model::desc::TxMetaCtrl::COMP_REQ));
    assert_eq!(sq[6].req_id(), 5);
    assert!(
        sq[6]
            .offload()
            .contains(TxOffload::L4_CSUM_EN | TxOffload::L4_CSUM_PARTIAL)
    );
    assert_eq!((sq[6].l3_proto(), sq[6].l4_proto()), (8, 12));
    assert!(sq[6].ctrl().contains(TxCtrl::COMP_REQ));
    assert_eq!(sq[7].req_id(), 0);
    assert_eq!(
        sq[7].word(1),
        0,
        "no offload bits, no req_id in later descriptors"
    );
    assert_eq!(sq[7].ctrl(), TxCtrl::LAST | TxCtrl::PHASE);
    // And the device takes it.
    assert_eq!(q.device_process(8, |_| {}).unwrap(), 1);
    assert!(!q.reset_pending());
}

#[test]
fn the_device_accepts_what_the_driver_writes_for_a_two_buffer_packet() {
    // The exact descriptors 6.1 writes for a 2-buffer packet with req_id 5, placed by hand.
    let mut q = TxQueue::<64>::new(host(64)).unwrap();
    burn_req_ids(&mut q, 5);
    let first = TxDescRepr {
        length: 1000,
        req_id: 5,
        ctrl: TxCtrl::FIRST | TxCtrl::COMP_REQ | TxCtrl::PHASE,
        addr: 0x1234_0000,
        ..TxDescRepr::default()
    }
    .emit();
    let second = TxDescRepr {
        length: 2000,
        ctrl: TxCtrl::LAST | TxCtrl::PHASE,
        addr: 0x5678_0000,
        ..TxDescRepr::default()
    }
    .emit();
    let sq = q.sq_raw_mut();
    sq[5] = first;
    sq[6] = second;
    q.doorbell_raw(7);
    let mut seen = None;
    assert_eq!(q.device_process(8, |p| seen = Some(*p)), Ok(1));
    assert_eq!(
        seen.map(|p| (p.req_id, p.bytes, p.descs)),
        Some((5, 3000, 2))
    );
    assert!(!q.reset_pending());
}

#[test]
fn llq_pushes_min_of_len_and_96_bytes_whatever_the_headers() {
    // `ena_tx_map_skb`: push_len = min(skb->len, tx_max_header_size). A TSO packet with a 66-byte linear part and
    // 3 fragments of 1000 bytes: 96 bytes are pushed (30 of them from fragment 0), leaving 3 buffers.
    let mut q = TxQueue::<256>::new(llq(16)).unwrap();
    let id = q
        .xmit_frags(
            &TxPacket {
                len: 3066,
                head_len: 66,
                offload: tso(),
                ..TxPacket::default()
            },
            &[1000, 1000, 1000],
        )
        .unwrap();
    assert_eq!(q.stats().llq_buffer_copy, 1);
    let sq = q.sq_raw_mut();
    assert!(sq[0].is_meta());
    assert_eq!(sq[1].header_len(), 96);
    assert_eq!(sq[1].req_id(), id);
    // Entry 0: meta, buffer 0, header; entry 1: buffers 1 and 2.
    let lens = [sq[1].length(), sq[8].length(), sq[9].length()];
    assert_eq!(lens, [970, 1000, 1000]);
    assert!(sq[9].ctrl().contains(TxCtrl::LAST));
    let mut seen = None;
    assert_eq!(q.device_process(8, |p| seen = Some(*p)).unwrap(), 1);
    let p = seen.unwrap();
    assert_eq!((p.bytes, p.descs, p.header_len), (3066, 4, 96));
}

#[test]
fn a_short_llq_packet_is_all_header_and_one_empty_descriptor() {
    // len <= 96: everything is pushed, num_bufs is 0, and the one data descriptor has length 0 and address 0.
    let mut q = TxQueue::<256>::new(llq(16)).unwrap();
    q.xmit(&linear(60)).unwrap();
    let d = q.sq_raw_mut()[0];
    assert_eq!((d.length(), d.addr(), d.header_len()), (0, 0, 60));
    assert_eq!(
        d.ctrl(),
        TxCtrl::FIRST | TxCtrl::LAST | TxCtrl::COMP_REQ | TxCtrl::PHASE
    );
    let mut seen = None;
    assert_eq!(q.device_process(8, |p| seen = Some(*p)).unwrap(), 1);
    assert_eq!(seen.map(|p| p.bytes), Some(60));
}

#[test]
fn seventeen_fragments_with_a_short_linear_part_are_not_linearized() {
    // `ena_check_and_linearize_skb`: nr_frags == sgl_size is sent as is when skb_headlen < tx_max_header_size.
    let mut q = TxQueue::<512>::new(llq(32)).unwrap();
    let frags = [1000u32; 17];
    q.xmit_frags(
        &TxPacket {
            len: 17_054,
            head_len: 54,
            ..TxPacket::default()
        },
        &frags,
    )
    .unwrap();
    assert_eq!(q.stats().linearize, 0);
    let mut seen = None;
    assert_eq!(q.device_process(8, |p| seen = Some(*p)).unwrap(), 1);
    // 96 bytes pushed: the linear part and 42 bytes of fragment 0; 17 buffers remain.
    assert_eq!(seen.map(|p| (p.descs, p.bytes)), Some((17, 17_054)));
}

#[test]
fn seventeen_fragments_with_a_long_linear_part_and_eighteen_are_linearized() {
    let mut q = TxQueue::<512>::new(llq(32)).unwrap();
    let long_head = TxPacket {
        len: 17_200,
        head_len: 200,
        ..TxPacket::default()
    };
    q.xmit_frags(&long_head, &[1000; 17]).unwrap();
    assert_eq!(q.stats().linearize, 1);
    let eighteen = TxPacket {
        len: 18_054,
        head_len: 54,
        ..TxPacket::default()
    };
    q.xmit_frags(&eighteen, &[1000; 18]).unwrap();
    assert_eq!(q.stats().linearize, 2);
}

#[test]
fn host_placement_writes_the_header_length_the_device_advertised() {
    // `ena_tx_map_skb`, host placement: header_len = min(skb_headlen, tx_max_header_size), nothing pushed.
    let cfg = TxQueueConfig {
        max_header_size: 128,
        ..host(64)
    };
    let mut q = TxQueue::<64>::new(cfg).unwrap();
    q.xmit(&linear(1500)).unwrap();
    q.xmit(&TxPacket {
        len: 3000,
        frags: 3,
        head_len: 54,
        ..TxPacket::default()
    })
    .unwrap();
    let sq = q.sq_raw_mut();
    assert_eq!((sq[0].header_len(), sq[0].length()), (128, 1500));
    assert_eq!((sq[1].header_len(), sq[1].length()), (54, 54));
    let mut bytes = Vec::new();
    assert_eq!(q.device_process(8, |p| bytes.push(p.bytes)).unwrap(), 2);
    assert_eq!(
        bytes,
        [1500, 3000],
        "the header length adds no bytes in host placement"
    );
}

#[test]
fn the_meta_cache_starts_as_an_all_zero_context() {
    // The io_sq is zeroed at creation, and `ena_com_meta_desc_changed` memcmps against it: a first packet whose
    // context is all zero writes no meta descriptor.
    let mut q = TxQueue::<64>::new(host(64)).unwrap();
    q.xmit(&TxPacket {
        offload: Offload {
            flags: TxOffload::L4_CSUM_EN,
            ..Offload::default()
        },
        ..linear(100)
    })
    .unwrap();
    assert_eq!(q.sq_tail(), 1);
    assert!(!q.sq_raw_mut()[0].is_meta());
    // A changed context writes one, an unchanged one does not.
    q.xmit(&TxPacket {
        offload: tso(),
        ..linear(100)
    })
    .unwrap();
    q.xmit(&TxPacket {
        offload: tso(),
        ..linear(100)
    })
    .unwrap();
    assert_eq!(q.sq_tail(), 4);
}

#[test]
fn disable_meta_caching_writes_a_meta_descriptor_with_every_packet() {
    // `ena_tx_csum` marks even a packet without offload meta-valid (with a zeroed context), and
    // `ena_com_create_and_store_tx_meta_desc` skips the cache.
    let cfg = TxQueueConfig {
        placement: Placement::Llq(LlqConfig {
            disable_meta_caching: true,
            ..LlqConfig::default()
        }),
        ..llq(16)
    };
    let mut q = TxQueue::<256>::new(cfg).unwrap();
    for _ in 0..3 {
        q.xmit(&TxPacket {
            offload: tso(),
            ..linear(1000)
        })
        .unwrap();
    }
    q.xmit(&linear(1000)).unwrap();
    let sq = q.sq_raw_mut();
    for line in 0..4 {
        assert!(sq[line * 8].is_meta(), "line {line}");
        let m: TxMetaDesc = zerocopy::transmute!(sq[line * 8]);
        assert_eq!(m.mss(), if line < 3 { 1448 } else { 0 });
    }
    assert_eq!(q.device_process(8, |_| {}).unwrap(), 4);
}

#[test]
fn prepare_keeps_a_descriptor_free_for_a_possible_meta_and_drops_what_does_not_fit() {
    // `ena_com_prepare_tx` asks for num_bufs + 1 free entries whatever the packet; on -ENOMEM `ena_xmit_common`
    // counts prepare_ctx_err and the packet is dropped, without a reset. A 2-entry ring has 1 free entry.
    let mut q = TxQueue::<2>::new(host(2)).unwrap();
    assert_eq!(q.free_entries(), 1);
    assert_eq!(q.xmit(&linear(100)), Err(Error::NoSpace));
    assert_eq!(q.stats().prepare_ctx_err, 1);
    assert_eq!((q.stats().cnt, q.sq_tail(), q.in_flight()), (0, 0, 0));
    assert!(!q.reset_pending());
}

#[test]
fn the_doorbell_rings_when_the_byte_queue_limit_stops_the_queue() {
    // `if (netif_xmit_stopped(txq) || !netdev_xmit_more())`: netif_xmit_stopped includes the stack's XOFF that
    // `netdev_tx_sent_queue` sets once the bytes in flight exceed the limit.
    let cfg = TxQueueConfig {
        bql_limit: 3000,
        ..host(64)
    };
    let mut q = TxQueue::<64>::new(cfg).unwrap();
    let more = TxPacket {
        xmit_more: true,
        ..linear(1500)
    };
    q.xmit(&more).unwrap();
    q.xmit(&more).unwrap();
    assert_eq!(
        q.stats().doorbells,
        0,
        "3000 bytes in flight: not over the limit"
    );
    q.xmit(&more).unwrap();
    assert!(q.is_xmit_stopped() && !q.is_stopped());
    assert_eq!(q.stats().doorbells, 1);
    assert_eq!(q.doorbell_tail(), 3);
    assert_eq!(q.xmit(&more), Err(Error::QueueStopped));
    // Completing packets brings the bytes back under the limit and lets the stack go on.
    assert_eq!(q.device_process(8, |_| {}).unwrap(), 3);
    assert_eq!(q.clean_tx_irq(1).unwrap(), 1);
    assert!(!q.is_xmit_stopped());
}

#[test]
fn reserved_bits_of_a_tx_completion_are_ignored() {
    // `ena_com_tx_comp_req_id_get` reads the phase bit of `flags` and nothing else of it.
    let mut q = TxQueue::<64>::new(host(64)).unwrap();
    q.xmit(&linear(100)).unwrap();
    assert_eq!(q.device_process(8, |_| {}).unwrap(), 1);
    let c: &mut TxCdesc = &mut q.cq_raw_mut()[0];
    *c = TxCdescRepr {
        flags: 0xfe | 1,
        status: 0x55,
        ..TxCdescRepr::parse(c)
    }
    .emit();
    assert_eq!(q.clean_tx_irq(8), Ok(1));
    assert!(!q.reset_pending());
    assert_eq!(q.stats().bad_req_id, 0);
}

#[test]
fn a_completion_beyond_the_ring_is_not_consumed_and_requests_a_reset() {
    // -EINVAL from `ena_com_tx_comp_req_id_get` leaves the head where it is; `handle_invalid_req_id` resets.
    let mut q = TxQueue::<64>::new(host(64)).unwrap();
    q.xmit(&linear(100)).unwrap();
    q.xmit(&linear(100)).unwrap();
    assert_eq!(q.device_process(8, |_| {}).unwrap(), 2);
    let c = &mut q.cq_raw_mut()[1];
    *c = TxCdescRepr {
        req_id: 64,
        ..TxCdescRepr::parse(c)
    }
    .emit();
    assert_eq!(
        q.clean_tx_irq(8),
        Err(Error::BadReqId {
            req_id: 64,
            depth: 64
        })
    );
    assert_eq!((q.stats().bad_req_id, q.in_flight()), (1, 1));
    assert!(q.reset_pending());
}
