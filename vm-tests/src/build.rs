//! Building the two kernel variants of a tree, cached outside the checkout.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::Error;
use crate::mirror;
use crate::tree::{VethState, detect, fingerprint, variant};

/// The kernel configuration fragment, merged onto `make tinyconfig`.
pub const FRAGMENT: &str = include_str!("../config/txqlab.config");
/// Debian's kernels the harness builds by default.
pub const DEFAULT_KERNELS: &[&str] = &["6.1", "6.12"];

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
    /// How the variant relates to the tree: `fixed` / `fix-reverted` for a tree that ships the fix,
    /// `fix-applied` / `buggy` for one that ships the bug; `user` for an image given with `--kernel`.
    pub label: String,
    /// bzImage path.
    pub path: PathBuf,
}

/// Where a kernel tree comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Debian's `linux-source-<version>` package (`6.1`, `6.12`), extracted into the cache.
    Debian(String),
    /// The user's tree (`--kernel-src`): read, never written.
    Tree(PathBuf),
}

impl Source {
    /// The Debian tarball of a version.
    pub fn tarball(version: &str) -> PathBuf {
        PathBuf::from(format!("/usr/src/linux-source-{version}.tar.xz"))
    }

    /// Where Debian's tree is extracted in the cache.
    pub fn extracted(version: &str) -> PathBuf {
        cache_dir()
            .join("src")
            .join(format!("linux-source-{version}"))
    }
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

fn run(cmd: &mut Command, what: &str) -> Result<String, Error> {
    log::debug!("{what}: {cmd:?}");
    let o = cmd.output().map_err(|e| Error::command(what, e))?;
    if !o.status.success() {
        return Err(Error::Command {
            command: what.to_string(),
            detail: format!(
                "failed:\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        });
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The source tree: the user's, or Debian's extracted into the cache (into a temporary name first, so an
/// interrupted extraction is never taken for a tree).
fn source(src: &Source, t0: Instant) -> Result<PathBuf, Error> {
    let version = match src {
        Source::Tree(s) => {
            if !s.join("drivers/net/veth.c").exists() {
                return Err(Error::Tree {
                    file: s.display().to_string(),
                    detail: "not a kernel tree (no drivers/net/veth.c)".into(),
                });
            }
            return s.canonicalize().map_err(|e| Error::io(s, e));
        }
        Source::Debian(v) => v,
    };
    let tree = Source::extracted(version);
    if tree.join("Makefile").exists() {
        return Ok(tree);
    }
    let tarball = Source::tarball(version);
    if !tarball.exists() {
        return Err(Error::Tree {
            file: tarball.display().to_string(),
            detail: format!(
                "not found: apt-get install -y linux-source-{version} (or `vm-tests setup`)"
            ),
        });
    }
    let dir = cache_dir().join("src");
    // Per process, so that two runs extracting at once do not write into each other's tree.
    let partial = dir.join(format!(".partial-{version}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    stage(
        t0,
        &format!("extracting {} into {}", tarball.display(), dir.display()),
    );
    run(
        Command::new("tar")
            .arg("-xJf")
            .arg(&tarball)
            .arg("-C")
            .arg(&partial),
        "tar",
    )?;
    let inner = partial.join(format!("linux-source-{version}"));
    if !inner.join("Makefile").exists() {
        return Err(Error::Tree {
            file: tarball.display().to_string(),
            detail: format!("no linux-source-{version}/Makefile inside"),
        });
    }
    // Another run may have finished extracting first: its tree is the same.
    if !tree.join("Makefile").exists() {
        let _ = std::fs::remove_dir_all(&tree);
        std::fs::rename(&inner, &tree).map_err(|e| Error::io(&tree, e))?;
    }
    let _ = std::fs::remove_dir_all(&partial);
    Ok(tree)
}

/// `make kernelversion` without running make in the tree: VERSION, PATCHLEVEL, SUBLEVEL and EXTRAVERSION from
/// the top-level Makefile, put together as the Makefile's `kernelversion` target does.
pub fn kernel_version(makefile: &str) -> Result<String, Error> {
    let get = |k: &str| {
        makefile.lines().find_map(|l| {
            let (a, b) = l.split_once('=')?;
            (a.trim() == k).then(|| b.trim().to_string())
        })
    };
    let v = get("VERSION").ok_or_else(|| Error::Tree {
        file: "Makefile".into(),
        detail: "no VERSION".into(),
    })?;
    let p = get("PATCHLEVEL").unwrap_or_default();
    let s = get("SUBLEVEL").unwrap_or_default();
    let e = get("EXTRAVERSION").unwrap_or_default();
    let mut out = v;
    if !p.is_empty() {
        out = format!("{out}.{p}");
        if !s.is_empty() {
            out = format!("{out}.{s}");
        }
    }
    Ok(out + &e)
}

/// Checks the merged configuration for the options the guest needs.
pub fn check_config(config: &str) -> Result<(), Error> {
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|(o, _)| !config.lines().any(|l| l == format!("{o}=y")))
        .map(|(o, why)| format!("{o} ({why})"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingConfig { missing })
    }
}

/// The kernel source file the variants differ in.
const VETH_C: &str = "drivers/net/veth.c";

/// What the harness reads of a tree before building it.
struct Inspected {
    /// The tree.
    tree: PathBuf,
    /// Its `drivers/net/veth.c`.
    veth_c: String,
    /// Whether that `veth_xmit` records the rx queue.
    state: VethState,
    /// `make kernelversion`.
    version: String,
    /// The files copied for a build.
    listing: mirror::Listing,
    /// Their fingerprint (without veth.c), for the image cache.
    key: String,
}

/// Finds (or extracts) the tree of `src` and reads its veth state, version and files.
fn inspect(src: &Source, t0: Instant) -> Result<Inspected, Error> {
    let tree = source(src, t0)?;
    let veth_rel = Path::new(VETH_C);
    let orig = std::fs::read_to_string(tree.join(veth_rel))
        .map_err(|e| Error::io(tree.join(veth_rel), e))?;
    if tree.join("drivers/net/veth.c.txqlab-orig").exists() {
        stage(
            t0,
            "note: drivers/net/veth.c.txqlab-orig is a copy an older vm-tests left in this tree; this version \
             neither reads nor writes it (compare it with veth.c and delete it)",
        );
    }
    let state = detect(&orig)?;
    let makefile = std::fs::read_to_string(tree.join("Makefile"))
        .map_err(|e| Error::io(tree.join("Makefile"), e))?;
    let version = kernel_version(&makefile)?;
    let listing = mirror::list(&tree)?;
    let tree_key = mirror::stat_fingerprint(&tree, &listing, veth_rel)?;
    stage(
        t0,
        &format!(
            "tree {} (linux {version}, {} files by {}): veth as shipped is {}",
            tree.display(),
            listing.files.len(),
            listing.how,
            match state {
                VethState::Fixed =>
                    "fixed (710ad98c363a in); building it as shipped and with the fix reverted",
                VethState::Buggy =>
                    "buggy (records the rx queue); building it as shipped and with the fix applied",
            }
        ),
    );
    Ok(Inspected {
        tree,
        veth_c: orig,
        state,
        version,
        listing,
        key: tree_key,
    })
}

/// The work directory of `tree` in the cache, which must not be inside the tree.
fn work_dir(src: &Source, tree: &Path) -> Result<PathBuf, Error> {
    let slug = match src {
        Source::Debian(v) => format!("linux-source-{v}"),
        Source::Tree(_) => format!("tree-{}", fingerprint(&[tree.to_string_lossy().as_bytes()])),
    };
    if let Ok(c) = cache_dir().canonicalize()
        && c.starts_with(tree)
    {
        return Err(Error::Usage(format!(
            "the cache {} is inside the kernel tree {}: set XDG_CACHE_HOME elsewhere",
            c.display(),
            tree.display()
        )));
    }
    Ok(cache_dir().join("work").join(slug))
}

/// Builds (or finds in the cache) the fixed and the buggy variant of a tree. The tree is only read: the variants
/// are built from a hard-link copy under `txqlab/work/` ([`crate::mirror`]) with `make O=txqlab/work/.../build`.
pub fn build_both(src: &Source, t0: Instant) -> Result<Vec<Image>, Error> {
    let Inspected {
        tree,
        veth_c: orig,
        state,
        version,
        listing,
        key: tree_key,
    } = inspect(src, t0)?;
    let veth_rel = Path::new(VETH_C);
    let kernels = cache_dir().join("kernels");
    std::fs::create_dir_all(&kernels).map_err(|e| Error::io(&kernels, e))?;
    let work = work_dir(src, &tree)?;
    let (copy, objtree) = (work.join("src"), work.join("build"));
    let mut out = Vec::new();
    let mut prepared = false;
    let mut lock = None;
    for want in [VethState::Fixed, VethState::Buggy] {
        let src_text = variant(&orig, want)?;
        let key = fingerprint(&[
            version.as_bytes(),
            FRAGMENT.as_bytes(),
            src_text.as_bytes(),
            tree_key.as_bytes(),
        ]);
        let label = match (state, want) {
            (VethState::Fixed, VethState::Fixed) => "fixed",
            (VethState::Fixed, VethState::Buggy) => "fix-reverted",
            (VethState::Buggy, VethState::Fixed) => "fix-applied",
            (VethState::Buggy, VethState::Buggy) => "buggy",
        };
        let image = kernels.join(format!("linux-{version}-{label}-{key}.bzImage"));
        let name = format!("linux-{version}-{label}");
        if image.exists() {
            stage(t0, &format!("{name}: cached {}", image.display()));
        } else {
            if !prepared {
                lock = Some(WorkLock::take(&work)?);
                stage(
                    t0,
                    &format!("copying the tree (hard links) to {}", copy.display()),
                );
                let copied = mirror::materialize(&tree, &listing, &copy)?;
                if copied > 0 {
                    stage(t0, &format!("{copied} files copied (linking refused)"));
                }
                configure(&copy, &objtree, t0)?;
                prepared = true;
            }
            mirror::replace_file(&copy.join(veth_rel), &src_text)?;
            make(&copy, &objtree, &name, t0)?;
            // Into the cache under a temporary name first: an interrupted copy is never taken for an image.
            let tmp = image.with_extension("partial");
            std::fs::copy(objtree.join("arch/x86/boot/bzImage"), &tmp)
                .map_err(|e| Error::io(objtree.join("arch/x86/boot/bzImage"), e))?;
            std::fs::rename(&tmp, &image).map_err(|e| Error::io(&image, e))?;
            stage(t0, &format!("{name}: built {}", image.display()));
        }
        out.push(Image {
            name,
            variant: Some(want),
            label: label.into(),
            path: image,
        });
    }
    drop(lock);
    Ok(out)
}

/// One build at a time in a work directory: `<work>.lock` holds the pid of the run that builds there. A lock whose
/// process is gone (a run killed by SIGINT) is taken over.
struct WorkLock(PathBuf);

impl WorkLock {
    fn take(work: &Path) -> Result<Self, Error> {
        let mut name = work.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let path = work.with_file_name(name);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
        }
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(Self(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(&path).unwrap_or_default();
                    let cmdline =
                        std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap_or_default();
                    if !pid.trim().is_empty()
                        && String::from_utf8_lossy(&cmdline).contains("vm-tests")
                    {
                        return Err(Error::Locked {
                            pid: pid.trim().to_string(),
                            work: work.to_path_buf(),
                            lock: path,
                        });
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        Err(Error::io(
            path,
            std::io::Error::other("could not take the lock"),
        ))
    }
}

impl Drop for WorkLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `make O=objtree tinyconfig`, the fragment appended (a later assignment overrides an earlier one, as
/// `scripts/kconfig/merge_config.sh` relies on), `make O=objtree olddefconfig`; all in the build directory.
fn configure(copy: &Path, objtree: &Path, t0: Instant) -> Result<(), Error> {
    stage(
        t0,
        &format!(
            "configuring in {}: tinyconfig + vm-tests/config/txqlab.config",
            objtree.display()
        ),
    );
    std::fs::create_dir_all(objtree).map_err(|e| Error::io(objtree, e))?;
    let kmake = |target: &str| {
        run(
            Command::new("make")
                .arg("-s")
                .arg("-C")
                .arg(copy)
                .arg(format!("O={}", objtree.display()))
                .arg(target),
            &format!("make O={} {target}", objtree.display()),
        )
    };
    kmake("tinyconfig")?;
    let dotconfig = objtree.join(".config");
    let tiny = std::fs::read_to_string(&dotconfig).map_err(|e| Error::io(&dotconfig, e))?;
    std::fs::write(
        &dotconfig,
        format!("{tiny}\n# vm-tests/config/txqlab.config\n{FRAGMENT}"),
    )
    .map_err(|e| Error::io(&dotconfig, e))?;
    kmake("olddefconfig")?;
    let config = std::fs::read_to_string(&dotconfig).map_err(|e| Error::io(&dotconfig, e))?;
    check_config(&config).map_err(|e| {
        Error::Skip(format!(
            "{e}: this tree cannot give the guest what it needs (kselftest counts a missing option as a skip)"
        ))
    })
}

fn make(copy: &Path, objtree: &Path, name: &str, t0: Instant) -> Result<(), Error> {
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ccache = cache_dir().join("ccache");
    let cc = if Command::new("ccache").arg("--version").output().is_ok() {
        "ccache gcc"
    } else {
        "gcc"
    };
    stage(
        t0,
        &format!(
            "{name}: make -j{jobs} O={} bzImage (CC=\"{cc}\")",
            objtree.display()
        ),
    );
    let mut child = Command::new("make")
        .arg("-C")
        .arg(copy)
        .arg(format!("O={}", objtree.display()))
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
        .map_err(|e| Error::command("make", e))?;
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
    let objects = progress(child.stdout.take(), name, t0);
    let st = child.wait().map_err(|e| Error::command("make", e))?;
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
        return Err(Error::Build {
            image: name.to_string(),
            tail: tail.join("\n"),
        });
    }
    stage(t0, &format!("{name}: {objects} objects compiled"));
    Ok(())
}

/// Counts the objects kbuild compiles from its output on `stdout` (`CC`/`AS` lines), showing progress: a line
/// redrawn on a terminal, a stage line every 10 s otherwise.
fn progress(stdout: Option<std::process::ChildStdout>, name: &str, t0: Instant) -> u64 {
    let tty = std::io::stderr().is_terminal();
    let mut objects = 0u64;
    let mut last = Instant::now();
    if let Some(o) = stdout {
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
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_check_names_each_missing_option() {
        let full: String = REQUIRED.iter().map(|(o, _)| format!("{o}=y\n")).collect();
        assert!(check_config(&full).is_ok());
        let no_veth = full.replace("CONFIG_VETH=y\n", "# CONFIG_VETH is not set\n");
        let e = check_config(&no_veth).unwrap_err().to_string();
        assert!(
            e.contains("CONFIG_VETH (the veth pair)") && !e.contains("CONFIG_DUMMY"),
            "{e}"
        );
    }

    #[test]
    fn kernel_version_is_read_from_the_makefile() {
        let m = "# SPDX\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\nNAME = Baby Opossum Posse\n";
        assert_eq!(kernel_version(m).unwrap(), "6.12.117");
        let rc = "VERSION = 5\nPATCHLEVEL = 17\nSUBLEVEL = 0\nEXTRAVERSION = -rc1\n";
        assert_eq!(kernel_version(rc).unwrap(), "5.17.0-rc1");
        assert!(kernel_version("all:\n").is_err());
    }

    #[test]
    fn the_fragment_enables_every_required_option() {
        for (o, _) in REQUIRED {
            assert!(FRAGMENT.lines().any(|l| l == format!("{o}=y")), "{o}");
        }
    }
}
