//! One snapshot of a device (its `ethtool -S` counters, `ethtool -i`, tc statistics, and for bundles the
//! kernel and sysfs facts), read from any mix of the formats users paste, and the difference of two.

use std::collections::BTreeMap;
use std::io::BufRead;

use nic_model::ethtool::{Interval, Since};

use super::counters::Typed;
use super::driver::{Driver, DriverInfo, TxScheme, infer};
use super::error::{Error, quote};
use super::ethtool::EthtoolStats;
use super::lines::for_each_line;
use super::prometheus::{ethtool_name, is_sample, parse_sample};
use super::tc::{TcEntry, TcText, parse_json};

/// First line of a `txqlab collect` bundle.
pub const BUNDLE_MAGIC: &str = "# txqlab collect bundle v1";
/// Longest raw text section kept from a bundle (sysfs, /proc files).
pub const MAX_SECTION: usize = 1 << 20;
/// Longest JSON document accepted.
pub const MAX_JSON: usize = 64 << 20;

/// One snapshot.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Where it was read from.
    pub origin: String,
    /// Device name, when the input says it (bundle header, tc `dev`, node_exporter `device` label).
    pub device: Option<String>,
    /// When it was taken (bundle), milliseconds since the Unix epoch.
    pub at_ms: Option<u64>,
    /// `ethtool -S`.
    pub ethtool: EthtoolStats,
    /// `ethtool -i`.
    pub info: DriverInfo,
    /// `tc -s` qdiscs and classes.
    pub tc: Vec<TcEntry>,
    /// Raw bundle sections other than the above (`uname -r`, `/proc/net/snmp`, sysfs), by title.
    pub sections: BTreeMap<String, String>,
    /// The typed counters of a difference ([`delta`]: by the typed reading's own `since`); `None` for a
    /// snapshot as read, which `diagnose` reads typed itself ([`Typed::read`]).
    pub typed: Option<Typed>,
}

impl Snapshot {
    /// Reads `ethtool -S` text (and anything else this module reads) from a string.
    pub fn parse(text: &str, origin: &str) -> Result<Self, Error> {
        let mut v = read(text.as_bytes(), origin, None)?;
        match v.len() {
            1 => Ok(v.remove(0)),
            n => Err(Error::input(
                origin,
                format!("{n} snapshots where one was expected"),
            )),
        }
    }

    /// The driver: `ethtool -i` when given, else inferred from counter names.
    pub fn driver(&self) -> (Option<Driver>, DriverSource) {
        if let Some(name) = &self.info.driver {
            return (Driver::from_name(name), DriverSource::EthtoolI);
        }
        match infer(
            |n| self.ethtool.get(n).is_some(),
            |p| self.ethtool.iter().any(|(n, _)| p(n)),
        ) {
            Some(d) => (Some(d), DriverSource::CounterNames),
            None => (None, DriverSource::None),
        }
    }

    /// The driver's name as the report shows it.
    pub fn driver_name(&self) -> String {
        match (&self.info.driver, self.driver().0) {
            (Some(n), _) => n.clone(),
            (None, Some(d)) => d.name().to_string(),
            (None, None) => "unknown".into(),
        }
    }

    /// The per-queue TX scheme to read: the driver's, else the first scheme any counter matches.
    pub fn tx_scheme(&self) -> Option<TxScheme> {
        if let (Some(d), _) = self.driver() {
            return d.tx_scheme();
        }
        TxScheme::ALL
            .into_iter()
            .find(|s| self.ethtool.iter().any(|(n, _)| s.queue_of(n).is_some()))
    }

    fn is_empty(&self) -> bool {
        self.ethtool.is_empty() && self.tc.is_empty() && self.info.driver.is_none()
    }
}

/// Where the driver name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriverSource {
    /// `ethtool -i` (`driver:` line, bundle, or node_ethtool_info).
    EthtoolI,
    /// Counter names only this driver prints.
    CounterNames,
    /// Not known.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Auto,
    TcText,
    Json,
    /// A bundle section kept as raw text.
    Raw,
}

struct Reader<'a> {
    origin: &'a str,
    dev: Option<&'a str>,
    snaps: Vec<Snapshot>,
    cur: Snapshot,
    mode: Mode,
    tc: TcText,
    json: String,
    json_line: usize,
    raw_title: String,
    raw: String,
    bundle: bool,
    prometheus: bool,
    /// node_exporter samples by device.
    prom: BTreeMap<String, Snapshot>,
}

