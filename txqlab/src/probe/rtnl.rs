//! A blocking rtnetlink socket (`NETLINK_ROUTE`) in the network namespace of the thread that opens it: the
//! requests `ip link|addr|route|neigh` and `tc qdisc` would send, built with `netlink-packet-route` and sent with
//! `netlink-sys`, so the probe needs no iproute2. A netlink socket stays bound to the namespace it was created
//! in (`netlink_create` takes `sock_net`), so each namespace gets its own [`Rtnl`], opened inside
//! [`Netns::run`](super::netns::Netns::run).

use std::net::Ipv4Addr;
use std::os::fd::RawFd;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcStats2};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::error::ProbeError;

/// `EOPNOTSUPP` (`include/uapi/asm-generic/errno.h`).
const EOPNOTSUPP: i32 = 95;

/// One qdisc of a dump: its parent, kind and packets sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdiscStats {
    /// Interface index.
    pub ifindex: u32,
    /// Parent handle (`TC_H_ROOT` for a root qdisc).
    pub parent: TcHandle,
    /// Handle.
    pub handle: TcHandle,
    /// `TCA_KIND`.
    pub kind: String,
    /// Packets sent (`TCA_STATS2` / `TCA_STATS_BASIC`, `gnet_stats_basic.packets`).
    pub packets: u64,
}

/// A veth end to create.
#[derive(Debug, Clone, Copy)]
pub struct VethEnd<'a> {
    /// Name.
    pub name: &'a str,
    /// TX and RX queues (`IFLA_NUM_TX_QUEUES`, `IFLA_NUM_RX_QUEUES`).
    pub queues: u32,
    /// Namespace to create it in (`IFLA_NET_NS_FD`, a descriptor of this process); `None`: the socket's.
    pub netns_fd: Option<RawFd>,
}

/// An rtnetlink socket.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    netns: &'static str,
}

impl Rtnl {
    /// Opens a socket in the calling thread's namespace (`netns` names it in errors).
    pub fn open(netns: &'static str) -> Result<Self, ProbeError> {
        let err = |e: std::io::Error| {
            ProbeError::os(format!("opening rtnetlink in the {netns} namespace"), e)
        };
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(err)?;
        sock.bind_auto().map_err(err)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(err)?;
        Ok(Self {
            sock,
            seq: 0,
            netns,
        })
    }

    fn fail(&self, what: &str, detail: impl std::fmt::Display) -> ProbeError {
        ProbeError::Command {
            netns: self.netns,
            command: what.to_string(),
            detail: detail.to_string(),
        }
    }

    /// Sends `msg` and collects the answers until the acknowledgement (or the end of a dump).
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, ProbeError> {
        match self.request_errno(msg, flags, what)? {
            Ok(out) => Ok(out),
            Err(e) => Err(self.fail(what, e)),
        }
    }

