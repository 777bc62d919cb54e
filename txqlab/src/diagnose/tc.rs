//! Reading `tc -s qdisc show` and `tc -s class show` output.

/// One qdisc or class with its counters.
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

fn num(s: &str, origin: &str, line: usize, what: &str) -> Result<u64, String> {
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
            format!("{origin}: line {line}: `{s}` is not a number that fits 64 bits ({what})")
        })
}

/// Parses `tc -s qdisc show` / `tc -s class show` text. Lines the model has no use for (fq_codel's extra
/// statistics, rate lines) are read but not kept; a `Sent`/`backlog` line that cannot be read is an error.
pub fn parse(text: &str, origin: &str) -> Result<Vec<TcEntry>, String> {
    let mut out: Vec<TcEntry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let t = raw.trim();
        if t.is_empty() {
            continue;
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        match words[0] {
            "qdisc" | "class" => {
                if words.len() < 3 {
                    return Err(format!(
                        "{origin}: line {line}: expected `{} KIND HANDLE ...`",
                        words[0]
                    ));
                }
                let parent = match words.iter().position(|w| *w == "parent") {
                    Some(p) => words.get(p + 1).copied().unwrap_or("").to_string(),
                    None if words.contains(&"root") => "root".into(),
                    None => String::new(),
                };
                out.push(TcEntry {
                    what: words[0].into(),
                    kind: words[1].into(),
                    handle: words[2].into(),
                    parent,
                    line,
                    ..TcEntry::default()
                });
            }
            "Sent" => {
                let e = out.last_mut().ok_or(format!(
                    "{origin}: line {line}: `Sent` before any qdisc or class"
                ))?;
                // Sent B bytes P pkt (dropped D, overlimits O requeues R)
                let get = |k: &str| {
                    words
                        .iter()
                        .position(|w| w.trim_start_matches('(') == k)
                        .and_then(|p| words.get(p + 1))
                };
                e.bytes = num(
                    words
                        .get(1)
                        .ok_or(format!("{origin}: line {line}: truncated `Sent` line"))?,
                    origin,
                    line,
                    "bytes",
                )?;
                e.packets = num(
                    words
                        .get(3)
                        .ok_or(format!("{origin}: line {line}: truncated `Sent` line"))?,
                    origin,
                    line,
                    "packets",
                )?;
                e.dropped = num(
                    get("dropped").ok_or(format!("{origin}: line {line}: no `dropped` count"))?,
                    origin,
                    line,
                    "dropped",
                )?;
                e.overlimits = num(
                    get("overlimits")
                        .ok_or(format!("{origin}: line {line}: no `overlimits` count"))?,
                    origin,
                    line,
                    "overlimits",
                )?;
                e.requeues = num(
                    get("requeues").ok_or(format!("{origin}: line {line}: no `requeues` count"))?,
                    origin,
                    line,
                    "requeues",
                )?;
            }
            "backlog" => {
                let e = out.last_mut().ok_or(format!(
                    "{origin}: line {line}: `backlog` before any qdisc or class"
                ))?;
                e.backlog_bytes = num(
                    words
                        .get(1)
                        .ok_or(format!("{origin}: line {line}: truncated `backlog` line"))?,
                    origin,
                    line,
                    "backlog bytes",
                )?;
                e.backlog_packets = num(
                    words
                        .get(2)
                        .ok_or(format!("{origin}: line {line}: truncated `backlog` line"))?,
                    origin,
                    line,
                    "backlog packets",
                )?;
            }
            _ => {
                if out.is_empty() {
                    return Err(format!(
                        "{origin}: line {line}: expected a `qdisc` or `class` line, found `{t}`"
                    ));
                }
            }
        }
    }
    if out.is_empty() {
        return Err(format!("{origin}: no qdisc or class found"));
    }
    Ok(out)
}
