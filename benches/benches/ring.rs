//! Transmit + device consume + completion, one descriptor per packet, 64 packets per doorbell.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nic_model::llq::{LlqConfig, Placement};
use nic_model::{TxPacket, TxQueue, TxQueueConfig};
use std::hint::black_box;

const BATCH: u64 = 64;

fn round(q: &mut TxQueue<8192>, pkts: &[TxPacket; 64]) -> u64 {
    let mut bytes = 0u64;
    for p in pkts {
        let _ = q.xmit(black_box(p));
    }
    let _ = q.device_process(64, |p| bytes += p.bytes as u64);
    let _ = q.clean_tx_irq(64);
    bytes
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tx_ring");
    g.throughput(Throughput::Elements(BATCH));
    let mut pkts = [TxPacket {
        len: 1448,
        frags: 1,
        xmit_more: true,
        ..TxPacket::default()
    }; 64];
    pkts[63].xmit_more = false;
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
        // Under LLQ the driver pushes min(len, 96) bytes whatever the headers are.
        let p = pkts;
        g.bench_with_input(
            BenchmarkId::new("xmit_device_complete_64_per_doorbell", name),
            &p,
            |b, p| b.iter(|| round(&mut q, p)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
