//! The EC2 hypervisor's per-instance network allowances, as an ENI sees them.
//!
//! AWS documents five allowances, each with an ENA counter of "packets queued or dropped because" it was exceeded
//! ("Monitor network performance for ENA settings on your EC2 instance", Amazon EC2 User Guide):
//! aggregate inbound and outbound bandwidth, bidirectional packets per second, tracked connections, and
//! link-local traffic (1024 packets per second per ENI). Instances of up to 16 vCPUs have a baseline bandwidth and
//! can burst to an "up to" figure on credits that last from about 5 to 60 minutes. AWS publishes no PPS figures;
//! they are parameters here.
//!
//! Each allowance is a [`TokenBucket`]; bandwidth with burst credits is two in tandem (the peak rate, and the
//! credit pool that refills at the baseline). A packet passes the buckets one after the other, as greedy shapers
//! in series do, so whatever leaves respects every allowance at once. Over an allowance a packet is queued (up
//! to a bounded delay) or dropped, as configured; either way that allowance's counter rises.

mod conntrack;
mod token_bucket;

pub use conntrack::Conntrack;
pub use token_bucket::{NS_PER_SEC, TokenBucket};

use crate::stats::EniStats;
use crate::{Error, Result};

/// One direction's bandwidth allowance, in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct BandwidthConfig {
    /// Sustained rate once burst credits are spent (the instance's baseline bandwidth).
    pub baseline_bps: u64,
    /// The "up to" rate while credits last; equal to the baseline for instances without burst.
    pub peak_bps: u64,
    /// Bits that may leave back to back at the peak rate (micro-burst tolerance of the shaper).
    pub peak_burst_bits: u64,
    /// Burst credit pool in bits above the baseline (for example `(peak - baseline) x 3600 s` for an hour).
    pub credit_bits: u64,
}

impl BandwidthConfig {
    /// A flat allowance: no credits, `rate` bits per second, `burst` bits of micro-burst.
    pub fn flat(rate_bps: u64, burst_bits: u64) -> Self {
        Self {
            baseline_bps: rate_bps,
            peak_bps: rate_bps,
            peak_burst_bits: burst_bits,
            credit_bits: burst_bits,
        }
    }
}

/// What happens to a packet over an allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OverLimit {
    /// Dropped at once.
    Drop,
    /// Queued while its total shaping delay stays within `max_delay_ns`, dropped beyond.
    Queue {
        /// Longest delay the hypervisor's queue absorbs.
        max_delay_ns: u64,
    },
}

/// The instance's allowances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AllowanceConfig {
    /// Outbound bandwidth.
    pub bw_out: BandwidthConfig,
    /// Inbound bandwidth.
    pub bw_in: BandwidthConfig,
    /// Packets per second, both directions together.
    pub pps: u64,
    /// Packets that may pass back to back over the PPS rate.
    pub pps_burst: u64,
    /// Link-local packets per second (AWS: 1024 per ENI).
    pub linklocal_pps: u64,
    /// Link-local burst in packets (not published; an assumption of the scenario).
    pub linklocal_burst: u64,
    /// Tracked connections at most.
    pub conntrack_max: u32,
    /// Idle time after which a tracked connection is forgotten.
    pub conntrack_idle_timeout_ns: u64,
    /// Queue or drop over the allowance.
    pub over_limit: OverLimit,
}

/// Direction of a packet through the ENI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Leaving the instance.
    Egress,
    /// Arriving at the instance.
    Ingress,
}

/// The allowance that held a packet back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// `bw_in_allowance_exceeded`.
    BwIn,
    /// `bw_out_allowance_exceeded`.
    BwOut,
    /// `pps_allowance_exceeded`.
    Pps,
    /// `conntrack_allowance_exceeded`.
    Conntrack,
    /// `linklocal_allowance_exceeded`.
    LinkLocal,
}

