//! What real kernels were measured to do (`vm-harness-facts.md`: 256 UDP flows x 4 packets from a namespace
//! through a veth out of an 8-queue device, XPS cleared unless said otherwise), as predictions of the model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use qdisc::predict::predict;
use qdisc::veth::Path;
use qdisc::{Branch, DriverHook, KernelProfile, NetDev, PickRules, RefSelector};

const FLOWS: u32 = 256;

fn selector(dev: NetDev) -> RefSelector {
    RefSelector::new(dev, PickRules::default(), 0x5eed).unwrap()
}

#[test]
fn fixed_kernel_through_veth_spreads() {
    let fixed = KernelProfile::from_release("6.1.0-18-amd64").unwrap();
    let p = predict(
        &selector(NetDev::new(8).unwrap()),
        Path::PodViaVeth,
        fixed.veth_records_rx_queue,
        0,
        FLOWS,
    );
    assert!(!p.exact);
    assert_eq!(p.branch, Branch::Hash);
    for q in &p.queues {
        assert!((q.expected - 0.125).abs() < 1e-9);
        assert!(q.low > 0 && q.high < FLOWS / 2, "{q:?}");
    }
    // The measured spread on the fixed kernel, in packets (4 per flow): 136 152 104 120 128 120 140 124.
    assert!(p.matches(&[136, 152, 104, 120, 128, 120, 140, 124], 4));
    assert!(!p.matches(&[1024, 0, 0, 0, 0, 0, 0, 0], 4));
}

#[test]
fn reverted_fix_through_veth_pins_queue_zero() {
    let p = predict(
        &selector(NetDev::new(8).unwrap()),
        Path::PodViaVeth,
        true,
        0,
        FLOWS,
    );
    assert!(p.exact);
    assert_eq!(p.branch, Branch::RxRecorded);
    assert!(p.matches(&[1024, 0, 0, 0, 0, 0, 0, 0], 4));
    assert_eq!(p.max_share(), 1.0);
}

#[test]
fn ena_legacy_hook_pins_queue_zero_too() {
    let mut dev = NetDev::new(8).unwrap();
    dev.driver = DriverHook::EnaLegacy;
    let p = predict(&selector(dev), Path::PodViaVeth, true, 1, FLOWS);
    assert!(p.exact);
    assert_eq!(p.branch, Branch::DriverRxRecorded);
    assert_eq!(p.queues[0].low, FLOWS);
}

#[test]
fn virtio_default_xps_hides_the_bug() {
    // 2 CPUs, 8 queue pairs: CPU 0 owns 0 2 4 6, CPU 1 owns 1 3 5 7. XPS decides before skb_tx_hash.
    let dev = NetDev::new(8).unwrap().with_virtio_default_xps(2).unwrap();
    for (cpu, owned) in [(0u16, [0usize, 2, 4, 6]), (1, [1, 3, 5, 7])] {
        for veth_records in [false, true] {
            let p = predict(
                &selector(dev.clone()),
                Path::PodViaVeth,
                veth_records,
                cpu,
                FLOWS,
            );
            assert_eq!(p.branch, Branch::XpsCpus);
            for (q, share) in p.queues.iter().enumerate() {
                let want = if owned.contains(&q) { 0.25 } else { 0.0 };
                assert!(
                    (share.expected - want).abs() < 1e-9,
                    "cpu {cpu} queue {q}: {share:?}"
                );
            }
        }
    }
}

#[test]
fn root_namespace_traffic_spreads_on_both_kernels() {
    for veth_records in [false, true] {
        let p = predict(
            &selector(NetDev::new(8).unwrap()),
            Path::Host,
            veth_records,
            0,
            FLOWS,
        );
        assert!(!p.exact);
        assert!(p.max_share() < 0.2);
    }
}