/// True when `t` opens a JSON document (`tc -s -j` output), not a bnxt/bnx2x counter such as `[0]: rx_bytes: 5`.
fn starts_json(t: &str) -> bool {
    let bracket_counter = t
        .strip_prefix('[')
        .and_then(|r| r.split_once("]:"))
        .is_some_and(|(q, _)| !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()));
    t.starts_with('{') || (t.starts_with('[') && !bracket_counter)
}

fn is_info_line(t: &str) -> Option<(&str, &str)> {
    let (k, v) = t.split_once(':')?;
    DriverInfo::KEYS.contains(&k).then_some((k, v))
}

impl Reader<'_> {
    fn flush_block(&mut self) -> Result<(), Error> {
        match self.mode {
            Mode::TcText => self.cur.tc.append(&mut self.tc.entries),
            Mode::Json => {
                let text = core::mem::take(&mut self.json);
                self.cur
                    .tc
                    .extend(parse_json(&text, self.origin, self.json_line)?);
            }
            Mode::Raw => {
                let t = core::mem::take(&mut self.raw);
                self.cur
                    .sections
                    .insert(core::mem::take(&mut self.raw_title), t);
            }
            Mode::Auto => {}
        }
        self.mode = Mode::Auto;
        Ok(())
    }

    fn new_snapshot(&mut self) -> Result<(), Error> {
        self.flush_block()?;
        let next = Snapshot {
            origin: self.origin.to_string(),
            device: self.cur.device.clone(),
            ..Snapshot::default()
        };
        let done = core::mem::replace(&mut self.cur, next);
        if !done.is_empty() || !done.sections.is_empty() {
            self.snaps.push(done);
        }
        Ok(())
    }

    /// A bundle's `## snapshot`, `# device:` and `### source` lines; true when `t` was one.
    fn bundle_header(&mut self, n: usize, t: &str) -> Result<bool, Error> {
        if let Some(h) = t.strip_prefix("## snapshot") {
            self.new_snapshot()?;
            self.cur.at_ms = h
                .split_whitespace()
                .find_map(|w| w.strip_prefix("at_unix_ms="))
                .and_then(|v| v.parse().ok());
            return Ok(true);
        }
        if let Some(d) = t.strip_prefix("# device:") {
            self.cur.device = Some(d.trim().to_string());
            return Ok(true);
        }
        if let Some(title) = t.strip_prefix("### ") {
            self.flush_block()?;
            let title = title.trim();
            if title.starts_with("tc -s -j") {
                self.mode = Mode::Json;
                self.json_line = n + 1;
            } else if title.starts_with("tc -s") {
                self.mode = Mode::TcText;
            } else if !title.starts_with("ethtool") {
                self.mode = Mode::Raw;
                self.raw_title = title.to_string();
            }
            return Ok(true);
        }
        Ok(false)
    }

    fn line(&mut self, n: usize, text: &str) -> Result<(), Error> {
        let t = text.trim();
        if n == 1 && t == BUNDLE_MAGIC {
            self.bundle = true;
            return Ok(());
        }
        if self.bundle && self.bundle_header(n, t)? {
            return Ok(());
        }
        match self.mode {
            Mode::Raw => {
                if self.raw.len() + text.len() < MAX_SECTION {
                    self.raw.push_str(text);
                    self.raw.push('\n');
                }
                return Ok(());
            }
            Mode::Json | Mode::TcText if self.bundle => {}
            Mode::Json | Mode::TcText => {
                // Pasted input: a new kind of block ends this one.
                let col0 = !text.starts_with([' ', '\t']);
                let ends = t == "NIC statistics:"
                    || t.starts_with('#')
                    || (col0 && is_info_line(t).is_some())
                    || (self.mode == Mode::Json && TcText::starts_block(t))
                    || (self.mode == Mode::TcText && col0 && starts_json(t));
                if ends {
                    self.flush_block()?;
                }
            }
            Mode::Auto => {}
        }
        match self.mode {
            Mode::TcText => return self.tc.take_line(self.origin, n, text),
            Mode::Json => {
                if self.json.len() + text.len() > MAX_JSON {
                    return Err(Error::at(
                        self.origin,
                        n,
                        format!("JSON longer than {MAX_JSON} bytes: not tc output"),
                    ));
                }
                self.json.push_str(text);
                self.json.push('\n');
                return Ok(());
            }
            Mode::Raw | Mode::Auto => {}
        }
        self.auto_line(n, t, text)
    }

    /// A line outside any block: its own shape says what it is (tc, JSON, `ethtool -i`, Prometheus, `ethtool -S`).
    fn auto_line(&mut self, n: usize, t: &str, text: &str) -> Result<(), Error> {
        if t.is_empty() {
            return Ok(());
        }
        if t.starts_with("$ ") {
            return Ok(()); // A pasted shell prompt line (`$ ethtool -S eth0`).
        }
        if t.starts_with('#') {
            if t.starts_with("# HELP ") || t.starts_with("# TYPE ") {
                self.prometheus = true;
            }
            return Ok(());
        }
        if TcText::starts_block(t) {
            self.mode = Mode::TcText;
            return self.tc.take_line(self.origin, n, text);
        }
        if starts_json(t) {
            self.mode = Mode::Json;
            self.json_line = n;
            self.json.push_str(text);
            self.json.push('\n');
            return Ok(());
        }
        if let Some((k, v)) = is_info_line(t) {
            self.cur.info.take(k, v);
            return Ok(());
        }
        if is_sample(t) && (self.prometheus || t.starts_with("node_")) {
            return self.sample(n, t);
        }
        self.cur.ethtool.take_line(self.origin, n, text)?;
        Ok(())
    }

    fn sample(&mut self, n: usize, t: &str) -> Result<(), Error> {
        let s = parse_sample(self.origin, n, t)?;
        let Some(dev) = s.labels.get("device") else {
            return Ok(());
        };
        if self.dev.is_some_and(|d| d != dev) {
            return Ok(());
        }
        if !(s.name.starts_with("node_ethtool_") || s.name.starts_with("node_qdisc_")) {
            return Ok(());
        }
        let snap = self.prom.entry(dev.clone()).or_insert_with(|| Snapshot {
            origin: self.origin.to_string(),
            device: Some(dev.clone()),
            ..Snapshot::default()
        });
        if s.name == "node_ethtool_info" {
            for (k, l) in [
                ("driver", "driver"),
                ("version", "version"),
                ("bus-info", "bus_info"),
            ] {
                if let Some(v) = s.labels.get(l) {
                    snap.info.take(k, v);
                }
            }
            return Ok(());
        }
        let Some(v) = s.value else {
            return Err(Error::at(
                self.origin,
                n,
                format!("{}: value is not a non-negative integer count", quote(t)),
            ));
        };
        if let Some(kind) = s.name.strip_prefix("node_qdisc_") {
            let qkind = s.labels.get("kind").cloned().unwrap_or_default();
            let pos = snap
                .tc
                .iter()
                .position(|e| e.kind == qkind)
                .unwrap_or_else(|| {
                    snap.tc.push(TcEntry {
                        what: "qdisc".into(),
                        kind: qkind.clone(),
                        dev: Some(dev.clone()),
                        line: n,
                        ..TcEntry::default()
                    });
                    snap.tc.len() - 1
                });
            let e = &mut snap.tc[pos];
            match kind {
                "bytes_total" => e.bytes = v,
                "packets_total" => e.packets = v,
                "drops_total" => e.dropped = v,
                "requeues_total" => e.requeues = v,
                "overlimits_total" => e.overlimits = v,
                "backlog" => e.backlog_bytes = v,
                "current_queue_length" => e.backlog_packets = v,
                _ => {}
            }
            return Ok(());
        }
        if let Some(name) = s.name.strip_prefix("node_ethtool_") {
            snap.ethtool
                .insert(self.origin, n, &ethtool_name(name), v)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Snapshot>, Error> {
        self.flush_block()?;
        if !self.prom.is_empty() {
            if self.prom.len() > 1 {
                let devs: Vec<&str> = self.prom.keys().map(String::as_str).collect();
                return Err(Error::Usage(format!(
                    "{}: the node_exporter text has devices {}: choose one with --dev",
                    self.origin,
                    devs.join(", ")
                )));
            }
            if let Some((_, p)) = self.prom.into_iter().next() {
                self.cur.device = p.device;
                for r in p.ethtool.reads() {
                    self.cur.ethtool.insert(r.origin, r.line, r.name, r.value)?;
                }
                if self.cur.info.driver.is_none() {
                    self.cur.info = p.info;
                }
                self.cur.tc.extend(p.tc);
            }
        }
        if let Some(d) = self.dev {
            self.cur
                .tc
                .retain(|e| e.dev.as_deref().is_none_or(|x| x == d));
            if self.cur.device.is_none() {
                self.cur.device = Some(d.to_string());
            }
        }
        let last = core::mem::take(&mut self.cur);
        if !last.is_empty() {
            self.snaps.push(last);
        }
        if self.snaps.iter().all(Snapshot::is_empty) {
            return Err(Error::input(
                self.origin,
                "no counters found (expected `ethtool -S`, `ethtool -i`, `tc -s` text or JSON, node_exporter \
                 text, or a `txqlab collect` bundle)",
            ));
        }
        Ok(self.snaps)
    }
}

/// Reads every snapshot in `r` (one, or a bundle's several). `dev` keeps only that device's tc entries and
/// node_exporter samples.
pub fn read<R: BufRead>(r: R, origin: &str, dev: Option<&str>) -> Result<Vec<Snapshot>, Error> {
    let mut rd = Reader {
        origin,
        dev,
        snaps: Vec::new(),
        cur: Snapshot {
            origin: origin.to_string(),
            ..Snapshot::default()
        },
        mode: Mode::Auto,
        tc: TcText::default(),
        json: String::new(),
        json_line: 0,
        raw_title: String::new(),
        raw: String::new(),
        bundle: false,
        prometheus: false,
        prom: BTreeMap::new(),
    };
    for_each_line(r, origin, |n, l| rd.line(n, l))?;
    rd.finish()
}

/// A counter that went down between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrease {
    /// Counter (or `tc` entry and field).
    pub name: String,
    /// Value in the earlier snapshot.
    pub before: u64,
    /// Value in the later one.
    pub after: u64,
}

