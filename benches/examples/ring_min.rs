//! Quantile timing of the TX ring, as the criterion bench `ring` drives it (xmit 64 packets of 1448 bytes, one
//! doorbell, device, clean): 4000 samples of 16 rounds per placement, the 5th percentile and the median per
//! packet, host placement and LLQ back to back in one process so that their ratio compares like with like.
//! `cargo run --release -p txqlab-benches --example ring_min`
#![allow(clippy::unwrap_used)]

use nic_model::llq::{LlqConfig, Placement};
use std::hint::black_box;

fn main() {
    let pkts = txqlab_benches::ring_packets();
    let mut results = Vec::new();
    for (name, placement) in [
        ("host", Placement::Host),
        ("llq128", Placement::Llq(LlqConfig::default())),
    ] {
        let mut q = txqlab_benches::ring_queue(placement);
        // 13 samples (208 rounds) of warm-up.
        let v = txqlab_benches::sorted_samples(13, 4000, || {
            for _ in 0..16 {
                black_box(txqlab_benches::ring_round(&mut q, &pkts));
            }
        });
        let per = |x: u64| x as f64 / (16.0 * 64.0);
        let (p5, med) = (per(v[v.len() / 20]), per(v[v.len() / 2]));
        println!("{name}: {p5:.2} ns/pkt (5th pct), {med:.2} median");
        results.push(p5);
    }
    println!("llq128 / host: {:.2}", results[1] / results[0]);
}
