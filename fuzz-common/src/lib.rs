//! The bodies of txqlab's fuzz targets and the input types they decode. `fuzz/fuzz_targets/*.rs` call these; the
//! tests of this crate replay the committed corpus (`fuzz/corpus/<target>/`) under plain `cargo test`, so every
//! input a campaign found stays a regression test. A target panics exactly when an invariant breaks.
//!
//! A target body takes the fuzzer's bytes; what it cannot decode it ignores. Here `tc_parse` on a `tc -s` dump
//! (parse, render, parse again: the same entries), then every registered target on an empty input:
//!
//! ```
//! let dump = b"qdisc mq 1: dev eth0 root\n Sent 4200 bytes 7 pkt (dropped 0, overlimits 0 requeues 0)\n \
//!              backlog 0b 0p requeues 0\n";
//! txqlab_fuzz_common::tc_parse(dump);
//! for (name, body) in txqlab_fuzz_common::TARGETS {
//!     assert!(!name.is_empty());
//!     body(b"");
//! }
//! ```
#![allow(clippy::panic)]

mod ena_com_diff;
mod qdisc_ops;
mod scenario_parse;
mod tc_parse;

pub use ena_com_diff::ena_com_diff;
pub use qdisc_ops::qdisc_ops;
pub use scenario_parse::scenario_parse;
pub use tc_parse::tc_parse;

use arbitrary::{Arbitrary, Result, Unstructured};
use nic_model::mock::{RingOp, run_ring_ops};
use nic_model::shaper::TokenBucket;
use nic_model::{TxQueue, TxQueueConfig};
use qdisc::{
    DriverHook, FastSelector, NetDev, PickRules, RefSelector, Skb, TcTxq, XmitCtx, XpsMaps,
};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by name, for the replay and the CI smoke run.
pub const TARGETS: &[(&str, Target)] = &[
    ("select_diff", select_diff),
    ("ring_ops", ring_ops),
    ("shaper_bound", shaper_bound),
    ("desc_validate", desc_validate),
    ("ethtool_parse", ethtool_parse),
    ("release_parse", release_parse),
    ("qdisc_ops", qdisc_ops),
    ("tc_parse", tc_parse),
    ("diagnose_input", diagnose_input),
    ("scenario_parse", scenario_parse),
];

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

/// nic-model ring operation sequences (honest and hostile) against the model in `nic_model::mock`.
pub fn ring_ops(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(mut cfg) = TxQueueConfig::arbitrary(&mut u) else {
        return;
    };
    cfg.depth = 1 << u.int_in_range(1..=6u32).unwrap_or(4);
    let mut ops: heapless::Vec<RingOp, 256> = heapless::Vec::new();
    while !u.is_empty()
        && let Ok(op) = RingOp::arbitrary(&mut u)
    {
        if ops.push(op).is_err() {
            break;
        }
    }
    if let Err(v) = run_ring_ops::<1024>(cfg, &ops) {
        panic!("ring invariant broken: {v:?} with {cfg:?}");
    }
}

/// Token-bucket conservation: whatever leaves in any window stays within `rate x window + burst`, exactly.
pub fn shaper_bound(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let (Ok(rate), Ok(burst)) = (
        u.int_in_range(1..=2_000_000_000u64),
        u.int_in_range(1..=1_000_000u64),
    ) else {
        return;
    };
    let Ok(mut b) = TokenBucket::new("fuzz", rate, burst) else {
        return;
    };
    let max_wait = u.arbitrary::<u32>().unwrap_or(0) as u64;
    let mut now = 0u64;
    let mut out: heapless::Vec<(u64, u64), 128> = heapless::Vec::new();
    // `Unstructured` yields zeros once the data runs out: stop there, and never take more than 256 steps.
    for _ in 0..256 {
        if u.is_empty() {
            break;
        }
        let (Ok(gap), Ok(cost)) = (u.arbitrary::<u32>(), u.int_in_range(1..=burst + 2)) else {
            break;
        };
        now += gap as u64;
        match b.wait_ns(now, cost) {
            None => assert!(
                cost > burst,
                "a request within the burst was called impossible"
            ),
            Some(w) if w <= max_wait => {
                b.take(now + w, cost);
                if out.push((now + w, cost)).is_err() {
                    break;
                }
            }
            Some(_) => {}
        }
    }
    for i in 0..out.len() {
        let mut sum = 0u128;
        for j in i..out.len() {
            assert!(out[j].0 >= out[i].0, "departures out of order");
            sum += out[j].1 as u128;
            let window = (out[j].0 - out[i].0) as u128;
            assert!(
                sum * 1_000_000_000 <= window * rate as u128 + burst as u128 * 1_000_000_000,
                "{sum} tokens left in {window} ns at rate {rate} with burst {burst}"
            );
        }
    }
}

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

