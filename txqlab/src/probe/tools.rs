//! The iproute2 programs the probe drives (`ip`, `tc`), found before anything is created.
//!
//! Why programs and not rtnetlink: the probe needs veth pairs with set queue counts created across namespaces,
//! addresses, routes, a permanent neighbour, `mq` and per-queue qdisc statistics; iproute2's JSON output (`-j`)
//! gives all of it with the kernel's own names and is present on every node image that has networking tools.
//! A netlink implementation (`rtnetlink` / `netlink-packet-route`) would drop that dependency for minimal
//! containers; see the README.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::ProbeError;

/// Where the programs are.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `ip`.
    pub ip: PathBuf,
    /// `tc`.
    pub tc: PathBuf,
}

fn find(tool: &'static str) -> Result<PathBuf, ProbeError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(ProbeError::MissingTool {
            tool,
            package: "iproute2",
        })
}

impl Tools {
    /// Finds `ip` and `tc`.
    pub fn find() -> Result<Self, ProbeError> {
        Ok(Self {
            ip: find("ip")?,
            tc: find("tc")?,
        })
    }
}

/// Runs `prog args` (in the calling thread's namespaces) and returns its standard output.
pub fn run(netns: &'static str, prog: &Path, args: &[&str]) -> Result<String, ProbeError> {
    let command = format!(
        "{} {}",
        prog.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
        args.join(" ")
    );
    let out = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| ProbeError::Command {
            netns,
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(ProbeError::Command {
            netns,
            command,
            detail: format!(
                "{} ({})",
                String::from_utf8_lossy(&out.stderr).trim(),
                out.status
            ),
        });
    }
    String::from_utf8(out.stdout).map_err(|e| ProbeError::Command {
        netns,
        command,
        detail: format!("output is not UTF-8: {e}"),
    })
}
