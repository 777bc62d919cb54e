//! The kernel's clock for TCP's timers: jiffies at `HZ` = 250 (Debian's and Ubuntu's configs), and when a timer
//! armed now for a number of jiffies fires on the timer wheel.
//!
//! TCP arms its retransmission, probe and delayed-ACK timers as `jiffies + when` (`inet_csk_reset_xmit_timer` ->
//! `sk_reset_timer` -> `mod_timer`). The wheel never fires a timer early: it files it in the bucket after its expiry
//! rounded down to the level's granularity (`calc_index` in `kernel/time/timer.c`: `(expires >> LVL_SHIFT(lvl)) +
//! 1`), where the level grows with the distance (`calc_wheel_index`: under 63 jiffies level 0, 1 jiffy buckets;
//! under 504 level 1, 8 jiffies; and so on by a factor of 8). A timer of `when` jiffies armed at level 0 therefore
//! fires `when` to `when + 1` jiffies later, on a tick. The simulation's time 0 is a tick.
//!
//! `tests/tcp_oracle.rs` sees the live kernel's probe land in that window.

use super::time::Ns;

/// `HZ`: `CONFIG_HZ=250` in Debian's and Ubuntu's kernel configs (`/usr/src/linux-config-6.1`).
pub const HZ: u64 = 250;
/// One jiffy (4 ms).
pub const JIFFY: Ns = Ns(1_000_000_000 / HZ);

/// Bits per wheel level (`LVL_CLK_SHIFT`): each level's buckets are 8 times coarser than the one below.
const LVL_CLK_SHIFT: u32 = 3;
/// Buckets per level (`LVL_SIZE`, 1 << `LVL_BITS`).
const LVL_SIZE: u64 = 64;
/// Levels at HZ = 250 (`LVL_DEPTH`: 9 above HZ 100).
const LVL_DEPTH: u32 = 9;

/// `usecs_to_jiffies` (and `nsecs_to_jiffies` rounded up): a duration in whole jiffies, rounded up.
pub fn to_jiffies(d: Ns) -> u64 {
    d.0.div_ceil(JIFFY.0)
}

/// When a timer armed at `now` for `when` jiffies fires (`mod_timer(jiffies + when)` and the wheel's rounding).
pub fn fires_at(now: Ns, when: u64) -> Ns {
    let clk = now.0 / JIFFY.0;
    let expires = clk.saturating_add(when);
    // `calc_wheel_index`: the first level whose start (`LVL_START(n)`, (LVL_SIZE - 1) << ((n - 1) * 3)) is beyond
    // the distance; the last level takes anything further.
    let lvl = (1..LVL_DEPTH)
        .find(|&n| when < (LVL_SIZE - 1) << ((n - 1) * LVL_CLK_SHIFT))
        .map_or(LVL_DEPTH - 1, |n| n - 1);
    let shift = lvl * LVL_CLK_SHIFT;
    let bucket = ((expires >> shift) + 1) << shift;
    Ns(bucket.saturating_mul(JIFFY.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_zero_fires_within_the_next_jiffy_after_expiry() {
        // One jiffy armed anywhere in a tick fires 4-8 ms later, on the tick after next.
        for now_us in [0, 1, 2_000, 3_999] {
            let now = Ns::from_us(now_us);
            let t = fires_at(now, 1);
            assert_eq!(t, Ns::from_ms(8), "{now_us}");
            assert!(t - now > JIFFY && t - now <= Ns(2 * JIFFY.0));
        }
        // 50 jiffies (TCP_RTO_MIN): 200-204 ms.
        assert_eq!(fires_at(Ns::from_ms(1), 50), Ns::from_ms(204));
    }

    #[test]
    fn outer_levels_round_up_to_their_granularity() {
        // 63 jiffies is level 1 (8-jiffy buckets): expiry 63 -> bucket 64.
        assert_eq!(fires_at(Ns::ZERO, 62), Ns(63 * JIFFY.0));
        assert_eq!(fires_at(Ns::ZERO, 63), Ns(64 * JIFFY.0));
        // A backed-off RTO of 100 jiffies armed at jiffy 51: expiry 151 -> bucket 152.
        assert_eq!(fires_at(Ns(51 * JIFFY.0), 100), Ns(152 * JIFFY.0));
        // 504 jiffies is level 2 (64-jiffy buckets).
        assert_eq!(fires_at(Ns::ZERO, 504), Ns(512 * JIFFY.0));
        assert_eq!(fires_at(Ns(10 * JIFFY.0), 503), Ns(520 * JIFFY.0));
    }

    #[test]
    fn rounding_up() {
        assert_eq!(to_jiffies(Ns::ZERO), 0);
        assert_eq!(to_jiffies(Ns(1)), 1);
        assert_eq!(to_jiffies(Ns::from_us(4_000)), 1);
        assert_eq!(to_jiffies(Ns::from_us(4_001)), 2);
        assert_eq!(to_jiffies(Ns::from_ms(200)), 50);
    }
}
