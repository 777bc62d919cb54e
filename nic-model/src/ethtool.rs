//! `ethtool -S` text: render the model's counters as ENA prints them, and read such text back.
//!
//! The reader accepts what users paste: with or without the `NIC statistics:` header, any indentation, counters
//! the model does not know (kept as unknown, never silently lost: [`NicStats::unknown`] counts them), and older
//! driver names (`queue_N_rx_bad_csum` for `csum_bad`). A line that is not `name: value` with a non-negative
//! integer is an error naming its line.

use core::fmt;

use crate::stats::{EniStats, GlobalStats, RxStats, TxStats};
use crate::{Error, ParseErrorKind, Result};

/// Queues the statistics model holds: `ENA_MAX_NUM_IO_QUEUES` (128, `ena_netdev.h`).
pub const MAX_QUEUES: usize = 128;

/// One `name: value` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// 1-based line number.
    pub line: usize,
    /// Counter name, trimmed.
    pub name: &'a str,
    /// Counter value.
    pub value: u64,
}

/// Splits `ethtool -S` text into entries. Blank lines and header lines (text ending in `:` with no value, such as
/// `NIC statistics:`) are skipped; anything else that is not `name: value` yields an error with its line number.
pub fn entries(text: &str) -> impl Iterator<Item = Result<Entry<'_>>> {
    text.lines().enumerate().filter_map(|(i, raw)| {
        let line = i + 1;
        let t = raw.trim();
        if t.is_empty() {
            return None;
        }
        let Some((name, value)) = t.rsplit_once(':') else {
            return Some(Err(Error::Parse {
                line,
                kind: ParseErrorKind::MissingColon,
            }));
        };
        let (name, value) = (name.trim(), value.trim());
        if value.is_empty() {
            // A section header such as `NIC statistics:`.
            return None;
        }
        if name.is_empty() {
            return Some(Err(Error::Parse {
                line,
                kind: ParseErrorKind::EmptyName,
            }));
        }
        match value.parse::<u64>() {
            Ok(value) => Some(Ok(Entry { line, name, value })),
            Err(_) => Some(Err(Error::Parse {
                line,
                kind: ParseErrorKind::BadValue,
            })),
        }
    })
}

/// What a counter name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// `queue_N_tx_<TxStats::NAMES[i]>`.
    Tx {
        /// Queue number.
        queue: usize,
        /// Index into [`TxStats::NAMES`].
        index: usize,
    },
    /// `queue_N_rx_<RxStats::NAMES[i]>` (or an older alias).
    Rx {
        /// Queue number.
        queue: usize,
        /// Index into [`RxStats::NAMES`].
        index: usize,
    },
    /// A [`GlobalStats`] counter.
    Global(usize),
    /// An [`EniStats`] counter.
    Eni(usize),
    /// `conntrack_allowance_available` (newer drivers): a gauge, not a counter.
    ConntrackAvailable,
    /// Anything else (admin queue statistics, XDP queues, other drivers' counters).
    Unknown,
}

/// Older names some drivers print, mapped to today's.
const RX_ALIASES: &[(&str, &str)] = &[("bad_csum", "csum_bad")];

/// Classifies an ENA counter name.
pub fn classify(name: &str) -> Counter {
    if let Some(i) = GlobalStats::index_of(name) {
        return Counter::Global(i);
    }
    if let Some(i) = EniStats::index_of(name) {
        return Counter::Eni(i);
    }
    if name == "conntrack_allowance_available" {
        return Counter::ConntrackAvailable;
    }
    let Some(rest) = name.strip_prefix("queue_") else {
        return Counter::Unknown;
    };
    let Some((num, field)) = rest.split_once('_') else {
        return Counter::Unknown;
    };
    let Ok(queue) = num.parse::<usize>() else {
        return Counter::Unknown;
    };
    if let Some(f) = field.strip_prefix("tx_") {
        if let Some(index) = TxStats::index_of(f) {
            return Counter::Tx { queue, index };
        }
    } else if let Some(f) = field.strip_prefix("rx_") {
        let f = RX_ALIASES
            .iter()
            .find(|(old, _)| *old == f)
            .map_or(f, |(_, new)| new);
        if let Some(index) = RxStats::index_of(f) {
            return Counter::Rx { queue, index };
        }
    }
    Counter::Unknown
}