impl Allowance {
    /// The `ethtool -S` counter this allowance increments (a field of [`crate::stats::EniStats`]).
    pub const fn counter_name(self) -> &'static str {
        match self {
            Self::BwIn => "bw_in_allowance_exceeded",
            Self::BwOut => "bw_out_allowance_exceeded",
            Self::Pps => "pps_allowance_exceeded",
            Self::Conntrack => "conntrack_allowance_exceeded",
            Self::LinkLocal => "linklocal_allowance_exceeded",
        }
    }

    /// The value of this allowance's counter ([`counter_name`](Self::counter_name)) in `stats`.
    pub const fn count(self, stats: &EniStats) -> u64 {
        match self {
            Self::BwIn => stats.bw_in_allowance_exceeded,
            Self::BwOut => stats.bw_out_allowance_exceeded,
            Self::Pps => stats.pps_allowance_exceeded,
            Self::Conntrack => stats.conntrack_allowance_exceeded,
            Self::LinkLocal => stats.linklocal_allowance_exceeded,
        }
    }
}

/// The shaper's decision for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The packet leaves at `at_ns` (equal to the arrival time when nothing held it back).
    Pass {
        /// Departure time.
        at_ns: u64,
    },
    /// The packet is dropped; the allowance that dropped it.
    Drop(Allowance),
}

struct Bandwidth {
    peak: TokenBucket,
    credits: TokenBucket,
}

impl Bandwidth {
    fn new(field: &'static str, c: &BandwidthConfig) -> Result<Self> {
        if c.peak_bps < c.baseline_bps {
            return Err(Error::InvalidConfig {
                field,
                reason: "peak_bps is below baseline_bps",
            });
        }
        Ok(Self {
            peak: TokenBucket::new(field, c.peak_bps, c.peak_burst_bits.max(1))?,
            credits: TokenBucket::new(
                field,
                c.baseline_bps,
                c.credit_bits.max(c.peak_burst_bits).max(1),
            )?,
        })
    }
}

/// The hypervisor's shaping of one ENI. `CT` is the storage of the connection-tracking table.
pub struct Shaper<const CT: usize> {
    cfg: AllowanceConfig,
    out: Bandwidth,
    inb: Bandwidth,
    pps: TokenBucket,
    linklocal: TokenBucket,
    conntrack: Conntrack<CT>,
    stats: EniStats,
}

impl<const CT: usize> Shaper<CT> {
    /// Builds the shaper; every bucket starts full (credits included).
    pub fn new(cfg: AllowanceConfig) -> Result<Self> {
        Ok(Self {
            out: Bandwidth::new("bw_out", &cfg.bw_out)?,
            inb: Bandwidth::new("bw_in", &cfg.bw_in)?,
            pps: TokenBucket::new("pps", cfg.pps, cfg.pps_burst.max(1))?,
            linklocal: TokenBucket::new(
                "linklocal_pps",
                cfg.linklocal_pps,
                cfg.linklocal_burst.max(1),
            )?,
            conntrack: Conntrack::new(cfg.conntrack_max, cfg.conntrack_idle_timeout_ns)?,
            cfg,
            stats: EniStats::default(),
        })
    }

    /// The allowance counters (`ethtool -S` ENI statistics).
    pub fn stats(&self) -> &EniStats {
        &self.stats
    }

    /// `conntrack_allowance_available`.
    pub fn conntrack_available(&self) -> u64 {
        self.conntrack.available()
    }

    /// Burst credits left for a direction, in bits.
    pub fn credits_bits(&self, dir: Direction) -> u64 {
        match dir {
            Direction::Egress => self.out.credits.tokens(),
            Direction::Ingress => self.inb.credits.tokens(),
        }
    }

    /// Registers the first packet of a connection (or a packet of an already tracked one) with connection
    /// tracking. Returns the drop verdict when the table is full of live connections.
    pub fn track(&mut self, now_ns: u64, flow: u64) -> Option<Verdict> {
        if self.conntrack.track(now_ns, flow) {
            None
        } else {
            self.stats.conntrack_allowance_exceeded += 1;
            Some(Verdict::Drop(Allowance::Conntrack))
        }
    }

