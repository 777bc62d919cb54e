//! CoDel (`include/net/codel.h`, `codel_impl.h`): drop from the head once the sojourn time has stayed above
//! `target` for a whole `interval`, then at intervals shrinking as `interval / sqrt(count)`.
//!
//! Simplifications, documented: time is in nanoseconds (the kernel counts in 1.024 us units); the control law
//! computes `interval / sqrt(count)` with an integer square root instead of the kernel's 16-bit Newton
//! iteration of `1/sqrt(count)`; ECN marking and `ce_threshold` are not modelled (non-ECN traffic).

/// CoDel parameters (`struct codel_params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodelParams {
    /// Acceptable standing queue delay (default 5 ms).
    pub target_ns: u64,
    /// Window over which the delay must stay above target before dropping (default 100 ms).
    pub interval_ns: u64,
    /// A backlog at most this many bytes never drops (one MTU: `params->mtu`).
    pub mtu: u32,
}

impl Default for CodelParams {
    fn default() -> Self {
        Self {
            target_ns: 5_000_000,
            interval_ns: 100_000_000,
            mtu: 1514,
        }
    }
}

/// CoDel state of one queue (`struct codel_vars`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodelVars {
    /// Drops since entering the dropping state.
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
    /// `codel_should_drop`: is it time to drop `pkt` (with `backlog` bytes queued behind it, itself included)?
    pub fn should_drop(
        &mut self,
        p: &CodelParams,
        enqueue_ns: Option<u64>,
        backlog: u64,
        now: u64,
    ) -> bool {
        let Some(enq) = enqueue_ns else {
            self.first_above_ns = 0;
            return false;
        };
        self.ldelay_ns = now.saturating_sub(enq);
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
    /// Removes and returns the head, with the backlog (bytes) left afterwards.
    fn pop(&mut self) -> Option<super::QPkt>;
    /// Bytes queued now.
    fn backlog(&self) -> u64;
}

/// `codel_dequeue`: the next packet to send, dropping from the head as the control law says. Calls `dropped` for
/// every packet dropped.
pub fn codel_dequeue(
    q: &mut dyn CodelQueue,
    p: &CodelParams,
    v: &mut CodelVars,
    now: u64,
    dropped: &mut dyn FnMut(&super::QPkt),
) -> Option<super::QPkt> {
    let mut pkt = q.pop();
    let Some(first) = pkt else {
        v.first_above_ns = 0;
        v.dropping = false;
        return None;
    };
    // The kernel measures the backlog before the head leaves it.
    let mut drop = v.should_drop(
        p,
        Some(first.enqueue_ns),
        q.backlog() + first.len as u64,
        now,
    );
    if v.dropping {
        if !drop {
            v.dropping = false;
        } else if now >= v.drop_next_ns {
            while v.dropping && now >= v.drop_next_ns {
                v.count += 1;
                if let Some(d) = pkt {
                    dropped(&d);
                }
                pkt = q.pop();
                let head = pkt.map(|x| (x.enqueue_ns, x.len as u64));
                if !v.should_drop(
                    p,
                    head.map(|h| h.0),
                    q.backlog() + head.map_or(0, |h| h.1),
                    now,
                ) {
                    v.dropping = false;
                } else {
                    v.drop_next_ns = control_law(v.drop_next_ns, p.interval_ns, v.count);
                }
            }
        }
    } else if drop {
        if let Some(d) = pkt {
            dropped(&d);
        }
        pkt = q.pop();
        let head = pkt.map(|x| (x.enqueue_ns, x.len as u64));
        drop = v.should_drop(
            p,
            head.map(|h| h.0),
            q.backlog() + head.map_or(0, |h| h.1),
            now,
        );
        let _ = drop;
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
        // 10 ms sojourn with 10 kB queued: above target, the clock starts.
        assert!(!v.should_drop(&p, Some(0), 10_000, 10_000_000));
        assert_eq!(v.first_above_ns, 110_000_000);
        assert!(!v.should_drop(&p, Some(100_000_000), 10_000, 110_000_000));
        assert!(v.should_drop(&p, Some(100_000_000), 10_000, 110_000_001));
        // Below target resets; one MTU of backlog never drops.
        assert!(!v.should_drop(&p, Some(110_000_000), 10_000, 111_000_000));
        assert_eq!(v.first_above_ns, 0);
        assert!(!v.should_drop(&p, Some(0), 1514, 500_000_000));
    }
}