/// Refuses two snapshots that are not of one device: names, bus addresses, drivers or TX queue sets differ.
fn same_device(after: &Snapshot, before: &Snapshot) -> Result<(), Error> {
    let other = |what: String| {
        Error::input(
            &after.origin,
            format!(
                "{what}: --before {} is a snapshot of another device; give two snapshots of the same device",
                before.origin
            ),
        )
    };
    if let (Some(a), Some(b)) = (&after.device, &before.device)
        && a != b
    {
        return Err(other(format!("device {a} vs {b}")));
    }
    if let (Some(a), Some(b)) = (&after.info.bus_info, &before.info.bus_info)
        && a != b
    {
        return Err(other(format!("bus-info {a} vs {b}")));
    }
    let (da, db) = (after.driver_name(), before.driver_name());
    if da != db && da != "unknown" && db != "unknown" {
        return Err(other(format!("driver {da} vs {db}")));
    }
    if let Some(s) = after.tx_scheme() {
        let qa: Vec<u32> = after.ethtool.tx_per_queue(s).into_keys().collect();
        let qb: Vec<u32> = before.ethtool.tx_per_queue(s).into_keys().collect();
        if !qb.is_empty() && qa != qb {
            return Err(other(format!(
                "{} TX queues vs {} (or the queue count was changed with ethtool -L in between)",
                qa.len(),
                qb.len()
            )));
        }
    }
    Ok(())
}

