//! `shaper_bound`: the allowance shaper's token bucket: what leaves in any window stays within its rate and burst.

use arbitrary::Unstructured;
use nic_model::shaper::TokenBucket;

/// Token-bucket conservation: whatever leaves in any window stays within `rate x window + burst`, exactly.
pub fn shaper_bound(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let (Ok(rate), Ok(burst)) = (
        u.int_in_range(1..=2_000_000_000u64),
        u.int_in_range(1..=1_000_000u64),
    ) else {
        return;
    };
    let Ok(mut b) = TokenBucket::new("fuzz", rate, burst) else {
        return;
    };
    let max_wait = u.arbitrary::<u32>().unwrap_or(0) as u64;
    let mut now = 0u64;
    let mut out: heapless::Vec<(u64, u64), 128> = heapless::Vec::new();
    // `Unstructured` yields zeros once the data runs out: stop there, and never take more than 256 steps.
    for _ in 0..256 {
        if u.is_empty() {
            break;
        }
        let (Ok(gap), Ok(cost)) = (u.arbitrary::<u32>(), u.int_in_range(1..=burst + 2)) else {
            break;
        };
        now += gap as u64;
        match b.wait_ns(now, cost) {
            None => assert!(
                cost > burst,
                "a request within the burst was called impossible"
            ),
            Some(w) if w <= max_wait => {
                b.take(now + w, cost);
                if out.push((now + w, cost)).is_err() {
                    break;
                }
            }
            Some(_) => {}
        }
    }
    for i in 0..out.len() {
        let mut sum = 0u128;
        for j in i..out.len() {
            assert!(out[j].0 >= out[i].0, "departures out of order");
            sum += out[j].1 as u128;
            let window = (out[j].0 - out[i].0) as u128;
            assert!(
                sum * 1_000_000_000 <= window * rate as u128 + burst as u128 * 1_000_000_000,
                "{sum} tokens left in {window} ns at rate {rate} with burst {burst}"
            );
        }
    }
}