/// An ENA `ethtool -S` snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicStats {
    /// Device-wide counters.
    pub global: GlobalStats,
    /// Allowance counters; `None` when the driver printed none (ENI statistics unsupported).
    pub eni: Option<EniStats>,
    /// `conntrack_allowance_available`, when printed.
    pub conntrack_available: Option<u64>,
    /// Per-queue TX counters; the first [`queues`](Self::queues) are meaningful.
    pub tx: [TxStats; MAX_QUEUES],
    /// Per-queue RX counters.
    pub rx: [RxStats; MAX_QUEUES],
    /// Number of I/O queues (highest queue index seen plus one).
    pub queues: usize,
    /// Lines with counters the model does not know.
    pub unknown: usize,
}

impl Default for NicStats {
    fn default() -> Self {
        Self {
            global: GlobalStats::default(),
            eni: None,
            conntrack_available: None,
            tx: [TxStats::default(); MAX_QUEUES],
            rx: [RxStats::default(); MAX_QUEUES],
            queues: 0,
            unknown: 0,
        }
    }
}

/// Which counters a reading has already set, to refuse one printed twice.
struct Seen {
    global: u32,
    eni: u32,
    tx: [u32; MAX_QUEUES],
    rx: [u32; MAX_QUEUES],
    conntrack: bool,
}

impl Seen {
    const NONE: Self = Self {
        global: 0,
        eni: 0,
        tx: [0; MAX_QUEUES],
        rx: [0; MAX_QUEUES],
        conntrack: false,
    };
}

/// Marks counter `i` of a set as seen; `Err(dup)` when it already was.
fn mark(bits: &mut u32, i: usize, dup: Error) -> Result<()> {
    if *bits & (1 << i) != 0 {
        return Err(dup);
    }
    *bits |= 1 << i;
    Ok(())
}

impl NicStats {
    /// Reads `ethtool -S` text of an ENA interface. Text without a single counter is an error
    /// ([`ParseErrorKind::Empty`]).
    pub fn parse(text: &str) -> Result<Self> {
        let s = Self::from_entries(entries(text))?;
        if entries(text).next().is_none() {
            return Err(Error::Parse {
                line: text.lines().count().max(1),
                kind: ParseErrorKind::Empty,
            });
        }
        Ok(s)
    }

