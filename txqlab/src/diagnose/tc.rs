//! Reading `tc -s qdisc show` and `tc -s class show` output, as text or as `tc -s -j` JSON.

use serde_json::Value;

use super::error::{Error, quote};

/// Most qdiscs and classes one input may hold (4096 queues, a class and a child qdisc each, and a margin).
pub const MAX_ENTRIES: usize = 16_384;

/// One qdisc or class with its counters (`tc_stats` / `gnet_stats_basic` as `tc -s` prints them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcEntry {
    /// `qdisc` or `class`.
    pub what: String,
    /// Kind (`mq`, `fq_codel`, `pfifo_fast`, ...).
    pub kind: String,
    /// Handle (`1:`, `0:`, `1:3`).
    pub handle: String,
    /// Parent (`root`, `1:1`, ...).
    pub parent: String,
    /// Device, when the output names it (`tc` prints `dev` when not asked for one device).
    pub dev: Option<String>,
    /// Line it starts on.
    pub line: usize,
    /// Bytes sent.
    pub bytes: u64,
    /// Packets sent.
    pub packets: u64,
    /// Dropped.
    pub dropped: u64,
    /// Overlimits.
    pub overlimits: u64,
    /// Requeues.
    pub requeues: u64,
    /// Backlog bytes.
    pub backlog_bytes: u64,
    /// Backlog packets.
    pub backlog_packets: u64,
}

impl TcEntry {
    /// The TX queue an `mq` class or an `mq` child qdisc stands for: class `M:N` / parent `M:N` is queue N-1
    /// (`mq_dump_class`: the class minor is the queue index plus one).
    pub fn mq_queue(&self, mq_handles: &[String]) -> Option<u32> {
        let (_, minor) = if self.what == "class" && self.kind == "mq" {
            self.handle.split_once(':')?
        } else if self.what == "qdisc" {
            let (major, minor) = self.parent.split_once(':')?;
            let root = format!("{major}:");
            if !(mq_handles.contains(&root) || major.is_empty()) {
                return None;
            }
            (major, minor)
        } else {
            return None;
        };
        let n = u32::from_str_radix(minor, 16).ok()?;
        n.checked_sub(1)
    }

    /// Key identifying the same qdisc or class in two snapshots.
    pub fn key(&self) -> (String, String, String, String, Option<String>) {
        (
            self.what.clone(),
            self.kind.clone(),
            self.handle.clone(),
            self.parent.clone(),
            self.dev.clone(),
        )
    }

    /// How the finding names it: `qdisc fq_codel 0: (parent :1) on eth0`.
    pub fn describe(&self, dev: Option<&str>) -> String {
        let dev = self.dev.as_deref().or(dev);
        let parent = if self.parent.is_empty() {
            String::new()
        } else {
            format!(" (parent {})", self.parent)
        };
        let handle = if self.handle.is_empty() {
            String::new()
        } else {
            format!(" {}", self.handle)
        };
        match dev {
            Some(d) => format!("{} {}{handle}{parent} on {d}", self.what, self.kind),
            None => format!(
                "{} {}{handle}{parent} on the device the tc output is of (name it with --dev)",
                self.what, self.kind
            ),
        }
    }
}

/// Why `s` is not a handle as iproute2's `print_tc_handle` prints one (`MAJ:MIN`, each part empty or hex that
/// fits the 16 bits of `TC_H_MAJ`/`TC_H_MIN`; `root` or `none` otherwise), or `None` when it is one. A word
/// without a colon is left to the caller (iproute2 prints a few names, such as `ingress`, in some versions).
fn bad_handle(s: &str) -> Option<String> {
    let (major, minor) = s.split_once(':')?;
    for (part, name) in [(major, "major"), (minor, "minor")] {
        if part.is_empty() {
            continue;
        }
        match u32::from_str_radix(part, 16) {
            Ok(v) if v <= 0xffff => {}
            Ok(_) => {
                return Some(format!(
                    "the {name} number {part} does not fit the 16 bits a tc handle has (TC_H_{})",
                    name[..3].to_uppercase()
                ));
            }
            Err(_) => return Some(format!("the {name} number {part} is not hexadecimal")),
        }
    }
    None
}

fn num(s: &str, origin: &str, line: usize, what: &str) -> Result<u64, Error> {
    let t = s.trim_end_matches([',', ')', 'b', 'p']);
    // Sizes such as 12Kb or 3Mb in backlog lines.
    let (digits, mult) = match t.strip_suffix('K') {
        Some(d) => (d, 1_000),
        None => match t.strip_suffix('M') {
            Some(d) => (d, 1_000_000),
            None => (t, 1),
        },
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|v| v.checked_mul(mult))
        .ok_or_else(|| {
            Error::at(
                origin,
                line,
                format!("{} is not a number that fits 64 bits ({what})", quote(s)),
            )
        })
}

/// Line-by-line reader of `tc -s` text.
#[derive(Debug, Default)]
pub struct TcText {
    /// Entries read so far.
    pub entries: Vec<TcEntry>,
}

