//! The probe's rtnetlink requests against the running kernel, in an anonymous network namespace this test creates
//! (never the host's): what it builds is what `ip`/`tc` would show, and the kernel's refusals come back as errors
//! naming the request. Needs root; skipped with a message otherwise (a failure under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use netlink_packet_route::tc::TcHandle;
use txqlab::probe::counters::per_queue_packets;
use txqlab::probe::netns::Netns;
use txqlab::probe::rtnl::{Rtnl, VethEnd};

fn root(test: &str) -> bool {
    let ok = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("CapEff:") && !l.ends_with("0000000000000000"))
        })
        .unwrap_or(false)
        && std::fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
            })
            .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: needs root under CI"
        );
        eprintln!("SKIPPED {test}: needs root");
    }
    ok
}

#[test]
fn an_mq_veth_built_over_rtnetlink_counts_per_queue_and_refusals_name_the_request() {
    if !root("an_mq_veth_built_over_rtnetlink_counts_per_queue_and_refusals_name_the_request") {
        return;
    }
    // Long because each request builds on the devices the ones before made, in one namespace (creating one per
    // check would need root for each); the parts are marked below.
    let ns = Netns::new("test").unwrap();
    ns.run(|| {
        let mut nl = Rtnl::open("test")?;
        nl.add_veth(
            VethEnd {
                name: "a8",
                queues: 8,
                netns_fd: None,
            },
            VethEnd {
                name: "b8",
                queues: 8,
                netns_fd: None,
            },
        )?;
        nl.set_up("b8")?;
        nl.set_up("a8")?;
        nl.replace_qdisc("a8", TcHandle::ROOT, TcHandle { major: 1, minor: 0 }, "mq")?;
        for q in 1..=8 {
            nl.replace_qdisc(
                "a8",
                TcHandle { major: 1, minor: q },
                TcHandle::UNSPEC,
                "pfifo_fast",
            )?;
        }
        let stats = nl.qdisc_stats("a8")?;
        assert_eq!(
            stats.iter().filter(|s| s.kind == "pfifo_fast").count(),
            8,
            "{stats:?}"
        );
        // One count per TX queue (IPv6 may have sent a packet at link-up: the values are not checked).
        let counts = per_queue_packets("a8", &stats, 1, 8)?;
        assert_eq!(counts.len(), 8);

        // A link-scope route and a gateway route with a permanent neighbour, as the topology uses them.
        nl.add_addr("a8", std::net::Ipv4Addr::new(203, 0, 113, 1), 24)?;
        nl.add_route(std::net::Ipv4Addr::new(192, 0, 2, 0), 25, None, Some("a8"))?;
        let gw = std::net::Ipv4Addr::new(203, 0, 113, 254);
        nl.add_permanent_neigh("a8", gw, [2, 0, 0, 0, 0, 0xfe])?;
        nl.add_route(
            std::net::Ipv4Addr::new(192, 0, 2, 128),
            25,
            Some(gw),
            Some("a8"),
        )?;
        // A dummy device where the kernel has the driver; a kernel without it is an answer, not an error.
        if nl.add_dummy("d8", 8)? {
            nl.set_up("d8")?;
            eprintln!("this kernel has the dummy driver");
        } else {
            eprintln!("this kernel has no dummy driver (EOPNOTSUPP): the probe uses a veth");
        }

        let dup = nl
            .add_veth(
                VethEnd {
                    name: "a8",
                    queues: 1,
                    netns_fd: None,
                },
                VethEnd {
                    name: "c1",
                    queues: 1,
                    netns_fd: None,
                },
            )
            .unwrap_err()
            .to_string();
        assert!(
            dup.contains("ip link add a8 type veth peer name c1") && dup.contains("exists"),
            "{dup}"
        );
        let missing = nl.set_up("nosuchdev").unwrap_err().to_string();
        assert!(missing.contains("nosuchdev"), "{missing}");
        let kind = nl
            .replace_qdisc(
                "a8",
                TcHandle { major: 1, minor: 1 },
                TcHandle::UNSPEC,
                "no_such_qdisc",
            )
            .unwrap_err()
            .to_string();
        assert!(kind.contains("no_such_qdisc"), "{kind}");
        Ok(())
    })
    .unwrap();
}
