//! Reading a live device: `txqlab collect DEV` and `txqlab diagnose --live DEV`.
//!
//! Statistics come from the `ethtool` and `tc` binaries (the SIOCETHTOOL ioctl needs `unsafe`, which the
//! workspace forbids; tc's netlink dump would need a netlink crate for one read), the rest from procfs and
//! sysfs. Everything is written as a bundle: text with one `### source` section per command or file and one
//! `## snapshot` block per moment, the same text `txqlab diagnose FILE` reads back.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::Error;
use super::snapshot::BUNDLE_MAGIC;

/// Where the binaries are looked for besides `$PATH` (root's sbin directories are often not in a user's PATH).
const SBIN: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// Finds a binary in `$PATH` or the sbin directories.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A tool the bundle runs failed: the bundle's notes say which and why.
#[derive(Debug, thiserror::Error)]
#[error("{command}: {why}")]
struct ToolFailed {
    /// The command line.
    command: String,
    /// The OS error, the tool's standard error, or what is wrong with its output.
    why: String,
}

/// Runs a tool for the bundle.
fn run(bin: &Path, args: &[&str]) -> Result<String, ToolFailed> {
    let failed = |why: &dyn std::fmt::Display| ToolFailed {
        command: format!("{} {}", bin.display(), args.join(" ")),
        why: why.to_string(),
    };
    log::debug!("collect: {} {}", bin.display(), args.join(" "));
    let out = Command::new(bin)
        .args(args)
        .output()
        .map_err(|e| failed(&e))?;
    if !out.status.success() {
        return Err(failed(&String::from_utf8_lossy(&out.stderr).trim()));
    }
    String::from_utf8(out.stdout).map_err(|_| failed(&"output is not UTF-8"))
}

fn section(out: &mut String, title: &str, body: &str) {
    let _ = writeln!(out, "### {title}");
    out.push_str(body);
    if !body.ends_with('\n') {
        out.push('\n');
    }
}

/// The sysfs facts of each TX queue: `xps_cpus`, `xps_rxqs`, `byte_queue_limits/limit`.
fn sysfs_queues(dev: &str) -> String {
    let base = PathBuf::from("/sys/class/net").join(dev).join("queues");
    let mut txq: Vec<u32> = std::fs::read_dir(&base)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.strip_prefix("tx-")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    txq.sort_unstable();
    let mut s = String::new();
    for q in txq {
        for f in ["xps_cpus", "xps_rxqs", "byte_queue_limits/limit"] {
            let v = std::fs::read_to_string(base.join(format!("tx-{q}")).join(f))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|e| format!("({e})"));
            let _ = writeln!(s, "tx-{q}/{f}: {v}");
        }
    }
    s
}

/// One `## snapshot` block of `dev`.
pub fn snapshot(dev: &str, n: usize) -> Result<String, Error> {
    if dev.is_empty() || dev.contains('/') || dev == "." || dev == ".." {
        return Err(Error::Usage(format!(
            "`{dev}` is not a network device name"
        )));
    }
    if !Path::new("/sys/class/net").join(dev).exists() {
        return Err(Error::Live(format!(
            "no network device `{dev}` in this network namespace (see `ip link`)"
        )));
    }
    let ethtool = find_binary("ethtool").ok_or_else(|| {
        Error::Live(
            "the `ethtool` binary is not installed (Debian/Ubuntu: apt-get install ethtool; RHEL: dnf install \
             ethtool); txqlab reads the driver's statistics through it"
                .into(),
        )
    })?;
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(out, "## snapshot {n} at_unix_ms={at}");
    let mut notes = String::new();
    match run(&ethtool, &["-i", dev]) {
        Ok(t) => section(&mut out, &format!("ethtool -i {dev}"), &t),
        Err(e) => {
            let _ = writeln!(notes, "{e}");
        }
    }
    match run(&ethtool, &["-S", dev]) {
        Ok(t) => section(&mut out, &format!("ethtool -S {dev}"), &t),
        Err(e) => {
            let _ = writeln!(notes, "{e}");
        }
    }
    tc_sections(dev, &mut out, &mut notes);
    for (title, path) in [
        ("uname -r", "/proc/sys/kernel/osrelease"),
        ("uname -v", "/proc/sys/kernel/version"),
        ("/proc/version_signature", "/proc/version_signature"),
        ("/proc/net/snmp", "/proc/net/snmp"),
        ("/proc/net/netstat", "/proc/net/netstat"),
    ] {
        if let Ok(t) = std::fs::read_to_string(path) {
            section(&mut out, title, &t);
        }
    }
    section(
        &mut out,
        &format!("sysfs /sys/class/net/{dev}/queues"),
        &sysfs_queues(dev),
    );
    if !notes.is_empty() {
        section(&mut out, "notes", &notes);
    }
    Ok(out)
}

/// The qdisc and class statistics of `dev` through the `tc` binary; what fails goes to `notes`.
fn tc_sections(dev: &str, out: &mut String, notes: &mut String) {
    let Some(tc) = find_binary("tc") else {
        notes.push_str("the `tc` binary (iproute2) is not installed: no qdisc statistics\n");
        return;
    };
    for (title, args) in [
        (
            "tc -s -j qdisc show dev",
            ["-s", "-j", "qdisc", "show", "dev", dev],
        ),
        // iproute2 (6.1 here) prints `class show` as text even with -j.
        (
            "tc -s class show dev",
            ["-s", "class", "show", "dev", dev, ""],
        ),
    ] {
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        match run(&tc, &args) {
            Ok(t) if !t.trim().is_empty() => section(out, &format!("{title} {dev}"), &t),
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(notes, "{e}");
            }
        }
    }
}

/// A whole bundle: one snapshot, or two `interval` apart.
pub fn bundle(dev: &str, interval: Option<Duration>) -> Result<String, Error> {
    let mut out = String::new();
    let _ = writeln!(out, "{BUNDLE_MAGIC}");
    let _ = writeln!(out, "# device: {dev}");
    let _ = writeln!(out, "# written by txqlab {}", env!("CARGO_PKG_VERSION"));
    out.push_str(&snapshot(dev, 1)?);
    if let Some(i) = interval {
        std::thread::sleep(i);
        out.push_str(&snapshot(dev, 2)?);
    }
    Ok(out)
}

/// `RetransSegs` from the `Tcp:` lines of `/proc/net/snmp` text.
pub fn retrans_segs(snmp: &str) -> Option<u64> {
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let i = names.split_whitespace().position(|n| n == "RetransSegs")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retrans_segs_from_snmp() {
        let t =
            "Ip: Forwarding\nIp: 1\nTcp: RtoAlgorithm RtoMin RetransSegs InErrs\nTcp: 1 200 77 0\n";
        assert_eq!(retrans_segs(t), Some(77));
    }
}
