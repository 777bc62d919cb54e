//! Reading what the guest printed on the serial console.

use std::fmt;

use qdisc::Driver;
use qdisc::veth::Path;

/// One measured case.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Case {
    /// The egress device.
    pub egress: Egress,
    /// Where the traffic starts (`host`, `veth` or `vethmq` on the console).
    #[serde(serialize_with = "serialize_path")]
    pub path: Path,
    /// The egress device's XPS map.
    pub xps: Xps,
    /// Packets per TX queue sent during the case.
    pub per_queue: Vec<u64>,
}

impl Case {
    /// The cases the verdict and the chart rest on: the dummy egress (no hook, no XPS of its own) with XPS cleared,
    /// traffic starting at `path`.
    pub fn is_decisive(&self, path: Path) -> bool {
        self.egress == Egress::Dummy && self.xps == Xps::Cleared && self.path == path
    }
}

/// The egress device of a case, as the guest script names it (`run_egress dummy|virtio`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Egress {
    /// An 8-queue `dummy` device (`drivers/net/dummy.c`: no `ndo_select_queue`, no XPS map of its own).
    Dummy,
    /// QEMU's 8-queue virtio-net (`drivers/net/virtio_net.c`, whose `virtnet_set_affinity` sets XPS).
    Virtio,
}

impl Egress {
    /// The driver `qdisc::driver` models it with.
    pub const fn driver(self) -> Driver {
        match self {
            Self::Dummy => Driver::Dummy,
            Self::Virtio => Driver::VirtioNet,
        }
    }

    /// The console's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Dummy => "dummy",
            Self::Virtio => "virtio",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Dummy, Self::Virtio]
            .into_iter()
            .find(|e| e.name() == s)
    }
}

impl fmt::Display for Egress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The egress device's XPS map during a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Xps {
    /// As the driver left it (virtio_net: one CPU's queues each; dummy: none).
    Default,
    /// Every `xps_cpus` written 0 by the guest script.
    Cleared,
}

impl Xps {
    /// The console's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Cleared => "cleared",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Default, Self::Cleared]
            .into_iter()
            .find(|x| x.name() == s)
    }
}

impl fmt::Display for Xps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// TX and RX queues of the second pod's veth (`numtxqueues 8 numrxqueues 8` on both ends in `guest::script`).
pub const VETH_MQ_QUEUES: u16 = 8;

/// The console's name of a path: `host`, `veth` or `vethmq`.
pub const fn path_name(p: Path) -> &'static str {
    match p {
        Path::Host => "host",
        Path::PodViaVeth => "veth",
        Path::PodViaMultiQueueVeth { .. } => "vethmq",
    }
}

fn parse_path(s: &str) -> Option<Path> {
    [
        Path::Host,
        Path::PodViaVeth,
        Path::PodViaMultiQueueVeth {
            queues: VETH_MQ_QUEUES,
        },
    ]
    .into_iter()
    .find(|p| path_name(*p) == s)
}

/// Serializes a path by its console name (the JSON report's `path`).
pub fn serialize_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(path_name(*p))
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootError {
    /// The kernel panicked.
    #[error("kernel panic; console tail:\n{tail}")]
    Panic {
        /// The console's last lines.
        tail: String,
    },
    /// The guest did not finish in time.
    #[error("the guest did not finish within {secs} s (hang?); console tail:\n{tail}")]
    Timeout {
        /// The limit.
        secs: u64,
        /// The console's last lines.
        tail: String,
    },
    /// A guest command failed (a missing kernel option is named in the message).
    #[error("guest failure: {message}; console tail:\n{tail}")]
    Guest {
        /// What failed.
        message: String,
        /// The console's last lines.
        tail: String,
    },
    /// The console output could not be read.
    #[error("console line {line}: {message}")]
    Malformed {
        /// The console line at fault.
        line: usize,
        /// What was wrong with it.
        message: String,
    },
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
            cases.push(case(rest, line)?);
        }
    }
    finished(&text, timed_out, done, open.map(|(name, _)| name))?;
    Ok(Boot {
        kernel,
        cases,
        probe,
        selftest,
    })
}

/// `TXQLAB-CASE egress=E path=P xps=X before=N,N,.. after=N,N,..` (after the marker), on console line `line`.
fn case(rest: &str, line: usize) -> Result<Case, BootError> {
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
    let bad = |k: &str, want: &str| BootError::Malformed {
        line,
        message: format!("TXQLAB-CASE {k}=`{}`: not {want}", kv.get(k).unwrap_or(&"")),
    };
    Ok(Case {
        egress: Egress::parse(get("egress")?).ok_or_else(|| bad("egress", "dummy or virtio"))?,
        path: parse_path(get("path")?).ok_or_else(|| bad("path", "host, veth or vethmq"))?,
        xps: Xps::parse(get("xps")?).ok_or_else(|| bad("xps", "default or cleared"))?,
        per_queue: after.iter().zip(&before).map(|(a, b)| a - b).collect(),
    })
}

/// The console's end: a guest that did not print `TXQLAB-DONE` hung (`timed_out`) or stopped; a block left open
/// was cut short.
fn finished(
    text: &str,
    timed_out: Option<u64>,
    done: bool,
    open: Option<&str>,
) -> Result<(), BootError> {
    if let Some(secs) = timed_out.filter(|_| !done) {
        return Err(BootError::Timeout {
            secs,
            tail: tail(text, 25),
        });
    }
    if !done {
        return Err(BootError::Guest {
            message: "the guest stopped before finishing (no TXQLAB-DONE)".into(),
            tail: tail(text, 25),
        });
    }
    if let Some(name) = open {
        return Err(BootError::Guest {
            message: format!("the guest's {name} block was never closed (no TXQLAB-END-{name})"),
            tail: tail(text, 25),
        });
    }
    Ok(())
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
            (b.cases[0].egress, b.cases[0].path, b.cases[0].xps),
            (Egress::Dummy, Path::PodViaVeth, Xps::Cleared)
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
        let unknown =
            "TXQLAB-CASE egress=e1000 path=veth xps=cleared before=5 after=6\nTXQLAB-DONE\n";
        assert!(matches!(
            parse(unknown, None),
            Err(BootError::Malformed { line: 1, message }) if message.contains("egress=`e1000`")
        ));
        let back = "TXQLAB-CASE egress=dummy path=veth xps=cleared before=5 after=4\nTXQLAB-DONE\n";
        assert!(matches!(
            parse(back, None),
            Err(BootError::Malformed { .. })
        ));
    }
}
