//! Building the two kernel variants of a tree, cached outside the checkout.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::tree::{VethState, detect, fingerprint, variant};

/// The kernel configuration fragment, merged onto `make tinyconfig`.
pub const FRAGMENT: &str = include_str!("../config/txqlab.config");
/// Debian's kernel source.
pub const DEBIAN_TARBALL: &str = "/usr/src/linux-source-6.1.tar.xz";

/// Options the guest needs, with what each is for (checked after `olddefconfig`).
pub const REQUIRED: &[(&str, &str)] = &[
    ("CONFIG_VETH", "the veth pair"),
    ("CONFIG_DUMMY", "the 8-queue dummy egress device"),
    ("CONFIG_NET_NS", "the network namespace"),
    ("CONFIG_NET_SCHED", "the mq qdisc"),
    ("CONFIG_XPS", "XPS maps"),
    ("CONFIG_VIRTIO_NET", "the virtio-net egress device"),
    ("CONFIG_VIRTIO_PCI", "the virtio-net egress device"),
    (
        "CONFIG_SERIAL_8250_CONSOLE",
        "results over the serial console",
    ),
    ("CONFIG_BLK_DEV_INITRD", "the initramfs"),
    ("CONFIG_ACPI", "powering off when done"),
];

/// A bootable kernel.
#[derive(Debug, Clone)]
pub struct Image {
    /// Name for reports (`linux-6.1.192-fixed`).
    pub name: String,
    /// The veth variant, when the harness built it.
    pub variant: Option<VethState>,
    /// bzImage path.
    pub path: PathBuf,
}

/// `$XDG_CACHE_HOME/txqlab` (or `~/.cache/txqlab`).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join("txqlab")
}

/// Prints a stage line with the elapsed time.
pub fn stage(t0: Instant, msg: &str) {
    eprintln!("[{:>6.1}s] {msg}", t0.elapsed().as_secs_f64());
}

fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    let o = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "{what} failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The source tree: the user's, or Debian's extracted into the cache.
fn source(src: Option<&Path>, t0: Instant) -> Result<PathBuf, String> {
    if let Some(s) = src {
        if !s.join("drivers/net/veth.c").exists() {
            return Err(format!(
                "{}: not a kernel tree (no drivers/net/veth.c)",
                s.display()
            ));
        }
        return Ok(s.to_path_buf());
    }
    let dir = cache_dir().join("src");
    let tree = dir.join("linux-source-6.1");
    if !tree.join("Makefile").exists() {
        if !Path::new(DEBIAN_TARBALL).exists() {
            return Err(format!(
                "{DEBIAN_TARBALL} not found: apt-get install -y linux-source-6.1 (or `vm-tests setup`)"
            ));
        }
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        stage(
            t0,
            &format!("extracting {DEBIAN_TARBALL} into {}", dir.display()),
        );
        run(
            Command::new("tar")
                .arg("-xJf")
                .arg(DEBIAN_TARBALL)
                .arg("-C")
                .arg(&dir),
            "tar",
        )?;
    }
    Ok(tree)
}

/// Checks the merged configuration for the options the guest needs.
pub fn check_config(config: &str) -> Result<(), String> {
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|(o, _)| !config.lines().any(|l| l == format!("{o}=y")))
        .map(|(o, why)| format!("{o} ({why})"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("kernel configuration lacks {}", missing.join(", ")))
    }
}

/// Builds (or finds in the cache) the fixed and the buggy variant of a tree.
pub fn build_both(src: Option<&Path>, t0: Instant) -> Result<Vec<Image>, String> {
    let tree = source(src, t0)?;
    let veth = tree.join("drivers/net/veth.c");
    let pristine = tree.join("drivers/net/veth.c.txqlab-orig");
    if !pristine.exists() {
        std::fs::copy(&veth, &pristine).map_err(|e| e.to_string())?;
    }
    let orig =
        std::fs::read_to_string(&pristine).map_err(|e| format!("{}: {e}", pristine.display()))?;
    let state = detect(&orig)?;
    let version = run(
        Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(&tree)
            .arg("kernelversion"),
        "make kernelversion",
    )?
    .trim()
    .to_string();
    stage(
        t0,
        &format!(
            "tree {} (linux {version}): veth is {:?} as shipped",
            tree.display(),
            state
        ),
    );
    let kernels = cache_dir().join("kernels");
    std::fs::create_dir_all(&kernels).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut configured = false;
    for want in [VethState::Fixed, VethState::Buggy] {
        let src_text = variant(&orig, want)?;
        let key = fingerprint(&[version.as_bytes(), FRAGMENT.as_bytes(), src_text.as_bytes()]);
        let label = match want {
            VethState::Fixed => "fixed",
            VethState::Buggy => "fix-reverted",
        };
        let image = kernels.join(format!("linux-{version}-{label}-{key}.bzImage"));
        let name = format!("linux-{version}-{label}");
        if image.exists() {
            stage(t0, &format!("{name}: cached {}", image.display()));
        } else {
            if !configured {
                configure(&tree, t0)?;
                configured = true;
            }
            std::fs::write(&veth, &src_text).map_err(|e| e.to_string())?;
            let r = make(&tree, &name, t0);
            std::fs::write(&veth, &orig).map_err(|e| e.to_string())?;
            r?;
            std::fs::copy(tree.join("arch/x86/boot/bzImage"), &image).map_err(|e| e.to_string())?;
            stage(t0, &format!("{name}: built {}", image.display()));
        }
        out.push(Image {
            name,
            variant: Some(want),
            path: image,
        });
    }
    Ok(out)
}

