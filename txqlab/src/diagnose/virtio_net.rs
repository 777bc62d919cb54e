//! virtio_net's `ethtool -S` counters, typed: the small counterpart of nic-model's `NicStats` for the guest
//! driver of the recorded veth incident. It lives here and not in nic-model because nic-model models the ENA
//! device, whose counters it also produces; virtio_net's are only ever read, by `diagnose`.
//!
//! The names are the driver's (`drivers/net/virtio_net.c`):
//! - up to 6.9, `virtnet_get_strings` prints for each of `curr_queue_pairs` queues `rx_queue_%u_%s` over
//!   `virtnet_rq_stats_desc`, then `tx_queue_%u_%s` over `virtnet_sq_stats_desc` (6.1: TX `packets`, `bytes`,
//!   `xdp_tx`, `xdp_tx_drops`, `kicks`, `tx_timeouts`; RX `packets`, `bytes`, `drops`, `xdp_packets`, `xdp_tx`,
//!   `xdp_redirects`, `xdp_drops`, `kicks`);
//! - later kernels renamed `tx_timeouts` to `timeouts` ("virtio_net: rename stat tx_timeout to timeout"), and
//!   from 6.10 `virtnet_get_stats_string` prints the same descriptors as `rx%u_%s` and `tx%u_%s`, followed by
//!   the device's own `rx%u_hw_%s`/`tx%u_hw_%s` (VIRTIO_NET_F_DEVICE_STATS) and queue totals `rx_%s`/`tx_%s`.
//!
//! Both namings are read; the device counters and totals are not typed (they count as unknown).

use std::collections::BTreeMap;

use nic_model::ethtool::{Interval, Since};

use super::driver::MAX_TX_QUEUES;
use super::error::{Error, quote};
use super::ethtool::Read;

macro_rules! queue_counters {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: u64, )*
        }

        impl $name {
            /// Counter names (after the queue prefix) in the order the driver prints them.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];

            /// The counter of that name.
            pub fn get_mut(&mut self, name: &str) -> Option<&mut u64> {
                match name {
                    $(stringify!($field) => Some(&mut self.$field),)*
                    _ => None,
                }
            }

            /// Field-wise `self - earlier`, saturating: meaningful when no counter went down.
            pub fn delta(&self, earlier: &Self) -> Self {
                Self { $( $field: self.$field.saturating_sub(earlier.$field), )* }
            }

            /// How many counters went up and how many went down since `earlier`.
            pub fn moves(&self, earlier: &Self) -> (usize, usize) {
                let mut m = (0, 0);
                $(
                    if self.$field > earlier.$field {
                        m.0 += 1;
                    } else if self.$field < earlier.$field {
                        m.1 += 1;
                    }
                )*
                m
            }
        }
    };
}

queue_counters! {
    /// One send queue's counters, `tx_queue_N_<name>` (`virtnet_sq_stats_desc`, `struct virtnet_sq_stats`).
    SqStats {
        /// Packets the queue completed (`free_old_xmit_skbs`).
        packets,
        /// Bytes of those packets.
        bytes,
        /// XDP_TX and redirected frames sent (`virtnet_xdp_xmit`).
        xdp_tx,
        /// XDP frames that did not fit the ring.
        xdp_tx_drops,
        /// Notifications to the device (`virtqueue_kick`).
        kicks,
        /// Times the stack's watchdog found the queue stuck (`virtnet_tx_timeout`); printed `tx_timeouts`
        /// before the rename.
        timeouts,
    }
}

queue_counters! {
    /// One receive queue's counters, `rx_queue_N_<name>` (`virtnet_rq_stats_desc`, `struct virtnet_rq_stats`).
    RqStats {
        /// Packets received.
        packets,
        /// Bytes received.
        bytes,
        /// Packets dropped by the driver (bad length, allocation failure, XDP).
        drops,
        /// Packets run through an XDP program.
        xdp_packets,
        /// XDP_TX verdicts.
        xdp_tx,
        /// XDP_REDIRECT verdicts.
        xdp_redirects,
        /// XDP_DROP verdicts and failed XDP transmissions.
        xdp_drops,
        /// Refill notifications to the device.
        kicks,
    }
}