/// `after - before`, refusing snapshots of different devices or in the wrong order, by nic-model's
/// [`Interval`] rule (the one `NicStats::since` applies) over every counter and tc entry. When some counters
/// went down (a device reset between the snapshots) the result keeps `after`'s own counts, since the reset, and
/// lists the decreases: the caller reports them, nothing is mixed silently. ENA's and virtio_net's typed
/// counters ([`super::Typed`]) are read from the result.
pub fn delta(after: &Snapshot, before: &Snapshot) -> Result<(Snapshot, Vec<Decrease>), Error> {
    same_device(after, before)?;
    if let (Some(a), Some(b)) = (after.at_ms, before.at_ms)
        && a < b
    {
        return Err(Error::input(
            &after.origin,
            format!(
                "--before {} was taken after the input (wrong order): swap them",
                before.origin
            ),
        ));
    }
    // Both read as the input's driver: `before` may lack the `ethtool -i` the input has.
    let driver = after.driver().0;
    let (typed, typed_before) = (Typed::read(after, driver)?, Typed::read(before, driver)?);
    let gauge = |n: &str| typed.is_gauge(n);
    let (up, down) = after.ethtool.changes(&before.ethtool, &gauge);
    let (tc_up, mut decreases) = tc_moves(after, before);
    let (up, down) = (up + tc_up, down + decreases.len());
    let mut out = after.clone();
    match Interval::of(up, down) {
        Interval::Reversed => return Err(reversed(after, before)),
        Interval::Counted => {
            // Nothing went down: `subtract` finds no decrease (it skips invalid values as `changes` does), and
            // the typed reading, comparing the same values, counted.
            decreases.extend(subtract(&mut out, before, &gauge));
            let invalid = after.ethtool.invalid_in_either(&before.ethtool);
            out.typed = Some(match typed.since(&typed_before, &invalid) {
                Since::Counted(d) => d,
                Since::Reset(_) | Since::Reversed => typed,
            });
        }
        Interval::Reset => {
            let mut eth = after.ethtool.clone();
            decreases.extend(eth.subtract(&before.ethtool, &gauge).into_iter().map(
                |(name, before, after)| Decrease {
                    name,
                    before,
                    after,
                },
            ));
            out.typed = Some(typed);
        }
    }
    // After a reset, `out` keeps the input's own counts (since the reset) everywhere.
    Ok((out, decreases))
}

