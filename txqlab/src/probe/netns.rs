//! Anonymous network namespaces that live exactly as long as the probe: each is created by a short-lived thread
//! calling `unshare(CLONE_NEWNET)` (a thread's namespaces are its own: `kernel/nsproxy.c` `unshare_nsproxy_namespaces`)
//! and kept alive only by an open `/proc/thread-self/ns/net` descriptor. No name is ever bound under
//! `/run/netns`, so when the process ends, however it ends (success, error, Ctrl-C, even SIGKILL), the last
//! reference goes and the kernel tears the namespace down with every device, address, route and qdisc in it
//! (`net/core/net_namespace.c` `cleanup_net`). Work inside a namespace runs on a fresh scoped thread that joined
//! it with `setns(2)`; sockets it opens (UDP, rtnetlink) belong to that namespace.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns, unshare};

use super::error::ProbeError;

/// One anonymous network namespace.
#[derive(Debug)]
pub struct Netns {
    name: &'static str,
    fd: OwnedFd,
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>, what: &str) -> Result<T, ProbeError> {
    h.join().map_err(|_| ProbeError::Os {
        what: what.into(),
        detail: "the worker thread panicked".into(),
    })
}

impl Netns {
    /// Creates an empty network namespace called `name` in messages (`pod`, `node`).
    pub fn new(name: &'static str) -> Result<Self, ProbeError> {
        let fd = std::thread::scope(|s| {
            join(
                s.spawn(|| -> Result<OwnedFd, ProbeError> {
                    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| {
                        ProbeError::os(
                            format!("creating the {name} network namespace (unshare CLONE_NEWNET)"),
                            e,
                        )
                    })?;
                    let f = File::open("/proc/thread-self/ns/net")
                        .map_err(|e| ProbeError::os("opening /proc/thread-self/ns/net", e))?;
                    Ok(OwnedFd::from(f))
                }),
                "creating a network namespace",
            )?
        })?;
        Ok(Self { name, fd })
    }

    /// The name used in messages.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The descriptor holding this namespace, for `IFLA_NET_NS_FD` (valid in this process only).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// Runs `f` on a thread inside this namespace.
    pub fn run<T: Send>(
        &self,
        f: impl FnOnce() -> Result<T, ProbeError> + Send,
    ) -> Result<T, ProbeError> {
        std::thread::scope(|s| {
            join(
                s.spawn(|| {
                    setns(&self.fd, CloneFlags::CLONE_NEWNET).map_err(|e| {
                        ProbeError::os(
                            format!("entering the {} network namespace (setns)", self.name),
                            e,
                        )
                    })?;
                    f()
                }),
                "working in a network namespace",
            )?
        })
    }

    /// Runs `f` on a thread inside this namespace with this namespace's sysfs mounted at `/sys`, in a private mount
    /// namespace of that thread alone (what `ip netns exec` does for a process): `/sys/class/net` then lists
    /// this namespace's devices. The mount goes away with the thread.
    pub fn run_with_sysfs<T: Send>(
        &self,
        f: impl FnOnce() -> Result<T, ProbeError> + Send,
    ) -> Result<T, ProbeError> {
        self.run(|| {
            unshare(CloneFlags::CLONE_NEWNS).map_err(|e| {
                ProbeError::os(
                    "creating a private mount namespace (unshare CLONE_NEWNS)",
                    e,
                )
            })?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(|e| ProbeError::os("making the probe's mounts private", e))?;
            mount(
                Some("sysfs"),
                "/sys",
                Some("sysfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .map_err(|e| {
                ProbeError::os(format!("mounting the {} namespace's sysfs", self.name), e)
            })?;
            f()
        })
    }
}
