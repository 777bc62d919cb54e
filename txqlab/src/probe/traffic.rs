//! The traffic: `flows` UDP flows of `per_flow` datagrams each, one source port per flow so that each flow has
//! its own hash (`skb_get_hash` over the 4-tuple), sent from a thread inside a namespace and pinned to one CPU
//! (the CPU is an input of `get_xps_queue` and of the prediction).

use std::net::{Ipv4Addr, UdpSocket};

use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;

use super::error::ProbeError;
use super::netns::Netns;

/// The first source port; flow `f` uses `BASE_PORT + f`.
pub const BASE_PORT: u16 = 20000;

/// The first CPU this process may run on.
pub fn first_allowed_cpu() -> Result<u16, ProbeError> {
    let set = nix::sched::sched_getaffinity(Pid::from_raw(0))
        .map_err(|e| ProbeError::os("reading the CPU affinity", e))?;
    (0..CpuSet::count())
        .find(|c| set.is_set(*c).unwrap_or(false))
        .and_then(|c| u16::try_from(c).ok())
        .ok_or_else(|| ProbeError::Os {
            what: "reading the CPU affinity".into(),
            detail: "no CPU allowed".into(),
        })
}

/// Sends the flows from `ns`, pinned to `cpu`, to `dst:port`. Returns the datagrams sent.
pub fn send(
    ns: &Netns,
    cpu: u16,
    dst: Ipv4Addr,
    port: u16,
    flows: u32,
    per_flow: u32,
) -> Result<u64, ProbeError> {
    let who = ns.name();
    ns.run(|| {
        let mut set = CpuSet::new();
        set.set(usize::from(cpu))
            .map_err(|e| ProbeError::os(format!("pinning the {who} sender to CPU {cpu}"), e))?;
        sched_setaffinity(Pid::from_raw(0), &set)
            .map_err(|e| ProbeError::os(format!("pinning the {who} sender to CPU {cpu}"), e))?;
        let mut sent = 0u64;
        let payload = [0u8; 64];
        for f in 0..flows {
            let sport = u16::try_from(f)
                .ok()
                .and_then(|f| BASE_PORT.checked_add(f))
                .ok_or_else(|| {
                    ProbeError::Usage(format!("{flows} flows do not fit in the source port range"))
                })?;
            let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, sport)).map_err(|e| {
                ProbeError::os(
                    format!("in the {who} namespace, binding UDP port {sport}"),
                    e,
                )
            })?;
            for _ in 0..per_flow {
                sock.send_to(&payload, (dst, port)).map_err(|e| {
                    ProbeError::os(
                        format!(
                            "in the {who} namespace, sending from port {sport} to {dst}:{port}"
                        ),
                        e,
                    )
                })?;
                sent += 1;
            }
        }
        Ok(sent)
    })
}