#[test]
fn one_call_from_pod_socket_to_physical_queue() {
    use qdisc::{Skb, Sock, XmitCtx};
    let sel = selector(NetDev::new(8).unwrap());
    let mut skb = Skb::new(1500, 7);
    skb.hash = Some(0xdead_beef);
    skb.sk = Some(Sock::connected());
    let ctx = XmitCtx { cpu: 1, now_ns: 0 };
    let buggy = qdisc::veth::egress(&sel, &mut skb.clone(), Path::PodViaVeth, true, ctx);
    assert_eq!((buggy.queue, buggy.branch), (0, Branch::RxRecorded));
    let mut fixed_skb = skb;
    let fixed = qdisc::veth::egress(&sel, &mut fixed_skb, Path::PodViaVeth, false, ctx);
    assert_eq!(fixed.branch, Branch::Hash);
    // 0xdeadbeef scaled onto 8 queues: (0xdeadbeef * 8) >> 32 = 6.
    assert_eq!(fixed.queue, 6);
    assert!(
        fixed_skb.sk.is_none(),
        "the socket stays behind in the pod's namespace"
    );
    assert_eq!(
        fixed_skb.queue_mapping, 6,
        "selection records the TX queue on the skb"
    );
}

// ---- Corrections read against the kernel source and the stable trees (each failed on the model before them) ----

use qdisc::driver::{EnaBuild, EnaVersion};
use qdisc::{Driver, Skb, XmitCtx};

/// A packet forwarded from a NIC that recorded rx queue `rxq` (no socket, as forwarded traffic has none).
fn forwarded(rxq: u16) -> Skb {
    let mut skb = Skb::new(1500, 42);
    skb.hash = Some(0x1234_5678);
    skb.record_rx_queue(rxq);
    skb
}

#[test]
fn ena_on_6_1_100_has_no_select_queue_hook_so_rx_11_on_8_queues_goes_to_3() {
    let profile = KernelProfile::from_release("6.1.100").unwrap();
    let sel = Driver::Ena(EnaBuild::InTree)
        .selector(&profile, 8, 8, None)
        .unwrap();
    let d = sel.select(&mut forwarded(11), XmitCtx::default());
    assert_eq!((d.queue, d.branch), (3, Branch::RxRecorded));
    // Before the stable removal (6.1.82) the old hook returns 11, which netdev_cap_txqueue turns into 0.
    let old = KernelProfile::from_release("6.1.82").unwrap();
    let sel = Driver::Ena(EnaBuild::InTree)
        .selector(&old, 8, 8, None)
        .unwrap();
    let d = sel.select(&mut forwarded(11), XmitCtx::default());
    assert_eq!((d.queue, d.branch), (0, Branch::DriverRxRecorded));
    assert!(d.capped.is_some());
}

#[test]
fn amzn_drivers_2_10_reduce_a_recorded_queue_modulo() {
    let profile = KernelProfile::from_release("5.10.50").unwrap();
    let v = EnaVersion {
        major: 2,
        minor: 10,
        patch: 0,
    };
    let sel = Driver::Ena(EnaBuild::Amzn(v))
        .selector(&profile, 8, 8, None)
        .unwrap();
    let d = sel.select(&mut forwarded(11), XmitCtx::default());
    assert_eq!(
        (d.queue, d.branch, d.capped),
        (3, Branch::DriverRxRecorded, None)
    );
}

#[test]
fn kernel_5_10_92_carries_the_fix_so_pod_flows_spread_on_ena() {
    let profile = KernelProfile::from_release("5.10.92").unwrap();
    assert!(!profile.veth_records_rx_queue);
    let sel = Driver::Ena(EnaBuild::InTree)
        .selector(&profile, 8, 8, None)
        .unwrap();
    let p = predict(
        &sel,
        Path::PodViaVeth,
        profile.veth_records_rx_queue,
        0,
        FLOWS,
    );
    assert!(!p.exact && p.max_share() < 0.2, "{p:?}");
    let before = KernelProfile::from_release("5.10.91").unwrap();
    let sel = Driver::Ena(EnaBuild::InTree)
        .selector(&before, 8, 8, None)
        .unwrap();
    let p = predict(
        &sel,
        Path::PodViaVeth,
        before.veth_records_rx_queue,
        0,
        FLOWS,
    );
    assert!(p.exact && p.queues[0].low == FLOWS);
}