    /// As [`Self::request`], with the kernel's refusal as an `io::Error` (carrying the errno) for callers that
    /// handle some refusals.
    fn request_errno(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<Result<Vec<RouteNetlinkMessage>, std::io::Error>, ProbeError> {
        log::debug!("probe: in the {} namespace: {what}", self.netns);
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.sock
            .send(&buf, 0)
            .map_err(|e| ProbeError::os(format!("{what}: sending to rtnetlink"), e))?;
        let mut out = Vec::new();
        let mut rx = vec![0u8; 1 << 16];
        loop {
            let n = self
                .sock
                .recv(&mut &mut rx[..], 0)
                .map_err(|e| ProbeError::os(format!("{what}: reading rtnetlink"), e))?;
            let mut off = 0;
            while off < n {
                let m: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&rx[off..n])
                        .map_err(|e| self.fail(what, format!("bad answer: {e}")))?;
                let len = m.header.length as usize;
                if m.header.sequence_number == self.seq {
                    match m.payload {
                        NetlinkPayload::Done(_) => return Ok(Ok(out)),
                        NetlinkPayload::Error(e) => {
                            return Ok(match e.code {
                                None => Ok(out),
                                Some(_) => Err(e.to_io()),
                            });
                        }
                        NetlinkPayload::InnerMessage(inner) => out.push(inner),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    /// The interface index of `name` (`RTM_GETLINK` with `IFLA_IFNAME`).
    pub fn link_index(&mut self, name: &str) -> Result<u32, ProbeError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        let what = format!("finding link {name}");
        let answers = self.request(RouteNetlinkMessage::GetLink(m), 0, &what)?;
        answers
            .into_iter()
            .find_map(|a| match a {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })
            .ok_or_else(|| self.fail(&what, "no such link"))
    }

    /// `ip link add A numtxqueues .. type veth peer name B numtxqueues .. [netns NS]`.
    pub fn add_veth(&mut self, a: VethEnd<'_>, b: VethEnd<'_>) -> Result<(), ProbeError> {
        let end = |e: VethEnd<'_>, m: &mut LinkMessage| {
            m.attributes.push(LinkAttribute::IfName(e.name.into()));
            m.attributes.push(LinkAttribute::NumTxQueues(e.queues));
            m.attributes.push(LinkAttribute::NumRxQueues(e.queues));
            if let Some(fd) = e.netns_fd {
                m.attributes.push(LinkAttribute::NetNsFd(fd));
            }
        };
        let mut peer = LinkMessage::default();
        end(b, &mut peer);
        let mut m = LinkMessage::default();
        end(a, &mut m);
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("ip link add {} type veth peer name {}", a.name, b.name),
        )
        .map(drop)
    }

    /// `ip link add NAME numtxqueues Q numrxqueues Q type dummy`. `Ok(false)` when the kernel has no dummy driver
    /// (`rtnl_newlink` answers `EOPNOTSUPP` for an unknown kind once `request_module` found nothing).
    pub fn add_dummy(&mut self, name: &str, queues: u32) -> Result<bool, ProbeError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.push(LinkAttribute::NumTxQueues(queues));
        m.attributes.push(LinkAttribute::NumRxQueues(queues));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Dummy,
            )]));
        let what = format!("ip link add {name} numtxqueues {queues} type dummy");
        match self.request_errno(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &what,
        )? {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(EOPNOTSUPP) => Ok(false),
            Err(e) => Err(self.fail(&what, e)),
        }
    }

    /// `ip link set NAME up`.
    pub fn set_up(&mut self, name: &str) -> Result<(), ProbeError> {
        let index = self.link_index(name)?;
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request(
            RouteNetlinkMessage::SetLink(m),
            0,
            &format!("ip link set {name} up"),
        )
        .map(drop)
    }

    /// `ip addr add ADDR/PREFIX dev NAME`.
    pub fn add_addr(&mut self, name: &str, addr: Ipv4Addr, prefix: u8) -> Result<(), ProbeError> {
        let index = self.link_index(name)?;
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.scope = AddressScope::Universe;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(addr.into()));
        m.attributes.push(AddressAttribute::Address(addr.into()));
        self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("ip addr add {addr}/{prefix} dev {name}"),
        )
        .map(drop)
    }

    /// `ip route add DST/PREFIX [via GW] [dev NAME]` in the main table (without a gateway: a link-scope route).
    pub fn add_route(
        &mut self,
        dst: Ipv4Addr,
        prefix: u8,
        gw: Option<Ipv4Addr>,
        dev: Option<&str>,
    ) -> Result<(), ProbeError> {
        let oif = dev.map(|d| self.link_index(d)).transpose()?;
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.destination_prefix_length = prefix;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = if gw.is_some() {
            RouteScope::Universe
        } else {
            RouteScope::Link
        };
        m.header.kind = RouteType::Unicast;
        if prefix > 0 {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        }
        if let Some(gw) = gw {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
        }
        if let Some(oif) = oif {
            m.attributes.push(RouteAttribute::Oif(oif));
        }
        let via = gw.map(|g| format!(" via {g}")).unwrap_or_default();
        let on = dev.map(|d| format!(" dev {d}")).unwrap_or_default();
        self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("ip route add {dst}/{prefix}{via}{on}"),
        )
        .map(drop)
    }

    /// `ip neigh replace ADDR lladdr MAC dev NAME nud permanent`.
    pub fn add_permanent_neigh(
        &mut self,
        name: &str,
        addr: Ipv4Addr,
        mac: [u8; 6],
    ) -> Result<(), ProbeError> {
        let index = self.link_index(name)?;
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.ifindex = index;
        m.header.state = NeighbourState::Permanent;
        m.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                addr,
            )));
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        self.request(
            RouteNetlinkMessage::NewNeighbour(m),
            NLM_F_CREATE | NLM_F_REPLACE,
            &format!("ip neigh replace {addr} dev {name} nud permanent"),
        )
        .map(drop)
    }

    /// `tc qdisc replace dev NAME parent PARENT [handle HANDLE] KIND` (a kind without options).
    pub fn replace_qdisc(
        &mut self,
        name: &str,
        parent: TcHandle,
        handle: TcHandle,
        kind: &str,
    ) -> Result<(), ProbeError> {
        let index = self.link_index(name)?;
        let index = i32::try_from(index)
            .map_err(|_| self.fail("tc qdisc replace", "interface index out of range"))?;
        let mut m = TcMessage::with_index(index);
        m.header.parent = parent;
        m.header.handle = handle;
        m.attributes.push(TcAttribute::Kind(kind.into()));
        self.request(
            RouteNetlinkMessage::NewQueueDiscipline(m),
            NLM_F_CREATE | NLM_F_REPLACE,
            &format!(
                "tc qdisc replace dev {name} parent {}:{:x} {kind}",
                parent.major, parent.minor
            ),
        )
        .map(drop)
    }

    /// `tc -s qdisc show dev NAME`: every qdisc of the device with its sent-packet count.
    pub fn qdisc_stats(&mut self, name: &str) -> Result<Vec<QdiscStats>, ProbeError> {
        let index = self.link_index(name)?;
        let answers = self.request(
            RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
            NLM_F_DUMP,
            &format!("tc -s qdisc show dev {name}"),
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|a| match a {
                RouteNetlinkMessage::NewQueueDiscipline(q)
                    if u32::try_from(q.header.index).ok() == Some(index) =>
                {
                    Some(q)
                }
                _ => None,
            })
            .map(|q| {
                let mut kind = String::new();
                let mut packets = None;
                let mut legacy = None;
                for a in &q.attributes {
                    match a {
                        TcAttribute::Kind(k) => kind.clone_from(k),
                        TcAttribute::Stats2(s) => {
                            for s in s {
                                if let TcStats2::Basic(b) = s {
                                    packets = Some(u64::from(b.packets));
                                }
                            }
                        }
                        TcAttribute::Stats(s) => legacy = Some(u64::from(s.packets)),
                        _ => {}
                    }
                }
                QdiscStats {
                    ifindex: index,
                    parent: q.header.parent,
                    handle: q.header.handle,
                    kind,
                    packets: packets.or(legacy).unwrap_or(0),
                }
            })
            .collect())
    }
}
