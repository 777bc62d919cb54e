//! The TX ring loop of the `ring` bench (xmit 64, device, clean) for a profiler: `ROUNDS` rounds on one placement.
//! `valgrind --tool=callgrind target/profiling/examples/ring_profile llq128 2000` (build with
//! `cargo build --profile profiling -p txqlab-benches --example ring_profile`); per-function instruction counts
//! with `callgrind_annotate`.
use std::hint::black_box;
use std::process::ExitCode;

use nic_model::llq::{LlqConfig, Placement};
use nic_model::{TxPacket, TxQueue, TxQueueConfig};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let placement = match args.next().as_deref() {
        Some("host") => Placement::Host,
        _ => Placement::Llq(LlqConfig::default()),
    };
    let rounds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let cfg = TxQueueConfig {
        depth: 1024,
        placement,
        ..TxQueueConfig::default()
    };
    let Ok(q) = TxQueue::<8192>::new(cfg) else {
        eprintln!("ring_profile: configuration refused");
        return ExitCode::from(2);
    };
    let mut q = Box::new(q);
    let mut pkts = [TxPacket {
        len: 1448,
        frags: 1,
        xmit_more: true,
        ..TxPacket::default()
    }; 64];
    pkts[63].xmit_more = false;
    let mut bytes = 0u64;
    for _ in 0..rounds {
        for p in &pkts {
            let _ = q.xmit(black_box(p));
        }
        let _ = q.device_process(64, |p| bytes += p.bytes as u64);
        let _ = q.clean_tx_irq(64);
    }
    println!("{bytes}");
    ExitCode::SUCCESS
}
