//! CoDel (`include/net/codel.h`, `codel_impl.h`): drop from the head once the sojourn time has stayed above
//! `target` for a whole `interval`, then at intervals shrinking as `interval / sqrt(count)`; with `ecn`, an
//! ECN-capable packet is marked CE instead of being dropped.
//!
//! The arithmetic is the kernel's: time in `codel_time_t` units of 1024 ns (`codel_get_time`: `ns >> CODEL_SHIFT`,
//! 32 bits, compared modulo 2^32 as `codel_time_after` does), and `1/sqrt(count)` kept as a 16-bit fixed-point
//! `rec_inv_sqrt` refined by one Newton step per change of `count` (`codel_Newton_step`), applied with
//! `reciprocal_scale` (`codel_control_law`). Not modelled: `ce_threshold` (off by default).

use zerocopy::FromZeros;

use super::QPkt;
use crate::hash::reciprocal_scale;

/// `CODEL_SHIFT`: a `codel_time_t` unit is 2^10 ns.
pub const CODEL_SHIFT: u32 = 10;

/// `REC_INV_SQRT_SHIFT`: `rec_inv_sqrt` is the top 16 bits of a Q0.32 number.
const REC_INV_SQRT_SHIFT: u32 = 32 - 16;

/// `codel_get_time` for a time in nanoseconds.
#[inline]
pub const fn codel_time(ns: u64) -> u32 {
    (ns >> CODEL_SHIFT) as u32
}

/// `codel_time_after(a, b)`: `a` is after `b`, modulo 2^32.
#[inline]
const fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// `codel_time_after_eq(a, b)`.
#[inline]
const fn after_eq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

/// CoDel parameters (`struct codel_params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromZeros)]
pub struct CodelParams {
    /// Acceptable standing queue delay (default 5 ms; the kernel keeps `target_ns >> CODEL_SHIFT`).
    pub target_ns: u64,
    /// Window over which the delay must stay above target before dropping (default 100 ms).
    pub interval_ns: u64,
    /// A qdisc backlog at most this many bytes never drops (`params->mtu`; fq_codel sets it to the device's
    /// `psched_mtu` in `fq_codel_init`).
    pub mtu: u32,
    /// Mark ECN-capable packets CE instead of dropping them (`params->ecn`; off in `codel_params_init`, on in
    /// `fq_codel_init`).
    pub ecn: bool,
}

impl CodelParams {
    fn target(&self) -> u32 {
        codel_time(self.target_ns)
    }
    fn interval(&self) -> u32 {
        codel_time(self.interval_ns)
    }
}

impl Default for CodelParams {
    /// `codel_params_init` (target 5 ms, interval 100 ms, no ECN), with the mtu of a 1500-byte Ethernet device.
    fn default() -> Self {
        Self {
            target_ns: 5_000_000,
            interval_ns: 100_000_000,
            mtu: super::psched_mtu(1500, super::ETH_HLEN),
            ecn: false,
        }
    }
}

/// CoDel statistics shared by all of a qdisc's queues (`struct codel_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, FromZeros)]
pub struct CodelStats {
    /// Largest packet CoDel has looked at (updated in `codel_should_drop`, that is at dequeue).
    pub maxpacket: u32,
    /// Packets marked CE instead of dropped.
    pub ecn_mark: u64,
}

/// CoDel state of one queue (`struct codel_vars`; zero as `codel_vars_init` leaves it). Times in
/// `codel_time_t` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, FromZeros)]
pub struct CodelVars {
    /// Drops (or marks) since entering the dropping state.
    pub count: u32,
    /// `count` when the dropping state was last left.
    pub lastcount: u32,
    /// In the dropping state.
    pub dropping: bool,
    /// `1/sqrt(count)` in Q0.16.
    pub rec_inv_sqrt: u16,
    /// When the sojourn time went above target, plus one interval; 0 when below.
    pub first_above_time: u32,
    /// Next drop time in the dropping state.
    pub drop_next: u32,
    /// Sojourn time of the last packet looked at.
    pub ldelay: u32,
}