impl TcText {
    /// True when `text` starts a qdisc or class block.
    pub fn starts_block(text: &str) -> bool {
        let t = text.trim_start();
        t.starts_with("qdisc ") || t.starts_with("class ")
    }

    /// Reads one line. Lines the model has no use for (fq_codel's extra statistics, rate lines) are read but
    /// not kept; a `Sent`/`backlog` line that cannot be read is an error.
    pub fn take_line(&mut self, origin: &str, line: usize, raw: &str) -> Result<(), Error> {
        let t = raw.trim();
        let words: Vec<&str> = t.split_whitespace().collect();
        let Some(first) = words.first() else {
            return Ok(());
        };
        let at = Line { origin, line, t };
        match *first {
            "qdisc" | "class" => self.head(&at, &words),
            "Sent" => {
                let e = self
                    .entries
                    .last_mut()
                    .ok_or_else(|| at.bad("`Sent` before any qdisc or class"))?;
                sent(e, &at, &words)
            }
            "backlog" => {
                let e = self
                    .entries
                    .last_mut()
                    .ok_or_else(|| at.bad("`backlog` before any qdisc or class"))?;
                let trunc = || at.bad("truncated `backlog` line");
                e.backlog_bytes = at.num(words.get(1).ok_or_else(trunc)?, "backlog bytes")?;
                e.backlog_packets = at.num(words.get(2).ok_or_else(trunc)?, "backlog packets")?;
                Ok(())
            }
            _ if self.entries.is_empty() => Err(at.bad("expected a `qdisc` or `class` line")),
            _ => Ok(()),
        }
    }

    /// `qdisc KIND HANDLE [dev DEV] [root | parent P] ...` or `class KIND HANDLE ...`: a new entry.
    fn head(&mut self, at: &Line<'_>, words: &[&str]) -> Result<(), Error> {
        let first = words[0];
        if words.len() < 3 {
            return Err(at.bad(&format!("expected `{first} KIND HANDLE ...`")));
        }
        if self.entries.len() >= MAX_ENTRIES {
            return Err(at.bad(&format!(
                "more than {MAX_ENTRIES} qdiscs and classes: not one device's tc output"
            )));
        }
        let after = |k: &str| {
            words
                .iter()
                .position(|w| *w == k)
                .and_then(|p| words.get(p + 1))
                .map(|s| s.to_string())
        };
        let parent = match after("parent") {
            Some(p) => p,
            None if words.contains(&"root") => "root".into(),
            None => String::new(),
        };
        for (field, value) in [("handle", words[2]), ("parent", parent.as_str())] {
            if let Some(why) = bad_handle(value) {
                return Err(at.bad(&format!("{field} {}: {why}", quote(value))));
            }
        }
        self.entries.push(TcEntry {
            what: first.into(),
            kind: words[1].into(),
            handle: words[2].into(),
            parent,
            dev: after("dev"),
            line: at.line,
            ..TcEntry::default()
        });
        Ok(())
    }
}

/// The line being read, for its errors.
struct Line<'a> {
    origin: &'a str,
    line: usize,
    t: &'a str,
}

impl Line<'_> {
    fn bad(&self, m: &str) -> Error {
        Error::at(self.origin, self.line, format!("{}: {m}", quote(self.t)))
    }

    fn num(&self, s: &str, what: &str) -> Result<u64, Error> {
        num(s, self.origin, self.line, what)
    }
}

/// `Sent B bytes P pkt (dropped D, overlimits O requeues R)`.
fn sent(e: &mut TcEntry, at: &Line<'_>, words: &[&str]) -> Result<(), Error> {
    let get = |k: &str| {
        words
            .iter()
            .position(|w| w.trim_start_matches('(') == k)
            .and_then(|p| words.get(p + 1))
            .ok_or_else(|| at.bad(&format!("no `{k}` count")))
    };
    let trunc = || at.bad("truncated `Sent` line");
    e.bytes = at.num(words.get(1).ok_or_else(trunc)?, "bytes")?;
    e.packets = at.num(words.get(3).ok_or_else(trunc)?, "packets")?;
    e.dropped = at.num(get("dropped")?, "dropped")?;
    e.overlimits = at.num(get("overlimits")?, "overlimits")?;
    e.requeues = at.num(get("requeues")?, "requeues")?;
    Ok(())
}

/// Parses `tc -s qdisc show` / `tc -s class show` text.
pub fn parse(text: &str, origin: &str) -> Result<Vec<TcEntry>, Error> {
    let mut p = TcText::default();
    for (i, raw) in text.lines().enumerate() {
        p.take_line(origin, i + 1, raw)?;
    }
    if p.entries.is_empty() {
        return Err(Error::input(origin, "no qdisc or class found"));
    }
    Ok(p.entries)
}

