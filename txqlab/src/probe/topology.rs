//! The throwaway topology: a "pod" namespace joined by a single-queue veth to a "node" namespace that forwards
//! out of an 8-queue veth with `mq`, the stand-in for the NIC. Everything is created inside the probe's own
//! anonymous namespaces (see `netns.rs`); nothing on the host is read or changed.
//!
//! ```text
//!  pod netns                        node netns (ip_forward = 1)
//!  eth0 198.51.100.2/24  <--veth-->  veth0 198.51.100.1/24
//!  (1 TX queue)                      txq8 203.0.113.1/24 (8 TX queues, mq + pfifo_fast per queue) <--veth--> txq8p
//!  default via 198.51.100.1          192.0.2.0/24 via 203.0.113.254 (permanent neighbour 02:00:00:00:00:fe)
//! ```
//!
//! The pod's veth is created with one TX queue on purpose: a veth created without `numtxqueues` gets one per
//! possible CPU (`veth_get_num_queues`), and on an affected kernel the recorded rx queue is the pod-side TX queue,
//! so one queue makes the affected prediction exact (queue 0, as `qdisc::veth::egress` models it). The neighbour's
//! MAC address is not txq8p's, so txq8p's stack drops what arrives (`eth_type_trans` marks it
//! `PACKET_OTHERHOST`): nothing loops back. IPv6 is disabled in both namespaces before any device exists, so no
//! router solicitation or MLD report adds packets to the counts.

use super::error::ProbeError;
use super::netns::Netns;
use super::tools::{Tools, run};

/// The egress device (the NIC stand-in).
pub const EGRESS: &str = "txq8";
/// Its TX (and RX) queue count.
pub const EGRESS_QUEUES: u16 = 8;
/// The `mq` handle's major number on the egress device.
pub const MQ_MAJOR: u16 = 1;
/// Where both senders send (through the egress device).
pub const DST: &str = "192.0.2.1";
/// The UDP destination port.
pub const DST_PORT: u16 = 9000;

/// Writes a sysctl of the calling thread's network namespace (`/proc/sys/net` shows the namespace of the task
/// that looks: `net/sysctl_net.c` `net_ctl_header_lookup`). `optional` sysctls may be absent (IPv6 not built).
fn sysctl(netns: &'static str, key: &str, value: &str, optional: bool) -> Result<(), ProbeError> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    if optional && !std::path::Path::new(&path).exists() {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(|e| {
        ProbeError::os(
            format!("in the {netns} namespace, setting {key} = {value}"),
            e,
        )
    })
}

fn no_ipv6(netns: &'static str) -> Result<(), ProbeError> {
    sysctl(netns, "net.ipv6.conf.default.disable_ipv6", "1", true)?;
    sysctl(netns, "net.ipv6.conf.all.disable_ipv6", "1", true)
}

/// Builds the topology in `pod` and `node`.
pub fn build(t: &Tools, pod: &Netns, node: &Netns) -> Result<(), ProbeError> {
    let p = pod.name();
    let n = node.name();
    pod.run(|| {
        no_ipv6(p)?;
        sysctl(p, "net.ipv4.ip_forward", "0", false)?;
        run(p, &t.ip, &["link", "set", "lo", "up"]).map(drop)
    })?;
    let pod_path = pod.path();
    node.run(|| {
        no_ipv6(n)?;
        sysctl(n, "net.ipv4.ip_forward", "1", false)?;
        // rp_filter is inherited from the host's settings (devconf_inherit_init_net); the paths here are
        // symmetric anyway, but a strict host setting must not decide the probe.
        sysctl(n, "net.ipv4.conf.all.rp_filter", "0", false)?;
        sysctl(n, "net.ipv4.conf.default.rp_filter", "0", false)?;
        let ip = |args: &[&str]| run(n, &t.ip, args).map(drop);
        ip(&["link", "set", "lo", "up"])?;
        ip(&[
            "link",
            "add",
            "veth0",
            "numtxqueues",
            "1",
            "numrxqueues",
            "1",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "numtxqueues",
            "1",
            "numrxqueues",
            "1",
            "netns",
            &pod_path,
        ])?;
        let q = EGRESS_QUEUES.to_string();
        ip(&[
            "link",
            "add",
            EGRESS,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            "txq8p",
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
        ])?;
        ip(&["addr", "add", "198.51.100.1/24", "dev", "veth0"])?;
        ip(&["link", "set", "veth0", "up"])?;
        ip(&["addr", "add", "203.0.113.1/24", "dev", EGRESS])?;
        ip(&["link", "set", "txq8p", "up"])?;
        ip(&["link", "set", EGRESS, "up"])?;
        let major = format!("{MQ_MAJOR:x}:");
        run(
            n,
            &t.tc,
            &[
                "qdisc", "replace", "dev", EGRESS, "root", "handle", &major, "mq",
            ],
        )?;
        // Explicit per-queue children: `mq_init` would attach the host's `net.core.default_qdisc` (a global
        // setting: fq, fq_codel, ...); pfifo_fast is built into every kernel with mq (`sch_generic.c`) and
        // counts each packet once when it leaves.
        for q in 1..=EGRESS_QUEUES {
            let parent = format!("{MQ_MAJOR:x}:{q:x}");
            run(
                n,
                &t.tc,
                &[
                    "qdisc",
                    "replace",
                    "dev",
                    EGRESS,
                    "parent",
                    &parent,
                    "pfifo_fast",
                ],
            )?;
        }
        ip(&[
            "neigh",
            "replace",
            "203.0.113.254",
            "lladdr",
            "02:00:00:00:00:fe",
            "dev",
            EGRESS,
            "nud",
            "permanent",
        ])?;
        ip(&[
            "route",
            "add",
            "192.0.2.0/24",
            "via",
            "203.0.113.254",
            "dev",
            EGRESS,
        ])
    })?;
    pod.run(|| {
        let ip = |args: &[&str]| run(p, &t.ip, args).map(drop);
        ip(&["addr", "add", "198.51.100.2/24", "dev", "eth0"])?;
        ip(&["link", "set", "eth0", "up"])?;
        ip(&["route", "add", "default", "via", "198.51.100.1"])
    })
}

/// The egress device's per-queue packet counts now.
pub fn egress_counts(t: &Tools, node: &Netns) -> Result<Vec<u64>, ProbeError> {
    let json = node.run(|| {
        run(
            node.name(),
            &t.tc,
            &["-s", "-j", "qdisc", "show", "dev", EGRESS],
        )
    })?;
    super::counters::per_queue_packets(EGRESS, &json, MQ_MAJOR, EGRESS_QUEUES)
}
