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

/// Nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// Exact division by a constant with one multiplication (Granlund and Montgomery, "Division by invariant
/// integers using multiplication", PLDI 1994, theorem 4.2, with N = 62): for a divisor `d >= 1`, let
/// `l = ceil(log2 d)` and `m = ceil(2^(62 + l) / d)`. Then `m * d - 2^(62 + l)` lies in `[0, d - 1]`, which is at
/// most `2^l`, and so `floor(x / d) == floor(m * x / 2^(62 + l))` for every `x < 2^62`. `m <= 2^63` fits `u64`,
/// `m * x < 2^125` fits `u128` and the shift is at most 126: no overflow anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ExactDiv {
    m: u64,
    shift: u32,
}

impl ExactDiv {
    /// Numerators must be below `2^LIMIT_BITS`.
    const LIMIT_BITS: u32 = 62;

    const fn new(d: u64) -> Self {
        let d = if d == 0 { 1 } else { d };
        // ceil(log2 d): 0 for 1, 64 - leading_zeros(d - 1) otherwise.
        let l = 64 - (d - 1).leading_zeros();
        let shift = Self::LIMIT_BITS + l;
        let m = (1u128 << shift).div_ceil(d as u128);
        Self { m: m as u64, shift }
    }

    /// `floor(x / d)` for `x < 2^62`.
    #[inline(always)]
    const fn div(self, x: u64) -> u64 {
        ((self.m as u128 * x as u128) >> self.shift) as u64
    }

    /// `ceil(x / d)` for `1 <= x <= 2^62`: `floor((x - 1) / d) + 1`.
    #[inline(always)]
    const fn div_ceil(self, x: u64) -> u64 {
        self.div(x - 1) + 1
    }
}

const fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// A token bucket: `rate` tokens per second, at most `burst` tokens saved up.
///
/// The level is counted in units of `1 / unit` token, where `unit = 10^9 / gcd(rate, 10^9)`: one nanosecond then
/// adds exactly `rate / gcd(rate, 10^9)` units. For the rates of real allowances (whole Mbit/s, Gbit/s, packets
/// per second) this keeps every quantity in `u64`; a rate and burst whose exact level would not fit are refused
/// by [`new`](Self::new) rather than approximated.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    rate: u64,
    /// Units per token.
    unit: u64,
    /// Units added per nanosecond.
    per_ns: u64,
    capacity: u64,
    level: u64,
    last_ns: u64,
    /// Nanoseconds that fill an empty bucket; longer gaps just fill it.
    fill_ns: u64,
    /// Division by `per_ns`, exact, without a divide instruction (every level is below `2^62`).
    by_per_ns: ExactDiv,
    /// The earliest departure of a request of `ready_need` units, [`ready`](Self::ready): a function of the level
    /// and the last departure only, so it holds until the next change of either, which clears it. Packets over an
    /// allowance find it there and wait for it without recomputing it. `ready_need == u64::MAX`: empty (no
    /// request is that large).
    ready_need: u64,
    ready_ns: u64,
}

/// Two buckets are equal when their configuration and state are; the departure cache is not state.
impl PartialEq for TokenBucket {
    fn eq(&self, other: &Self) -> bool {
        (self.rate, self.capacity, self.level, self.last_ns)
            == (other.rate, other.capacity, other.level, other.last_ns)
    }
}

