//! Quantile timing of TX-queue selection, for a machine shared with other work: each configuration of the
//! criterion bench `select` (same packets, same devices), 4000 samples of 16 batches of 64, and the 5th percentile
//! per packet (less disturbed by other processes than criterion's mean). Reference, fast batch and fast single
//! calls run in the same process, so their ratios compare like with like.
//! `cargo run --release -p txqlab-benches --example select_min`

use qdisc::{FastSelector, PickRules, RefSelector, XmitCtx};
use std::hint::black_box;

use txqlab_benches::{BATCH, device, packets};

/// The 5th percentile of 4000 samples of 16 calls of `f`, per call (after 13 samples of warm-up), in ns.
fn min_of(mut f: impl FnMut()) -> f64 {
    let v = txqlab_benches::sorted_samples(13, 4000, || {
        for _ in 0..16 {
            f();
        }
    });
    (v[v.len() / 20] / 16) as f64
}

fn main() {
    let ctx = XmitCtx { cpu: 0, now_ns: 0 };
    let ghz = 1.0;
    println!(
        "{:<20} {:>7} {:>7} {:>7} {:>7}  (ns/pkt, 5th pct, copy subtracted) fB/ref fB/fS",
        "cfg", "ref", "fastB", "fastS", "copy"
    );
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
        let mut pkts = template.clone();
        let mut out = [0u16; BATCH];
        let c = min_of(|| {
            pkts.copy_from_slice(black_box(&template));
            black_box(pkts[BATCH - 1].len);
        });
        let rr = min_of(|| {
            pkts.copy_from_slice(&template);
            let mut acc = 0u32;
            for p in pkts.iter_mut() {
                acc += r.select(p, ctx).queue as u32;
            }
            black_box(acc);
        });
        let fb = min_of(|| {
            pkts.copy_from_slice(&template);
            f.select_batch(&mut pkts, ctx, &mut out);
            black_box(out[BATCH - 1]);
        });
        let fs = min_of(|| {
            pkts.copy_from_slice(&template);
            let mut acc = 0u32;
            for p in pkts.iter_mut() {
                acc += f.select(black_box(p), ctx) as u32;
            }
            black_box(acc);
        });
        let n = |x: f64| (x - c) / ghz / BATCH as f64;
        println!(
            "{:<20} {:>7.2} {:>7.2} {:>7.2} {:>7.2}  {:.2} {:.2}",
            kind,
            n(rr),
            n(fb),
            n(fs),
            c / ghz / 64.0,
            n(fb) / n(rr),
            n(fb) / n(fs)
        );
    }
}
