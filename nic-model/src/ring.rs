//! Ring position arithmetic shared by submission and completion queues.
//!
//! ENA keeps free-running `u16` counters (`tail`, `next_to_comp`, `head`) and masks them with `depth - 1`
//! (`ena_com_io_sq`, `ena_com_io_cq`). The phase starts at 1 and flips each time a counter wraps to index 0
//! (`ena_com_sq_update_tail`, `ena_com_cq_inc_head`).

use crate::{Error, Result};

/// A free-running ring position with its phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingPos {
    /// The free-running counter; the slot is `counter & mask`.
    pub counter: u16,
    /// Phase bit (0 or 1) of the current pass.
    pub phase: u8,
}

impl Default for RingPos {
    fn default() -> Self {
        Self {
            counter: 0,
            phase: 1,
        }
    }
}

impl RingPos {
    /// Moves `n` entries forward (`n <= depth`), flipping the phase when the counter wraps to index 0.
    #[inline(always)]
    pub fn advance(&mut self, n: u16, mask: u16) {
        // With n <= depth = mask + 1 the position passes index 0 at most once.
        let wraps = (self.counter & mask) as u32 + n as u32 > mask as u32;
        self.counter = self.counter.wrapping_add(n);
        self.phase ^= wraps as u8;
    }

    /// Moves one entry forward.
    #[inline(always)]
    pub fn inc(&mut self, mask: u16) {
        self.counter = self.counter.wrapping_add(1);
        if self.counter & mask == 0 {
            self.phase ^= 1;
        }
    }

    /// The slot index inside the ring.
    #[inline(always)]
    pub fn slot(&self, mask: u16) -> usize {
        (self.counter & mask) as usize
    }
}

/// Checks a ring depth: a power of two, at least 2, at most `capacity` and at most 32768 (so that `u16`
/// counters distinguish a full ring from an empty one).
pub fn check_depth(field: &'static str, depth: u16, capacity: usize) -> Result<u16> {
    if depth < 2 || !depth.is_power_of_two() || depth > 32768 {
        return Err(Error::InvalidConfig {
            field,
            reason: "must be a power of two between 2 and 32768",
        });
    }
    if depth as usize > capacity {
        return Err(Error::InvalidConfig {
            field,
            reason: "exceeds the capacity of the model's storage",
        });
    }
    Ok(depth - 1)
}

/// Free submission entries: `depth - 1 - (tail - next_to_comp)` in `u16` arithmetic (`ena_com_free_q_entries`).
#[inline(always)]
pub fn free_entries(depth: u16, tail: u16, next_to_comp: u16) -> u16 {
    (depth - 1).wrapping_sub(tail.wrapping_sub(next_to_comp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_flips_on_every_wrap_for_three_wraps() {
        let mask = 7;
        let mut p = RingPos::default();
        let mut phases = [0u8; 8 * 3 + 1];
        for ph in phases.iter_mut() {
            *ph = p.phase;
            p.inc(mask);
        }
        for (i, ph) in phases.iter().enumerate() {
            assert_eq!(*ph, if (i / 8) % 2 == 0 { 1 } else { 0 }, "entry {i}");
        }
    }

    #[test]
    fn advance_by_n_equals_n_increments() {
        let mask = 15;
        for start in 0..40u16 {
            for n in 0..=16u16 {
                let mut a = RingPos {
                    counter: start,
                    phase: 1,
                };
                let mut b = a;
                a.advance(n, mask);
                for _ in 0..n {
                    b.inc(mask);
                }
                assert_eq!(a, b, "start {start} n {n}");
            }
        }
    }

    #[test]
    fn free_entries_survive_u16_wrap() {
        assert_eq!(free_entries(1024, 0, 0), 1023);
        assert_eq!(free_entries(1024, 5, 65535), 1017);
        assert_eq!(free_entries(1024, 1023, 0), 0);
    }

    #[test]
    fn depth_rules() {
        assert!(check_depth("d", 1024, 1024).is_ok());
        assert!(check_depth("d", 1000, 1024).is_err());
        assert!(check_depth("d", 2048, 1024).is_err());
        assert!(check_depth("d", 0, 1024).is_err());
    }
}