/// A virtio_net `ethtool -S` snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VirtioNetStats {
    /// Send queues that printed counters, by queue number.
    pub tx: BTreeMap<u32, SqStats>,
    /// Receive queues that printed counters, by queue number.
    pub rx: BTreeMap<u32, RqStats>,
    /// True when the names were 6.10's (`tx0_packets`), false for `tx_queue_0_packets`.
    pub short_names: bool,
    /// Counters this type does not know (device `hw` counters, totals, other drivers').
    pub unknown: usize,
}

/// Which queue a counter name is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    Tx,
    Rx,
}

/// Splits a virtio_net per-queue counter name: direction, queue number (digits that do not fit 64 bits give
/// `u64::MAX`, refused by the caller), field, and whether it is 6.10's short naming.
fn split(name: &str) -> Option<(Dir, u64, &str, bool)> {
    let num = |s: &str| s.parse::<u64>().unwrap_or(u64::MAX);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    for (dir, long, short) in [(Dir::Tx, "tx_queue_", "tx"), (Dir::Rx, "rx_queue_", "rx")] {
        if let Some((q, field)) = name.strip_prefix(long).and_then(|r| r.split_once('_')) {
            return digits(q).then(|| (dir, num(q), field, false));
        }
        if let Some((q, field)) = name.strip_prefix(short).and_then(|r| r.split_once('_'))
            && digits(q)
        {
            return Some((dir, num(q), field, true));
        }
    }
    None
}

/// A counter name this type reads: direction, queue number, the field's name in [`SqStats::NAMES`] or
/// [`RqStats::NAMES`] (6.1's `tx_timeouts` read as `timeouts`), and whether it is 6.10's short naming.
fn typed_name(name: &str) -> Option<(Dir, u64, &'static str, bool)> {
    let (dir, queue, field, short) = split(name)?;
    let (field, names) = match dir {
        Dir::Tx if field == "tx_timeouts" => ("timeouts", SqStats::NAMES),
        Dir::Tx => (field, SqStats::NAMES),
        Dir::Rx => (field, RqStats::NAMES),
    };
    let field = names.iter().find(|n| **n == field)?;
    Some((dir, queue, field, short))
}

