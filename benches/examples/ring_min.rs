//! Quantile timing of the TX ring, as the criterion bench `ring` drives it (xmit 64 packets of 1448 bytes, one
//! doorbell, device, clean): 4000 samples of 16 rounds per placement, the 5th percentile and the median per
//! packet, host placement and LLQ back to back in one process so that their ratio compares like with like.
//! `cargo run --release -p txqlab-benches --example ring_min`
#![allow(clippy::unwrap_used)]

use nic_model::llq::{LlqConfig, Placement};
use nic_model::{TxPacket, TxQueue, TxQueueConfig};
use std::hint::black_box;

fn now_ns() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

fn round(q: &mut TxQueue<8192>, pkts: &[TxPacket; 64]) -> u64 {
    let mut bytes = 0u64;
    for p in pkts {
        let _ = q.xmit(black_box(p));
    }
    let _ = q.device_process(64, |p| bytes += p.bytes as u64);
    let _ = q.clean_tx_irq(64);
    bytes
}

fn main() {
    let mut pkts = [TxPacket {
        len: 1448,
        frags: 1,
        xmit_more: true,
        ..TxPacket::default()
    }; 64];
    pkts[63].xmit_more = false;
    let mut results = Vec::new();
    for (name, placement) in [
        ("host", Placement::Host),
        ("llq128", Placement::Llq(LlqConfig::default())),
    ] {
        let cfg = TxQueueConfig {
            depth: 1024,
            placement,
            ..TxQueueConfig::default()
        };
        let mut q = Box::new(TxQueue::<8192>::new(cfg).unwrap());
        let mut v = Vec::new();
        for _ in 0..200 {
            black_box(round(&mut q, &pkts));
        }
        for _ in 0..4000 {
            let t = now_ns();
            for _ in 0..16 {
                black_box(round(&mut q, &pkts));
            }
            v.push(now_ns() - t);
        }
        v.sort();
        let per = |x: u64| x as f64 / (16.0 * 64.0);
        let (p5, med) = (per(v[v.len() / 20]), per(v[v.len() / 2]));
        println!("{name}: {p5:.2} ns/pkt (5th pct), {med:.2} median");
        results.push(p5);
    }
    println!("llq128 / host: {:.2}", results[1] / results[0]);
}