/// `codel_Newton_step`: one Newton iteration of `rec_inv_sqrt` towards `1/sqrt(count)`.
pub fn newton_step(v: &mut CodelVars) {
    let invsqrt = (v.rec_inv_sqrt as u32) << REC_INV_SQRT_SHIFT;
    let invsqrt2 = ((invsqrt as u64 * invsqrt as u64) >> 32) as u32;
    let mut val = (3u64 << 32).wrapping_sub(v.count as u64 * invsqrt2 as u64);
    val >>= 2;
    val = val.wrapping_mul(invsqrt as u64) >> (32 - 2 + 1);
    v.rec_inv_sqrt = (val >> REC_INV_SQRT_SHIFT) as u16;
}

/// `codel_control_law`: `t + interval * rec_inv_sqrt` (`interval / sqrt(count)`).
pub fn control_law(t: u32, interval: u32, rec_inv_sqrt: u16) -> u32 {
    t.wrapping_add(reciprocal_scale(
        interval,
        (rec_inv_sqrt as u32) << REC_INV_SQRT_SHIFT,
    ))
}

impl CodelVars {
    /// `codel_should_drop`: is it time to drop `pkt`, the packet just taken from the queue, at `now` (codel
    /// time)? `backlog` is the qdisc's backlog in bytes after `pkt` left it (`sch->qstats.backlog`, which the
    /// dequeue callback has already decreased). Records the largest packet seen in `stats`.
    pub fn should_drop(
        &mut self,
        p: &CodelParams,
        stats: &mut CodelStats,
        pkt: Option<&QPkt>,
        backlog: u64,
        now: u32,
    ) -> bool {
        let Some(pkt) = pkt else {
            self.first_above_time = 0;
            return false;
        };
        self.ldelay = now.wrapping_sub(codel_time(pkt.enqueue_ns));
        stats.maxpacket = stats.maxpacket.max(pkt.len);
        if after(p.target(), self.ldelay) || backlog <= p.mtu as u64 {
            self.first_above_time = 0;
            return false;
        }
        if self.first_above_time == 0 {
            self.first_above_time = now.wrapping_add(p.interval());
            false
        } else {
            after(now, self.first_above_time)
        }
    }
}

/// A queue CoDel can pull from and drop from.
pub trait CodelQueue {
    /// Removes and returns the head (`dequeue_func`), taking it out of every backlog counter.
    fn pop(&mut self) -> Option<QPkt>;
    /// The whole qdisc's backlog in bytes now (`sch->qstats.backlog`, what `codel_dequeue` is given), not
    /// only this queue's.
    fn backlog(&self) -> u64;
}