fn configure(tree: &Path, t0: Instant) -> Result<(), String> {
    stage(
        t0,
        "configuring: tinyconfig + vm-tests/config/txqlab.config",
    );
    let frag = cache_dir().join("txqlab.config");
    std::fs::write(&frag, FRAGMENT).map_err(|e| e.to_string())?;
    run(
        Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(tree)
            .arg("tinyconfig"),
        "make tinyconfig",
    )?;
    run(
        Command::new("sh").current_dir(tree).arg("-c").arg(format!(
            "scripts/kconfig/merge_config.sh -m .config '{}'",
            frag.display()
        )),
        "merge_config.sh",
    )?;
    run(
        Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(tree)
            .arg("olddefconfig"),
        "make olddefconfig",
    )?;
    let config = std::fs::read_to_string(tree.join(".config")).map_err(|e| e.to_string())?;
    check_config(&config)
}

fn make(tree: &Path, name: &str, t0: Instant) -> Result<(), String> {
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ccache = cache_dir().join("ccache");
    let cc = if Command::new("ccache").arg("--version").output().is_ok() {
        "ccache gcc"
    } else {
        "gcc"
    };
    stage(t0, &format!("{name}: make -j{jobs} bzImage (CC=\"{cc}\")"));
    let mut child = Command::new("make")
        .arg("-C")
        .arg(tree)
        .arg(format!("-j{jobs}"))
        .arg(format!("CC={cc}"))
        .arg("bzImage")
        .env("CCACHE_DIR", &ccache)
        .env("KBUILD_BUILD_TIMESTAMP", "2026-01-01")
        .env("KBUILD_BUILD_USER", "txqlab")
        .env("KBUILD_BUILD_HOST", "txqlab")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("make: {e}"))?;
    let stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr {
            for l in BufReader::new(e).lines().map_while(Result::ok) {
                s.push_str(&l);
                s.push('\n');
            }
        }
        s
    });
    let tty = std::io::stderr().is_terminal();
    let mut objects = 0u64;
    let mut last = Instant::now();
    if let Some(o) = child.stdout.take() {
        for l in BufReader::new(o).lines().map_while(Result::ok) {
            if l.trim_start().starts_with("CC") || l.trim_start().starts_with("AS") {
                objects += 1;
            }
            if last.elapsed().as_secs() >= 10 || (tty && objects.is_multiple_of(25)) {
                last = Instant::now();
                if tty {
                    eprint!(
                        "\r[{:>6.1}s] {name}: {objects} objects compiled   ",
                        t0.elapsed().as_secs_f64()
                    );
                    let _ = std::io::stderr().flush();
                } else {
                    stage(t0, &format!("{name}: {objects} objects compiled"));
                }
            }
        }
    }
    if tty {
        eprintln!();
    }
    let st = child.wait().map_err(|e| e.to_string())?;
    let err = err_thread.join().unwrap_or_default();
    if !st.success() {
        let tail: Vec<&str> = err
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(format!("{name}: kernel build failed:\n{}", tail.join("\n")));
    }
    stage(t0, &format!("{name}: {objects} objects compiled"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_check_names_each_missing_option() {
        let full: String = REQUIRED.iter().map(|(o, _)| format!("{o}=y\n")).collect();
        assert!(check_config(&full).is_ok());
        let no_veth = full.replace("CONFIG_VETH=y\n", "# CONFIG_VETH is not set\n");
        let e = check_config(&no_veth).unwrap_err();
        assert!(
            e.contains("CONFIG_VETH (the veth pair)") && !e.contains("CONFIG_DUMMY"),
            "{e}"
        );
    }

    #[test]
    fn the_fragment_enables_every_required_option() {
        for (o, _) in REQUIRED {
            assert!(FRAGMENT.lines().any(|l| l == format!("{o}=y")), "{o}");
        }
    }
}
