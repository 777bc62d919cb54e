//! CoDel (`include/net/codel.h`, `codel_impl.h`): drop from the head once the sojourn time has stayed above
//! `target` for a whole `interval`, then at intervals shrinking as `interval / sqrt(count)`; with `ecn`, an
//! ECN-capable packet is marked CE instead of being dropped.
//!
//! Simplifications, documented: time is in nanoseconds (the kernel counts in 1.024 us units); the control law
//! computes `interval / sqrt(count)` with an integer square root instead of the kernel's 16-bit Newton
//! iteration of `1/sqrt(count)`; `ce_threshold` (off by default) is not modelled.

use super::QPkt;

/// CoDel parameters (`struct codel_params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodelParams {
    /// Acceptable standing queue delay (default 5 ms).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodelStats {
    /// Largest packet CoDel has looked at (updated in `codel_should_drop`, that is at dequeue).
    pub maxpacket: u32,
    /// Packets marked CE instead of dropped.
    pub ecn_mark: u64,
}

/// CoDel state of one queue (`struct codel_vars`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodelVars {
    /// Drops (or marks) since entering the dropping state.
    pub count: u32,
    /// `count` when the dropping state was last left.
    pub lastcount: u32,
    /// In the dropping state.
    pub dropping: bool,
    /// When the sojourn time went above target, plus one interval; 0 when below.
    pub first_above_ns: u64,
    /// Next drop time in the dropping state.
    pub drop_next_ns: u64,
    /// Sojourn time of the last packet looked at.
    pub ldelay_ns: u64,
}

/// `codel_control_law`: `t + interval / sqrt(count)`.
pub fn control_law(t: u64, interval: u64, count: u32) -> u64 {
    t + ((interval as u128 * 1024) / isqrt(count.max(1) as u64 * 1024 * 1024) as u128) as u64
}

fn isqrt(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let mut x = n;
    let mut y = x.div_ceil(2);
    while y < x {
        x = y;
        y = (x + n / x) / 2;
    }
    x
}

impl CodelVars {
    /// `codel_should_drop`: is it time to drop `pkt`, the packet just taken from the queue? `backlog` is the
    /// qdisc's backlog in bytes after `pkt` left it (`sch->qstats.backlog`, which the dequeue callback has
    /// already decreased). Records the largest packet seen in `stats`.
    pub fn should_drop(
        &mut self,
        p: &CodelParams,
        stats: &mut CodelStats,
        pkt: Option<&QPkt>,
        backlog: u64,
        now: u64,
    ) -> bool {
        let Some(pkt) = pkt else {
            self.first_above_ns = 0;
            return false;
        };
        self.ldelay_ns = now.saturating_sub(pkt.enqueue_ns);
        stats.maxpacket = stats.maxpacket.max(pkt.len);
        if self.ldelay_ns < p.target_ns || backlog <= p.mtu as u64 {
            self.first_above_ns = 0;
            return false;
        }
        if self.first_above_ns == 0 {
            self.first_above_ns = now + p.interval_ns;
            false
        } else {
            now > self.first_above_ns
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

/// `codel_dequeue`: the next packet to send, dropping from the head (or marking it CE, with `ecn`) as the
/// control law says. Calls `dropped` for every packet dropped.
pub fn codel_dequeue(
    q: &mut dyn CodelQueue,
    p: &CodelParams,
    v: &mut CodelVars,
    stats: &mut CodelStats,
    now: u64,
    dropped: &mut dyn FnMut(&QPkt),
) -> Option<QPkt> {
    let mut pkt = q.pop();
    if pkt.is_none() {
        v.first_above_ns = 0;
        v.dropping = false;
        return None;
    }
    // The backlog is measured after the packet left (`dequeue_func` has already decreased it).
    let drop = v.should_drop(p, stats, pkt.as_ref(), q.backlog(), now);
    if v.dropping {
        if !drop {
            v.dropping = false;
        } else if now >= v.drop_next_ns {
            while v.dropping && now >= v.drop_next_ns {
                v.count = v.count.wrapping_add(1);
                if p.ecn && pkt.as_mut().is_some_and(QPkt::inet_ecn_set_ce) {
                    stats.ecn_mark += 1;
                    v.drop_next_ns = control_law(v.drop_next_ns, p.interval_ns, v.count);
                    return pkt;
                }
                if let Some(d) = pkt {
                    dropped(&d);
                }
                pkt = q.pop();
                if !v.should_drop(p, stats, pkt.as_ref(), q.backlog(), now) {
                    v.dropping = false;
                } else {
                    v.drop_next_ns = control_law(v.drop_next_ns, p.interval_ns, v.count);
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
            // Only for its side effects on `first_above_ns`, as in the kernel.
            let _ = v.should_drop(p, stats, pkt.as_ref(), q.backlog(), now);
        }
        v.dropping = true;
        let delta = v.count.wrapping_sub(v.lastcount);
        // Re-entering soon after leaving: resume near the old drop rate.
        v.count = if delta > 1 && now.wrapping_sub(v.drop_next_ns) < 16 * p.interval_ns {
            delta
        } else {
            1
        };
        v.lastcount = v.count;
        v.drop_next_ns = control_law(now, p.interval_ns, v.count);
    }
    pkt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_law_shrinks_with_the_square_root_of_count() {
        assert_eq!(control_law(0, 100_000_000, 1), 100_000_000);
        assert_eq!(control_law(0, 100_000_000, 4), 50_000_000);
        assert_eq!(control_law(0, 100_000_000, 100), 10_000_000);
        assert_eq!(isqrt(1 << 40), 1 << 20);
        assert_eq!(isqrt(99), 9);
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
        // 10 ms sojourn with 10 kB queued: above target, the clock starts.
        assert!(!v.should_drop(&p, &mut s, Some(&at(0)), 10_000, 10_000_000));
        assert_eq!(v.first_above_ns, 110_000_000);
        assert!(!v.should_drop(&p, &mut s, Some(&at(100_000_000)), 10_000, 110_000_000));
        assert!(v.should_drop(&p, &mut s, Some(&at(100_000_000)), 10_000, 110_000_001));
        // Below target resets; one MTU of backlog never drops.
        assert!(!v.should_drop(&p, &mut s, Some(&at(110_000_000)), 10_000, 111_000_000));
        assert_eq!(v.first_above_ns, 0);
        assert!(!v.should_drop(&p, &mut s, Some(&at(0)), 1514, 500_000_000));
        assert_eq!(s.maxpacket, 1000);
    }
}
