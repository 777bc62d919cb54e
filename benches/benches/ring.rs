//! Transmit + device consume + completion, one descriptor per packet, 64 packets per doorbell.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nic_model::llq::{LlqConfig, Placement};

const BATCH: u64 = 64;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tx_ring");
    g.throughput(Throughput::Elements(BATCH));
    let pkts = txqlab_benches::ring_packets();
    for (name, placement) in [
        ("host", Placement::Host),
        ("llq128", Placement::Llq(LlqConfig::default())),
    ] {
        let mut q = txqlab_benches::ring_queue(placement);
        // Under LLQ the driver pushes min(len, 96) bytes whatever the headers are.
        let p = pkts;
        g.bench_with_input(
            BenchmarkId::new("xmit_device_complete_64_per_doorbell", name),
            &p,
            |b, p| b.iter(|| txqlab_benches::ring_round(&mut q, p)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
