//! The throwaway topology: a "pod" namespace joined by a single-queue veth to a "node" namespace that forwards
//! out of an 8-queue device with `mq`, the stand-in for the NIC: a dummy device where the kernel has the driver,
//! else a veth (as drawn below; a dummy has no peer and drops after the qdisc). Everything is created inside the
//! probe's own anonymous namespaces (see `netns.rs`), over rtnetlink (`rtnl.rs`); nothing on the host is read or
//! changed.
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
//! MAC address is nobody's, so txq8p's stack drops what arrives (`eth_type_trans` marks it
//! `PACKET_OTHERHOST`): nothing loops back. IPv6 is disabled in both namespaces before any device exists, so no
//! router solicitation or MLD report adds packets to the counts.

use std::net::Ipv4Addr;

use netlink_packet_route::tc::TcHandle;

use super::error::ProbeError;
use super::netns::Netns;
use super::rtnl::{Rtnl, VethEnd};

/// The egress device (the NIC stand-in).
pub const EGRESS: &str = "txq8";
/// Its TX (and RX) queue count.
pub const EGRESS_QUEUES: u16 = 8;
/// The `mq` handle's major number on the egress device.
pub const MQ_MAJOR: u16 = 1;
/// Where both senders send (through the egress device).
pub const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The UDP destination port.
pub const DST_PORT: u16 = 9000;
/// The next hop of the route out of the egress device.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 254);
/// The gateway's MAC address: nobody's, so the egress peer drops what it receives.
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];

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

/// The pod side, once its veth end exists: address, link up, default route via the node.
fn pod_side(pod: &Netns) -> Result<(), ProbeError> {
    pod.run(|| {
        let mut nl = Rtnl::open(pod.name())?;
        nl.add_addr("eth0", Ipv4Addr::new(198, 51, 100, 2), 24)?;
        nl.set_up("eth0")?;
        nl.add_route(
            Ipv4Addr::UNSPECIFIED,
            0,
            Some(Ipv4Addr::new(198, 51, 100, 1)),
            None,
        )
    })
}

/// The device standing in for the NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressKind {
    /// A dummy device (`drivers/net/dummy.c`): drops after the qdisc, no peer.
    Dummy,
    /// A veth pair (kernels without the dummy driver); the peer drops what it receives.
    Veth,
}

impl EgressKind {
    /// For the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dummy => "dummy",
            Self::Veth => "veth",
        }
    }
}

/// Builds the topology in `pod` and `node`; returns the kind of egress device it could create.
pub fn build(pod: &Netns, node: &Netns) -> Result<EgressKind, ProbeError> {
    let p = pod.name();
    let n = node.name();
    pod.run(|| {
        no_ipv6(p)?;
        sysctl(p, "net.ipv4.ip_forward", "0", false)?;
        Rtnl::open(p)?.set_up("lo")
    })?;
    let pod_fd = pod.raw_fd();
    node.run(|| {
        no_ipv6(n)?;
        sysctl(n, "net.ipv4.ip_forward", "1", false)?;
        // rp_filter is inherited from the host's settings (devconf_inherit_init_net); the paths here are
        // symmetric anyway, but a strict host setting must not decide the probe.
        sysctl(n, "net.ipv4.conf.all.rp_filter", "0", false)?;
        sysctl(n, "net.ipv4.conf.default.rp_filter", "0", false)?;
        let mut nl = Rtnl::open(n)?;
        nl.set_up("lo")?;
        nl.add_veth(
            VethEnd {
                name: "veth0",
                queues: 1,
                netns_fd: None,
            },
            VethEnd {
                name: "eth0",
                queues: 1,
                netns_fd: Some(pod_fd),
            },
        )?;
        let kind = add_egress(&mut nl)?;
        nl.add_addr("veth0", Ipv4Addr::new(198, 51, 100, 1), 24)?;
        nl.set_up("veth0")?;
        egress_qdiscs_and_route(&mut nl, kind)?;
        Ok(kind)
    })
    .and_then(|kind| pod_side(pod).map(|()| kind))
}

/// The egress device in the node: an 8-queue dummy, else (no `CONFIG_DUMMY`) one end of an 8-queue veth pair.
fn add_egress(nl: &mut Rtnl) -> Result<EgressKind, ProbeError> {
    let q = u32::from(EGRESS_QUEUES);
    Ok(if nl.add_dummy(EGRESS, q)? {
        EgressKind::Dummy
    } else {
        nl.add_veth(
            VethEnd {
                name: EGRESS,
                queues: q,
                netns_fd: None,
            },
            VethEnd {
                name: "txq8p",
                queues: q,
                netns_fd: None,
            },
        )?;
        nl.set_up("txq8p")?;
        EgressKind::Veth
    })
}

/// The egress device's address, its mq root with a pfifo_fast per queue, and the route to the probe's
/// destination through it.
fn egress_qdiscs_and_route(nl: &mut Rtnl, kind: EgressKind) -> Result<(), ProbeError> {
    nl.add_addr(EGRESS, Ipv4Addr::new(203, 0, 113, 1), 24)?;
    nl.set_up(EGRESS)?;
    nl.replace_qdisc(
        EGRESS,
        TcHandle::ROOT,
        TcHandle {
            major: MQ_MAJOR,
            minor: 0,
        },
        "mq",
    )?;
    // Explicit per-queue children: `mq_init` would attach the host's `net.core.default_qdisc` (a global
    // setting: fq, fq_codel, ...); pfifo_fast is built into every kernel with mq (`sch_generic.c`) and
    // counts each packet once when it leaves.
    for q in 1..=EGRESS_QUEUES {
        let parent = TcHandle {
            major: MQ_MAJOR,
            minor: q,
        };
        nl.replace_qdisc(EGRESS, parent, TcHandle::UNSPEC, "pfifo_fast")?;
    }
    let net = Ipv4Addr::new(192, 0, 2, 0);
    match kind {
        // A dummy device is IFF_NOARP and swallows everything: a link-scope route is enough (no neighbour).
        EgressKind::Dummy => nl.add_route(net, 24, None, Some(EGRESS))?,
        EgressKind::Veth => {
            nl.add_permanent_neigh(EGRESS, GATEWAY, GATEWAY_MAC)?;
            nl.add_route(net, 24, Some(GATEWAY), Some(EGRESS))?;
        }
    }
    Ok(())
}

/// The egress device's per-queue packet counts now.
pub fn egress_counts(node: &Netns) -> Result<Vec<u64>, ProbeError> {
    let qdiscs = node.run(|| Rtnl::open(node.name())?.qdisc_stats(EGRESS))?;
    super::counters::per_queue_packets(EGRESS, &qdiscs, MQ_MAJOR, EGRESS_QUEUES)
}
