//! Simulator throughput: simulated packets (TX device sends plus inbound segments) per second of wall time, on one
//! core, for a stage of the embedded incident (the first 20 simulated seconds of the kernel-fix stage: steady
//! traffic, then the rollout's first cache warm-ups).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use txqlab::scenario::Scenario;
use txqlab::sim::run_stage;

fn bench(c: &mut Criterion) {
    let s = Scenario::incident().unwrap();
    let st = s.stage(s.stage_index("kernel-fix").unwrap()).unwrap();
    let mut p = st.params;
    p.duration_s = 20.0;
    let packets = run_stage("probe", &p, |_| {}).unwrap().packets_simulated;
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10);
    g.throughput(Throughput::Elements(packets));
    g.bench_function("kernel_fix_stage_20s", |b| {
        b.iter(|| run_stage("bench", &p, |_| {}).unwrap().packets_simulated)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
