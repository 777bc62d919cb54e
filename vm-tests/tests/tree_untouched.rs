//! `vm-tests build --kernel-src TREE` never writes TREE: every file of the tree (`.git` included) is hashed before
//! and after a successful build, a failed build and an interrupted (SIGINT) build, and must be identical, content,
//! mode and modification time.
//!
//! What this covers, honestly: the tree is a small fake kernel tree whose `Makefile` stands in for kbuild (it
//! writes only under `O=`, or into the tree itself when run without `O=`, as kbuild does), so the test checks what
//! the harness does (where it runs make, what it copies, what it writes, that the variant reaches the build), not
//! kbuild's own out-of-tree behaviour; a real build takes minutes. The real Debian trees were checked once by hand
//! (`tar --compare` of the extracted tree after a real build, see vm-tests/README.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A `veth_xmit` of 6.1's shape (fixed), with the user's own uncommitted edit in it.
const VETH_C: &str = "/* SPDX-License-Identifier: GPL-2.0-only */\n\
static netdev_tx_t veth_xmit(struct sk_buff *skb, struct net_device *dev)\n{\n\
\tint rxq;\n\n\trxq = skb_get_queue_mapping(skb);\n\
\tif (rxq < rcv->real_num_rx_queues) {\n\t\trq = &rcv_priv->rq[rxq];\n\
\t\tuse_napi = rcu_access_pointer(rq->napi);\n\t}\n\treturn ret;\n}\n";

const LOCAL_EDIT: &str = "/* my local edit, not committed */\n";

/// A stand-in for kbuild: like kbuild, it writes its outputs under `O=`, and into the tree without it.
const MAKEFILE: &str = "O ?= .\n\
VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION = -fake\n\
kernelversion:\n\t@echo $(VERSION).$(PATCHLEVEL).$(SUBLEVEL)$(EXTRAVERSION)\n\
tinyconfig:\n\tmkdir -p $(O)\n\techo '# tiny' > $(O)/.config\n\
olddefconfig:\n\ttest -f $(O)/.config\n\
bzImage:\n\
\t@if [ -n \"$$FAKE_KBUILD_SLEEP\" ]; then touch $(O)/.building; sleep $$FAKE_KBUILD_SLEEP; fi\n\
\t@if [ -n \"$$FAKE_KBUILD_FAIL\" ]; then echo 'drivers/net/veth.c:1:1: error: fake failure' >&2; exit 1; fi\n\
\tmkdir -p $(O)/arch/x86/boot\n\tcat drivers/net/veth.c > $(O)/arch/x86/boot/bzImage\n";

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("txqlab-untouched-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sh(dir: &Path, cmd: &str) {
    let st = Command::new("sh")
        .current_dir(dir)
        .args(["-c", cmd])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{cmd}");
}

/// The user's tree: a `.config` of their own, a symlink, a leftover in-tree object, and (as a git repository)
/// an uncommitted edit to veth.c.
fn user_tree(root: &Path, git: bool) -> PathBuf {
    let t = root.join("linux");
    std::fs::create_dir_all(t.join("drivers/net")).unwrap();
    std::fs::write(t.join("Makefile"), MAKEFILE).unwrap();
    std::fs::write(t.join("drivers/net/veth.c"), VETH_C).unwrap();
    std::fs::write(t.join("drivers/net/Kconfig"), "config VETH\n").unwrap();
    std::fs::write(t.join(".gitignore"), ".config\n*.o\n").unwrap();
    std::os::unix::fs::symlink("drivers/net", t.join("netdir")).unwrap();
    // kconfig's merge script, as a stand-in (`-m CONFIG FRAGMENT...`: appends the fragments).
    let merge = t.join("scripts/kconfig/merge_config.sh");
    std::fs::create_dir_all(merge.parent().unwrap()).unwrap();
    std::fs::write(
        &merge,
        "#!/bin/sh\nshift; cfg=$1; shift; cat \"$@\" >> \"$cfg\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&merge, std::fs::Permissions::from_mode(0o755)).unwrap();
    if git {
        sh(
            &t,
            "git init -q . && git add -A && git -c user.name=u -c user.email=u@example.org commit -qm base",
        );
    }
    std::fs::write(t.join(".config"), "CONFIG_MY_PRECIOUS=y\n").unwrap();
    std::fs::write(t.join("drivers/net/veth.o"), "stale object").unwrap();
    let edited = format!("{VETH_C}{LOCAL_EDIT}");
    std::fs::write(t.join("drivers/net/veth.c"), edited).unwrap();
    t
}

/// Every entry of the tree: kind, mode, modification time, and content (or link target).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn go(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for e in std::fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            let m = std::fs::symlink_metadata(root.join(&r)).unwrap();
            let what = if m.file_type().is_symlink() {
                format!(
                    "link {}",
                    std::fs::read_link(root.join(&r)).unwrap().display()
                )
            } else if m.is_dir() {
                go(root, &r, out);
                format!("dir {:o}", m.permissions().mode())
            } else {
                let data = std::fs::read(root.join(&r)).unwrap();
                format!(
                    "file {:o} {} {} {}",
                    m.permissions().mode(),
                    m.mtime(),
                    m.mtime_nsec(),
                    vm_tests::tree::fingerprint(&[&data])
                )
            };
            out.insert(r, what);
        }
    }
    let mut out = BTreeMap::new();
    go(dir, Path::new(""), &mut out);
    out
}

