//! Quantile timing of the shaper, as the criterion bench `shaper` drives it (1024 packets per sample, 3000
//! samples): the 5th percentile and the median per packet. `cargo run --release -p txqlab-benches --example shaper_min`

use nic_model::shaper::{Direction, OverLimit, Shaper, Verdict};
use std::hint::black_box;

use txqlab_benches::shaper_cfg as cfg;

fn main() {
    const N: u64 = 1024;
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
        let v = txqlab_benches::sorted_samples(0, 3000, || {
            let mut passed = 0u32;
            for _ in 0..N {
                now += gap;
                if let Verdict::Pass { .. } =
                    s.shape(now, Direction::Egress, black_box(1500), false)
                {
                    passed += 1;
                }
            }
            black_box(passed);
        });
        println!(
            "{name}: {:.2} ns/pkt (5th pct), {:.2} median",
            v[v.len() / 20] as f64 / N as f64,
            v[v.len() / 2] as f64 / N as f64
        );
    }
}
