//! Connection tracking capacity of the instance.
//!
//! AWS tracks connections for security groups; when the table is at its maximum, packets of new connections are
//! dropped and `conntrack_allowance_exceeded` rises, while `conntrack_allowance_available` says how many more could
//! be tracked. Idle entries expire after a timeout (TCP established: 432000 s by default, configurable down to
//! 60 s; UDP: 30 s, 180 s for streams; "Connection tracking timeouts", Amazon EC2 User Guide).

use heapless::index_map::FnvIndexMap;

use crate::{Error, Result};

/// A fixed-capacity table of tracked flows keyed by a flow hash, with their last-seen times.
/// `N` (a power of two) bounds the storage; the configured maximum may be lower.
pub struct Conntrack<const N: usize> {
    table: FnvIndexMap<u64, u64, N>,
    max: usize,
    idle_timeout_ns: u64,
}

impl<const N: usize> Conntrack<N> {
    /// A table that tracks at most `max` flows, expiring those idle for `idle_timeout_ns`.
    pub fn new(max: u32, idle_timeout_ns: u64) -> Result<Self> {
        if max == 0 || max as usize > N {
            return Err(Error::InvalidConfig {
                field: "conntrack_max",
                reason: "must be at least 1 and at most the model's table capacity",
            });
        }
        Ok(Self {
            table: FnvIndexMap::new(),
            max: max as usize,
            idle_timeout_ns,
        })
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// How many more flows could be tracked (`conntrack_allowance_available`).
    pub fn available(&self) -> u64 {
        (self.max - self.table.len()) as u64
    }

    /// Sees a packet of `flow` at `now_ns`: refreshes a tracked flow, or tracks a new one. Returns false when
    /// the table is full of live flows, which means the packet is dropped.
    pub fn track(&mut self, now_ns: u64, flow: u64) -> bool {
        if let Some(seen) = self.table.get_mut(&flow) {
            *seen = now_ns;
            return true;
        }
        if self.table.len() >= self.max {
            self.expire(now_ns);
            if self.table.len() >= self.max {
                return false;
            }
        }
        self.table.insert(flow, now_ns).is_ok()
    }

    /// Forgets a flow (its connection was closed).
    pub fn close(&mut self, flow: u64) {
        self.table.swap_remove(&flow);
    }

    /// Drops every entry idle for at least the timeout.
    pub fn expire(&mut self, now_ns: u64) {
        let timeout = self.idle_timeout_ns;
        self.table
            .retain(|_, seen| now_ns.saturating_sub(*seen) < timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_table_refuses_new_flows_until_entries_idle_out() {
        let mut ct: Conntrack<4> = Conntrack::new(3, 1_000).unwrap();
        assert!(ct.track(0, 1) && ct.track(0, 2) && ct.track(10, 3));
        assert_eq!(ct.available(), 0);
        assert!(!ct.track(500, 4));
        assert!(ct.track(600, 1), "tracked flows keep flowing");
        // Flow 2 idled out at 1000; flow 1 was refreshed at 600, flow 3 was seen at 10 -> also out at 1010.
        assert!(ct.track(1_005, 4));
        assert_eq!(ct.len(), 3);
        assert!(ct.track(1_010, 5));
        assert!(Conntrack::<4>::new(5, 1).is_err());
    }
}