/// The harness under test; `VM_TESTS_BIN` points these checks at another build of it (that is how they were seen
/// to fail on the version that ran `make tinyconfig` in the tree and kept `veth.c.txqlab-orig` there).
fn harness(tree: &Path, cache: &Path) -> Command {
    let bin = std::env::var_os("VM_TESTS_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_vm-tests")),
        PathBuf::from,
    );
    let mut c = Command::new(bin);
    c.args(["build", "--kernel-src"])
        .arg(tree)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("FAKE_KBUILD_FAIL")
        .env_remove("FAKE_KBUILD_SLEEP");
    c
}

fn assert_untouched(before: &BTreeMap<PathBuf, String>, tree: &Path, when: &str) {
    let after = snapshot(tree);
    for (p, v) in before {
        assert_eq!(
            after.get(p),
            Some(v),
            "{when}: {} changed or vanished",
            p.display()
        );
    }
    for p in after.keys() {
        assert!(
            before.contains_key(p),
            "{when}: {} appeared in the tree",
            p.display()
        );
        assert!(
            !p.to_string_lossy().contains("txqlab"),
            "{when}: {}",
            p.display()
        );
    }
}

fn check_build_success_and_failure(git: bool) {
    let root = tmp(if git { "git" } else { "plain" });
    let tree = user_tree(&root, git);
    let cache = root.join("cache");
    let before = snapshot(&tree);
    assert!(before.contains_key(Path::new(".git")) == git);

    // Success: both variants built from the working tree (the uncommitted edit included).
    let o = harness(&tree, &cache).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    // The tree first: whatever the outcome, it must be as it was.
    assert_untouched(&before, &tree, "after a successful build");
    assert!(o.status.success(), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    let images: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once(' ')).collect();
    assert_eq!(images.len(), 2, "{out}");
    let fixed = std::fs::read_to_string(images[0].1).unwrap();
    let reverted = std::fs::read_to_string(images[1].1).unwrap();
    assert!(
        images[0].0.ends_with("-fixed") && images[1].0.ends_with("-fix-reverted"),
        "{out}"
    );
    assert!(fixed.contains(LOCAL_EDIT) && !fixed.contains("skb_record_rx_queue"));
    assert!(reverted.contains(LOCAL_EDIT) && reverted.contains("skb_record_rx_queue(skb, rxq);"));
    // The user's .config was neither used nor replaced; the build's own is in the cache.
    let built_config = std::fs::read_dir(cache.join("txqlab/work"))
        .unwrap()
        .map(|e| e.unwrap().path().join("build/.config"))
        .next()
        .unwrap();
    let c = std::fs::read_to_string(built_config).unwrap();
    assert!(c.contains("CONFIG_VETH=y") && !c.contains("MY_PRECIOUS"));

    // A second run finds both images in the cache and still leaves the tree alone.
    let o = harness(&tree, &cache).output().unwrap();
    assert_untouched(&before, &tree, "after a cached run");
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cached"));

    // Failure: a build error (a new cache, so the variants are built again).
    let o = harness(&tree, &root.join("cache2"))
        .env("FAKE_KBUILD_FAIL", "1")
        .output()
        .unwrap();
    assert_untouched(&before, &tree, "after a failed build");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("kernel build failed") && err.contains("fake failure"),
        "{err}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_git_tree_is_identical_after_a_successful_and_a_failed_build() {
    check_build_success_and_failure(true);
}

