//! Builds the guest's initramfs: busybox-static, the host's `ip`, `tc` and `ethtool` with their shared libraries,
//! our traffic generator, and the init script.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;

fn copy(from: &Path, to: &Path) -> Result<(), Error> {
    if let Some(p) = to.parent() {
        std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|source| Error::Copy {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            source,
        })
}

/// The shared libraries `ldd` names for `bin`, the loader included.
fn libs(bin: &Path) -> Result<Vec<PathBuf>, Error> {
    let o = Command::new("ldd")
        .arg(bin)
        .output()
        .map_err(|e| Error::command("ldd", e))?;
    let text = String::from_utf8_lossy(&o.stdout);
    Ok(text
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                [_, "=>", p, ..] if p.starts_with('/') => Some(PathBuf::from(p)),
                [p, ..] if p.starts_with('/') => Some(PathBuf::from(p)),
                _ => None,
            }
        })
        .collect())
}

/// Finds a host tool (on `PATH`, else in the sbin directories), or says which package provides it. `run` checks
/// these in [`crate::prereq`] before building; this is the last line of defence.
pub fn host_tool(name: &str, package: &str) -> Result<PathBuf, Error> {
    let found = if name == "busybox" {
        crate::prereq::static_busybox()
    } else {
        crate::prereq::find_tool(name)
    };
    found.ok_or_else(|| Error::MissingTool {
        name: name.to_string(),
        package: package.to_string(),
    })
}

/// Writes `dir/initrd.gz` for the given init script and traffic generator, with the selftest as
/// `/bin/veth_txq.sh` and, when given, `txqlab` as `/bin/txqlab` (for `txqlab probe`); returns its path.
pub fn build(
    dir: &Path,
    init: &str,
    txgen: &Path,
    txqlab: Option<&Path>,
) -> Result<PathBuf, Error> {
    let root = dir.join("root");
    let _ = std::fs::remove_dir_all(&root);
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "run", "tmp",
    ] {
        std::fs::create_dir_all(root.join(d)).map_err(|e| Error::io(root.join(d), e))?;
    }
    let busybox = host_tool("busybox", "busybox-static")?;
    copy(&busybox, &root.join("bin/busybox"))?;
    for a in [
        "sh", "mount", "mkdir", "echo", "cat", "sleep", "poweroff", "awk", "taskset",
    ] {
        let link = root.join("bin").join(a);
        std::os::unix::fs::symlink("busybox", &link).map_err(|e| Error::io(link, e))?;
    }
    let mut tools = vec![
        (host_tool("ip", "iproute2")?, "sbin/ip"),
        (host_tool("tc", "iproute2")?, "sbin/tc"),
        (host_tool("ethtool", "ethtool")?, "sbin/ethtool"),
        (txgen.to_path_buf(), "bin/txgen"),
    ];
    if let Some(t) = txqlab {
        tools.push((t.to_path_buf(), "bin/txqlab"));
    }
    for (src, dst) in &tools {
        copy(src, &root.join(dst))?;
        for l in libs(src)? {
            copy(&l, &root.join(l.strip_prefix("/").unwrap_or(&l)))?;
        }
    }
    for (file, text) in [("init", init), ("bin/veth_txq.sh", crate::guest::SELFTEST)] {
        std::fs::write(root.join(file), text).map_err(|e| Error::io(root.join(file), e))?;
    }
    Command::new("chmod")
        .args(["+x"])
        .arg(root.join("init"))
        .arg(root.join("bin/veth_txq.sh"))
        .status()
        .map_err(|e| Error::command("chmod", e))?;
    let out = dir.join("initrd.gz");
    let sh = format!(
        "cd '{}' && find . | cpio -o -H newc --quiet | gzip -1 > '{}'",
        root.display(),
        out.display()
    );
    let st = Command::new("sh")
        .args(["-c", &sh])
        .status()
        .map_err(|e| Error::command("cpio", e))?;
    if !st.success() {
        return Err(Error::command(
            "building the initramfs",
            "cpio | gzip failed (cpio and gzip needed: apt-get install -y cpio)",
        ));
    }
    Ok(out)
}