    /// Forgets a closed connection.
    pub fn untrack(&mut self, flow: u64) {
        self.conntrack.close(flow);
    }

    /// Shapes one packet of `bytes` arriving at `now_ns` in direction `dir`; `link_local` marks traffic to the
    /// instance metadata service, the DNS resolver or the time service.
    #[inline]
    pub fn shape(&mut self, now_ns: u64, dir: Direction, bytes: u32, link_local: bool) -> Verdict {
        let bits = bytes as u64 * 8;
        match self.shape_fast(now_ns, dir, bits, link_local) {
            Some(v) => v,
            None => self.shape_slow(now_ns, dir, bits, link_local),
        }
    }

    /// The packet passes at once when every bucket has its tokens right now; `None` otherwise.
    #[inline(always)]
    fn shape_fast(
        &mut self,
        now_ns: u64,
        dir: Direction,
        bits: u64,
        link_local: bool,
    ) -> Option<Verdict> {
        if !link_local {
            // Fast path: every bucket has the tokens right now. Same arithmetic as below, each level computed once.
            let bw = match dir {
                Direction::Egress => &mut self.out,
                Direction::Ingress => &mut self.inb,
            };
            let (n_pps, n_peak, n_cred) = (
                self.pps.unit(),
                // Saturating: an absurd size then fails the check below and the slow path refuses it.
                bits.saturating_mul(bw.peak.unit()),
                bits.saturating_mul(bw.credits.unit()),
            );
            // Short-circuit: a packet that must wait for the PPS bucket (the usual case when over an allowance)
            // leaves for the slow path before the bandwidth buckets are looked at.
            if let Some(l_pps) = self.pps.level_now(now_ns)
                && l_pps >= n_pps
                && let Some(l_peak) = bw.peak.level_now(now_ns)
                && l_peak >= n_peak
                && let Some(l_cred) = bw.credits.level_now(now_ns)
                && l_cred >= n_cred
            {
                self.pps.commit(now_ns, l_pps, n_pps);
                bw.peak.commit(now_ns, l_peak, n_peak);
                bw.credits.commit(now_ns, l_cred, n_cred);
                return Some(Verdict::Pass { at_ns: now_ns });
            }
        }
        None
    }

    /// A packet that waits for some bucket: the tandem departure times, the counters, then a drop (inline: over an
    /// allowance most packets end here) or the takes ([`release`](Self::release), out of line).
    #[inline]
    fn shape_slow(&mut self, now_ns: u64, dir: Direction, bits: u64, link_local: bool) -> Verdict {
        let max_delay = match self.cfg.over_limit {
            OverLimit::Drop => 0,
            OverLimit::Queue { max_delay_ns } => max_delay_ns,
        };
        let (bw, bw_kind) = match dir {
            Direction::Egress => (&mut self.out, Allowance::BwOut),
            Direction::Ingress => (&mut self.inb, Allowance::BwIn),
        };
        // Tandem greedy shapers: each sees the departure time of the one before. A packet larger than a
        // bucket's burst can never conform: it waits forever, which is to say it is dropped.
        // Each cost in units once, for the departure and the take.
        let n_pps = self.pps.units(1);
        let n_peak = bw.peak.units(bits);
        let n_cred = bw.credits.units(bits);
        let t1 = match n_pps {
            Some(n) => self.pps.departure(now_ns, n),
            None => now_ns.saturating_add(NEVER),
        };
        let t2 = match n_peak {
            Some(n) => bw.peak.departure(t1, n),
            None => t1.saturating_add(NEVER),
        };
        let mut t3 = match n_cred {
            Some(n) => bw.credits.departure(t2, n),
            None => t2.saturating_add(NEVER),
        };
        let t_cred = t3;
        let mut w_ll = 0;
        if link_local {
            w_ll = self.linklocal.wait_ns(t3, 1).unwrap_or(NEVER);
            t3 = t3.saturating_add(w_ll);
        }
        let (w_pps, w_peak, w_credit) = (t1 - now_ns, t2 - t1, t_cred - t2);
        let total = t3 - now_ns;
        if w_pps > 0 {
            self.stats.pps_allowance_exceeded += 1;
        }
        let w_bw = w_peak.max(w_credit);
        if w_bw > 0 {
            match bw_kind {
                Allowance::BwOut => self.stats.bw_out_allowance_exceeded += 1,
                _ => self.stats.bw_in_allowance_exceeded += 1,
            }
        }
        if w_ll > 0 {
            self.stats.linklocal_allowance_exceeded += 1;
        }
        if total > max_delay {
            return Verdict::Drop(blame(w_pps, w_bw, bw_kind, w_ll));
        }
        // Every wait was finite, so every cost fit its bucket.
        let takes = [
            (t1, n_pps.unwrap_or(0)),
            (t2, n_peak.unwrap_or(0)),
            (t_cred, n_cred.unwrap_or(0)),
        ];
        self.release(dir, takes, link_local.then_some(t3));
        Verdict::Pass { at_ns: t3 }
    }

