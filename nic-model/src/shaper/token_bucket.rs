//! An exact integer token bucket with explicit time.
//!
//! The level is kept in token-nanoseconds (tokens x 10^9), so refilling `elapsed_ns x rate_per_s` adds exactly
//! what accrued: no division, no rounding, no drift however long the run. A packet that finds too few tokens may
//! be released later: [`wait_ns`](TokenBucket::wait_ns) names the first whole nanosecond at which the tokens are
//! really there, and [`take`](TokenBucket::take) charges them at that instant, so the level is never negative and
//! the tokens that leave in any window `[a, b]` never exceed `rate x (b - a) + burst`, exactly. (Charging at arrival
//! and rounding each release up separately lets a fraction of a token too many through: the property test found
//! that.)

use crate::{Error, Result};

/// Nanoseconds per second: the scale of the bucket's level.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// A token bucket: `rate` tokens per second, at most `burst` tokens saved up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    rate: u64,
    capacity: i128,
    level: i128,
    last_ns: u64,
}

impl TokenBucket {
    /// A bucket that starts full. `rate` must be non-zero; `burst` must be at least one token.
    pub fn new(field: &'static str, rate: u64, burst: u64) -> Result<Self> {
        if rate == 0 {
            return Err(Error::InvalidConfig {
                field,
                reason: "rate must be non-zero",
            });
        }
        if burst == 0 {
            return Err(Error::InvalidConfig {
                field,
                reason: "burst must be at least one token",
            });
        }
        let capacity = burst as i128 * NS_PER_SEC as i128;
        Ok(Self {
            rate,
            capacity,
            level: capacity,
            last_ns: 0,
        })
    }

    /// Tokens per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Maximum saved-up tokens.
    pub fn burst(&self) -> u64 {
        (self.capacity / NS_PER_SEC as i128) as u64
    }

    /// Whole tokens available now (negative while in debt).
    pub fn tokens(&self) -> i64 {
        (self.level.div_euclid(NS_PER_SEC as i128)).clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// The level (token-nanoseconds) the bucket would have at `now_ns`. Time never runs backwards: an earlier
    /// `now` sees the level as of the last update.
    #[inline(always)]
    fn level_at(&self, now_ns: u64) -> i128 {
        if now_ns > self.last_ns {
            let add = (now_ns - self.last_ns) as u128 * self.rate as u128;
            let room = (self.capacity - self.level) as u128;
            if add >= room {
                self.capacity
            } else {
                self.level + add as i128
            }
        } else {
            self.level
        }
    }

    /// Adds what accrued since the last update.
    #[inline(always)]
    pub fn refill(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            self.level = self.level_at(now_ns);
            self.last_ns = now_ns;
        }
    }

    /// Nanoseconds from `now_ns` until `cost` tokens are there (at the earliest at the bucket's last departure:
    /// packets leave in order); 0 when they are there at once. Changes nothing. `None` when `cost` exceeds the
    /// burst: such a request can never conform, and letting it through would break the bound
    /// (Firecracker's rate limiter had exactly this bug class).
    #[inline(always)]
    pub fn wait_ns(&self, now_ns: u64, cost: u64) -> Option<u64> {
        let need = cost as i128 * NS_PER_SEC as i128;
        if need > self.capacity {
            return None;
        }
        let start = now_ns.max(self.last_ns);
        let level = self.level_at(start);
        let extra = if level >= need {
            0
        } else {
            ((need - level) as u128).div_ceil(self.rate as u128) as u64
        };
        Some(start - now_ns + extra)
    }

    /// Charges `cost` tokens at `at_ns`, the departure time [`wait_ns`](Self::wait_ns) gave (arrival plus wait).
    #[inline(always)]
    pub fn take(&mut self, at_ns: u64, cost: u64) {
        self.refill(at_ns);
        self.level -= cost as i128 * NS_PER_SEC as i128;
    }

    /// Refill, then take `cost` tokens if they are all there. No debt.
    #[inline(always)]
    pub fn try_take(&mut self, now_ns: u64, cost: u64) -> bool {
        self.refill(now_ns);
        let need = cost as i128 * NS_PER_SEC as i128;
        if self.level >= need {
            self.level -= need;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{QuickCheck, TestResult};

    #[test]
    fn refill_is_exact_at_odd_rates() {
        let mut b = TokenBucket::new("t", 3, 10).unwrap();
        assert!(b.try_take(0, 10));
        // 3 tokens per second: after 1/3 s exactly one token.
        assert_eq!(b.wait_ns(333_333_333, 1), Some(1));
        assert_eq!(b.wait_ns(333_333_334, 1), Some(0));
        assert_eq!(
            b.wait_ns(333_333_334, 11),
            None,
            "larger than the bucket: never conformant"
        );
    }

    #[test]
    fn no_drift_over_ten_million_seconds() {
        // 7 tokens per second, taken one at a time whenever there are any, for 10^7 simulated seconds in
        // 10^5 steps of 100 s (700 tokens accrue per step, below the burst of 1000): the total taken must be
        // exactly rate x time + the initial burst.
        let mut b = TokenBucket::new("t", 7, 1000).unwrap();
        let mut taken = 0u64;
        let end = 10_000_000 * NS_PER_SEC;
        let step = end / 100_000;
        let mut now = 0;
        while now <= end {
            while b.try_take(now, 1) {
                taken += 1;
            }
            now += step;
        }
        assert_eq!(taken, 7 * 10_000_000 + 1000);
    }

    /// Conservation: for arrivals with arbitrary gaps and sizes, the tokens that leave (at their release
    /// times) in any window never exceed rate x window + burst.
    #[test]
    fn conservation_bound_holds_for_every_window() {
        fn prop(rate: u16, burst: u16, arrivals: Vec<(u32, u16)>, max_wait: u32) -> TestResult {
            let (rate, burst) = (rate as u64 + 1, burst as u64 + 1);
            let mut b = TokenBucket::new("t", rate, burst).unwrap();
            let mut now = 0u64;
            let mut out: Vec<(u64, u64)> = Vec::new();
            for (gap, size) in arrivals.into_iter().take(60) {
                now += gap as u64 * 1000;
                let cost = size as u64 % (burst + 3) + 1;
                let Some(w) = b.wait_ns(now, cost) else {
                    if cost <= burst {
                        return TestResult::failed();
                    }
                    continue;
                };
                if w <= max_wait as u64 * 1000 {
                    b.take(now + w, cost);
                    assert!(b.tokens() >= 0, "level went negative");
                    out.push((now + w, cost));
                }
            }
            out.sort();
            for i in 0..out.len() {
                let mut sum = 0u128;
                for j in i..out.len() {
                    sum += out[j].1 as u128;
                    let window = (out[j].0 - out[i].0) as u128;
                    if sum * NS_PER_SEC as u128
                        > window * rate as u128 + burst as u128 * NS_PER_SEC as u128
                    {
                        return TestResult::failed();
                    }
                }
            }
            TestResult::passed()
        }
        QuickCheck::new()
            .tests(500)
            .quickcheck(prop as fn(u16, u16, Vec<(u32, u16)>, u32) -> TestResult);
    }
}
