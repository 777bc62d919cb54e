//! What a hostile or buggy peer writes into the rings is refused, counted and answered with a reset request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nic_model::desc::{TxCdesc, TxCtrl, TxDesc, TxDescRepr};
use nic_model::mock::{RingOp, run_ring_ops};
use nic_model::{Error, Offload, TxPacket, TxQueue, TxQueueConfig};
use quickcheck::{Arbitrary, Gen, QuickCheck};

fn queue() -> TxQueue<64> {
    TxQueue::new(TxQueueConfig {
        depth: 64,
        ..TxQueueConfig::default()
    })
    .unwrap()
}

fn one(q: &mut TxQueue<64>) -> u16 {
    q.xmit(&TxPacket {
        len: 100,
        frags: 1,
        head_len: 0,
        offload: Offload::default(),
        xmit_more: false,
    })
    .unwrap()
}

#[test]
fn bad_completion_req_id_counts_bad_req_id_and_requests_reset() {
    let mut q = queue();
    one(&mut q);
    q.device_process(8, |_| {}).unwrap();
    q.cq_raw_mut()[0] = TxCdesc::new(4000, 1, 1);
    assert_eq!(
        q.clean_tx_irq(8),
        Err(Error::BadReqId {
            req_id: 4000,
            depth: 64
        })
    );
    assert_eq!(q.stats().bad_req_id, 1);
    assert!(q.reset_pending());
    assert_eq!(
        q.xmit(&TxPacket {
            len: 1,
            frags: 1,
            ..TxPacket::default()
        }),
        Err(Error::ResetPending)
    );
    q.reset();
    one(&mut q);
    assert_eq!(q.device_process(8, |_| {}).unwrap(), 1);
    assert_eq!(q.clean_tx_irq(8).unwrap(), 1);
}

#[test]
fn completion_for_a_req_id_not_outstanding_is_refused() {
    let mut q = queue();
    q.cq_raw_mut()[0] = TxCdesc::new(5, 1, 1);
    assert_eq!(
        q.clean_tx_irq(8),
        Err(Error::ReqIdNotOutstanding { req_id: 5 })
    );
    assert_eq!(q.stats().bad_req_id, 1);
}

#[test]
fn device_refuses_each_kind_of_malformed_descriptor() {
    type Case = (&'static str, fn(&mut TxDesc), fn(&Error) -> bool);
    let cases: [Case; 5] = [
        (
            "reserved bit",
            |d| d.set_word(1, d.word(1) | 1 << 5),
            |e| matches!(e, Error::MustBeZero { word: 1, .. }),
        ),
        (
            "phase",
            |d| d.set_word(0, d.word(0) ^ 1 << 24),
            |e| matches!(e, Error::PhaseMismatch { .. }),
        ),
        (
            "first missing",
            |d| d.set_word(0, d.word(0) & !(1 << 26)),
            |e| matches!(e, Error::BadFirstLast { .. }),
        ),
        (
            "req_id",
            |d| {
                *d = TxDescRepr {
                    length: 10,
                    req_id: 999,
                    ctrl: d.ctrl(),
                    ..TxDescRepr::default()
                }
                .emit()
            },
            |e| matches!(e, Error::BadReqId { req_id: 999, .. }),
        ),
        (
            "header in host placement",
            |d| d.set_word(3, 40 << 24),
            |e| matches!(e, Error::HeaderTooLong { len: 40, room: 0 }),
        ),
    ];
    for (what, corrupt, expect) in cases {
        let mut q = queue();
        one(&mut q);
        corrupt(&mut q.sq_raw_mut()[0]);
        let e = q.device_process(8, |_| {}).unwrap_err();
        assert!(expect(&e), "{what}: {e:?}");
        assert_eq!(q.device_stats().malformed, 1, "{what}");
        assert!(q.reset_pending(), "{what}");
    }
}

#[test]
fn packet_running_past_the_doorbell_is_refused() {
    let mut q = queue();
    one(&mut q);
    // Clear LAST: the packet never ends inside the doorbell range.
    let d = &mut q.sq_raw_mut()[0];
    d.set_word(0, d.word(0) & !(TxCtrl::LAST.bits()));
    assert!(matches!(
        q.device_process(8, |_| {}),
        Err(Error::BadFirstLast { .. })
    ));
}

#[derive(Debug, Clone)]
struct AnyOps(Vec<RingOp>);

impl Arbitrary for AnyOps {
    fn arbitrary(g: &mut Gen) -> Self {
        let n = usize::arbitrary(g) % 200;
        AnyOps(
            (0..n)
                .map(|_| match u8::arbitrary(g) % 9 {
                    0..=2 => RingOp::Xmit {
                        len: u16::arbitrary(g),
                        frags: u8::arbitrary(g),
                        head_len: u8::arbitrary(g),
                        more: bool::arbitrary(g),
                        mss: u16::arbitrary(g) % 3,
                    },
                    3 => RingOp::Device(u8::arbitrary(g)),
                    4 => RingOp::Clean(u8::arbitrary(g)),
                    5 => RingOp::CorruptSq {
                        slot: u16::arbitrary(g),
                        word: u8::arbitrary(g),
                        value: u32::arbitrary(g),
                    },
                    6 => RingOp::CorruptCq {
                        slot: u16::arbitrary(g),
                        req_id: u16::arbitrary(g),
                        flags: u8::arbitrary(g),
                    },
                    7 => RingOp::WildDoorbell(u16::arbitrary(g)),
                    _ => RingOp::Reset,
                })
                .collect(),
        )
    }
}

#[test]
fn hostile_sequences_never_panic_or_lose_req_ids() {
    fn prop(ops: AnyOps) -> bool {
        run_ring_ops::<64>(
            TxQueueConfig {
                depth: 32,
                ..TxQueueConfig::default()
            },
            &ops.0,
        )
        .is_ok()
    }
    QuickCheck::new()
        .tests(500)
        .quickcheck(prop as fn(AnyOps) -> bool);
}