/// Parses `tc -s -j qdisc show` / `tc -s -j class show` output (one or more JSON arrays, as
/// iproute2's `print_qdisc`/`print_class` emit them: `kind` or `class`, `handle`, `parent` or `root`, `dev`,
/// `bytes`, `packets`, `drops`, `overlimits`, `requeues`, `backlog`, `qlen`).
pub fn parse_json(text: &str, origin: &str, first_line: usize) -> Result<Vec<TcEntry>, Error> {
    let mut out = Vec::new();
    let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    for v in stream {
        let v = v.map_err(|e| {
            Error::at(
                origin,
                first_line + e.line().saturating_sub(1),
                format!("tc JSON: {e}"),
            )
        })?;
        let items = match v {
            Value::Array(a) => a,
            other => {
                return Err(Error::at(
                    origin,
                    first_line,
                    format!(
                        "tc JSON: expected an array of qdiscs or classes, found {}",
                        quote(&other.to_string())
                    ),
                ));
            }
        };
        for it in items {
            if out.len() >= MAX_ENTRIES {
                return Err(Error::at(
                    origin,
                    first_line,
                    format!(
                        "more than {MAX_ENTRIES} qdiscs and classes: not one device's tc output"
                    ),
                ));
            }
            out.push(json_entry(&it, origin, first_line)?);
        }
    }
    Ok(out)
}

/// One qdisc or class of iproute2's JSON.
fn json_entry(it: &Value, origin: &str, first_line: usize) -> Result<TcEntry, Error> {
    let s = |k: &str| it.get(k).and_then(Value::as_str).map(str::to_string);
    let n = |k: &str| -> Result<u64, Error> {
        match it.get(k) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => v.as_u64().ok_or_else(|| {
                Error::at(
                    origin,
                    first_line,
                    format!(
                        "tc JSON: `{k}` is {} (expected an unsigned 64-bit integer)",
                        quote(&v.to_string())
                    ),
                )
            }),
        }
    };
    let (what, kind) = match (s("class"), s("kind")) {
        (Some(c), _) => ("class", c),
        (None, Some(k)) => ("qdisc", k),
        (None, None) => {
            return Err(Error::at(
                origin,
                first_line,
                format!(
                    "tc JSON: an entry without `kind` or `class`: {}",
                    quote(&it.to_string())
                ),
            ));
        }
    };
    let parent = match s("parent") {
        Some(p) => p,
        None if it.get("root").and_then(Value::as_bool) == Some(true) => "root".into(),
        None => String::new(),
    };
    let handle = s("handle").unwrap_or_default();
    for (field, value) in [("handle", &handle), ("parent", &parent)] {
        if let Some(why) = bad_handle(value) {
            return Err(Error::at(
                origin,
                first_line,
                format!("tc JSON: `{field}` is {}: {why}", quote(value)),
            ));
        }
    }
    Ok(TcEntry {
        what: what.into(),
        kind,
        handle,
        parent,
        dev: s("dev"),
        line: first_line,
        bytes: n("bytes")?,
        packets: n("packets")?,
        dropped: n("drops")?,
        overlimits: n("overlimits")?,
        requeues: n("requeues")?,
        backlog_bytes: n("backlog")?,
        backlog_packets: n("qlen")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_from_iproute2_reads_like_text() {
        let j = r#"[{"kind":"mq","handle":"1:","root":true,"options":{},"bytes":10,"packets":2,"drops":0,"overlimits":0,"requeues":0,"backlog":0,"qlen":0},{"kind":"pfifo_fast","handle":"0:","dev":"va","parent":"1:8","bytes":5,"packets":1,"drops":3,"overlimits":0,"requeues":1,"backlog":0,"qlen":0}]"#;
        let e = parse_json(j, "t", 1).unwrap_or_default();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].parent.as_str(), e[1].dropped), ("root", 3));
        assert_eq!(e[1].mq_queue(&["1:".into()]), Some(7));
        assert_eq!(e[1].dev.as_deref(), Some("va"));
    }

    #[test]
    fn mq_classes_map_to_queues_in_hex() {
        let c = TcEntry {
            what: "class".into(),
            kind: "mq".into(),
            handle: "1:a".into(),
            ..TcEntry::default()
        };
        assert_eq!(c.mq_queue(&[]), Some(9));
    }

    #[test]
    fn handles_are_two_16_bit_hex_numbers_or_a_word() {
        for ok in ["1:", ":1", "ffff:fff1", "1:ffff", "root", "", "8001:"] {
            assert_eq!(bad_handle(ok), None, "{ok}");
        }
        let bad = |h: &str| bad_handle(h).unwrap_or_default();
        assert!(bad(":10000").contains("minor number 10000 does not fit"));
        assert!(bad("10000:").contains("(TC_H_MAJ)"));
        assert!(bad("1:x").contains("not hexadecimal"));
        let mut t = TcText::default();
        let e = t
            .take_line("in", 3, "qdisc pfifo_fast 0: parent 1:fffff")
            .unwrap_err();
        assert!(e.to_string().contains("in: line 3: "), "{e}");
        let j = r#"[{"kind":"pfifo","handle":"0:","parent":":123456","bytes":0,"packets":0,"drops":0,"overlimits":0,"requeues":0,"backlog":0,"qlen":0}]"#;
        let e = parse_json(j, "in", 7).unwrap_err().to_string();
        assert!(e.contains("line 7") && e.contains("`parent`"), "{e}");
    }
}