#[test]
fn a_plain_tree_is_identical_after_a_successful_and_a_failed_build() {
    check_build_success_and_failure(false);
}

/// `cmd` run through `env --default-signal=INT`, with the same arguments, environment and directory.
fn default_sigint(cmd: Command) -> Command {
    let mut c = Command::new("env");
    c.arg("--default-signal=INT")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    c
}

#[test]
fn a_tree_is_identical_after_a_build_interrupted_by_sigint() {
    let root = tmp("sigint");
    let tree = user_tree(&root, true);
    let cache = root.join("cache");
    let before = snapshot(&tree);
    // In its own process group, as a terminal's Ctrl-C reaches the harness and make together. SIGINT's default
    // action is restored first (`env --default-signal`): a test run started in the background inherits it ignored.
    let mut child = default_sigint(harness(&tree, &cache))
        .env("FAKE_KBUILD_SLEEP", "60")
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    // Where the fake kbuild says it is compiling: the harness's build directory (or, for a harness that builds in
    // the tree, the tree itself, which then fails the check below).
    let building = || {
        tree.join(".building").exists()
            || std::fs::read_dir(cache.join("txqlab/work"))
                .map(|rd| {
                    rd.flatten()
                        .any(|e| e.path().join("build/.building").exists())
                })
                .unwrap_or(false)
    };
    while !building() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the build never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the harness exited before building"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let group = format!("-{}", child.id());
    let kill = |sig: &str| {
        Command::new("kill")
            .args(["-s", sig, "--", &group])
            .status()
            .unwrap()
    };
    assert!(kill("INT").success());
    let t1 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t1.elapsed() > Duration::from_secs(20) {
            kill("KILL");
            panic!("the harness did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    // The sleeping make is in the same group and got the signal too; make sure nothing of it is left.
    std::thread::sleep(Duration::from_millis(200));
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &group])
        .stderr(Stdio::null())
        .status();
    assert_untouched(&before, &tree, "after SIGINT");
    // The next run takes over the interrupted run's lock and work directory, and builds.
    let o = harness(&tree, &cache).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_untouched(&before, &tree, "after the run following SIGINT");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_tree_that_ships_the_bug_is_built_as_shipped_and_with_the_fix_applied() {
    let root = tmp("buggy");
    let t = root.join("linux-5.15.14");
    std::fs::create_dir_all(t.join("drivers/net")).unwrap();
    std::fs::write(
        t.join("Makefile"),
        MAKEFILE.replace("EXTRAVERSION = -fake", ""),
    )
    .unwrap();
    // 5.15's shape before the fix: veth_xmit records the rx queue.
    let buggy = VETH_C.replace(
        "use_napi = rcu_access_pointer(rq->napi);\n",
        "use_napi = rcu_access_pointer(rq->napi);\n\t\tskb_record_rx_queue(skb, rxq);\n",
    );
    std::fs::write(t.join("drivers/net/veth.c"), &buggy).unwrap();
    let before = snapshot(&t);
    let o = harness(&t, &root.join("cache")).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_untouched(&before, &t, "after building a buggy tree");
    assert!(o.status.success(), "{err}");
    assert!(err.contains("veth as shipped is buggy"), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    let images: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once(' ')).collect();
    assert_eq!(images[0].0, "linux-6.1.0-fix-applied", "{out}");
    assert_eq!(images[1].0, "linux-6.1.0-buggy", "{out}");
    // As shipped means unchanged: the buggy image is built from the tree's own veth.c.
    assert_eq!(std::fs::read_to_string(images[1].1).unwrap(), buggy);
    assert!(
        !std::fs::read_to_string(images[0].1)
            .unwrap()
            .contains("skb_record_rx_queue")
    );
    assert_untouched(&before, &t, "after building a buggy tree");
    std::fs::remove_dir_all(&root).unwrap();
}
