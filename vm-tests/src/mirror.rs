//! A build copy of a kernel tree, so that the harness never writes the tree it was given.
//!
//! The copy is made of hard links (a directory entry per file, no data copied; a plain copy when linking is
//! refused, e.g. across filesystems, which `std::fs::copy` does with `copy_file_range`, a reflink where the
//! filesystem supports it). The one file the harness changes, `drivers/net/veth.c`, is replaced in the copy by a
//! new file renamed over the link ([`replace_file`]): the link is broken, the shared inode is never written.
//! Kbuild then builds with `make -C <copy> O=<build dir>`, which writes only into the build directory.
//!
//! Which files are copied: in a git repository, `git ls-files --cached --others --exclude-standard` (the working
//! tree's content, uncommitted edits included; build outputs are ignored by the kernel's `.gitignore`); otherwise
//! every file except kbuild's in-tree outputs ([`is_build_output`]), since `make O=` refuses a source tree that
//! has a `.config`, `include/config` or `arch/*/include/generated`, and stale objects in the source tree would be
//! found by make's VPATH search.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;
use crate::tree::fingerprint;

/// One entry of a tree to copy: a path relative to the tree's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Regular files and symlinks, relative, sorted.
    pub files: Vec<PathBuf>,
    /// How they were found (`git ls-files` or a directory walk), for the log.
    pub how: &'static str,
}

/// Whether the file `rel` (relative to a kernel tree's root) is something kbuild writes when building in the
/// tree: the configuration and generated headers (which make `make O=` refuse the tree), objects and their
/// `.cmd` files, the kernel images. Only files: a directory is never skipped by its suffix
/// (`tools/testing/selftests/ftrace/test.d` is a directory of sources).
pub fn is_build_output(rel: &Path) -> bool {
    if is_kbuild_unclean(rel) {
        return true;
    }
    let s = rel.to_string_lossy();
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let top = rel.components().count() == 1;
    (top && (name.starts_with("vmlinux")
        || name.starts_with("modules.")
        || matches!(name.as_ref(), "System.map" | "Module.symvers" | ".version")))
        || s.starts_with("include/generated/")
        || [
            ".o", ".a", ".ko", ".cmd", ".mod", ".mod.c", ".order", ".symvers",
        ]
        .iter()
        .any(|suf| name.ends_with(suf))
        || s == "arch/x86/boot/bzImage"
}

/// Directories never copied: git's own (the tree's `.git` is not needed to build), and generated headers.
fn is_skipped_dir(rel: &Path) -> bool {
    let s = rel.to_string_lossy();
    s == ".git" || s == "include/generated" || is_kbuild_unclean(rel)
}

/// What makes `make O=` refuse a source tree ("source tree is not clean"): the top-level `.config`,
/// `include/config`, `arch/*/include/generated`.
pub fn is_kbuild_unclean(rel: &Path) -> bool {
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    (parts.len() == 1 && parts[0].starts_with(".config"))
        || (parts.len() >= 2 && parts[0] == "include" && parts[1] == "config")
        || (parts.len() >= 4
            && parts[0] == "arch"
            && parts[2] == "include"
            && parts[3] == "generated")
}

/// Whether `p` is an ELF executable (a host program kbuild built in the tree: `scripts/basic/fixdep`, ...).
fn is_elf_executable(p: &Path, m: &std::fs::Metadata) -> bool {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    if m.permissions().mode() & 0o111 == 0 {
        return false;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// The files of `tree` to copy.
pub fn list(tree: &Path) -> Result<Listing, Error> {
    if tree.join(".git").exists()
        && let Some(files) = git_files(tree)
    {
        return Ok(Listing {
            files,
            how: "git ls-files (working tree, uncommitted edits included)",
        });
    }
    let mut files = Vec::new();
    walk(tree, Path::new(""), &mut files)?;
    files.sort();
    Ok(Listing {
        files,
        how: "every file but kbuild's outputs",
    })
}

fn git_files(tree: &Path) -> Option<Vec<PathBuf>> {
    let o = Command::new("git")
        .arg("-C")
        .arg(tree)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        // Never take the index lock or refresh the index: the tree, .git included, is read only.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    if !o.status.success() {
        return None;
    }
    let mut files: Vec<PathBuf> = o
        .stdout
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| PathBuf::from(String::from_utf8_lossy(s).into_owned()))
        // Tracked but deleted in the working tree; and a .config someone committed or left unignored.
        .filter(|p| tree.join(p).symlink_metadata().is_ok() && !is_kbuild_unclean(p))
        .collect();
    files.sort();
    files.dedup();
    Some(files)
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let dir = root.join(rel);
    let rd = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    for e in rd {
        let e = e.map_err(|e| Error::io(&dir, e))?;
        let r = rel.join(e.file_name());
        let t = e.file_type().map_err(|e| Error::io(&r, e))?;
        if t.is_dir() {
            if !is_skipped_dir(&r) {
                walk(root, &r, out)?;
            }
        } else if is_build_output(&r) {
            continue;
        } else if t.is_symlink()
            || !e
                .metadata()
                .is_ok_and(|m| is_elf_executable(&root.join(&r), &m))
        {
            out.push(r);
        }
    }
    Ok(())
}

