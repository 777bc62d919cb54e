//! The counters of the drivers whose meaning txqlab types, read from a snapshot's `ethtool -S` counters
//! whatever format carried them (`ethtool -S` text, a `txqlab collect` bundle, node_exporter's samples):
//! ENA's through nic-model's [`NicStats`], so that ENA's counter names and what they count have one source of
//! truth, the device model's; virtio_net's through [`VirtioNetStats`]. Other drivers' counters are read from the
//! generic map ([`super::ethtool::EthtoolStats`]) only.

use std::collections::{BTreeMap, BTreeSet};

use nic_model::ethtool::{Counter, Entry, MAX_QUEUES, NicStats, Since, classify};
use nic_model::{Error as NicError, ParseErrorKind};

use super::driver::{Driver, TxScheme};
use super::error::{Error, quote};
use super::ethtool::{INVALID, Read};
use super::snapshot::Snapshot;
use super::virtio_net::VirtioNetStats;

/// Per-queue TX packets: queue -> (count, whether the counter held 2^64-1).
pub type PerQueue = BTreeMap<u32, (u128, bool)>;

/// ENA's counters as nic-model types them, and which queues printed TX counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnaCounters {
    /// The counters.
    pub stats: NicStats,
    /// Queues with TX counters in the input. `ena_get_strings` prints every queue's TX block whole
    /// (`ena_queue_strings`), so a queue without one was cut from an excerpt, not idle.
    pub tx_queues: BTreeSet<usize>,
}

/// A snapshot's counters, typed by driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// ENA (`ena_ethtool.c`).
    Ena(Box<EnaCounters>),
    /// virtio_net (`virtio_net.c`).
    VirtioNet(Box<VirtioNetStats>),
    /// Any other driver, or none known: the generic map alone.
    Other,
}

impl Typed {
    /// Reads the snapshot's counters as `driver` names them. A counter the typed reading refuses (an ENA queue
    /// beyond `ENA_MAX_NUM_IO_QUEUES`, one counter under two names) is an error naming its input and line.
    pub fn read(s: &Snapshot, driver: Option<Driver>) -> Result<Self, Error> {
        Ok(match driver {
            Some(Driver::Ena) => Self::Ena(Box::new(ena(&s.ethtool.reads())?)),
            Some(Driver::VirtioNet) => {
                Self::VirtioNet(Box::new(VirtioNetStats::from_reads(&s.ethtool.reads())?))
            }
            _ => Self::Other,
        })
    }

    /// Per-queue TX packets from the typed counters (`queue_N_tx_cnt`, `tx_queue_N_packets`) and the pattern
    /// they were read under; `None` for [`Typed::Other`].
    pub fn tx_packets(&self) -> Option<(&'static str, PerQueue)> {
        let count = |v: u64| (u128::from(v), v == INVALID);
        match self {
            Self::Ena(e) => Some((
                TxScheme::QueueTxCnt.pattern(),
                e.tx_queues
                    .iter()
                    .filter_map(|q| Some((u32::try_from(*q).ok()?, count(e.stats.tx.get(*q)?.cnt))))
                    .collect(),
            )),
            Self::VirtioNet(v) => Some((
                if v.short_names {
                    TxScheme::TxNPackets.pattern()
                } else {
                    TxScheme::TxQueuePackets.pattern()
                },
                v.tx.iter().map(|(q, s)| (*q, count(s.packets))).collect(),
            )),
            Self::Other => None,
        }
    }
}

impl Typed {
    /// Whether `name` is a gauge of the typed reading (ENA's `conntrack_allowance_available`, the connections
    /// still available): a level that moves both ways, so it says nothing about a reset and has no difference.
    pub fn is_gauge(&self, name: &str) -> bool {
        matches!(self, Self::Ena(_)) && classify(name) == Counter::ConntrackAvailable
    }

    /// What `self` counted since `earlier`, two readings with the same driver: nic-model's [`NicStats::since`]
    /// for ENA, [`VirtioNetStats::since`] for virtio_net. Counters named in `invalid` (2^64-1 in either
    /// snapshot: no count) are left out of the comparison, as the generic map leaves them, and are invalid in
    /// the difference. [`Typed::Other`] has nothing to compare.
    pub fn since(&self, earlier: &Self, invalid: &[&str]) -> Since<Self> {
        match (self, earlier) {
            (Self::Ena(a), Self::Ena(b)) => {
                match masked(&a.stats, invalid, 0).since(&masked(&b.stats, invalid, 0)) {
                    Since::Counted(d) => Since::Counted(Self::Ena(Box::new(EnaCounters {
                        stats: masked(&d, invalid, INVALID),
                        tx_queues: a.tx_queues.clone(),
                    }))),
                    Since::Reset(_) => Since::Reset(self.clone()),
                    Since::Reversed => Since::Reversed,
                }
            }
            (Self::VirtioNet(a), Self::VirtioNet(b)) => {
                match masked(a.as_ref(), invalid, 0).since(&masked(b.as_ref(), invalid, 0)) {
                    Since::Counted(d) => {
                        Since::Counted(Self::VirtioNet(Box::new(masked(&d, invalid, INVALID))))
                    }
                    Since::Reset(_) => Since::Reset(self.clone()),
                    Since::Reversed => Since::Reversed,
                }
            }
            _ => Since::Counted(Self::Other),
        }
    }
}

