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
