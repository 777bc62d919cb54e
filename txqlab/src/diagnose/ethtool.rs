//! `ethtool -S` counters of one device, read line by line with bounded memory.

use std::collections::BTreeMap;

use super::driver::{MAX_TX_QUEUES, TxScheme};
use super::error::{Error, quote};

/// Most distinct counters one snapshot may have (mlx5 with 128 channels prints about 20 000).
pub const MAX_COUNTERS: usize = 200_000;

/// A value of 2^64-1: a driver's -1 printed unsigned (an unset or failed read), not a count.
pub const INVALID: u64 = u64::MAX;

/// Counters by name, each with the input and line it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EthtoolStats {
    /// Name -> (value, line, index into `origins`).
    counters: BTreeMap<String, (u64, usize, usize)>,
    /// The inputs the counters came from (the snapshot's file, and `--driver-info` or `--tc` files).
    origins: Vec<String>,
}

/// One counter with where it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read<'a> {
    /// Counter name.
    pub name: &'a str,
    /// Value.
    pub value: u64,
    /// The file, `<stdin>` or live device it came from.
    pub origin: &'a str,
    /// 1-based line in `origin` (0 when the format has no lines).
    pub line: usize,
}

impl EthtoolStats {
    /// Reads one `name: value` line; `Ok(false)` when the line is not a counter (blank or a header such as
    /// `NIC statistics:`).
    pub fn take_line(&mut self, origin: &str, line: usize, text: &str) -> Result<bool, Error> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(false);
        }
        let Some((name, value)) = t.rsplit_once(':') else {
            return Err(Error::at(
                origin,
                line,
                format!("{}: expected `name: value` (ethtool -S)", quote(t)),
            ));
        };
        let (name, value) = (name.trim(), value.trim());
        if value.is_empty() {
            return Ok(false);
        }
        if name.is_empty() {
            return Err(Error::at(
                origin,
                line,
                format!("{}: counter without a name", quote(t)),
            ));
        }
        let v = value.parse::<u64>().map_err(|_| {
            Error::at(
                origin,
                line,
                format!(
                    "{}: counter `{}` has value {} which is not an unsigned 64-bit integer",
                    quote(t),
                    name,
                    quote(value)
                ),
            )
        })?;
        self.insert(origin, line, name, v)?;
        Ok(true)
    }

    /// Adds a counter (also used for counters read from other formats).
    pub fn insert(&mut self, origin: &str, line: usize, name: &str, v: u64) -> Result<(), Error> {
        for s in TxScheme::ALL {
            if let Some(q) = s.queue_of(name).filter(|q| *q >= u64::from(MAX_TX_QUEUES)) {
                return Err(Error::at(
                    origin,
                    line,
                    format!(
                        "{}: queue {q} is beyond the {MAX_TX_QUEUES} TX queues a Linux device can have \
                         (rtnl_create_link): not a real device's counters",
                        quote(name)
                    ),
                ));
            }
        }
        if let Some((_, first, _)) = self.counters.get(name) {
            return Err(Error::at(
                origin,
                line,
                format!(
                    "counter {} appears twice (first on line {first}): two snapshots pasted together? \
                     Give the earlier one with --before",
                    quote(name)
                ),
            ));
        }
        if self.counters.len() >= MAX_COUNTERS {
            return Err(Error::at(
                origin,
                line,
                format!("more than {MAX_COUNTERS} counters: not one device's `ethtool -S`"),
            ));
        }
        let o = match self.origins.iter().position(|o| o == origin) {
            Some(o) => o,
            None => {
                self.origins.push(origin.to_string());
                self.origins.len() - 1
            }
        };
        self.counters.insert(name.to_string(), (v, line, o));
        Ok(())
    }

    /// Every counter with the input and line it came from, in the order it was read (input by input, line by
    /// line): what a typed reading such as `nic_model::ethtool::NicStats::from_entries` takes.
    pub fn reads(&self) -> Vec<Read<'_>> {
        let mut v: Vec<(usize, Read<'_>)> = self
            .counters
            .iter()
            .map(|(name, (value, line, o))| {
                let origin = self.origins.get(*o).map_or("", String::as_str);
                let r = Read {
                    name,
                    value: *value,
                    origin,
                    line: *line,
                };
                (*o, r)
            })
            .collect();
        v.sort_by_key(|(o, r)| (*o, r.line));
        v.into_iter().map(|(_, r)| r).collect()
    }

    /// Number of counters.
    pub fn len(&self) -> usize {
        self.counters.len()
    }

    /// True when no counter was read.
    pub fn is_empty(&self) -> bool {
        self.counters.is_empty()
    }

    /// A counter's value.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.counters.get(name).map(|(v, _, _)| *v)
    }

    /// Every counter, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.counters.iter().map(|(n, (v, _, _))| (n.as_str(), *v))
    }

    /// Per-queue TX counts by `scheme`: queue number -> (sum of the parts, whether a part was invalid).
    /// Sums are widened to 128 bits: three 64-bit parts cannot overflow them.
    pub fn tx_per_queue(&self, scheme: TxScheme) -> BTreeMap<u32, (u128, bool)> {
        let mut out: BTreeMap<u32, (u128, bool)> = BTreeMap::new();
        for (name, v) in self.iter() {
            if let Some(q) = scheme.queue_of(name).and_then(|q| u32::try_from(q).ok()) {
                let e = out.entry(q).or_default();
                if v == INVALID {
                    e.1 = true;
                } else {
                    e.0 += u128::from(v);
                }
            }
        }
        out
    }

    /// Counters holding 2^64-1 here or, for the same name, in `before`: no count either way.
    pub fn invalid_in_either(&self, before: &Self) -> Vec<&str> {
        self.iter()
            .filter(|(n, v)| *v == INVALID || before.get(n) == Some(INVALID))
            .map(|(n, _)| n)
            .collect()
    }

    /// Counters holding 2^64-1.
    pub fn invalid(&self) -> Vec<&str> {
        self.iter()
            .filter(|(_, v)| *v == INVALID)
            .map(|(n, _)| n)
            .collect()
    }

    /// Replaces every counter by `self - before`, except gauges (`gauge(name)`), which keep their level.
    /// Returns the counters that went down (name, before, after); those keep their value in `self` (the count
    /// since they restarted) and the caller decides.
    pub fn subtract(
        &mut self,
        before: &Self,
        gauge: &dyn Fn(&str) -> bool,
    ) -> Vec<(String, u64, u64)> {
        let mut down = Vec::new();
        for (name, (v, _, _)) in self.counters.iter_mut() {
            let Some(b) = before.get(name).filter(|_| !gauge(name)) else {
                continue;
            };
            if *v == INVALID || b == INVALID {
                *v = INVALID;
            } else if *v >= b {
                *v -= b;
            } else {
                down.push((name.clone(), b, *v));
            }
        }
        down
    }

    /// Counters whose value changed between `before` and `self` (for `nic_model::ethtool::Interval`): (went up,
    /// went down). A value of 2^64-1 on either side is no count, so it moved neither way
    /// ([`subtract`](Self::subtract) keeps it invalid); a gauge (`gauge(name)`) is a level, not a count.
    pub fn changes(&self, before: &Self, gauge: &dyn Fn(&str) -> bool) -> (usize, usize) {
        let (mut up, mut down) = (0, 0);
        for (name, v) in self.iter().filter(|(n, v)| *v != INVALID && !gauge(n)) {
            match before.get(name).filter(|b| *b != INVALID) {
                Some(b) if b < v => up += 1,
                Some(b) if b > v => down += 1,
                _ => {}
            }
        }
        (up, down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_quote_the_text() {
        let mut s = EthtoolStats::default();
        let e = s.take_line("in", 3, "  queue_0_tx_cnt: 12abc").err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some(
                "in: line 3: `queue_0_tx_cnt: 12abc`: counter `queue_0_tx_cnt` has value `12abc` which is not \
                 an unsigned 64-bit integer"
            )
        );
    }

    #[test]
    fn queue_numbers_beyond_linux_are_refused() {
        let mut s = EthtoolStats::default();
        assert!(s.take_line("in", 1, "queue_4095_tx_cnt: 1").is_ok());
        let e = s.take_line("in", 2, "queue_4096_tx_cnt: 1").err();
        assert!(e.is_some_and(|e| e.to_string().contains("4096 TX queues")));
        let e = s
            .take_line("in", 3, "tx_queue_99999999999999999999999_packets: 1")
            .err();
        assert!(e.is_some());
    }
}
