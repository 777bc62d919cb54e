//! Shaper admission: one packet through the PPS bucket and the outbound bandwidth buckets.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nic_model::shaper::{Direction, OverLimit, Shaper, Verdict};
use std::hint::black_box;

use txqlab_benches::shaper_cfg as cfg;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("shaper");
    const N: u64 = 1024;
    g.throughput(Throughput::Elements(N));
    for (name, over, gap) in [
        ("admit_under_allowance", OverLimit::Drop, 2_000u64),
        (
            "admit_over_allowance_queued",
            OverLimit::Queue {
                max_delay_ns: 10_000_000,
            },
            200,
        ),
    ] {
        let mut s = Box::new(Shaper::<1024>::new(cfg(over)).unwrap());
        let mut now = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut passed = 0u32;
                for _ in 0..N {
                    now += gap;
                    if let Verdict::Pass { .. } =
                        s.shape(now, Direction::Egress, black_box(1500), false)
                    {
                        passed += 1;
                    }
                }
                passed
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
