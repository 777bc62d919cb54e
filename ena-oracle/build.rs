//! Extracts the ENA driver's ena_com sources from Debian's linux-source-6.1 tarball into a cache directory (never
//! into the repository) and compiles `ena_eth_com.c` with txqlab's platform shim (`shim/`) and the netdev glue
//! (`csrc/oracle.c`) into a static library.
//!
//! Where the source comes from, in order: `$TXQLAB_LINUX_SOURCE` (a tarball, or an unpacked kernel tree), or
//! `/usr/src/linux-source-6.1.tar.xz`. The cache is `${XDG_CACHE_HOME:-$HOME/.cache}/txqlab/` (`OUT_DIR` when
//! neither is set). Without a source the crate still builds; `ena_oracle::unavailable()` then says why, and the
//! tests print `SKIPPED ...` (or fail under `CI=true`).

use std::path::{Path, PathBuf};
use std::process::Command;

const DEFAULT_TARBALL: &str = "/usr/src/linux-source-6.1.tar.xz";
const ENA_DIR: &str = "drivers/net/ethernet/amazon/ena";
/// What `ena_eth_com.c` includes, directly or through `ena_com.h`.
const FILES: &[&str] = &[
    "ena_eth_com.c",
    "ena_eth_com.h",
    "ena_com.h",
    "ena_common_defs.h",
    "ena_admin_defs.h",
    "ena_eth_io_defs.h",
    "ena_regs_defs.h",
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ena_oracle)");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc");
    println!("cargo:rerun-if-changed=shim");
    println!("cargo:rerun-if-env-changed=TXQLAB_LINUX_SOURCE");
    println!("cargo:rerun-if-env-changed=XDG_CACHE_HOME");
    match source_dir() {
        Ok(dir) => {
            let mut b = cc::Build::new();
            b.file(dir.join("ena_eth_com.c"))
                .file("csrc/oracle.c")
                .include("shim")
                .include(&dir)
                .warnings(false)
                .opt_level(2);
            if let Err(e) = b.try_compile("ena_oracle") {
                missing(&format!(
                    "compiling {}/ena_eth_com.c failed: {e}",
                    dir.display()
                ));
                return;
            }
            println!("cargo:rustc-cfg=ena_oracle");
            println!("cargo:rustc-env=ENA_ORACLE_SOURCE={}", dir.display());
        }
        Err(why) => missing(&why),
    }
}

fn missing(why: &str) {
    println!(
        "cargo:warning=ena-oracle: {why}; the differential tests will be SKIPPED (and fail under CI=true)"
    );
    println!("cargo:rustc-env=ENA_ORACLE_MISSING={why}");
}

fn source_dir() -> Result<PathBuf, String> {
    let src = std::env::var_os("TXQLAB_LINUX_SOURCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TARBALL));
    println!("cargo:rerun-if-changed={}", src.display());
    if src.is_dir() {
        let dir = src.join(ENA_DIR);
        return match FILES.iter().find(|f| !dir.join(f).is_file()) {
            None => Ok(dir),
            Some(f) => Err(format!("{} has no {ENA_DIR}/{f}", src.display())),
        };
    }
    let meta = std::fs::metadata(&src).map_err(|e| {
        format!(
            "{}: {e} (apt-get install linux-source-6.1, or set TXQLAB_LINUX_SOURCE)",
            src.display()
        )
    })?;
    // One extracted copy per tarball (size and mtime), shared by every target directory and the fuzz build.
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let stamp = format!("{}-{}-{mtime}", file_stem(&src), meta.len());
    let dir = cache_root().join(&stamp).join(ENA_DIR);
    if FILES.iter().all(|f| dir.join(f).is_file()) {
        return Ok(dir);
    }
    let tmp = cache_root().join(format!("{stamp}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let top = top_dir(&src)?;
    let members: Vec<String> = FILES
        .iter()
        .map(|f| format!("{top}/{ENA_DIR}/{f}"))
        .collect();
    let out = Command::new("tar")
        .arg("-xf")
        .arg(&src)
        .arg("-C")
        .arg(&tmp)
        .arg(format!(
            "--strip-components={}",
            1 + ENA_DIR.split('/').count()
        ))
        .args(&members)
        .output()
        .map_err(|e| format!("running tar: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(format!(
            "tar could not extract the ENA sources from {}: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    // Another build may have won the race; either copy is the same.
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    match FILES.iter().find(|f| !dir.join(f).is_file()) {
        None => Ok(dir),
        Some(f) => Err(format!("{f} missing after extracting {}", src.display())),
    }
}

/// `linux-source-6.1` for Debian's tarball: the name up to `.tar`.
fn top_dir(tarball: &Path) -> Result<String, String> {
    let name = file_stem(tarball);
    if name.is_empty() {
        return Err(format!("{}: not a tarball name", tarball.display()));
    }
    Ok(name)
}

fn file_stem(p: &Path) -> String {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.split(".tar").next().unwrap_or_default().to_string()
}

fn cache_root() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("txqlab");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(h).join(".cache/txqlab");
    }
    PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("txqlab-cache")
}