    /// Builds the snapshot from `name: value` entries however they were read: [`entries`] of `ethtool -S` text,
    /// or the counters of another format (node_exporter's, a collected bundle) with the line each came from.
    /// The first error, or a counter given twice or beyond [`MAX_QUEUES`], stops the reading and names its
    /// line. No entries give the empty snapshot.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = Result<Entry<'a>>>) -> Result<Self> {
        let mut s = Self::default();
        let mut seen = Seen::NONE;
        for e in entries {
            s.take(&mut seen, e?)?;
        }
        Ok(s)
    }

    /// Sets the counter `e` names (`ena_get_strings` order does not matter), or counts it as unknown.
    fn take(&mut self, seen: &mut Seen, e: Entry<'_>) -> Result<()> {
        let dup = Error::Parse {
            line: e.line,
            kind: ParseErrorKind::Duplicate,
        };
        let slot = match classify(e.name) {
            Counter::Global(i) => {
                mark(&mut seen.global, i, dup)?;
                self.global.get_mut(GlobalStats::NAMES[i])
            }
            Counter::Eni(i) => {
                mark(&mut seen.eni, i, dup)?;
                let eni = self.eni.get_or_insert_with(EniStats::default);
                eni.get_mut(EniStats::NAMES[i])
            }
            Counter::ConntrackAvailable => {
                if core::mem::replace(&mut seen.conntrack, true) {
                    return Err(dup);
                }
                Some(self.conntrack_available.insert(0))
            }
            Counter::Tx { queue, .. } | Counter::Rx { queue, .. } if queue >= MAX_QUEUES => {
                return Err(Error::Parse {
                    line: e.line,
                    kind: ParseErrorKind::QueueOutOfRange,
                });
            }
            Counter::Tx { queue, index } => {
                mark(&mut seen.tx[queue], index, dup)?;
                self.queues = self.queues.max(queue + 1);
                self.tx[queue].get_mut(TxStats::NAMES[index])
            }
            Counter::Rx { queue, index } => {
                mark(&mut seen.rx[queue], index, dup)?;
                self.queues = self.queues.max(queue + 1);
                self.rx[queue].get_mut(RxStats::NAMES[index])
            }
            Counter::Unknown => {
                self.unknown += 1;
                return Ok(());
            }
        };
        *slot.ok_or(dup)? = e.value;
        Ok(())
    }

    /// The counter `ethtool -S` prints as `name` (older names too), for updates by name; `None` for a name the
    /// model does not know, for a queue beyond [`MAX_QUEUES`], and for ENI counters or
    /// `conntrack_allowance_available` the snapshot does not have.
    pub fn counter_mut(&mut self, name: &str) -> Option<&mut u64> {
        match classify(name) {
            Counter::Global(i) => self.global.get_mut(GlobalStats::NAMES[i]),
            Counter::Eni(i) => self.eni.as_mut()?.get_mut(EniStats::NAMES[i]),
            Counter::ConntrackAvailable => self.conntrack_available.as_mut(),
            Counter::Tx { queue, index } => self.tx.get_mut(queue)?.get_mut(TxStats::NAMES[index]),
            Counter::Rx { queue, index } => self.rx.get_mut(queue)?.get_mut(RxStats::NAMES[index]),
            Counter::Unknown => None,
        }
    }

    /// What `self` counted since `earlier`, two snapshots of the same interface, by the rule of [`Interval`]
    /// (which `txqlab diagnose` applies to every driver's counters too): when no counter went down the counts
    /// are the differences; when some went down and others up the driver's counters were reset in between (the
    /// driver was reloaded), so the counts are `self`'s own, since the reset; when every counter that changed
    /// went down the snapshots are in the wrong order.
    pub fn since(&self, earlier: &Self) -> Since {
        let (up, down) = self.moves(earlier);
        match Interval::of(up, down) {
            Interval::Counted => Since::Counted(self.delta(earlier)),
            Interval::Reset => Since::Reset(self.clone()),
            Interval::Reversed => Since::Reversed,
        }
    }

    /// Counter by counter `self - earlier` (saturating): what [`since`](Self::since) gives when nothing went
    /// down.
    fn delta(&self, earlier: &Self) -> Self {
        let mut d = self.clone();
        d.global = self.global.delta(&earlier.global);
        d.eni = match (self.eni, earlier.eni) {
            (Some(a), Some(b)) => Some(a.delta(&b)),
            (a, _) => a,
        };
        for q in 0..MAX_QUEUES {
            d.tx[q] = self.tx[q].delta(&earlier.tx[q]);
            d.rx[q] = self.rx[q].delta(&earlier.rx[q]);
        }
        d
    }

    /// Counters that went up and down since `earlier`, over every counter of both snapshots.
    fn moves(&self, earlier: &Self) -> (usize, usize) {
        let add = |a: (usize, usize), b: (usize, usize)| (a.0 + b.0, a.1 + b.1);
        let mut m = self.global.moves(&earlier.global);
        if let (Some(a), Some(b)) = (self.eni, earlier.eni) {
            m = add(m, a.moves(&b));
        }
        for q in 0..MAX_QUEUES {
            m = add(m, self.tx[q].moves(&earlier.tx[q]));
            m = add(m, self.rx[q].moves(&earlier.rx[q]));
        }
        m
    }
}

/// What two snapshots of one interface say about the interval between them, from how many counters went up and how
/// many went down: the one rule [`NicStats::since`] applies to ENA's counters and `txqlab diagnose` to every
/// driver's. A driver reload zeroes the driver's counters (they live in the adapter `ena_probe` allocates), so some
/// go down while those that counted since go up; counters never go down otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// No counter went down: the later snapshot minus the earlier one is what happened in between.
    Counted,
    /// Some went down and others up: the counters were reset in between; the later snapshot's own counts are
    /// what happened since the reset.
    Reset,
    /// Counters went down and none up: the snapshots are in the wrong order.
    Reversed,
}

