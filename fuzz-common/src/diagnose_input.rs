//! `diagnose_input`: `ethtool -S` input through `txqlab diagnose`.

/// `ethtool -S` text through `diagnose`: parsing and every finding never panic or overflow (counter sums are
/// widened), shares stay in 0..=1 and add up to 1, and a parse error names its input.
pub fn diagnose_input(data: &[u8]) {
    use txqlab::diagnose::{Context, delta, diagnose, read, render};
    match read(data, "fuzz", None) {
        Ok(snaps) => {
            for s in &snaps {
                let r = match diagnose(s, &Context::default()) {
                    Ok(r) => r,
                    Err(e) => {
                        // The typed reading refused a counter: the error names the input.
                        assert!(e.to_string().contains("fuzz: "), "{e}");
                        continue;
                    }
                };
                let shares: Vec<f64> = r.tx_queue_share.iter().filter_map(|s| *s).collect();
                assert!(shares.iter().all(|x| (0.0..=1.0).contains(x)));
                let total: u128 = r.tx_queue_packets.iter().filter_map(|p| *p).sum();
                assert!(
                    total == 0
                        || shares.is_empty()
                        || (shares.iter().sum::<f64>() - 1.0).abs() < 1e-9
                );
                let _ = render(&r);
                let _ = delta(s, s);
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz: "), "{e}"),
    }
}