/// A fingerprint of the listed files' paths, sizes and modification times (not their content: reading 1.5 GB
/// per run is too slow), skipping `skip` (veth.c, whose variant text is keyed separately).
pub fn stat_fingerprint(tree: &Path, l: &Listing, skip: &Path) -> Result<String, Error> {
    let mut buf = Vec::with_capacity(l.files.len() * 64);
    for f in &l.files {
        if f == skip {
            continue;
        }
        let m = tree
            .join(f)
            .symlink_metadata()
            .map_err(|e| Error::io(tree.join(f), e))?;
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        buf.extend_from_slice(f.to_string_lossy().as_bytes());
        buf.extend_from_slice(format!("\0{}\0{mtime}\n", m.len()).as_bytes());
    }
    Ok(fingerprint(&[&buf]))
}

/// Creates `dst` (removing what was there) as a copy of the listed files of `src`: hard links, symlinks
/// recreated, plain copies where a link is refused. Returns how many files had to be copied.
pub fn materialize(src: &Path, l: &Listing, dst: &Path) -> Result<usize, Error> {
    if dst.exists() {
        // Removes our links only: unlinking one name of a hard-linked file leaves the other untouched.
        std::fs::remove_dir_all(dst).map_err(|e| Error::io(dst, e))?;
    }
    std::fs::create_dir_all(dst).map_err(|e| Error::io(dst, e))?;
    let mut copied = 0;
    let mut made: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for f in &l.files {
        let from = src.join(f);
        let to = dst.join(f);
        if let Some(p) = to.parent()
            && !made.contains(p)
        {
            std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
            made.insert(p.to_path_buf());
        }
        let m = from.symlink_metadata().map_err(|e| Error::io(&from, e))?;
        if m.file_type().is_symlink() {
            let target = std::fs::read_link(&from).map_err(|e| Error::io(&from, e))?;
            std::os::unix::fs::symlink(&target, &to).map_err(|e| Error::io(&to, e))?;
        } else if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(|source| Error::Copy {
                from: from.clone(),
                to: to.clone(),
                source,
            })?;
            copied += 1;
        }
    }
    Ok(copied)
}

/// Replaces `path` with a new file holding `text`: written beside it, then renamed over it, so a hard link at
/// `path` is broken rather than written through.
pub fn replace_file(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = path.with_extension("c.txqlab-new");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kbuild_outputs_are_not_copied_and_sources_are() {
        for out in [
            ".config",
            ".config.old",
            "include/config/auto.conf",
            "include/generated/autoconf.h",
            "arch/x86/include/generated/asm/unistd_64.h",
            "drivers/net/veth.o",
            "drivers/net/.veth.o.cmd",
            "vmlinux",
            "System.map",
            "arch/x86/boot/bzImage",
            "modules.order",
            "drivers/net/veth.mod.c",
        ] {
            assert!(is_build_output(Path::new(out)), "{out}");
        }
        for src in [
            "Makefile",
            "drivers/net/veth.c",
            "arch/x86/kernel/vmlinux.lds.S",
            "include/linux/netdevice.h",
            "arch/x86/include/asm/processor.h",
            "scripts/kconfig/merge_config.sh",
            "kernel/configs/tiny.config",
            "arch/x86/configs/x86_64_defconfig",
            "arch/x86/boot/compressed/vmlinux.lds.S",
            "drivers/firmware/efi/libstub/zboot.lds",
            "tools/testing/selftests/ftrace/test.d/functions",
            ".gitignore",
        ] {
            assert!(!is_build_output(Path::new(src)), "{src}");
        }
    }

    #[test]
    fn replacing_a_linked_file_leaves_the_original_alone() {
        let d = std::env::temp_dir().join(format!("txqlab-mirror-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("a/drivers/net")).unwrap();
        std::fs::write(d.join("a/drivers/net/veth.c"), "original\n").unwrap();
        std::fs::write(d.join("a/.config"), "CONFIG_MY_PRECIOUS=y\n").unwrap();
        std::os::unix::fs::symlink("drivers", d.join("a/link")).unwrap();
        let l = list(&d.join("a")).unwrap();
        assert_eq!(
            l.files,
            vec![PathBuf::from("drivers/net/veth.c"), PathBuf::from("link")]
        );
        materialize(&d.join("a"), &l, &d.join("b")).unwrap();
        assert!(
            d.join("b/link")
                .symlink_metadata()
                .unwrap()
                .file_type()
                .is_symlink()
        );
        replace_file(&d.join("b/drivers/net/veth.c"), "variant\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("a/drivers/net/veth.c")).unwrap(),
            "original\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("b/drivers/net/veth.c")).unwrap(),
            "variant\n"
        );
        assert!(!d.join("b/.config").exists());
        // Making the copy again removes the copy's names only.
        materialize(&d.join("a"), &l, &d.join("b")).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("b/drivers/net/veth.c")).unwrap(),
            "original\n"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
