//! The facts table's probe floor (`facts::TLP_FLOOR_US`, commit 1c2709cfff1d) against the kernel sources Debian
//! ships: for each `linux-source-*` tarball under `/usr/src`, the sublevel its `Makefile` names and the form of
//! `tcp_schedule_loss_probe` in its `net/ipv4/tcp_output.c` (the 2 ms floor added as `TCP_TIMEOUT_MIN_US` before
//! `usecs_to_jiffies`, or `TCP_TIMEOUT_MIN` jiffies after it) must agree with what the table says of that version.
//!
//! The tarballs come from `apt-get install linux-source-6.1 linux-source-6.12` (`.ci/run` installs both). Without
//! any, the test says SKIPPED and passes, except under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use qdisc::facts::{Behaviour, Carries, Version, has};

/// The `Makefile` and `net/ipv4/tcp_output.c` of a tarball whose top directory is `top`, extracted together (one
/// pass over the archive) into the test's scratch directory and kept there for the next run.
fn members(tarball: &Path, top: &str) -> Result<(String, String), String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tlp-floor");
    let paths = ["Makefile", "net/ipv4/tcp_output.c"].map(|p| format!("{top}/{p}"));
    if !paths.iter().all(|p| dir.join(p).exists()) {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let o = Command::new("tar")
            .arg("-xJf")
            .arg(tarball)
            .arg("-C")
            .arg(&dir)
            .args(&paths)
            .output()
            .map_err(|e| format!("tar: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "{}: {}",
                tarball.display(),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    let read = |p: &String| {
        std::fs::read_to_string(dir.join(p)).map_err(|e| format!("{}: {e}", dir.join(p).display()))
    };
    Ok((read(&paths[0])?, read(&paths[1])?))
}

/// `VERSION`, `PATCHLEVEL` and `SUBLEVEL` of a kernel `Makefile`.
fn version(makefile: &str) -> Version {
    let get = |k: &str| -> u16 {
        makefile
            .lines()
            .find_map(|l| {
                l.strip_prefix(k)?
                    .trim()
                    .strip_prefix('=')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no {k} in the Makefile"))
    };
    Version {
        line: (get("VERSION"), get("PATCHLEVEL")),
        sublevel: Some(get("SUBLEVEL")),
    }
}

/// Whether `tcp_schedule_loss_probe` adds the floor in microseconds before rounding (`None`: neither form found).
fn floor_in_microseconds(tcp_output: &str) -> Option<bool> {
    let start = tcp_output.find("bool tcp_schedule_loss_probe(")?;
    let body = &tcp_output[start..];
    let body = &body[..body.find("\n}\n")?];
    let us = body.contains("TCP_TIMEOUT_MIN_US");
    let jiffies = body.contains("TCP_TIMEOUT_MIN;");
    match (us, jiffies) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

#[test]
fn the_probe_floor_of_each_debian_source_is_the_tables() {
    let tarballs: Vec<_> = std::fs::read_dir("/usr/src")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("linux-source-") && n.ends_with(".tar.xz"))
                })
                .collect()
        })
        .unwrap_or_default();
    if tarballs.is_empty() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "no /usr/src/linux-source-*.tar.xz under CI"
        );
        println!("SKIPPED the probe floor against Debian's sources: no linux-source package");
        return;
    }
    for t in tarballs {
        let top = t
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".tar.xz"))
            .unwrap()
            .to_string();
        let (makefile, src) = members(&t, &top).unwrap();
        let v = version(&makefile);
        let form = floor_in_microseconds(&src)
            .unwrap_or_else(|| panic!("{top}: tcp_schedule_loss_probe has neither form"));
        let table = match has(Behaviour::TlpFloorInMicroseconds, v) {
            Carries::Known(b, _) => b,
            Carries::Unknown(b) => panic!("{top}: the table cannot tell: {b}"),
        };
        println!("{top} ({v:?}): floor in microseconds: source {form}, table {table}");
        assert_eq!(form, table, "{top} ({v:?})");
    }
}

#[test]
fn the_source_reader_tells_the_two_forms_apart() {
    let new = "bool tcp_schedule_loss_probe(struct sock *sk, bool advancing_rto)\n{\n\t\ttimeout_us += \
               TCP_TIMEOUT_MIN_US;\n\t\ttimeout = usecs_to_jiffies(timeout_us);\n}\n";
    let old = "bool tcp_schedule_loss_probe(struct sock *sk, bool advancing_rto)\n{\n\t\ttimeout = \
               usecs_to_jiffies(tp->srtt_us >> 2);\n\t\t\ttimeout += TCP_TIMEOUT_MIN;\n}\n";
    assert_eq!(floor_in_microseconds(new), Some(true));
    assert_eq!(floor_in_microseconds(old), Some(false));
    assert_eq!(floor_in_microseconds("int other(void)\n{\n}\n"), None);
}
