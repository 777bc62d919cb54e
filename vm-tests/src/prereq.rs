//! Everything the harness needs from the host, checked before anything long starts: a missing tool found after a
//! six-minute build is six minutes lost. All missing items are reported in one message with the command that
//! installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// How a prerequisite is detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// A command on `PATH`.
    Cmd(&'static str),
    /// A command on `PATH` or in the sbin directories (`ip`, `tc`, `ethtool` live in `/usr/sbin`, which a
    /// non-root `PATH` often lacks).
    SbinCmd(&'static str),
    /// A file (a header of a `-dev` package).
    File(&'static str),
    /// A statically linked `busybox` (the guest has no libc for a dynamic one).
    StaticBusybox,
    /// A Debian kernel source tarball, unless already extracted into the cache (the path of the extracted tree).
    Tarball,
}

/// One prerequisite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// What is checked (a command, a file).
    pub what: String,
    /// The Debian package that provides it.
    pub package: String,
    /// What the harness uses it for.
    pub why: &'static str,
    /// How it is detected.
    pub check: Check,
    /// For [`Check::Tarball`]: the tree extracted from it, which makes the tarball unnecessary.
    pub extracted: Option<PathBuf>,
}

/// A prerequisite: `what` it is, the Debian `package` that brings it, `why` the run needs it, and how to `check`.
pub fn need(what: &'static str, package: &'static str, why: &'static str, check: Check) -> Need {
    Need {
        what: what.into(),
        package: package.into(),
        why,
        check,
        extracted: None,
    }
}

/// What building a kernel out of tree needs (`make O=...`, kbuild's host programs, objtool).
pub fn build_tools() -> Vec<Need> {
    let why = "building the kernels";
    vec![
        need("make", "make", why, Check::Cmd("make")),
        need("gcc", "gcc", why, Check::Cmd("gcc")),
        need("ld", "binutils", why, Check::Cmd("ld")),
        need(
            "flex",
            "flex",
            "building the kernels (kconfig)",
            Check::Cmd("flex"),
        ),
        need(
            "bison",
            "bison",
            "building the kernels (kconfig)",
            Check::Cmd("bison"),
        ),
        need(
            "bc",
            "bc",
            "building the kernels (timeconst.h)",
            Check::Cmd("bc"),
        ),
        need(
            "/usr/include/gelf.h",
            "libelf-dev",
            "building the kernels (objtool)",
            Check::File("/usr/include/gelf.h"),
        ),
        need(
            "/usr/include/openssl/opensslv.h",
            "libssl-dev",
            "building the kernels (certificate tools)",
            Check::File("/usr/include/openssl/opensslv.h"),
        ),
    ]
}

/// What extracting Debian's kernel `version` (`6.1`, `6.12`) needs, given where it would be extracted to.
pub fn debian_source(version: &str, extracted: PathBuf) -> Vec<Need> {
    let tarball = format!("/usr/src/linux-source-{version}.tar.xz");
    vec![
        Need {
            what: tarball,
            package: format!("linux-source-{version}"),
            why: "the kernel source",
            check: Check::Tarball,
            extracted: Some(extracted),
        },
        need(
            "tar",
            "tar",
            "extracting the kernel source",
            Check::Cmd("tar"),
        ),
        need(
            "xz",
            "xz-utils",
            "extracting the kernel source",
            Check::Cmd("xz"),
        ),
    ]
}

/// What booting under QEMU with the harness's initramfs needs.
pub fn qemu_boot() -> Vec<Need> {
    vec![
        need(
            "qemu-system-x86_64",
            "qemu-system-x86",
            "booting the kernels",
            Check::Cmd("qemu-system-x86_64"),
        ),
        need(
            "busybox (static)",
            "busybox-static",
            "the guest's shell and tools",
            Check::StaticBusybox,
        ),
        ip(),
        tc(),
        need(
            "ethtool",
            "ethtool",
            "the guest's virtio-net queues and statistics",
            Check::SbinCmd("ethtool"),
        ),
        need(
            "ldd",
            "libc-bin",
            "the guest tools' libraries",
            Check::Cmd("ldd"),
        ),
        need("cpio", "cpio", "packing the initramfs", Check::Cmd("cpio")),
        need("gzip", "gzip", "packing the initramfs", Check::Cmd("gzip")),
    ]
}

/// iproute2's `ip`, for the guest's network setup.
fn ip() -> Need {
    need(
        "ip",
        "iproute2",
        "the guest's network setup",
        Check::SbinCmd("ip"),
    )
}

/// iproute2's `tc`, for the guest's per-queue counters.
fn tc() -> Need {
    need(
        "tc",
        "iproute2",
        "the guest's per-queue counters",
        Check::SbinCmd("tc"),
    )
}

/// What the virtme-ng runner needs.
pub fn vng_boot() -> Vec<Need> {
    vec![
        need(
            "vng",
            "virtme-ng (pip install virtme-ng)",
            "the --runner vng boots",
            Check::Cmd("vng"),
        ),
        need(
            "qemu-system-x86_64",
            "qemu-system-x86",
            "booting the kernels",
            Check::Cmd("qemu-system-x86_64"),
        ),
        ip(),
        tc(),
    ]
}

/// A command on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| is_executable(f))
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A command on `PATH`, else in `/usr/sbin`, `/sbin`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    on_path(name).or_else(|| {
        ["/usr/sbin", "/sbin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|f| is_executable(f))
    })
}

/// `busybox` if it is statically linked (`ldd` says so).
pub fn static_busybox() -> Option<PathBuf> {
    let b = find_tool("busybox")?;
    let o = Command::new("ldd").arg(&b).output().ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (text.contains("not a dynamic executable") || text.contains("statically linked")).then_some(b)
}

/// Whether `n` is satisfied.
pub fn present(n: &Need) -> bool {
    match n.check {
        Check::Cmd(c) => on_path(c).is_some(),
        Check::SbinCmd(c) => find_tool(c).is_some(),
        Check::File(f) => Path::new(f).exists(),
        Check::StaticBusybox => static_busybox().is_some(),
        Check::Tarball => {
            n.extracted
                .as_ref()
                .is_some_and(|t| t.join("Makefile").exists())
                || Path::new(&n.what).exists()
        }
    }
}

/// The unmet needs, one message listing all of them and how to install them; `None` when all are met.
pub fn missing(needs: &[Need]) -> Option<String> {
    let mut seen = Vec::new();
    let mut lines = Vec::new();
    let mut packages: Vec<&str> = Vec::new();
    for n in needs {
        if seen.contains(&n.what) {
            continue;
        }
        seen.push(n.what.clone());
        // An extracted tree makes tar and xz unnecessary too.
        if matches!(n.check, Check::Cmd("tar" | "xz"))
            && needs
                .iter()
                .filter(|m| matches!(m.check, Check::Tarball))
                .all(|m| {
                    m.extracted
                        .as_ref()
                        .is_some_and(|t| t.join("Makefile").exists())
                })
        {
            continue;
        }
        if !present(n) {
            lines.push(format!("  {} (package {}): {}", n.what, n.package, n.why));
            if !n.package.contains(' ') && !packages.contains(&n.package.as_str()) {
                packages.push(&n.package);
            }
        }
    }
    if lines.is_empty() {
        return None;
    }
    let mut msg = format!(
        "missing prerequisites (checked before building or booting anything):\n{}\n",
        lines.join("\n")
    );
    if !packages.is_empty() {
        msg.push_str(&format!(
            "install them with `cargo run --release -p vm-tests -- setup` (as root), or: apt-get install -y {}",
            packages.join(" ")
        ));
    }
    if needs
        .iter()
        .any(|n| n.package.starts_with("virtme-ng") && !present(n))
    {
        msg.push_str("\nvirtme-ng is not a Debian 12 package: pip install virtme-ng");
    }
    Some(msg)
}

/// Every Debian package any of the harness's commands can need (what `setup` installs).
pub fn all_packages(kernels: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let mut needs = build_tools();
    needs.extend(qemu_boot());
    for k in kernels {
        needs.extend(debian_source(k, PathBuf::new()));
    }
    for n in needs {
        if !n.package.contains(' ') && !v.contains(&n.package) {
            v.push(n.package);
        }
    }
    v.push("ccache".into());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_names_every_missing_item_and_the_install_command() {
        let needs = vec![
            need("no-such-tool-a", "pkg-a", "x", Check::Cmd("no-such-tool-a")),
            need(
                "no-such-tool-b",
                "pkg-b",
                "y",
                Check::File("/nonexistent/b.h"),
            ),
            need("sh", "dash", "z", Check::Cmd("sh")),
        ];
        let m = missing(&needs).unwrap();
        assert!(m.contains("no-such-tool-a (package pkg-a): x"), "{m}");
        assert!(m.contains("no-such-tool-b (package pkg-b): y"), "{m}");
        assert!(!m.contains("dash"), "{m}");
        assert!(m.contains("apt-get install -y pkg-a pkg-b"), "{m}");
        assert!(missing(&needs[2..]).is_none());
    }

    #[test]
    fn an_extracted_tree_stands_in_for_its_tarball() {
        let dir = std::env::temp_dir().join(format!("txqlab-prereq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Makefile"), "").unwrap();
        let with = debian_source("0.0", dir.clone());
        assert!(present(&with[0]));
        let without = debian_source("0.0", dir.join("nope"));
        assert!(!present(&without[0]));
        assert!(missing(&without).unwrap().contains("linux-source-0.0"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn setup_installs_both_debian_sources() {
        let p = all_packages(&["6.1", "6.12"]);
        for want in [
            "linux-source-6.1",
            "linux-source-6.12",
            "qemu-system-x86",
            "busybox-static",
        ] {
            assert!(p.iter().any(|x| x == want), "{want}");
        }
    }
}
