//! What can stop the probe before it has a verdict. Every variant says what failed and where; the command line
//! exits 2 for all of them ("could not run").

use std::fmt;

/// An error of `txqlab probe`.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The process lacks a capability the probe needs (names the capability and how to run the probe).
    #[error(
        "probe: missing {}: the probe creates its own network namespaces (CAP_SYS_ADMIN) and veth devices and \
         qdiscs inside them (CAP_NET_ADMIN); it never touches the host's devices. {HOW_TO_RUN}",
        missing.join(" and ")
    )]
    MissingCapability {
        /// The capabilities missing from the effective set, e.g. `CAP_NET_ADMIN`.
        missing: Vec<&'static str>,
    },
    /// An rtnetlink request inside one of the probe's namespaces failed.
    #[error("probe: in the {netns} namespace, `{command}` failed: {detail}")]
    Command {
        /// The namespace (`pod` or `node`).
        netns: &'static str,
        /// The request, as the equivalent iproute2 command.
        command: String,
        /// The kernel's answer (an errno) or what was wrong with it.
        detail: String,
    },
    /// A system call or file access failed (namespace creation, sysctl, sysfs, sockets).
    #[error("probe: {what}: {detail}")]
    Os {
        /// What the probe was doing.
        what: String,
        /// The error.
        detail: String,
    },
    /// A qdisc dump of the egress device that the probe cannot read.
    #[error("probe: reading the qdisc counters of {dev}: {detail}")]
    Counters {
        /// The device.
        dev: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The options make no sense (e.g. no flows).
    #[error("probe: {0}")]
    Usage(String),
    /// The model of the egress device refuses its queue count (the `qdisc` crate's limit).
    #[error("probe: egress with {queues} TX queues: {source}")]
    Egress {
        /// TX queues of the egress veth.
        queues: u16,
        /// The model's error.
        source: qdisc::Error,
    },
}

/// How to run the probe with the privileges it needs.
pub const HOW_TO_RUN: &str = "run it as root (`sudo txqlab probe`), or on Kubernetes from a privileged node debug pod \
(`kubectl debug node/NAME -it --profile=sysadmin --image=IMAGE -- txqlab probe`, with txqlab in IMAGE)";

impl ProbeError {
    /// An OS error, turned into the capability error when it is a permission error.
    pub fn os(what: impl Into<String>, e: impl fmt::Display) -> Self {
        let detail = e.to_string();
        if detail.contains("EPERM") || detail.contains("Operation not permitted") {
            // Capabilities looked present but the kernel refused (a user namespace, seccomp, an LSM).
            return Self::Os {
                what: what.into(),
                detail: format!("{detail}: the kernel refused; {HOW_TO_RUN}"),
            };
        }
        Self::Os {
            what: what.into(),
            detail,
        }
    }
}