/// `ethtool -S` text: never panics; what parses renders back to text that parses to the same counters.
pub fn ethtool_parse(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = nic_model::ethtool::NicStats::parse(text) {
        let again = nic_model::ethtool::NicStats::parse(&s.to_string());
        let mut expect = s.clone();
        expect.unknown = 0;
        if s.queues == 0
            && s.eni.is_none()
            && s.conntrack_available.is_none()
            && s.global == Default::default()
        {
            // Only unknown counters: the rendering has only zeroed globals.
            return;
        }
        assert_eq!(
            again.as_ref().map(|a| (&a.tx, &a.rx, a.global, a.eni)),
            Ok((&expect.tx, &expect.rx, expect.global, expect.eni))
        );
    }
}

/// `ethtool -S` text through `diagnose`: parsing and every finding never panic or overflow (counter sums are
/// widened), shares stay in 0..=1 and add up to 1, and a parse error names its input.
pub fn diagnose_input(data: &[u8]) {
    use txqlab::diagnose::{Context, delta, diagnose, read, render};
    match read(data, "fuzz", None) {
        Ok(snaps) => {
            for s in &snaps {
                let r = match diagnose(s, &Context::default()) {
                    Ok(r) => r,
                    Err(e) => {
                        // The typed reading refused a counter: the error names the input.
                        assert!(e.to_string().contains("fuzz: "), "{e}");
                        continue;
                    }
                };
                let shares: Vec<f64> = r.tx_queue_share.iter().filter_map(|s| *s).collect();
                assert!(shares.iter().all(|x| (0.0..=1.0).contains(x)));
                let total: u128 = r.tx_queue_packets.iter().filter_map(|p| *p).sum();
                assert!(
                    total == 0
                        || shares.is_empty()
                        || (shares.iter().sum::<f64>() - 1.0).abs() < 1e-9
                );
                let _ = render(&r);
                let _ = delta(s, s);
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz: "), "{e}"),
    }
}

/// Kernel release strings: never panic; a parsed release gives a profile.
pub fn release_parse(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let Ok(release) = qdisc::Release::parse(text) else {
        return;
    };
    let profile = qdisc::KernelProfile::of(release);
    let version = release.version();
    // The profile agrees with the facts table...
    let ubuntu_report = matches!(profile.reason, qdisc::profile::Reason::Report(_));
    match qdisc::facts::has(qdisc::facts::Behaviour::VethRecordsRxQueue, version) {
        qdisc::facts::Carries::Known(present, _) if !ubuntu_report => {
            assert_eq!(profile.veth_records_rx_queue, present, "{text:?}");
            assert_ne!(profile.confidence, qdisc::Confidence::Ambiguous, "{text:?}");
        }
        qdisc::facts::Carries::Unknown(_) if !ubuntu_report => {
            assert_eq!(profile.confidence, qdisc::Confidence::Ambiguous, "{text:?}");
        }
        _ => {}
    }
    // ...and with a second reading of the raw table: affected from the bug's first release in the line until the
    // fix's, for every release whose upstream sublevel is known.
    if let (Some(sub), false) = (version.sublevel, ubuntu_report) {
        let has = |f: &qdisc::facts::Fact| {
            version.line >= f.mainline
                || f.stable
                    .iter()
                    .any(|b| b.line == version.line && sub >= b.sublevel)
        };
        let expected = has(&qdisc::facts::VETH_RECORD) && !has(&qdisc::facts::VETH_FIX);
        assert_eq!(profile.veth_records_rx_queue, expected, "{text:?}");
        let ena = has(&qdisc::facts::ENA_HOOK) && !has(&qdisc::facts::ENA_HOOK_REMOVAL);
        assert_eq!(profile.ena_select_queue.present, ena, "{text:?}");
        // A kernel.org release printed back parses to the same version.
        match qdisc::Release::parse(&format!("{}.{}.{sub}", release.major, release.minor)) {
            Ok(again) => assert_eq!(again.version(), version, "{text:?}"),
            Err(e) => panic!("{text:?} printed back does not parse: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn corpus_root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
    }

    /// Inputs that once crashed a target, kept apart from the corpus (which `cargo fuzz cmin` may prune).
    #[test]
    fn regressions_replay() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
        let mut n = 0;
        for (name, target) in TARGETS {
            let Ok(entries) = std::fs::read_dir(root.join(name)) else {
                continue;
            };
            for e in entries {
                target(&std::fs::read(e.unwrap().path()).unwrap());
                n += 1;
            }
        }
        assert!(n >= 2, "regression inputs missing");
    }

    /// Replays every committed corpus file of every target.
    #[test]
    fn committed_corpus_replays() {
        let mut total = 0;
        for (name, target) in TARGETS {
            let dir = corpus_root().join(name);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                panic!("no corpus for {name} in {}", dir.display())
            };
            let mut n = 0;
            for e in entries {
                let data = std::fs::read(e.unwrap().path()).unwrap();
                target(&data);
                n += 1;
            }
            assert!(n > 0, "empty corpus for {name}");
            total += n;
        }
        println!("replayed {total} corpus inputs");
    }

    /// Writes the seed corpus: `cargo test -p txqlab-fuzz-common write_seeds -- --ignored`.
    #[test]
    #[ignore = "a tool, not a check: writes the seed corpus into fuzz/corpus"]
    fn write_seeds() {
        let seeds: &[(&str, &[&[u8]])] = &[
            ("ethtool_parse", &[
                b"NIC statistics:\n     tx_timeout: 0\n     bw_out_allowance_exceeded: 12\n     queue_0_tx_cnt: 99\n     queue_0_rx_bad_csum: 1\n",
                b"queue_7_tx_bad_req_id: 3\nconntrack_allowance_available: 100\n",
            ]),
            ("release_parse", &[b"5.15.0-1019-aws", b"6.1.0-18-amd64", b"5.10.192-183.736.amzn2.x86_64", b"4.19.184"]),
            ("select_diff", &[&[7u8; 64], &[0u8; 200], &[0xffu8; 300]]),
            ("ring_ops", &[&[1u8; 128], &[3u8; 400]]),
            ("shaper_bound", &[&[9u8; 120], &[0x80u8; 64]]),
            ("desc_validate", &[&[0u8; 64], &[0x1du8; 300]]),
            ("qdisc_ops", &[&[1u8; 300], &[0x55u8; 500], &[0u8; 64]]),
            ("tc_parse", &[
                b"qdisc mq 0: root \n Sent 100 bytes 2 pkt (dropped 1, overlimits 0 requeues 3) \n backlog 0b 0p requeues 3\n",
                b"class mq :1 root leaf 8001: \n Sent 5 bytes 1 pkt (dropped 0, overlimits 0 requeues 0) \n backlog 12Kb 3p requeues 0\n",
            ]),
            ("diagnose_input", &[
                b"NIC statistics:\n     queue_0_tx_cnt: 900\n     queue_1_tx_cnt: 3\n     bw_in_allowance_exceeded: 4\n",
                b"tx_queue_0_packets: 5\ntx_queue_1_packets: 5\n",
            ]),
            ("scenario_parse", &[txqlab::scenario::INCIDENT.as_bytes(), b"name = 1\n"]),
        ];
        for (name, inputs) in seeds {
            let dir = corpus_root().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, data) in inputs.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i}")), data).unwrap();
            }
        }
    }
}
