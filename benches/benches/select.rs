//! TX-queue selection: reference vs fast selector, single packets and batches of 64, on the configurations that
//! matter: (a) 8 queues, hash path; (b) XPS cpus map; (c) rx-recorded (the veth bug); (d) two traffic classes with
//! offsets; (e) socket-cached queue.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qdisc::{FastSelector, PickRules, RefSelector, XmitCtx};
use std::hint::black_box;

use txqlab_benches::{BATCH, device, packets};

fn bench(c: &mut Criterion) {
    let ctx = XmitCtx { cpu: 0, now_ns: 0 };
    for kind in [
        "a_hash",
        "b_xps_cpus",
        "c_rx_recorded",
        "d_traffic_classes",
        "e_socket_cached",
    ] {
        let r = RefSelector::new(device(kind), PickRules::default(), 7).unwrap();
        let f = FastSelector::from_ref(&r).unwrap();
        let template = packets(kind);
        let mut g = c.benchmark_group(format!("select/{kind}"));
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function(BenchmarkId::new("reference", "batch64"), |b| {
            let mut pkts = template.clone();
            b.iter(|| {
                pkts.copy_from_slice(&template);
                let mut acc = 0u32;
                for p in pkts.iter_mut() {
                    acc += r.select(p, ctx).queue as u32;
                }
                black_box(acc)
            })
        });
        g.bench_function(BenchmarkId::new("fast", "batch64"), |b| {
            let mut pkts = template.clone();
            let mut out = [0u16; BATCH];
            b.iter(|| {
                pkts.copy_from_slice(&template);
                f.select_batch(&mut pkts, ctx, &mut out);
                black_box(out[BATCH - 1])
            })
        });
        g.bench_function(BenchmarkId::new("fast", "single64"), |b| {
            let mut pkts = template.clone();
            b.iter(|| {
                pkts.copy_from_slice(&template);
                let mut acc = 0u32;
                for p in pkts.iter_mut() {
                    acc += f.select(black_box(p), ctx) as u32;
                }
                black_box(acc)
            })
        });
        // The copy that restores the packets each iteration, measured alone, to subtract.
        g.bench_function(BenchmarkId::new("copy_only", "batch64"), |b| {
            let mut pkts = template.clone();
            b.iter(|| {
                pkts.copy_from_slice(black_box(&template));
                black_box(pkts[BATCH - 1].len)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