    /// Charges a released packet to every bucket at its departure from it: PPS, peak, credits (`takes`, in units)
    /// and the link-local bucket at `link_local`.
    #[inline(never)]
    fn release(&mut self, dir: Direction, takes: [(u64, u64); 3], link_local: Option<u64>) {
        let bw = match dir {
            Direction::Egress => &mut self.out,
            Direction::Ingress => &mut self.inb,
        };
        self.pps.take_units(takes[0].0, takes[0].1);
        bw.peak.take_units(takes[1].0, takes[1].1);
        bw.credits.take_units(takes[2].0, takes[2].1);
        if let Some(t) = link_local {
            self.linklocal.take(t, 1);
        }
    }

    /// [`shape_slow`](Self::shape_slow) as it was written before the buckets cached their departures: each wait
    /// recomputed from the level ([`TokenBucket::wait_units`]). The reference of the differential test below.
    #[cfg(test)]
    fn shape_reference(
        &mut self,
        now_ns: u64,
        dir: Direction,
        bytes: u32,
        link_local: bool,
    ) -> Verdict {
        let bits = bytes as u64 * 8;
        let max_delay = match self.cfg.over_limit {
            OverLimit::Drop => 0,
            OverLimit::Queue { max_delay_ns } => max_delay_ns,
        };
        let (bw, bw_kind) = match dir {
            Direction::Egress => (&mut self.out, Allowance::BwOut),
            Direction::Ingress => (&mut self.inb, Allowance::BwIn),
        };
        let n_pps = self.pps.units(1);
        let n_peak = bw.peak.units(bits);
        let n_cred = bw.credits.units(bits);
        let w_pps = n_pps.map_or(NEVER, |n| self.pps.wait_units(now_ns, n));
        let t1 = now_ns.saturating_add(w_pps);
        let w_peak = n_peak.map_or(NEVER, |n| bw.peak.wait_units(t1, n));
        let t2 = t1.saturating_add(w_peak);
        let w_credit = n_cred.map_or(NEVER, |n| bw.credits.wait_units(t2, n));
        let mut t3 = t2.saturating_add(w_credit);
        let mut w_ll = 0;
        if link_local {
            w_ll = self.linklocal.wait_ns(t3, 1).unwrap_or(NEVER);
            t3 = t3.saturating_add(w_ll);
        }
        let total = t3 - now_ns;
        if w_pps > 0 {
            self.stats.pps_allowance_exceeded += 1;
        }
        let w_bw = w_peak.max(w_credit);
        if w_bw > 0 {
            match bw_kind {
                Allowance::BwOut => self.stats.bw_out_allowance_exceeded += 1,
                _ => self.stats.bw_in_allowance_exceeded += 1,
            }
        }
        if w_ll > 0 {
            self.stats.linklocal_allowance_exceeded += 1;
        }
        if total > max_delay {
            return Verdict::Drop(blame(w_pps, w_bw, bw_kind, w_ll));
        }
        self.pps.take_units(t1, n_pps.unwrap_or(0));
        bw.peak.take_units(t2, n_peak.unwrap_or(0));
        bw.credits.take_units(t2 + w_credit, n_cred.unwrap_or(0));
        if link_local {
            self.linklocal.take(t3, 1);
        }
        Verdict::Pass { at_ns: t3 }
    }
}