impl Eq for TokenBucket {}

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
        let g = gcd(rate, NS_PER_SEC);
        let unit = NS_PER_SEC / g;
        let per_ns = rate / g;
        let capacity = match burst.checked_mul(unit) {
            Some(c) if c <= u64::MAX / 4 => c,
            _ => {
                return Err(Error::InvalidConfig {
                    field,
                    reason: "burst too large for exact integer accounting at this rate (use a rate in whole kbit/s)",
                });
            }
        };
        Ok(Self {
            rate,
            unit,
            per_ns,
            capacity,
            level: capacity,
            last_ns: 0,
            fill_ns: capacity / per_ns + 1,
            by_per_ns: ExactDiv::new(per_ns),
            ready_need: u64::MAX,
            ready_ns: 0,
        })
    }

    /// Tokens per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Maximum saved-up tokens.
    pub fn burst(&self) -> u64 {
        self.capacity / self.unit
    }

    /// Whole tokens available as of the last update.
    pub fn tokens(&self) -> u64 {
        self.level / self.unit
    }

    /// The level the bucket would have at `now_ns`. Time never runs backwards: an earlier `now` sees the level
    /// as of the last update.
    #[inline(always)]
    fn level_at(&self, now_ns: u64) -> u64 {
        let elapsed = now_ns.saturating_sub(self.last_ns);
        if elapsed >= self.fill_ns {
            self.capacity
        } else {
            // elapsed < fill_ns, so elapsed x per_ns <= capacity + per_ns: no overflow.
            (self.level + elapsed * self.per_ns).min(self.capacity)
        }
    }

    /// Adds what accrued since the last update.
    #[inline(always)]
    pub fn refill(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            self.level = self.level_at(now_ns);
            self.last_ns = now_ns;
            self.ready_need = u64::MAX;
        }
    }

    /// Nanoseconds from `now_ns` until `cost` tokens are there (at the earliest at the bucket's last departure:
    /// packets leave in order); 0 when they are there at once. Changes nothing. `None` when `cost` exceeds the
    /// burst: such a request can never conform, and letting it through would break the bound
    /// (Firecracker's rate limiter had exactly this bug class).
    #[inline(always)]
    pub fn wait_ns(&self, now_ns: u64, cost: u64) -> Option<u64> {
        self.units(cost).map(|need| self.wait_units(now_ns, need))
    }

    /// `cost` tokens in the bucket's units, or `None` when they exceed the burst (never conformant): the
    /// argument of [`departure`](Self::departure) and [`take_units`](Self::take_units), computed once per packet.
    #[inline(always)]
    pub(super) fn units(&self, cost: u64) -> Option<u64> {
        cost.checked_mul(self.unit).filter(|n| *n <= self.capacity)
    }

    /// [`wait_ns`](Self::wait_ns) for a cost already in units (from [`units`](Self::units)).
    #[inline(always)]
    pub(super) fn wait_units(&self, now_ns: u64, need: u64) -> u64 {
        let start = now_ns.max(self.last_ns);
        let level = self.level_at(start);
        // need <= capacity < 2^62, so need - level is in [1, 2^62) where it is divided.
        let extra = if level >= need {
            0
        } else {
            self.by_per_ns.div_ceil(need - level)
        };
        start - now_ns + extra
    }

    /// The earliest instant at or after `t_ns` at which `need` units (at most the capacity) are there: `t_ns +`
    /// [`wait_units`](Self::wait_units)`(t_ns, need)`, exactly. The level rises by `per_ns` a nanosecond from
    /// `level` at the last departure until it reaches the capacity (which holds `need`), so `need` units are there
    /// from `last + ceil((need - level) / per_ns)` on ([`ready`](Self::ready)) and the answer is the later of that
    /// and `t_ns`. Cached per bucket state: a packet that finds the queue in front of it costs a comparison here.
    #[inline(always)]
    pub(super) fn departure(&mut self, t_ns: u64, need: u64) -> u64 {
        if need != self.ready_need {
            self.ready_ns = self.ready(need);
            self.ready_need = need;
        }
        t_ns.max(self.ready_ns)
    }

    /// `last + ceil((need - level) / per_ns)`, or the last departure when the level covers `need`.
    #[inline(always)]
    fn ready(&self, need: u64) -> u64 {
        if self.level >= need {
            self.last_ns
        } else {
            // need <= capacity < 2^62, so need - level is in [1, 2^62) where it is divided.
            self.last_ns
                .saturating_add(self.by_per_ns.div_ceil(need - self.level))
        }
    }

    /// [`take`](Self::take) for a cost already in units.
    #[inline(always)]
    pub(super) fn take_units(&mut self, at_ns: u64, need: u64) {
        self.refill(at_ns);
        self.level = self.level.saturating_sub(need);
        self.ready_need = u64::MAX;
    }

    /// Charges `cost` tokens at `at_ns`, the departure time [`wait_ns`](Self::wait_ns) gave (arrival plus wait).
    #[inline(always)]
    pub fn take(&mut self, at_ns: u64, cost: u64) {
        self.refill(at_ns);
        self.level = self.level.saturating_sub(cost.saturating_mul(self.unit));
        self.ready_need = u64::MAX;
    }

    /// Units one token costs (`cost x unit` is what [`take`](Self::take) subtracts).
    #[inline(always)]
    pub(super) fn unit(&self) -> u64 {
        self.unit
    }

    /// Fast path: the level at `now_ns` in units, or `None` when `now_ns` is before the last departure (the
    /// packet would have to wait for it).
    #[inline(always)]
    pub(super) fn level_now(&self, now_ns: u64) -> Option<u64> {
        if now_ns >= self.last_ns {
            Some(self.level_at(now_ns))
        } else {
            None
        }
    }

    /// Fast path: records that `need` units left at `now_ns`, given `level` from [`level_now`](Self::level_now)
    /// at the same time and `level >= need`.
    #[inline(always)]
    pub(super) fn commit(&mut self, now_ns: u64, level: u64, need: u64) {
        self.level = level - need;
        self.last_ns = now_ns;
        self.ready_need = u64::MAX;
    }

    /// Refill, then take `cost` tokens if they are all there. Never waits.
    #[inline(always)]
    pub fn try_take(&mut self, now_ns: u64, cost: u64) -> bool {
        self.refill(now_ns);
        match cost.checked_mul(self.unit) {
            Some(need) if self.level >= need => {
                self.level -= need;
                self.ready_need = u64::MAX;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{QuickCheck, TestResult};

    /// The reciprocal is the division: edge divisors and numerators exhaustively, then at random.
    #[test]
    fn exact_reciprocal_equals_division() {
        let limit = 1u64 << ExactDiv::LIMIT_BITS;
        let mut ds: Vec<u64> = vec![
            1,
            2,
            3,
            5,
            7,
            10,
            25,
            125,
            1_000_000_007,
            u64::MAX,
            u64::MAX - 1,
        ];
        for k in 1..64 {
            ds.extend([(1u64 << k) - 1, 1u64 << k, (1u64 << k) + 1]);
        }
        for &d in &ds {
            let e = ExactDiv::new(d);
            let mut xs: Vec<u64> = vec![0, 1, 2, limit - 1, limit - 2, limit / 2, limit / 3];
            for q in [1u64, 2, 3, 1000] {
                if let Some(b) = d.checked_mul(q).filter(|b| *b < limit) {
                    xs.extend([b - 1, b, b + 1]);
                }
            }
            for x in xs.into_iter().filter(|x| *x < limit) {
                assert_eq!(e.div(x), x / d, "{x} / {d}");
                if x >= 1 {
                    assert_eq!(e.div_ceil(x), x.div_ceil(d), "ceil {x} / {d}");
                }
            }
        }
        fn prop(x: u64, d: u64, shift: u8) -> bool {
            let x = x >> (2 + shift % 62);
            let d = (d >> (shift / 4 % 64)).max(1);
            let e = ExactDiv::new(d);
            e.div(x) == x / d && (x == 0 || e.div_ceil(x) == x.div_ceil(d))
        }
        QuickCheck::new()
            .tests(20_000)
            .quickcheck(prop as fn(u64, u64, u8) -> bool);
    }

    /// The cached departure is `t + wait_units(t, need)` for every state, time and request, before and after
    /// takes, with the cache warm or cold.
    #[test]
    fn departure_is_arrival_plus_wait() {
        fn prop(rate: u32, burst: u16, steps: Vec<(u32, u16, bool)>) -> TestResult {
            let rate = rate as u64 % 5_000_000_000 + 1;
            let Ok(mut b) = TokenBucket::new("t", rate, burst as u64 + 1) else {
                return TestResult::discard();
            };
            let mut t = 0u64;
            for (gap, cost, take) in steps {
                t += gap as u64;
                let Some(need) = b.units(cost as u64 % (burst as u64 + 2) + 1) else {
                    continue;
                };
                let expect = t + b.wait_units(t, need);
                // Twice: the second answer comes from the cache.
                if b.departure(t, need) != expect || b.departure(t, need) != expect {
                    return TestResult::failed();
                }
                if take {
                    b.take_units(expect, need);
                }
            }
            TestResult::passed()
        }
        QuickCheck::new()
            .tests(3000)
            .quickcheck(prop as fn(u32, u16, Vec<(u32, u16, bool)>) -> TestResult);
    }

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
    fn exactness_that_cannot_fit_is_refused() {
        assert!(TokenBucket::new("t", 1_234_567_891, 4_500_000_000_000).is_err());
        assert!(TokenBucket::new("t", 5_000_000_000, 4_500_000_000_000).is_ok());
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
                    assert!(b.level <= b.capacity);
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