impl Interval {
    /// The verdict on `up` counters that went up and `down` that went down.
    pub fn of(up: usize, down: usize) -> Self {
        match (up, down) {
            (_, 0) => Self::Counted,
            (0, _) => Self::Reversed,
            _ => Self::Reset,
        }
    }
}

/// Two snapshots of one interface compared ([`NicStats::since`], by the rule of [`Interval`]).
/// Generic so that other drivers' typed counters (`txqlab diagnose`'s virtio_net reading) answer alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since<T = NicStats> {
    /// No counter went down: what happened in between, counter by counter.
    Counted(T),
    /// Counters went down and others up: reset in between; the later snapshot's own counts, since the reset.
    Reset(T),
    /// Every counter that changed went down: the earlier snapshot is the later one.
    Reversed,
}

/// Renders the snapshot exactly as `ethtool -S` prints an ENA interface: the header, then global counters,
/// ENI counters, and per queue the TX then the RX counters (`ena_get_strings`).
impl fmt::Display for NicStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "NIC statistics:")?;
        for (name, v) in self.global.iter() {
            writeln!(f, "     {name}: {v}")?;
        }
        if let Some(eni) = &self.eni {
            for (name, v) in eni.iter() {
                writeln!(f, "     {name}: {v}")?;
            }
        }
        if let Some(v) = self.conntrack_available {
            writeln!(f, "     conntrack_allowance_available: {v}")?;
        }
        for q in 0..self.queues.min(MAX_QUEUES) {
            for (name, v) in self.tx[q].iter() {
                writeln!(f, "     queue_{q}_tx_{name}: {v}")?;
            }
            for (name, v) in self.rx[q].iter() {
                writeln!(f, "     queue_{q}_rx_{name}: {v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut s = NicStats {
            queues: 2,
            eni: Some(EniStats::default()),
            ..NicStats::default()
        };
        s.tx[1].cnt = 42;
        s.tx[0].queue_stop = 3;
        s.rx[1].csum_bad = 5;
        s.global.wd_expired = 1;
        s.eni.as_mut().unwrap().pps_allowance_exceeded = 9;
        s.conntrack_available = Some(1000);
        let text = s.to_string();
        assert!(text.starts_with("NIC statistics:\n     tx_timeout: 0\n"));
        assert!(text.contains("     queue_1_tx_cnt: 42\n"));
        assert!(text.contains("     queue_0_tx_tx_poll: 0\n"));
        assert_eq!(NicStats::parse(&text).unwrap(), s);
    }

    #[test]
    fn tolerant_of_real_world_variants() {
        let text = "queue_0_tx_cnt: 5\n\n  queue_0_rx_bad_csum: 2\nena_admin_q_aborted_cmd: 0\nqueue_3_xdp_tx_cnt: 1\n";
        let s = NicStats::parse(text).unwrap();
        assert_eq!(
            (s.tx[0].cnt, s.rx[0].csum_bad, s.unknown, s.queues),
            (5, 2, 2, 1)
        );
        assert_eq!(s.eni, None);
    }

    #[test]
    fn errors_name_the_line() {
        let bad = |t: &str| NicStats::parse(t).unwrap_err();
        assert_eq!(
            bad("NIC statistics:\n  tx_timeout: 1\n  oops\n"),
            Error::Parse {
                line: 3,
                kind: ParseErrorKind::MissingColon
            }
        );
        assert_eq!(
            bad("tx_timeout: -1"),
            Error::Parse {
                line: 1,
                kind: ParseErrorKind::BadValue
            }
        );
        assert_eq!(
            bad("tx_timeout: 12abc"),
            Error::Parse {
                line: 1,
                kind: ParseErrorKind::BadValue
            }
        );
        assert_eq!(
            bad("a: 1\nqueue_0_tx_cnt: 1\nqueue_0_tx_cnt: 2"),
            Error::Parse {
                line: 3,
                kind: ParseErrorKind::Duplicate
            }
        );
        assert_eq!(
            bad("queue_128_tx_cnt: 1"),
            Error::Parse {
                line: 1,
                kind: ParseErrorKind::QueueOutOfRange
            }
        );
        assert_eq!(
            bad("NIC statistics:\n"),
            Error::Parse {
                line: 1,
                kind: ParseErrorKind::Empty
            }
        );
        assert_eq!(
            bad(": 5"),
            Error::Parse {
                line: 1,
                kind: ParseErrorKind::EmptyName
            }
        );
    }

    #[test]
    fn classify_names() {
        assert_eq!(
            classify("queue_7_tx_bad_req_id"),
            Counter::Tx {
                queue: 7,
                index: 11
            }
        );
        assert_eq!(
            classify("queue_0_rx_empty_rx_ring"),
            Counter::Rx {
                queue: 0,
                index: 11
            }
        );
        assert_eq!(classify("bw_out_allowance_exceeded"), Counter::Eni(1));
        assert_eq!(classify("tx_queue_0_packets"), Counter::Unknown);
    }

    #[test]
    fn since_counts_differences_reads_a_reset_and_refuses_a_reversed_order() {
        let snap = |tx0: u64, tx1: u64| {
            NicStats::parse(&format!("queue_0_tx_cnt: {tx0}\nqueue_1_tx_cnt: {tx1}\n")).unwrap()
        };
        let (a, b) = (snap(10, 10), snap(15, 12));
        match b.since(&a) {
            Since::Counted(d) => assert_eq!((d.tx[0].cnt, d.tx[1].cnt), (5, 2)),
            other => panic!("{other:?}"),
        }
        // Queue 0 went down while queue 1 went up: reset in between, the later snapshot's own counts.
        let c = snap(3, 20);
        assert_eq!(c.since(&a), Since::Reset(c.clone()));
        assert_eq!(a.since(&b), Since::Reversed);
        assert!(matches!(a.since(&a), Since::Counted(d) if d.tx[0].cnt == 0));
    }

    #[test]
    fn from_entries_reads_counters_of_any_format_and_names_the_line_at_fault() {
        let entry = |line, name, value| Ok(Entry { line, name, value });
        let s = NicStats::from_entries([
            entry(4, "queue_1_tx_cnt", 9),
            entry(7, "pps_allowance_exceeded", 2),
            entry(9, "ena_admin_q_aborted_cmd", 0),
        ])
        .unwrap();
        assert_eq!((s.tx[1].cnt, s.queues, s.unknown), (9, 2, 1));
        assert_eq!(s.eni.map(|e| e.pps_allowance_exceeded), Some(2));
        // An older driver's name for a counter already read is the same counter twice.
        let e = NicStats::from_entries([
            entry(3, "queue_0_rx_csum_bad", 1),
            entry(8, "queue_0_rx_bad_csum", 1),
        ]);
        assert_eq!(
            e,
            Err(Error::Parse {
                line: 8,
                kind: ParseErrorKind::Duplicate
            })
        );
        assert_eq!(NicStats::from_entries([]), Ok(NicStats::default()));
        // `parse` still refuses text without a counter.
        assert!(NicStats::parse("NIC statistics:\n").is_err());
    }

    #[test]
    fn counter_mut_finds_counters_by_their_printed_names() {
        let mut s = NicStats::parse("queue_3_rx_csum_bad: 1\nwd_expired: 2\n").unwrap();
        *s.counter_mut("queue_3_rx_bad_csum").unwrap() = 7;
        *s.counter_mut("wd_expired").unwrap() += 1;
        assert_eq!((s.rx[3].csum_bad, s.global.wd_expired), (7, 3));
        assert!(s.counter_mut("bw_in_allowance_exceeded").is_none());
        assert!(s.counter_mut("queue_128_tx_cnt").is_none());
        assert!(s.counter_mut("ena_admin_q_aborted_cmd").is_none());
    }

    #[test]
    fn the_interval_rule_reads_up_and_down_moves() {
        assert_eq!(Interval::of(0, 0), Interval::Counted);
        assert_eq!(Interval::of(5, 0), Interval::Counted);
        assert_eq!(Interval::of(5, 1), Interval::Reset);
        assert_eq!(Interval::of(0, 1), Interval::Reversed);
    }

    #[test]
    fn the_highest_ena_queue_is_read() {
        let s = NicStats::parse("queue_127_tx_cnt: 4\n").unwrap();
        assert_eq!((s.queues, s.tx[127].cnt), (128, 4));
        assert!(NicStats::parse("queue_128_tx_cnt: 4\n").is_err());
    }
}
