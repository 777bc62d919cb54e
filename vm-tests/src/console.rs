//! Reading what the guest printed on the serial console.

/// One measured case.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Case {
    /// `dummy` or `virtio`.
    pub egress: String,
    /// `host` (root namespace) or `veth` (a namespace through a veth).
    pub path: String,
    /// `default` (the driver's XPS) or `cleared`.
    pub xps: String,
    /// Packets per TX queue sent during the case.
    pub per_queue: Vec<u64>,
}

/// The output and exit status of a program the guest ran between `TXQLAB-BEGIN-<NAME>` and
/// `TXQLAB-END-<NAME> rc=N` (`txqlab probe --json`, the selftest `veth_txq.sh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Exit status.
    pub rc: i32,
    /// What it printed (stdout and stderr).
    pub text: String,
}

/// What a boot produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    /// `uname -r` of the guest.
    pub kernel: String,
    /// The cases, in order.
    pub cases: Vec<Case>,
    /// `txqlab probe --json` in the guest, when it ran.
    pub probe: Option<Block>,
    /// The selftest `vm-tests/selftest/veth_txq.sh` in the guest, when it ran.
    pub selftest: Option<Block>,
}

/// The programs whose output the console carries as blocks.
const BLOCKS: &[&str] = &["PROBE", "SELFTEST"];

/// Why a boot gave no usable result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootError {
    /// The kernel panicked.
    Panic {
        /// The console's last lines.
        tail: String,
    },
    /// The guest did not finish in time.
    Timeout {
        /// The limit.
        secs: u64,
        /// The console's last lines.
        tail: String,
    },
    /// A guest command failed (a missing kernel option is named in the message).
    Guest {
        /// What failed.
        message: String,
        /// The console's last lines.
        tail: String,
    },
    /// The console output could not be read.
    Malformed {
        /// The console line at fault.
        line: usize,
        /// What was wrong with it.
        message: String,
    },
}

impl std::fmt::Display for BootError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Panic { tail } => write!(f, "kernel panic; console tail:\n{tail}"),
            Self::Timeout { secs, tail } => write!(
                f,
                "the guest did not finish within {secs} s (hang?); console tail:\n{tail}"
            ),
            Self::Guest { message, tail } => {
                write!(f, "guest failure: {message}; console tail:\n{tail}")
            }
            Self::Malformed { line, message } => write!(f, "console line {line}: {message}"),
        }
    }
}

/// The last `n` lines of the console.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn counts(s: &str, line: usize) -> Result<Vec<u64>, BootError> {
    s.split(',')
        .map(|c| {
            c.trim().parse::<u64>().map_err(|_| BootError::Malformed {
                line,
                message: format!("bad count `{c}`"),
            })
        })
        .collect()
}

