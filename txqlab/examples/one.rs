use txqlab::scenario::Scenario;
fn main() {
    let s = Scenario::incident().unwrap();
    let i: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let st = s.stage(i).unwrap();
    let t = std::time::Instant::now();
    let r = txqlab::sim::run_stage(&st.name, &st.params, |f| {
        eprintln!("{:.2} {:.1}s", f, t.elapsed().as_secs_f64())
    })
    .unwrap();
    println!("{} p99 {} pkts {}", r.name, r.p99_ms, r.packets_simulated);
}