impl VirtioNetStats {
    /// Reads the counters of a snapshot, in the order they were read; an error names the input and line.
    pub fn from_reads(reads: &[Read<'_>]) -> Result<Self, Error> {
        let mut s = Self::default();
        let mut seen: BTreeMap<(Dir, u32, &str), usize> = BTreeMap::new();
        for r in reads {
            let Some((dir, queue, field, short)) = typed_name(r.name) else {
                s.unknown += 1;
                continue;
            };
            let q = u32::try_from(queue)
                .ok()
                .filter(|q| *q < MAX_TX_QUEUES)
                .ok_or_else(|| {
                    Error::at(
                        r.origin,
                        r.line,
                        format!(
                            "{}: queue {queue} is beyond the {MAX_TX_QUEUES} queues a Linux device can have \
                             (rtnl_create_link): not a real virtio_net device's counters",
                            quote(r.name)
                        ),
                    )
                })?;
            if let Some(first) = seen.insert((dir, q, field), r.line) {
                return Err(Error::at(
                    r.origin,
                    r.line,
                    format!(
                        "{}: the same virtio_net counter as line {first} (under its other name): two kernels' \
                         dumps pasted together?",
                        quote(r.name)
                    ),
                ));
            }
            s.short_names |= short;
            let slot = match dir {
                Dir::Tx => s.tx.entry(q).or_default().get_mut(field),
                Dir::Rx => s.rx.entry(q).or_default().get_mut(field),
            };
            if let Some(v) = slot {
                *v = r.value;
            }
        }
        Ok(s)
    }

    /// The counter `ethtool -S` prints as `name`, either naming, for updates by name; `None` for a name this
    /// type does not read or a queue the snapshot does not have.
    pub fn counter_mut(&mut self, name: &str) -> Option<&mut u64> {
        let (dir, queue, field, _) = typed_name(name)?;
        let q = u32::try_from(queue).ok()?;
        match dir {
            Dir::Tx => self.tx.get_mut(&q)?.get_mut(field),
            Dir::Rx => self.rx.get_mut(&q)?.get_mut(field),
        }
    }

    /// What `self` counted since `earlier`, by the rule of nic-model's [`Interval`] (the one `NicStats::since`
    /// and `diagnose --before` apply): differences when nothing went down, `self`'s own counts after a reset.
    pub fn since(&self, earlier: &Self) -> Since<Self> {
        let (up, down) = self.moves(earlier);
        match Interval::of(up, down) {
            Interval::Counted => {
                let mut d = self.clone();
                for (q, s) in &mut d.tx {
                    if let Some(e) = earlier.tx.get(q) {
                        *s = s.delta(e);
                    }
                }
                for (q, s) in &mut d.rx {
                    if let Some(e) = earlier.rx.get(q) {
                        *s = s.delta(e);
                    }
                }
                Since::Counted(d)
            }
            Interval::Reset => Since::Reset(self.clone()),
            Interval::Reversed => Since::Reversed,
        }
    }

    /// Counters that went up and down since `earlier`, over the queues both snapshots have.
    fn moves(&self, earlier: &Self) -> (usize, usize) {
        let tx = self
            .tx
            .iter()
            .filter_map(|(q, s)| Some(s.moves(earlier.tx.get(q)?)));
        let rx = self
            .rx
            .iter()
            .filter_map(|(q, s)| Some(s.moves(earlier.rx.get(q)?)));
        tx.chain(rx).fold((0, 0), |a, m| (a.0 + m.0, a.1 + m.1))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn reads(text: &str) -> Vec<Read<'_>> {
        text.lines()
            .enumerate()
            .filter_map(|(i, l)| {
                let (name, v) = l.trim().split_once(':')?;
                Some(Read {
                    name: name.trim(),
                    value: v.trim().parse().ok()?,
                    origin: "t",
                    line: i + 1,
                })
            })
            .collect()
    }

    #[test]
    fn both_kernels_namings_are_read_and_device_counters_are_left_unknown() {
        let old = VirtioNetStats::from_reads(&reads(
            "tx_queue_0_packets: 5\ntx_queue_0_tx_timeouts: 2\nrx_queue_1_drops: 3\n",
        ))
        .unwrap();
        assert_eq!((old.tx[&0].packets, old.tx[&0].timeouts), (5, 2));
        assert_eq!((old.rx[&1].drops, old.short_names), (3, false));
        let new = VirtioNetStats::from_reads(&reads(
            "tx0_packets: 5\ntx0_timeouts: 2\ntx0_hw_packets: 9\ntx_packets: 5\nrx1_drops: 3\n",
        ))
        .unwrap();
        assert_eq!((new.tx[&0].packets, new.tx[&0].timeouts), (5, 2));
        assert_eq!(
            (new.rx[&1].drops, new.short_names, new.unknown),
            (3, true, 2)
        );
    }

    #[test]
    fn a_counter_under_both_names_or_an_impossible_queue_names_the_line() {
        let e = VirtioNetStats::from_reads(&reads("tx_queue_0_packets: 5\ntx0_packets: 5\n"));
        assert!(
            e.unwrap_err()
                .to_string()
                .starts_with("t: line 2: `tx0_packets`: the same virtio_net counter as line 1")
        );
        let e = VirtioNetStats::from_reads(&reads("a: 1\ntx_queue_4096_kicks: 5\n"));
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("line 2: `tx_queue_4096_kicks`: queue 4096")
        );
        let e = VirtioNetStats::from_reads(&reads("rx99999999999999999999999_kicks: 1\n"));
        assert!(e.is_err());
    }

    #[test]
    fn counter_mut_takes_either_naming() {
        let mut s = VirtioNetStats::from_reads(&reads("tx_queue_2_tx_timeouts: 1\n")).unwrap();
        *s.counter_mut("tx2_timeouts").unwrap() = 4;
        assert_eq!(s.tx[&2].timeouts, 4);
        assert!(s.counter_mut("tx_queue_3_packets").is_none());
        assert!(s.counter_mut("tx2_hw_packets").is_none());
    }

    #[test]
    fn since_reads_differences_a_reset_and_a_reversed_order() {
        let snap = |a: u64, b: u64| {
            VirtioNetStats::from_reads(&reads(&format!(
                "tx_queue_0_packets: {a}\ntx_queue_1_packets: {b}\n"
            )))
            .unwrap()
        };
        let (a, b) = (snap(10, 10), snap(15, 12));
        match b.since(&a) {
            Since::Counted(d) => assert_eq!((d.tx[&0].packets, d.tx[&1].packets), (5, 2)),
            other => panic!("{other:?}"),
        }
        let c = snap(3, 20);
        assert_eq!(c.since(&a), Since::Reset(c.clone()));
        assert_eq!(a.since(&b), Since::Reversed);
    }
}