/// A wait that never ends: a packet larger than a bucket's burst.
const NEVER: u64 = u64::MAX / 4;

/// The allowance that held a dropped packet back the longest (the later one on a tie).
#[inline(always)]
fn blame(w_pps: u64, w_bw: u64, bw_kind: Allowance, w_ll: u64) -> Allowance {
    let mut worst = (w_pps, Allowance::Pps);
    if w_bw >= worst.0 {
        worst = (w_bw, bw_kind);
    }
    if w_ll >= worst.0 {
        worst = (w_ll, Allowance::LinkLocal);
    }
    worst.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_allowance_counts_the_eni_counter_it_names() {
        let all = [
            Allowance::BwIn,
            Allowance::BwOut,
            Allowance::Pps,
            Allowance::Conntrack,
            Allowance::LinkLocal,
        ];
        for (i, a) in all.into_iter().enumerate() {
            let mut stats = EniStats::default();
            *stats.get_mut(a.counter_name()).unwrap() = 7;
            assert_eq!(a.count(&stats), 7, "{a:?}");
            assert_eq!(EniStats::NAMES[i], a.counter_name());
        }
    }

    fn cfg(over: OverLimit) -> AllowanceConfig {
        AllowanceConfig {
            bw_out: BandwidthConfig {
                baseline_bps: 1_000_000,
                peak_bps: 10_000_000,
                peak_burst_bits: 12_000,
                credit_bits: 10_000_000,
            },
            bw_in: BandwidthConfig::flat(10_000_000, 12_000),
            pps: 1_000_000,
            pps_burst: 1_000,
            linklocal_pps: 1024,
            linklocal_burst: 4,
            conntrack_max: 2,
            conntrack_idle_timeout_ns: NS_PER_SEC,
            over_limit: over,
        }
    }

    #[test]
    fn credits_allow_peak_then_fall_back_to_baseline() {
        let mut s: Shaper<4> = Shaper::new(cfg(OverLimit::Queue {
            max_delay_ns: u64::MAX / 4,
        }))
        .unwrap();
        // 1500-byte packets offered back to back: they leave at 10 Mbit/s while credits last (1.2 ms apart),
        // then at the 1 Mbit/s baseline (12 ms apart).
        let mut last = 0;
        let mut gaps = Vec::new();
        for _ in 0..2000 {
            match s.shape(0, Direction::Egress, 1500, false) {
                Verdict::Pass { at_ns } => {
                    gaps.push(at_ns - last);
                    last = at_ns;
                }
                Verdict::Drop(a) => panic!("dropped by {a:?}"),
            }
        }
        assert_eq!(gaps[100], 1_200_000);
        assert_eq!(gaps[1999], 12_000_000);
        assert!(s.stats().bw_out_allowance_exceeded > 1900);
        assert_eq!(s.stats().bw_in_allowance_exceeded, 0);
    }

    #[test]
    fn drop_mode_drops_and_counts() {
        let mut s: Shaper<4> = Shaper::new(cfg(OverLimit::Drop)).unwrap();
        let v: Vec<_> = (0..3)
            .map(|_| s.shape(0, Direction::Ingress, 1500, false))
            .collect();
        assert_eq!(v[0], Verdict::Pass { at_ns: 0 });
        assert_eq!(v[2], Verdict::Drop(Allowance::BwIn));
        assert_eq!(s.stats().bw_in_allowance_exceeded, 2);
    }

    #[test]
    fn linklocal_limit_applies_only_to_linklocal_packets() {
        let mut s: Shaper<4> = Shaper::new(cfg(OverLimit::Drop)).unwrap();
        let ll = (0..10)
            .filter(|i| {
                matches!(
                    s.shape(*i, Direction::Egress, 64, true),
                    Verdict::Pass { .. }
                )
            })
            .count();
        assert_eq!(ll, 4);
        assert_eq!(s.stats().linklocal_allowance_exceeded, 6);
    }

    #[test]
    fn conntrack_full_drops_new_connections() {
        let mut s: Shaper<4> = Shaper::new(cfg(OverLimit::Drop)).unwrap();
        assert_eq!(s.track(0, 1), None);
        assert_eq!(s.track(0, 2), None);
        assert_eq!(s.conntrack_available(), 0);
        assert_eq!(s.track(0, 3), Some(Verdict::Drop(Allowance::Conntrack)));
        assert_eq!(s.stats().conntrack_allowance_exceeded, 1);
        s.untrack(1);
        assert_eq!(s.track(0, 3), None);
    }

    #[test]
    fn a_packet_larger_than_any_burst_is_dropped_not_overflowed() {
        // 1_000_001 bit/s shares no factor with 10^9: one bit costs 10^9 units, and 2^32 bytes of bits would
        // overflow u64 if multiplied unchecked.
        let mut c = cfg(OverLimit::Queue {
            max_delay_ns: u64::MAX / 8,
        });
        c.bw_out = BandwidthConfig::flat(1_000_001, 1_000_000);
        let mut s: Shaper<4> = Shaper::new(c).unwrap();
        assert_eq!(
            s.shape(0, Direction::Egress, u32::MAX, false),
            Verdict::Drop(Allowance::BwOut)
        );
        assert_eq!(
            s.shape(0, Direction::Egress, 1500, false),
            Verdict::Pass { at_ns: 0 }
        );
    }

    /// The shaper with cached departures gives the verdicts and counters of the one that recomputes every wait,
    /// on random traffic (both directions, link-local, sizes beyond the burst, queue and drop modes).
    #[test]
    fn cached_departures_change_no_verdict() {
        use quickcheck::{QuickCheck, TestResult};
        fn prop(queue: bool, max_delay: u32, steps: Vec<(u16, u16, u8)>) -> TestResult {
            let over = if queue {
                OverLimit::Queue {
                    max_delay_ns: max_delay as u64 * 100,
                }
            } else {
                OverLimit::Drop
            };
            let mut c = cfg(over);
            // A small credit pool, so that every bucket takes its turn at holding packets back.
            c.bw_out.credit_bits = 30_000 + max_delay as u64 % 50_000;
            c.pps = 2_000 + max_delay as u64 % 3_000;
            let mut fast: Shaper<4> = Shaper::new(c).unwrap();
            let mut reference: Shaper<4> = Shaper::new(c).unwrap();
            let mut now = 0u64;
            for (gap, size, flags) in steps {
                now += gap as u64 * 20;
                let dir = if flags & 1 == 0 {
                    Direction::Egress
                } else {
                    Direction::Ingress
                };
                let link_local = flags & 6 == 6;
                let bytes = if flags & 0xf0 == 0xf0 {
                    u32::MAX - size as u32
                } else {
                    size as u32 % 9000 + 1
                };
                let a = fast.shape(now, dir, bytes, link_local);
                // The reference takes the same fast path first: only the slow path differs.
                let b = match reference.shape_fast(now, dir, bytes as u64 * 8, link_local) {
                    Some(v) => v,
                    None => reference.shape_reference(now, dir, bytes, link_local),
                };
                if a != b || fast.stats() != reference.stats() {
                    return TestResult::failed();
                }
            }
            TestResult::passed()
        }
        QuickCheck::new()
            .tests(2000)
            .quickcheck(prop as fn(bool, u32, Vec<(u16, u16, u8)>) -> TestResult);
    }

    #[test]
    fn impossible_configs_are_errors() {
        let mut c = cfg(OverLimit::Drop);
        c.bw_out.peak_bps = 1;
        assert!(Shaper::<4>::new(c).is_err());
        let mut c = cfg(OverLimit::Drop);
        c.pps = 0;
        assert!(matches!(
            Shaper::<4>::new(c),
            Err(Error::InvalidConfig { field: "pps", .. })
        ));
    }
}