#[test]
fn a_multi_queue_veth_hands_a_recorded_queue_on_even_with_the_fix() {
    let fixed = KernelProfile::from_release("6.1.192").unwrap();
    let sel = Driver::Other.selector(&fixed, 8, 8, Some(false)).unwrap();
    let path = Path::PodViaMultiQueueVeth { queues: 8 };
    // Flows on veth queue k > 0 arrive as "rx queue k - 1 recorded"; only veth queue 0's flows are hashed.
    let mut rx_recorded = 0;
    for flow in 0..1024u64 {
        let mut skb = Skb::new(1500, flow);
        skb.sk = Some(qdisc::Sock::connected());
        let d = qdisc::veth::egress(&sel, &mut skb, path, false, XmitCtx::default());
        rx_recorded += u32::from(d.branch == Branch::RxRecorded);
    }
    assert!((800..=990).contains(&rx_recorded), "{rx_recorded} of 1024");
    // The prediction shows the skew: queue 7 gets only what veth queue 0 hashes there.
    let p = predict(&sel, path, false, 0, FLOWS);
    assert!(!p.exact);
    assert!(p.queues[7].expected < 0.05, "{:?}", p.queues[7]);
    // The buggy kernel records veth queue k itself: k == NIC queue for 8 and 8.
    let p = predict(&sel, path, true, 0, FLOWS);
    assert!((p.queues[7].expected - 0.125).abs() < 1e-9);
}

#[test]
fn an_empty_traffic_class_spins_before_the_fallback() {
    let mut dev = NetDev::new(8).unwrap();
    dev.num_tc = 2;
    dev.tc_to_txq[0] = qdisc::TcTxq {
        offset: 0,
        count: 8,
    };
    dev.tc_to_txq[1] = qdisc::TcTxq {
        offset: 0,
        count: 0,
    };
    dev.prio_tc_map[3] = 1;
    let old = KernelProfile::from_release("5.10.76").unwrap();
    let new = KernelProfile::from_release("5.10.77").unwrap();
    let run = |rules| {
        let sel = RefSelector::new(dev.clone(), rules, 1).unwrap();
        let mut skb = forwarded(5);
        skb.priority = 3;
        sel.select(&mut skb, XmitCtx::default())
    };
    assert_eq!(run(old.rules).branch, Branch::SoftLockup);
    let d = run(new.rules);
    assert_eq!((d.queue, d.branch), (5, Branch::RxRecorded));
}

#[test]
fn the_reselection_stamp_of_an_unchanged_queue_is_refreshed_only_after_a_second() {
    let profile = KernelProfile::from_release("6.19.0").unwrap();
    let sel = RefSelector::new(NetDev::new(8).unwrap(), profile.rules, 1).unwrap();
    let mut sk = qdisc::Sock::connected();
    let send = |sk: &mut qdisc::Sock, ms: u64| {
        let mut skb = Skb::new(100, 7);
        skb.sk = Some(*sk);
        skb.ooo_okay = true; // nothing in flight: the queue is picked again
        sel.select(
            &mut skb,
            XmitCtx {
                cpu: 0,
                now_ns: ms * 1_000_000,
            },
        );
        *sk = skb.sk.unwrap();
    };
    send(&mut sk, 0);
    let first = sk.tx_queue_set_ns;
    send(&mut sk, 600);
    assert_eq!(
        sk.tx_queue_set_ns, first,
        "same queue within 1 s: stamp kept"
    );
    send(&mut sk, 1_200);
    assert_eq!(
        sk.tx_queue_set_ns, 1_200_000_000,
        "older than 1 s: refreshed"
    );
}