/// tc entries' moves between the snapshots: how many counts went up, and the decreases.
fn tc_moves(after: &Snapshot, before: &Snapshot) -> (usize, Vec<Decrease>) {
    let tc_before: BTreeMap<_, &TcEntry> = before.tc.iter().map(|e| (e.key(), e)).collect();
    let (mut up, mut decreases) = (0, Vec::new());
    for e in &after.tc {
        let Some(b) = tc_before.get(&e.key()) else {
            continue;
        };
        for (f, x, y) in [
            ("packets", b.packets, e.packets),
            ("dropped", b.dropped, e.dropped),
            ("requeues", b.requeues, e.requeues),
        ] {
            if y < x {
                decreases.push(Decrease {
                    name: format!("{} {} {} {f}", e.what, e.kind, e.handle),
                    before: x,
                    after: y,
                });
            } else if y > x {
                up += 1;
            }
        }
    }
    (up, decreases)
}

/// `out -= before`, counter by counter and tc entry by tc entry, when nothing went down; returns what did go
/// down all the same (nothing, when the caller checked).
fn subtract(out: &mut Snapshot, before: &Snapshot, gauge: &dyn Fn(&str) -> bool) -> Vec<Decrease> {
    let down = out.ethtool.subtract(&before.ethtool, gauge);
    let tc_before: BTreeMap<_, &TcEntry> = before.tc.iter().map(|e| (e.key(), e)).collect();
    for e in &mut out.tc {
        if let Some(b) = tc_before.get(&e.key()) {
            e.bytes = e.bytes.saturating_sub(b.bytes);
            e.packets = e.packets.saturating_sub(b.packets);
            e.dropped = e.dropped.saturating_sub(b.dropped);
            e.overlimits = e.overlimits.saturating_sub(b.overlimits);
            e.requeues = e.requeues.saturating_sub(b.requeues);
        }
    }
    down.into_iter()
        .map(|(name, before, after)| Decrease {
            name,
            before,
            after,
        })
        .collect()
}

/// The error for snapshots in the wrong order, with a counter that shows it.
fn reversed(after: &Snapshot, before: &Snapshot) -> Error {
    let ex = after
        .ethtool
        .iter()
        .find_map(|(n, v)| before.ethtool.get(n).filter(|b| *b > v).map(|b| (n, b, v)))
        .map(|(n, b, v)| format!(" (e.g. {n}: {b} -> {v})"))
        .unwrap_or_default();
    Error::input(
        &after.origin,
        format!(
            "every counter that changed went down{ex}: the input is older than --before {} (swap them), or \
             the device was reset in between (then diagnose the input alone)",
            before.origin
        ),
    )
}
