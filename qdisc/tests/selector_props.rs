//! The fast selector returns exactly what the reference returns, with the same side effects, on arbitrary
//! configurations and packets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use heapless::Vec as HVec;
use qdisc::{
    DriverHook, FastSelector, NetDev, PickRules, RefSelector, Skb, Sock, TcTxq, XmitCtx, XpsMaps,
};
use quickcheck::{Arbitrary, Gen, QuickCheck};

#[derive(Debug, Clone)]
struct Case {
    dev: NetDev,
    rules: PickRules,
    seed: u64,
    pkts: Vec<(Skb, XmitCtx)>,
}

fn xps(g: &mut Gen, queues: u16) -> Option<XpsMaps> {
    if bool::arbitrary(g) {
        return None;
    }
    let ids = u16::arbitrary(g) % 6 + 1;
    XpsMaps::per_id(ids, |_| {
        let mut v = HVec::new();
        for _ in 0..u8::arbitrary(g) % 5 {
            let _ = v.push(u16::arbitrary(g) % (queues + 2));
        }
        v
    })
    .ok()
}

impl Arbitrary for Case {
    fn arbitrary(g: &mut Gen) -> Self {
        let queues = u16::arbitrary(g) % 17 + 1;
        let mut dev = NetDev::new(queues).unwrap();
        dev.driver = *g
            .choose(&[
                DriverHook::None,
                DriverHook::EnaLegacy,
                DriverHook::EnaModulo,
                DriverHook::Bonding,
            ])
            .unwrap();
        dev.nr_cpus = u16::arbitrary(g) % 8 + 1;
        if bool::arbitrary(g) {
            dev.num_tc = u8::arbitrary(g) % 4 + 1;
            for tc in 0..dev.num_tc as usize {
                let off = u16::arbitrary(g) % queues;
                let cnt = u16::arbitrary(g) % (queues - off + 1);
                dev.tc_to_txq[tc] = TcTxq {
                    offset: off,
                    count: cnt,
                };
            }
            for p in 0..16 {
                dev.prio_tc_map[p] = u8::arbitrary(g) % dev.num_tc;
            }
        }
        dev.xps_cpus = xps(g, queues);
        dev.xps_rxqs = xps(g, queues);
        let rules = PickRules {
            txq_reselection_ms: bool::arbitrary(g).then_some(1000),
            tc_empty_class_spins: bool::arbitrary(g),
        };
        let pkts = (0..usize::arbitrary(g) % 40)
            .map(|_| {
                let mut s = Skb::new(u32::arbitrary(g), u64::arbitrary(g));
                s.hash = bool::arbitrary(g).then(|| u32::arbitrary(g));
                s.queue_mapping = if bool::arbitrary(g) {
                    u16::arbitrary(g) % 80
                } else {
                    u16::arbitrary(g)
                };
                s.ooo_okay = bool::arbitrary(g);
                s.sender_cpu = u16::arbitrary(g) % 12;
                s.priority = u32::arbitrary(g);
                s.skip_txqueue = u8::arbitrary(g) % 8 == 0;
                s.sk = bool::arbitrary(g).then(|| Sock {
                    tx_queue: if bool::arbitrary(g) {
                        qdisc::NO_QUEUE_MAPPING
                    } else {
                        u16::arbitrary(g) % 20
                    },
                    tx_queue_set_ns: u64::arbitrary(g) % 5_000_000_000,
                    rx_queue: if bool::arbitrary(g) {
                        qdisc::NO_QUEUE_MAPPING
                    } else {
                        u16::arbitrary(g) % 8
                    },
                    full: bool::arbitrary(g),
                    dst_cached: bool::arbitrary(g),
                });
                (
                    s,
                    XmitCtx {
                        cpu: u16::arbitrary(g) % 8,
                        now_ns: u64::arbitrary(g) % 10_000_000_000,
                    },
                )
            })
            .collect();
        Case {
            dev,
            rules,
            seed: u64::arbitrary(g),
            pkts,
        }
    }
}

#[test]
fn fast_equals_reference_single_and_batch() {
    fn prop(c: Case) -> bool {
        let r = RefSelector::new(c.dev.clone(), c.rules, c.seed).unwrap();
        let f = FastSelector::from_ref(&r).unwrap();
        let mut batch: Vec<Skb> = c.pkts.iter().map(|(s, _)| *s).collect();
        let mut out = vec![0u16; batch.len()];
        for (i, (skb, ctx)) in c.pkts.iter().enumerate() {
            let (mut a, mut b) = (*skb, *skb);
            let d = r.select(&mut a, *ctx);
            let q = f.select(&mut b, *ctx);
            if d.queue != q || a != b || q >= c.dev.real_num_tx_queues {
                return false;
            }
            // The batch API with one shared context must agree with single selection under that context.
            let ctx0 = c.pkts.first().map(|p| p.1).unwrap_or_default();
            let mut e = *skb;
            let de = r.select(&mut e, ctx0);
            f.select_batch(&mut batch[i..i + 1], ctx0, &mut out[i..i + 1]);
            if out[i] != de.queue || batch[i] != e {
                return false;
            }
        }
        // The whole batch at once (the batch kernel works 64 packets at a time and sends the ones it cannot
        // decide through `select` afterwards): the same as each packet alone.
        let ctx0 = c.pkts.first().map(|p| p.1).unwrap_or_default();
        let mut whole: Vec<Skb> = c.pkts.iter().map(|(s, _)| *s).collect();
        let mut out = vec![0u16; whole.len()];
        f.select_batch(&mut whole, ctx0, &mut out);
        for (i, (skb, _)) in c.pkts.iter().enumerate() {
            let mut e = *skb;
            if r.select(&mut e, ctx0).queue != out[i] || whole[i] != e {
                return false;
            }
        }
        true
    }
    QuickCheck::new()
        .tests(2000)
        .quickcheck(prop as fn(Case) -> bool);
}
