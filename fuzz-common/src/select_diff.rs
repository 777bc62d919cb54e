//! `select_diff`: the fast and the reference TX-queue selectors against each other (`qdisc`'s `select_fast.rs`
//! and `select_ref.rs`).

use arbitrary::{Arbitrary, Result, Unstructured};
use qdisc::{
    DriverHook, FastSelector, NetDev, PickRules, RefSelector, Skb, TcTxq, XmitCtx, XpsMaps,
};

fn device(u: &mut Unstructured<'_>) -> Result<NetDev> {
    let queues = u.int_in_range(1..=64u16)?;
    let mut dev = NetDev::new(queues).map_err(|_| arbitrary::Error::IncorrectFormat)?;
    dev.driver = DriverHook::arbitrary(u)?;
    dev.nr_cpus = u.int_in_range(1..=64)?;
    if u.arbitrary()? {
        dev.num_tc = u.int_in_range(1..=16)?;
        for tc in 0..dev.num_tc as usize {
            let offset = u.int_in_range(0..=queues - 1)?;
            let count = u.int_in_range(0..=queues - offset)?;
            dev.tc_to_txq[tc] = TcTxq { offset, count };
        }
        for p in 0..16 {
            dev.prio_tc_map[p] = u.int_in_range(0..=dev.num_tc - 1)?;
        }
    }
    for slot in [&mut dev.xps_cpus, &mut dev.xps_rxqs] {
        if u.arbitrary()? {
            let ids = u.int_in_range(1..=32u16)?;
            let mut maps = XpsMaps::per_id(ids, |_| heapless::Vec::new())
                .map_err(|_| arbitrary::Error::IncorrectFormat)?;
            maps.num_tc = u.int_in_range(1..=2)?;
            for m in maps.maps.iter_mut() {
                for _ in 0..u.int_in_range(0..=4u8)? {
                    let _ = m.push(u.int_in_range(0..=queues + 3)?);
                }
            }
            *slot = Some(maps);
        }
    }
    Ok(dev)
}

/// Fast selector == reference selector on an arbitrary configuration and packet batch, single and batch APIs,
/// including every side effect; the result is always below the real queue count.
pub fn select_diff(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(dev) = device(&mut u) else { return };
    let Ok(rules) = PickRules::arbitrary(&mut u) else {
        return;
    };
    let seed = u.arbitrary::<u64>().unwrap_or(0);
    let Ok(r) = RefSelector::new(dev.clone(), rules, seed) else {
        return;
    };
    let Ok(f) = FastSelector::from_ref(&r) else {
        panic!("fast selector refused a configuration the reference accepted")
    };
    let ctx = XmitCtx::arbitrary(&mut u).unwrap_or_default();
    let mut pkts: heapless::Vec<Skb, 64> = heapless::Vec::new();
    while !u.is_empty()
        && let Ok(skb) = Skb::arbitrary(&mut u)
    {
        if pkts.push(skb).is_err() {
            break;
        }
    }
    let mut batch = pkts.clone();
    let mut out = [0u16; 64];
    f.select_batch(&mut batch, ctx, &mut out);
    for (i, skb) in pkts.iter().enumerate() {
        let (mut a, mut b) = (*skb, *skb);
        let d = r.select(&mut a, ctx);
        let q = f.select(&mut b, ctx);
        assert_eq!(d.queue, q, "single: {skb:?} on {dev:?}");
        assert_eq!(a, b, "side effects differ for {skb:?}");
        assert_eq!(out[i], q, "batch differs for {skb:?}");
        assert_eq!(batch[i], a, "batch side effects differ");
        assert!(q < dev.real_num_tx_queues);
    }
}