/// `codel_dequeue`: the next packet to send at `now_ns`, dropping from the head (or marking it CE, with `ecn`)
/// as the control law says. Calls `dropped` for every packet dropped.
#[inline]
pub fn codel_dequeue<Q: CodelQueue + ?Sized>(
    q: &mut Q,
    p: &CodelParams,
    v: &mut CodelVars,
    stats: &mut CodelStats,
    now_ns: u64,
    dropped: &mut dyn FnMut(&QPkt),
) -> Option<QPkt> {
    let mut pkt = q.pop();
    if pkt.is_none() {
        v.first_above_time = 0;
        v.dropping = false;
        return None;
    }
    let now = codel_time(now_ns);
    // The backlog is measured after the packet left (`dequeue_func` has already decreased it).
    let drop = v.should_drop(p, stats, pkt.as_ref(), q.backlog(), now);
    if v.dropping {
        if !drop {
            v.dropping = false;
        } else if after_eq(now, v.drop_next) {
            while v.dropping && after_eq(now, v.drop_next) {
                v.count = v.count.wrapping_add(1);
                newton_step(v);
                if p.ecn && pkt.as_mut().is_some_and(QPkt::inet_ecn_set_ce) {
                    stats.ecn_mark += 1;
                    v.drop_next = control_law(v.drop_next, p.interval(), v.rec_inv_sqrt);
                    return pkt;
                }
                if let Some(d) = pkt {
                    dropped(&d);
                }
                pkt = q.pop();
                if !v.should_drop(p, stats, pkt.as_ref(), q.backlog(), now) {
                    v.dropping = false;
                } else {
                    v.drop_next = control_law(v.drop_next, p.interval(), v.rec_inv_sqrt);
                }
            }
        }
    } else if drop {
        if p.ecn && pkt.as_mut().is_some_and(QPkt::inet_ecn_set_ce) {
            stats.ecn_mark += 1;
        } else {
            if let Some(d) = pkt {
                dropped(&d);
            }
            pkt = q.pop();
            // Only for its side effects on `first_above_time`, as in the kernel.
            let _ = v.should_drop(p, stats, pkt.as_ref(), q.backlog(), now);
        }
        v.dropping = true;
        // Re-entering soon after leaving: resume near the old drop rate.
        let delta = v.count.wrapping_sub(v.lastcount);
        if delta > 1
            && after(
                16u32.wrapping_mul(p.interval()),
                now.wrapping_sub(v.drop_next),
            )
        {
            v.count = delta;
            newton_step(v);
        } else {
            v.count = 1;
            v.rec_inv_sqrt = (!0u32 >> REC_INV_SQRT_SHIFT) as u16;
        }
        v.lastcount = v.count;
        v.drop_next = control_law(now, p.interval(), v.rec_inv_sqrt);
    }
    pkt
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `codel_control_law` with `codel_Newton_step`'s `1/sqrt(count)`, in the kernel's integers. One step per
    /// count from 1.0 is coarse at first (count 2 gives 0.5, not 0.707: 48829 units, not 69053) and converges
    /// as count grows (count 100: 10 ms within 1 %), as the comment in `codel_dequeue` says it may.
    #[test]
    fn control_law_follows_the_newton_iteration() {
        let mut v = CodelVars {
            count: 1,
            rec_inv_sqrt: (!0u32 >> REC_INV_SQRT_SHIFT) as u16,
            ..CodelVars::default()
        };
        let interval = codel_time(100_000_000);
        assert_eq!(interval, 97656);
        assert_eq!(control_law(0, interval, v.rec_inv_sqrt), 97654);
        let mut laws = [0u32; 3];
        for l in laws.iter_mut() {
            v.count += 1;
            newton_step(&mut v);
            *l = control_law(0, interval, v.rec_inv_sqrt);
        }
        assert_eq!(laws, [48829, 54931, 47635]);
        while v.count < 100 {
            v.count += 1;
            newton_step(&mut v);
        }
        let l = control_law(0, interval, v.rec_inv_sqrt) as f64;
        assert!((l - 9765.6).abs() / 9765.6 < 0.01, "{l}");
    }

    #[test]
    fn should_drop_only_after_a_full_interval_above_target() {
        let p = CodelParams::default();
        let mut v = CodelVars::default();
        let mut s = CodelStats::default();
        let at = |t: u64| QPkt {
            len: 1000,
            enqueue_ns: t,
            ..QPkt::default()
        };
        let t = codel_time;
        // 10 ms sojourn with 10 kB queued: above target, the clock starts.
        assert!(!v.should_drop(&p, &mut s, Some(&at(0)), 10_000, t(10_000_000)));
        assert_eq!(v.first_above_time, t(10_000_000) + 97656);
        let deadline = v.first_above_time;
        assert!(!v.should_drop(&p, &mut s, Some(&at(0)), 10_000, deadline));
        assert!(v.should_drop(&p, &mut s, Some(&at(0)), 10_000, deadline + 1));
        // Below target resets; one MTU of backlog never drops.
        assert!(!v.should_drop(&p, &mut s, Some(&at(110_000_000)), 10_000, t(111_000_000)));
        assert_eq!(v.first_above_time, 0);
        assert!(!v.should_drop(&p, &mut s, Some(&at(0)), 1514, t(500_000_000)));
        // Exactly at target (4882 units) counts as above, as `codel_time_before(ldelay, target)` is false.
        assert!(!v.should_drop(&p, &mut s, Some(&at(0)), 10_000, 4882));
        assert_ne!(v.first_above_time, 0);
        assert_eq!(s.maxpacket, 1000);
    }
}
