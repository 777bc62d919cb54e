//! The TX ring loop of the `ring` bench (xmit 64, device, clean) for a profiler: `ROUNDS` rounds on one placement.
//! `valgrind --tool=callgrind target/profiling/examples/ring_profile llq128 2000` (build with
//! `cargo build --profile profiling -p txqlab-benches --example ring_profile`); per-function instruction counts
//! with `callgrind_annotate`.
use std::process::ExitCode;

use nic_model::llq::{LlqConfig, Placement};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let placement = match args.next().as_deref() {
        Some("host") => Placement::Host,
        _ => Placement::Llq(LlqConfig::default()),
    };
    let rounds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let mut q = txqlab_benches::ring_queue(placement);
    let pkts = txqlab_benches::ring_packets();
    let mut bytes = 0u64;
    for _ in 0..rounds {
        bytes += txqlab_benches::ring_round(&mut q, &pkts);
    }
    println!("{bytes}");
    ExitCode::SUCCESS
}
