//! Simulated time: integer nanoseconds in a newtype, so that milliseconds, microseconds and nanoseconds are not
//! mixed by hand.

use std::ops::{Add, Sub};

/// A point in simulated time, or a duration, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ns(pub u64);

impl Ns {
    /// Zero.
    pub const ZERO: Ns = Ns(0);
    /// One second.
    pub const SECOND: Ns = Ns(1_000_000_000);
    /// `ms` milliseconds.
    pub const fn from_ms(ms: u64) -> Self {
        Ns(ms.saturating_mul(1_000_000))
    }
    /// `us` microseconds.
    pub const fn from_us(us: u64) -> Self {
        Ns(us.saturating_mul(1_000))
    }
    /// Milliseconds as a float, saturating (negative and NaN give 0).
    pub fn from_ms_f64(ms: f64) -> Self {
        Ns((ms * 1e6) as u64)
    }
    /// Whole seconds (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
    /// Seconds as a float, saturating (negative and NaN give 0).
    pub fn from_secs_f64(s: f64) -> Self {
        Ns((s * 1e9) as u64)
    }
    /// Whole microseconds (rounded down).
    pub const fn as_us(self) -> u64 {
        self.0 / 1_000
    }
    /// In seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// `self - o`, or zero.
    pub fn saturating_sub(self, o: Ns) -> Ns {
        Ns(self.0.saturating_sub(o.0))
    }
}

impl Add for Ns {
    type Output = Ns;
    fn add(self, o: Ns) -> Ns {
        Ns(self.0.saturating_add(o.0))
    }
}

impl Sub for Ns {
    type Output = Ns;
    fn sub(self, o: Ns) -> Ns {
        Ns(self.0.saturating_sub(o.0))
    }
}