/// Typed counters that can be set by their printed name.
trait ByName: Clone {
    /// The counter printed as `name`.
    fn counter_mut(&mut self, name: &str) -> Option<&mut u64>;
}

impl ByName for NicStats {
    fn counter_mut(&mut self, name: &str) -> Option<&mut u64> {
        NicStats::counter_mut(self, name)
    }
}

impl ByName for VirtioNetStats {
    fn counter_mut(&mut self, name: &str) -> Option<&mut u64> {
        VirtioNetStats::counter_mut(self, name)
    }
}

/// A copy of `s` with the counters named in `names` set to `to`.
fn masked<T: ByName>(s: &T, names: &[&str], to: u64) -> T {
    let mut s = s.clone();
    for n in names {
        if let Some(v) = s.counter_mut(n) {
            *v = to;
        }
    }
    s
}

/// ENA's counters through [`NicStats::from_entries`], in the order they were read; its error is turned into one
/// naming the input and line of the counter it stopped at.
fn ena(reads: &[Read<'_>]) -> Result<EnaCounters, Error> {
    let mut last: Option<&Read<'_>> = None;
    let stats = NicStats::from_entries(reads.iter().map(|r| {
        last = Some(r);
        Ok(Entry {
            line: r.line,
            name: r.name,
            value: r.value,
        })
    }));
    let stats = match (stats, last) {
        (Ok(s), _) => s,
        (Err(e), Some(r)) => return Err(Error::at(r.origin, r.line, ena_error(r.name, e))),
        (Err(e), None) => return Err(Error::input("ethtool -S", e.to_string())),
    };
    let tx_queues = reads
        .iter()
        .filter_map(|r| match classify(r.name) {
            Counter::Tx { queue, .. } if queue < MAX_QUEUES => Some(queue),
            _ => None,
        })
        .collect();
    Ok(EnaCounters { stats, tx_queues })
}

/// What nic-model's refusal of an ENA counter means, for the user.
fn ena_error(name: &str, e: NicError) -> String {
    match e {
        NicError::Parse {
            kind: ParseErrorKind::QueueOutOfRange,
            ..
        } => format!(
            "{}: queue beyond the {MAX_QUEUES} I/O queues an ENA device can have (ENA_MAX_NUM_IO_QUEUES, \
             ena_netdev.h): not a real ENA device's counters",
            quote(name)
        ),
        NicError::Parse {
            kind: ParseErrorKind::Duplicate,
            ..
        } => format!(
            "{}: the same ENA counter as an earlier line under its other name (such as an older driver's \
             queue_N_rx_bad_csum for csum_bad): two dumps pasted together?",
            quote(name)
        ),
        other => format!("{}: {other}", quote(name)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ena_of(text: &str) -> Result<Typed, Error> {
        let s = Snapshot::parse(text, "in")?;
        Typed::read(&s, Some(Driver::Ena))
    }

    #[test]
    fn ena_queues_beyond_the_device_and_aliases_are_errors_naming_the_line() {
        let e = ena_of("queue_0_tx_cnt: 1\nqueue_128_tx_cnt: 1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "in: line 2: `queue_128_tx_cnt`: queue beyond the 128 I/O queues an ENA device can have \
             (ENA_MAX_NUM_IO_QUEUES, ena_netdev.h): not a real ENA device's counters"
        );
        let e = ena_of("queue_0_rx_csum_bad: 1\nqueue_1_tx_cnt: 1\nqueue_0_rx_bad_csum: 1\n")
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("in: line 3: `queue_0_rx_bad_csum`: the same ENA counter")
        );
    }

    #[test]
    fn ena_tx_packets_are_of_the_queues_printed_only() {
        let t =
            ena_of("queue_0_tx_cnt: 5\nqueue_7_tx_cnt: 18446744073709551615\nqueue_3_rx_cnt: 1\n")
                .unwrap();
        let (pattern, m) = t.tx_packets().unwrap();
        assert_eq!(pattern, "queue_N_tx_cnt");
        assert_eq!(
            m.into_iter().collect::<Vec<_>>(),
            [(0, (5, false)), (7, (u128::from(u64::MAX), true))]
        );
    }
}