/// Parses a console log. `timed_out` says whether QEMU had to be killed.
pub fn parse(text: &str, timed_out: Option<u64>) -> Result<Boot, BootError> {
    let text = text.replace('\r', "");
    if text.contains("Kernel panic") {
        return Err(BootError::Panic {
            tail: tail(&text, 25),
        });
    }
    let mut kernel = String::new();
    let mut cases = Vec::new();
    let mut done = false;
    let (mut probe, mut selftest) = (None, None);
    let mut open: Option<(&str, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if let Some((name, body)) = open.as_mut() {
            let end = format!("TXQLAB-END-{name} rc=");
            if let Some(pos) = raw.find(&end) {
                let rc = raw[pos + end.len()..].trim().parse::<i32>().map_err(|_| {
                    BootError::Malformed {
                        line,
                        message: format!("TXQLAB-END-{name} without a numeric rc"),
                    }
                })?;
                let block = Some(Block {
                    rc,
                    text: std::mem::take(body),
                });
                if *name == "PROBE" {
                    probe = block;
                } else {
                    selftest = block;
                }
                open = None;
            } else {
                body.push_str(raw);
                body.push('\n');
            }
            continue;
        }
        if let Some(name) = BLOCKS
            .iter()
            .find(|n| raw.contains(&format!("TXQLAB-BEGIN-{n}")))
        {
            open = Some((name, String::new()));
            continue;
        }
        // The console may prefix a line with escape sequences; find the marker anywhere.
        let Some(pos) = raw.find("TXQLAB-") else {
            continue;
        };
        let l = &raw[pos..];
        if let Some(k) = l.strip_prefix("TXQLAB-KERNEL ") {
            kernel = k.trim().to_string();
        } else if let Some(m) = l.strip_prefix("TXQLAB-ERROR ") {
            return Err(BootError::Guest {
                message: m.trim().to_string(),
                tail: tail(&text, 25),
            });
        } else if l.starts_with("TXQLAB-DONE") {
            done = true;
        } else if let Some(rest) = l.strip_prefix("TXQLAB-CASE ") {
            let kv: std::collections::HashMap<&str, &str> = rest
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .collect();
            let get = |k: &str| {
                kv.get(k).copied().ok_or(BootError::Malformed {
                    line,
                    message: format!("TXQLAB-CASE without `{k}`"),
                })
            };
            let before = counts(get("before")?, line)?;
            let after = counts(get("after")?, line)?;
            if before.len() != after.len() || after.iter().zip(&before).any(|(a, b)| a < b) {
                return Err(BootError::Malformed {
                    line,
                    message: "counters went backwards".into(),
                });
            }
            cases.push(Case {
                egress: get("egress")?.into(),
                path: get("path")?.into(),
                xps: get("xps")?.into(),
                per_queue: after.iter().zip(&before).map(|(a, b)| a - b).collect(),
            });
        }
    }
    if let Some(secs) = timed_out.filter(|_| !done) {
        return Err(BootError::Timeout {
            secs,
            tail: tail(&text, 25),
        });
    }
    if !done {
        return Err(BootError::Guest {
            message: "the guest stopped before finishing (no TXQLAB-DONE)".into(),
            tail: tail(&text, 25),
        });
    }
    if let Some((name, _)) = open {
        return Err(BootError::Guest {
            message: format!("the guest's {name} block was never closed (no TXQLAB-END-{name})"),
            tail: tail(&text, 25),
        });
    }
    Ok(Boot {
        kernel,
        cases,
        probe,
        selftest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "boot noise\r\n\x1b[?7lTXQLAB-KERNEL 6.1.192\nTXQLAB-CASE egress=dummy path=veth xps=cleared before=0,0,0,0,0,0,0,0 after=1024,0,0,0,0,0,0,0\nTXQLAB-DONE\n";

    #[test]
    fn reads_cases_and_deltas() {
        let b = parse(OK, None).unwrap();
        assert_eq!(b.kernel, "6.1.192");
        assert_eq!(b.cases[0].per_queue, vec![1024, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            (
                b.cases[0].egress.as_str(),
                b.cases[0].path.as_str(),
                b.cases[0].xps.as_str()
            ),
            ("dummy", "veth", "cleared")
        );
    }

    #[test]
    fn probe_and_selftest_blocks_are_read_with_their_exit_status() {
        let log = format!(
            "{OK}TXQLAB-BEGIN-PROBE\n{{\"verdict\": \"affected\"}}\nTXQLAB-END-PROBE rc=1\n\
             TXQLAB-BEGIN-SELFTEST\nTAP version 13\nnot ok 3 forwarded_traffic_spreads\nTXQLAB-END-SELFTEST rc=1\n"
        );
        let b = parse(&log, None).unwrap();
        let p = b.probe.unwrap();
        assert_eq!(
            (p.rc, p.text.as_str()),
            (1, "{\"verdict\": \"affected\"}\n")
        );
        let s = b.selftest.unwrap();
        assert!(s.rc == 1 && s.text.contains("not ok 3"));
        assert!(parse(OK, None).unwrap().probe.is_none());
        let open = "TXQLAB-BEGIN-SELFTEST\nTAP version 13\nTXQLAB-DONE\n";
        assert!(matches!(parse(open, None), Err(BootError::Guest { .. })));
        let bad = "TXQLAB-BEGIN-PROBE\n{}\nTXQLAB-END-PROBE rc=x\nTXQLAB-DONE\n";
        assert!(matches!(
            parse(bad, None),
            Err(BootError::Malformed { line: 3, .. })
        ));
    }

    #[test]
    fn each_failure_has_its_own_error() {
        assert!(matches!(
            parse("[ 1.0] Kernel panic - not syncing: VFS", None),
            Err(BootError::Panic { .. })
        ));
        assert!(matches!(
            parse("TXQLAB-KERNEL x\n", Some(120)),
            Err(BootError::Timeout { secs: 120, .. })
        ));
        let e = parse(
            "TXQLAB-ERROR missing CONFIG_VETH (cannot create a veth pair)\nTXQLAB-DONE\n",
            None,
        )
        .unwrap_err();
        assert!(matches!(&e, BootError::Guest { message, .. } if message.contains("CONFIG_VETH")));
        assert!(matches!(
            parse("TXQLAB-KERNEL x\n", None),
            Err(BootError::Guest { .. })
        ));
        let bad = "TXQLAB-CASE egress=dummy path=veth xps=cleared before=5 after=x\nTXQLAB-DONE\n";
        assert!(matches!(
            parse(bad, None),
            Err(BootError::Malformed { line: 1, .. })
        ));
        let back = "TXQLAB-CASE egress=dummy path=veth xps=cleared before=5 after=4\nTXQLAB-DONE\n";
        assert!(matches!(
            parse(back, None),
            Err(BootError::Malformed { .. })
        ));
    }
}
