//! Prometheus text exposition from node_exporter: `node_ethtool_*` (the ethtool collector, one metric per
//! `ethtool -S` counter, label `device`), `node_ethtool_info` (driver, version, bus_info) and `node_qdisc_*`
//! (the qdisc collector, labels `device` and `kind`).

use std::collections::BTreeMap;

use super::error::{Error, quote};

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// Metric name.
    pub name: &'a str,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value as an exact unsigned integer, or `None` for `NaN`, negative or fractional values.
    pub value: Option<u64>,
}

/// True when `line` looks like a sample line (`name{labels} value` or `name value`).
pub fn is_sample(line: &str) -> bool {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    name_end > 0
        && line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && !line[..name_end].ends_with(':')
        && line[name_end..].starts_with(['{', ' ', '\t'])
}

fn value(text: &str) -> Option<u64> {
    if let Ok(v) = text.parse::<u64>() {
        return Some(v);
    }
    let f = text.parse::<f64>().ok()?;
    // node_exporter prints counters as float64 (`1.260062e+06`); integral values below 2^64 are exact counts
    // as far as float64 carries them.
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0)
        .then_some(f as u64)
}

/// Parses one sample line.
pub fn parse_sample<'a>(origin: &str, line: usize, text: &'a str) -> Result<Sample<'a>, Error> {
    let bad = |m: &str| Error::at(origin, line, format!("{}: {m}", quote(text)));
    let name_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    let name = &text[..name_end];
    let mut rest = &text[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices();
        let mut key = String::new();
        let end;
        loop {
            let Some((i, c)) = chars.next() else {
                return Err(bad("unterminated `{` in a Prometheus sample"));
            };
            match c {
                '}' => {
                    end = i + 1;
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    if chars.next().map(|x| x.1) != Some('"') {
                        return Err(bad("label value without quotes"));
                    }
                    let mut val = String::new();
                    loop {
                        match chars.next() {
                            None => return Err(bad("unterminated label value")),
                            Some((_, '"')) => break,
                            Some((_, '\\')) => match chars.next() {
                                Some((_, 'n')) => val.push('\n'),
                                Some((_, c)) => val.push(c),
                                None => return Err(bad("unterminated label value")),
                            },
                            Some((_, c)) => val.push(c),
                        }
                    }
                    labels.insert(core::mem::take(&mut key), val);
                }
                c => key.push(c),
            }
        }
        rest = &r[end..];
    }
    let v = rest
        .split_whitespace()
        .next()
        .ok_or_else(|| bad("Prometheus sample without a value"))?;
    Ok(Sample {
        name,
        labels,
        value: value(v),
    })
}

/// The `ethtool -S` name a `node_ethtool_*` metric came from. node_exporter's `buildEthtoolFQName`
/// (collector/ethtool_linux.go) lower-cases, turns characters outside `[a-zA-Z0-9_]` into `_`, trims leading `_`
/// and renames the words `rx`/`tx` to `received`/`transmitted`; this undoes that, and rebuilds the per-queue TX
/// names whose punctuation was lost (`[3]: tx_ucast_packets` -> `3_transmitted_ucast_packets`,
/// `tx-0.packets` -> `transmitted_0_packets`, `tx_posted_desc[0]` -> `transmitted_posted_desc_0_`).
pub fn ethtool_name(metric: &str) -> String {
    let words: Vec<&str> = metric
        .split('_')
        .map(|w| match w {
            "received" => "rx",
            "transmitted" => "tx",
            w => w,
        })
        .collect();
    let name = words.join("_");
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((q, rest)) = name.split_once('_')
        && digits(q)
        && rest.starts_with("tx_")
    {
        return format!("[{q}]: {rest}");
    }
    if let Some(rest) = name.strip_prefix("tx_")
        && let Some(q) = rest.strip_suffix("_packets")
        && digits(q)
    {
        return format!("tx-{q}.packets");
    }
    if let Some(q) = name
        .strip_prefix("tx_posted_desc_")
        .and_then(|r| r.strip_suffix('_'))
        && digits(q)
    {
        return format!("tx_posted_desc[{q}]");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_exporter_lines() {
        let s = parse_sample(
            "t",
            1,
            r#"node_ethtool_queue_0_tx_cnt{device="eth0"} 1.260062e+06"#,
        );
        let s = s.ok();
        assert_eq!(
            s.as_ref().map(|s| s.name),
            Some("node_ethtool_queue_0_tx_cnt")
        );
        assert_eq!(s.as_ref().and_then(|s| s.value), Some(1_260_062));
        assert!(is_sample(
            "node_qdisc_drops_total{device=\"eth0\",kind=\"mq\"} 0"
        ));
        assert!(!is_sample("queue_0_tx_cnt: 5"));
        assert!(!is_sample("  queue_0_tx_cnt: 5"));
    }

    #[test]
    fn node_exporter_names_map_back_to_ethtool_names() {
        for (metric, name) in [
            ("queue_0_transmitted_cnt", "queue_0_tx_cnt"),
            ("transmitted_queue_3_packets", "tx_queue_3_packets"),
            ("tx0_packets", "tx0_packets"),
            ("3_transmitted_ucast_packets", "[3]: tx_ucast_packets"),
            ("transmitted_0_packets", "tx-0.packets"),
            ("transmitted_posted_desc_0_", "tx_posted_desc[0]"),
            ("bw_in_allowance_exceeded", "bw_in_allowance_exceeded"),
        ] {
            assert_eq!(ethtool_name(metric), name);
        }
    }
}
