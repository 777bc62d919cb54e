//! Criterion benchmarks live in `benches/`; run them with `cargo bench -p txqlab-benches`.
//!
//! Shared set-ups of the benchmarks and their quantile-timing examples (`benches/` and `examples/`), so that both
//! measure exactly the same packets, devices and allowances.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nic_model::shaper::{AllowanceConfig, BandwidthConfig, OverLimit};
use qdisc::{NetDev, Skb, Sock, TcTxq};

/// The `*_min` examples' timing: `sample` run `warmup` times, then `samples` times each timed on its own;
/// returns the times in nanoseconds, sorted (their 5th percentile is less disturbed by other processes than a
/// mean).
pub fn sorted_samples(warmup: usize, samples: usize, mut sample: impl FnMut()) -> Vec<u64> {
    for _ in 0..warmup {
        sample();
    }
    let mut v: Vec<u64> = (0..samples)
        .map(|_| {
            let t = std::time::Instant::now();
            sample();
            t.elapsed().as_nanos() as u64
        })
        .collect();
    v.sort_unstable();
    v
}

/// Packets per selection batch.
pub const BATCH: usize = 64;

/// The batch of packets of selection configuration `kind` (`a_hash`, `b_xps_cpus`, `c_rx_recorded`,
/// `d_traffic_classes`, `e_socket_cached`).
pub fn packets(kind: &str) -> Vec<Skb> {
    (0..BATCH as u64)
        .map(|i| {
            let mut s = Skb::new(1500, i);
            s.hash = Some((i as u32).wrapping_mul(0x9e37_79b9));
            s.sender_cpu = 1;
            match kind {
                "c_rx_recorded" => s.record_rx_queue(0),
                "d_traffic_classes" => s.priority = (i % 2) as u32,
                "e_socket_cached" => {
                    s.sk = Some(Sock {
                        tx_queue: (i % 8) as u16,
                        ..Sock::connected()
                    })
                }
                _ => {}
            }
            s
        })
        .collect()
}

/// The 8-queue device of selection configuration `kind`.
pub fn device(kind: &str) -> NetDev {
    let dev = NetDev::new(8).unwrap();
    match kind {
        "b_xps_cpus" => dev.with_virtio_default_xps(2).unwrap(),
        "d_traffic_classes" => {
            let mut d = dev;
            d.num_tc = 2;
            d.tc_to_txq[0] = TcTxq {
                offset: 0,
                count: 4,
            };
            d.tc_to_txq[1] = TcTxq {
                offset: 4,
                count: 4,
            };
            d.prio_tc_map[1] = 1;
            d
        }
        _ => dev,
    }
}

/// The allowances the shaper benchmarks admit packets under.
pub fn shaper_cfg(over_limit: OverLimit) -> AllowanceConfig {
    AllowanceConfig {
        bw_out: BandwidthConfig {
            baseline_bps: 5_000_000_000,
            peak_bps: 12_500_000_000,
            peak_burst_bits: 12_500_000,
            credit_bits: 7_500_000_000 * 600,
        },
        bw_in: BandwidthConfig::flat(12_500_000_000, 12_500_000),
        pps: 1_000_000,
        pps_burst: 10_000,
        linklocal_pps: 1024,
        linklocal_burst: 1024,
        conntrack_max: 1024,
        conntrack_idle_timeout_ns: 432_000_000_000_000,
        over_limit,
    }
}

/// The TX ring benchmarks' batch: 64 packets of 1448 bytes in one descriptor each, the doorbell on the last.
pub fn ring_packets() -> [nic_model::TxPacket; 64] {
    let mut pkts = [nic_model::TxPacket {
        len: 1448,
        frags: 1,
        xmit_more: true,
        ..nic_model::TxPacket::default()
    }; 64];
    pkts[63].xmit_more = false;
    pkts
}

/// A 1024-deep TX queue with descriptors in host memory or LLQ (`placement`), on the heap.
pub fn ring_queue(placement: nic_model::llq::Placement) -> Box<nic_model::TxQueue<8192>> {
    let cfg = nic_model::TxQueueConfig {
        depth: 1024,
        placement,
        ..nic_model::TxQueueConfig::default()
    };
    Box::new(nic_model::TxQueue::new(cfg).expect("the benchmarks' ring configuration"))
}

/// One round of the TX ring benchmarks: 64 xmits, one doorbell, the device consumes 64, the driver cleans 64
/// completions. Returns the bytes the device sent.
pub fn ring_round(q: &mut nic_model::TxQueue<8192>, pkts: &[nic_model::TxPacket; 64]) -> u64 {
    let mut bytes = 0u64;
    for p in pkts {
        let _ = q.xmit(std::hint::black_box(p));
    }
    let _ = q.device_process(64, |p| bytes += p.bytes as u64);
    let _ = q.clean_tx_irq(64);
    bytes
}
