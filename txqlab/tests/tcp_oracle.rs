//! The simulator's TCP loss recovery (`sim/tcp.rs`) against the live kernel's.
//!
//! One message of 64 000 bytes (the incident's response: 8 segments at the 9001-byte MTU, MSS 8949) is written at
//! once to a connection over loopback, in a network namespace of its own (`unshare -n -m`: loopback's MTU, offloads
//! and the nftables rule never touch the host). The connection first carries a warm-up, so that the receiver has
//! left quick-ACK mode. An nftables rule on loopback's input then drops chosen data packets, counted over the
//! message's data packets in the order they are sent (`numgen inc`), so originals and retransmissions are numbered
//! alike. A packet socket records when every data packet left and which bytes it carried.
//!
//! The model gets the same message and the same drops, with the loopback's round trip, and must retransmit the
//! same segments in the same order at the same times: RACK's fast retransmit (`tcp_rack_detect_loss`), a lost
//! retransmission found by the RTO, and in a black hole the tail loss probe (`tcp_schedule_loss_probe`), the one
//! retransmission timer backed off only on repeated expiry (`tcp_retransmit_timer`), and the recovery after it.
//! Times agree within the rounding of the kernel's timers (`tolerance`). The probe is also timed on its own, against
//! the window the facts table's floor for this kernel gives on the timer wheel (`TlpFloor`, `jiffies::fires_at`):
//! 4-8 ms on a kernel with `1c2709cfff1d`, 12-16 ms on one without.
//!
//! The sender runs CUBIC (set on its socket), as the incident's kernels do by default and as the model's loss
//! response assumes; the host's default may be another (BBR here).
//!
//! Not compared: a loss of the last segment alone. Whether the kernel then probes after a few ms or waits for the
//! RTO (~206 ms; both seen here) depends on whether its receiver ACKed the segment before it at once, and that
//! depends on scheduling: segments that reach a socket while its reader is copying are coalesced in its backlog
//! (`tcp_add_backlog`) and ACKed as one (GRO does the same on a NIC). The model's receiver ACKs segment by
//! segment, so it probes.
//!
//! The kernel is this machine's (a recent one); `tcp_schedule_loss_probe`, `tcp_rtt_estimator` and the RTO's
//! backoff are the same in Debian's 6.1 and 6.12 sources (both carry the probe floor's change).
//!
//! Needs root, `unshare`, `ip`, `ethtool` and `nft`; skipped with a message otherwise, and a failure under `CI=true`
//! (`.ci/run` installs them and runs as root).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use txqlab::sim::jiffies::JIFFY;
use txqlab::sim::tcp::{AckNow, Actions, Payload, TcpReceiver, TcpSender, TlpFloor};
use txqlab::sim::time::Ns;

/// The message: one incident response.
const MESSAGE: usize = 64_000;
/// Loopback's MTU in the namespace: the incident's jumbo frames.
const MTU: usize = 9001;
const MSS: usize = MTU - 52;
/// Full segments the connection carries before the message, so that the receiver has left quick-ACK mode
/// (`tcp_incr_quickack`: at most 16 quick ACKs) as on the incident's long-lived upstream connections, where
/// ACKs are delayed (every second full segment, `__tcp_ack_snd_check`).
const WARM_SEGS: u32 = 200;
/// The data packets' destination port.
const PORT: u16 = 5001;
/// Set in the namespace: the ignored test `live_side` then runs the live side and prints what it saw.
const INNER: &str = "TXQLAB_TCP_ORACLE";
/// How far model and kernel may differ between one retransmission and the next. The kernel's timers run on jiffies
/// (4 ms at HZ = 250, this machine's and Debian's): a timeout is rounded up to whole jiffies (`usecs_to_jiffies`)
/// and fires on a tick, up to a jiffy late: two jiffies, plus 3% for an RTO of 200 ms that becomes 51 jiffies. And
/// the timer wheel keeps a timeout of 64-511 jiffies to a multiple of 8 jiffies and one of 512-4095 to a multiple
/// of 64 (`kernel/time/timer.c`, `LVL_GRAN`): a backed-off RTO of 400 ms fires 416-448 ms after the one before.
fn tolerance(interval: Ns) -> Ns {
    let jiffy = Ns::from_ms(4);
    let granularity = match interval.0 / jiffy.0 {
        0..64 => 0,
        64..512 => 8,
        _ => 64,
    };
    Ns(2 * jiffy.0 + granularity * jiffy.0 + interval.0 * 3 / 100)
}

/// One data transmission: when it left (relative to the message's first packet) and which segment it carried.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Xmit {
    t: Ns,
    seg: u64,
    retrans: bool,
}

/// The live kernel's transmissions of the message with data packets `drops` (0-based, in sending order, counted
/// from the message's first packet) dropped. `None` when the test cannot run here.
fn live(message: usize, drops: &[u32], hold: Duration) -> Option<Vec<Xmit>> {
    if !common::root_with(&["unshare", "ip", "ethtool", "nft"]) {
        return None;
    }
    let script = format!(
        "set -eu\nip link set lo up\nip link set lo mtu {MTU}\n\
         ethtool -K lo tso off gso off >/dev/null\n\
         exec \"$SELF\" --exact live_side --ignored --nocapture --test-threads 1\n"
    );
    let set: Vec<String> = drops.iter().map(u32::to_string).collect();
    let o = Command::new("unshare")
        .args(["-n", "-m", "bash", "-c", &script])
        .env("SELF", std::env::current_exe().unwrap())
        .env(
            INNER,
            format!("{message} {} {}", hold.as_millis(), set.join(",")),
        )
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    if err.contains("Operation not permitted") {
        common::skip(&format!("namespaces not permitted here: {err}"));
        return None;
    }
    assert!(o.status.success(), "live side failed: {out}{err}");
    // "xmit <ns> <segment>" lines, in capture order (the first one follows libtest's "test live_side ... ").
    let raw: Vec<(u64, u64)> = out
        .lines()
        .filter_map(|l| l.split_once("xmit ").map(|x| x.1))
        .map(|l| {
            let (t, s) = l.split_once(' ').unwrap();
            (t.parse().unwrap(), s.parse().unwrap())
        })
        .collect();
    assert!(!raw.is_empty(), "nothing captured: {out}{err}");
    let t0 = raw[0].0;
    let mut seen = std::collections::BTreeSet::new();
    Some(
        raw.iter()
            .map(|&(t, seg)| Xmit {
                t: Ns(t - t0),
                seg,
                retrans: !seen.insert(seg),
            })
            .collect(),
    )
}

/// The live side, in the namespace: a receiver; a warm-up; then the drop rule and the message, written at once;
/// and a packet socket recording every data packet that leaves towards the receiver (before the input hook drops
/// any). Prints `xmit <ns> <segment of the message>` for the message's packets.
#[test]
#[ignore = "run by the other tests inside their namespace"]
fn live_side() {
    let Ok(arg) = std::env::var(INNER) else {
        return;
    };
    let (message, arg) = arg.split_once(' ').unwrap();
    let message: usize = message.parse().unwrap();
    let (hold, drops) = arg.split_once(' ').unwrap();
    let hold = Duration::from_millis(hold.parse().unwrap());
    let stop = AtomicBool::new(false);
    let listener = TcpListener::bind(("127.0.0.1", PORT)).unwrap();
    let sock = packet_socket();
    let warm = WARM_SEGS as usize * MSS;
    let lines = std::thread::scope(|s| {
        let capture = s.spawn(|| capture(&sock, &stop));
        let server = s.spawn(|| {
            let (mut c, _) = listener.accept().unwrap();
            c.set_read_timeout(Some(hold + Duration::from_secs(1)))
                .unwrap();
            let mut buf = vec![0u8; 1 << 16];
            let mut got = 0;
            for (want, reply) in [(warm, b"w"), (warm + message, b"k")] {
                while got < want {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return got.saturating_sub(warm),
                        Ok(n) => got += n,
                    }
                }
                let _ = c.write_all(reply);
            }
            got - warm
        });
        // Whatever happens below, the capture stops.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let guard = Stop(&stop);
        let mut c = TcpStream::connect(("127.0.0.1", PORT)).unwrap();
        c.set_nodelay(true).unwrap();
        // The model is CUBIC's loss response (`sim/tcp.rs`), the default of the incident's kernels; a host may
        // default to another (BBR paces, and its window after a loss differs).
        nix::sys::socket::setsockopt(
            &c,
            nix::sys::socket::sockopt::TcpCongestion,
            &"cubic".into(),
        )
        .unwrap();
        let mut k = [0u8; 1];
        c.write_all(&vec![7u8; warm]).unwrap();
        c.read_exact(&mut k).unwrap();
        if !drops.is_empty() {
            // Counted from here: the rule sees only the message's packets.
            let rule = format!(
                "table inet oracle {{\n chain pre {{\n  type filter hook prerouting priority 0;\n  \
                 tcp dport {PORT} ip length > 200 numgen inc mod 1000000 {{ {drops} }} drop\n }}\n}}\n"
            );
            let st = Command::new("nft")
                .args(["-f", "-"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut ch| {
                    ch.stdin.take().unwrap().write_all(rule.as_bytes())?;
                    ch.wait()
                });
            assert!(st.is_ok_and(|s| s.success()), "nft refused: {rule}");
        }
        // Less than an RTO of quiet: the receiver does not go back to quick ACKs (`tcp_event_data_recv`).
        std::thread::sleep(Duration::from_millis(50));
        c.write_all(&vec![7u8; message]).unwrap();
        c.set_read_timeout(Some(hold)).unwrap();
        let answered = c.read(&mut k).is_ok_and(|n| n == 1);
        std::thread::sleep(Duration::from_millis(20));
        drop(guard);
        drop(c);
        let got = server.join().unwrap();
        let lines = capture.join().unwrap();
        assert!(
            answered,
            "the receiver got {got} of {message} bytes in {hold:?}"
        );
        lines
    });
    // Data starts one after the SYN's sequence number; the message starts `warm` bytes later. (Numbered from the
    // SYN, which comes before any burst: the packet socket may drop some of the warm-up's packets.)
    let isn = lines.iter().find(|l| l.2).map(|l| l.1).unwrap();
    let start = isn.wrapping_add(1 + warm as u32);
    for (t, seq, _) in lines {
        let off = seq.wrapping_sub(start);
        if off < 1 << 31 {
            println!("xmit {t} {}", off as usize / MSS);
        }
    }
}

/// A packet socket for every packet of the namespace, with kernel timestamps, opened before any traffic.
fn packet_socket() -> std::os::fd::OwnedFd {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockProtocol, SockType, setsockopt, socket, sockopt,
    };
    let fd = socket(
        AddressFamily::Packet,
        SockType::Datagram,
        SockFlag::empty(),
        SockProtocol::EthAll,
    )
    .unwrap();
    setsockopt(&fd, sockopt::ReceiveTimestampns, &true).unwrap();
    // Room for a whole window of jumbo frames between two reads.
    setsockopt(&fd, sockopt::RcvBufForce, &(32 << 20)).unwrap();
    fd
}

/// Data packets and the SYN to `PORT` as they leave loopback: (kernel timestamp in ns, TCP sequence number, SYN).
fn capture(fd: &std::os::fd::OwnedFd, stop: &AtomicBool) -> Vec<(u64, u32, bool)> {
    use nix::sys::socket::{ControlMessageOwned, LinkAddr, MsgFlags, recvmsg};
    use std::os::fd::AsRawFd;
    const PACKET_OUTGOING: u8 = 4;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Relaxed) {
        let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        // Polled: the kernel's timestamp says when a packet left, however late it is read.
        let Ok(m) = recvmsg::<LinkAddr>(
            fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        ) else {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        };
        if m.address.is_none_or(|a| a.pkttype() != PACKET_OUTGOING) {
            continue;
        }
        let ts = m.cmsgs().ok().and_then(|mut c| {
            c.find_map(|c| match c {
                ControlMessageOwned::ScmTimestampns(t) => {
                    Some(t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
                }
                _ => None,
            })
        });
        let n = m.bytes;
        let (Some(ts), Some((seq, syn))) = (ts, data_seq(&buf[..n])) else {
            continue;
        };
        out.push((ts, seq, syn));
    }
    out
}

/// The sequence number of a TCP packet to `PORT` that carries data or a SYN (IPv4, no link header), and whether it
/// is the SYN.
fn data_seq(p: &[u8]) -> Option<(u32, bool)> {
    if p.len() < 20 || p[0] >> 4 != 4 || p[9] != 6 {
        return None;
    }
    let ihl = usize::from(p[0] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let tcp = p.get(ihl..total.min(p.len()))?;
    if tcp.len() < 20 || u16::from_be_bytes([tcp[2], tcp[3]]) != PORT {
        return None;
    }
    let doff = usize::from(tcp[12] >> 4) * 4;
    let syn = tcp[13] & 0x02 != 0;
    (tcp.len() > doff || syn).then(|| (u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]), syn))
}

/// What happens next on the model's side of the wire.
#[derive(Clone, Copy, Debug)]
enum Ev {
    /// A data transmission reaches the receiver.
    Data(u64),
    /// An ACK up to this receiver log position reaches the sender.
    Ack(u64),
    /// The sender's retransmission timer, of this generation.
    Timer(u32),
    /// The receiver's delayed-ACK timer.
    DelAck,
}

/// The model's events in (time, scheduling order).
#[derive(Default)]
struct Queue {
    ev: BTreeMap<(Ns, u64), Ev>,
    order: u64,
}

impl Queue {
    fn push(&mut self, t: Ns, e: Ev) {
        self.order += 1;
        self.ev.insert((t, self.order), e);
    }

    /// What the receiver decided: an ACK on the wire, or its delayed-ACK timer.
    fn receiver(&mut self, now: Ns, one_way: Ns, ack: AckNow) {
        match ack {
            AckNow::Ack(pos) => self.push(now + one_way, Ev::Ack(pos)),
            AckNow::Timer(t) => self.push(t, Ev::DelAck),
            AckNow::Wait => {}
        }
    }
}

/// The model's transmissions of the same message with the same data packets dropped: the sender and receiver of
/// `sim/tcp.rs` (with its delayed-ACK timer) and a one-way delay of `one_way`, stepped event by event until `hold`
/// has passed.
fn model(message: usize, drops: &[u32], hold: Duration, one_way: Ns) -> Vec<Xmit> {
    let segs = message.div_ceil(MSS) as u16;
    let mut s = TcpSender::new(10.0, 700.0, Ns::from_ms(200), Ns(2 * one_way.0), floor());
    let mut r = TcpReceiver::default();
    let mut q = Queue::default();
    let mut xmits = Vec::new();
    let mut sent = 0u32;
    // Carries out what the sender asked for: its timer, and its transmissions, lost or on their way.
    let mut apply = |q: &mut Queue, now: Ns, a: &mut Actions| {
        if let Some((t, g)) = a.timer.take() {
            q.push(t, Ev::Timer(g));
        }
        for &(x, d, retrans) in &a.send {
            xmits.push(Xmit {
                t: now,
                seg: u64::from(d.seg),
                retrans,
            });
            if !drops.contains(&sent) {
                q.push(now + one_way, Ev::Data(x));
            }
            sent += 1;
        }
        a.send.clear();
    };
    for seg in 0..segs {
        s.write(Payload {
            req: 0,
            attempt: 0,
            seg,
        });
    }
    let mut a = Actions::default();
    s.pump(Ns::ZERO, &mut |_| false, &mut a);
    apply(&mut q, Ns::ZERO, &mut a);
    let mut got = std::collections::BTreeSet::new();
    let end = Ns::from_ms(hold.as_millis() as u64);
    while let Some(((now, _), e)) = q.ev.pop_first() {
        if now > end {
            break;
        }
        match e {
            Ev::Data(x) => {
                let Some((seq, d)) = s.lookup(x) else {
                    continue;
                };
                let ack_now = r.arrive(x, seq).ack_now;
                got.insert(d.seg);
                let complete = got.len() == usize::from(segs);
                q.receiver(now, one_way, r.ack_policy(now, ack_now, complete));
            }
            Ev::DelAck => q.receiver(now, one_way, r.on_delack(now)),
            Ev::Ack(pos) => {
                s.on_ack(now, &r.log, pos, &mut |_| false, &mut a);
                r.log.trim(s.acked_log());
            }
            Ev::Timer(g) => s.on_timer(now, g, &mut |_| false, &mut a),
        }
        apply(&mut q, now, &mut a);
    }
    xmits
}

/// The probe floor of this machine's kernel, as the facts table gives it for its release.
fn floor() -> TlpFloor {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    TlpFloor::of(&qdisc::KernelProfile::from_release(release.trim()).unwrap())
}

/// The retransmissions of both, side by side, as a table for the failure message.
fn table(live: &[Xmit], model: &[Xmit]) -> String {
    let show = |x: Option<&Xmit>| {
        x.map_or(String::from("-"), |x| {
            format!("seg {} at {:.1} ms", x.seg, x.t.0 as f64 / 1e6)
        })
    };
    let (l, m): (Vec<&Xmit>, Vec<&Xmit>) = (
        live.iter().filter(|x| x.retrans).collect(),
        model.iter().filter(|x| x.retrans).collect(),
    );
    (0..l.len().max(m.len()))
        .map(|i| {
            format!(
                "  {:<22} {}\n",
                show(l.get(i).copied()),
                show(m.get(i).copied())
            )
        })
        .fold(String::from("  live kernel            model\n"), |s, l| {
            s + &l
        })
}

/// Runs one case on both sides and checks that the retransmissions match: the same segments, in the same order,
/// each after the one before within `tolerance`.
fn case(name: &str, drops: &[u32], hold: Duration) {
    case_of(name, MESSAGE, drops, hold);
}

/// [`case`] for a message of `message` bytes.
fn case_of(name: &str, message: usize, drops: &[u32], hold: Duration) {
    let Some(live) = live(message, drops, hold) else {
        return;
    };
    // Loopback's round trip is tens of microseconds: every timer here is at one of its floors.
    let model = model(message, drops, hold, Ns::from_us(20));
    let t = table(&live, &model);
    eprintln!("{name}, drops {drops:?}:\n{t}");
    let (l, m): (Vec<&Xmit>, Vec<&Xmit>) = (
        live.iter().filter(|x| x.retrans).collect(),
        model.iter().filter(|x| x.retrans).collect(),
    );
    assert_eq!(
        l.iter().map(|x| x.seg).collect::<Vec<_>>(),
        m.iter().map(|x| x.seg).collect::<Vec<_>>(),
        "{name}: retransmitted segments differ\n{t}"
    );
    // Interval by interval (the first from the message's first packet), so that rounding does not add up.
    let mut prev = (Ns::ZERO, Ns::ZERO);
    for (a, b) in l.iter().zip(&m) {
        let (da, db) = (a.t - prev.0, b.t - prev.1);
        assert!(
            da.0.abs_diff(db.0) <= tolerance(da).0,
            "{name}: segment {} retransmitted {:?} after the one before by the kernel, {:?} by the model\n{t}",
            a.seg,
            da,
            db
        );
        prev = (a.t, b.t);
    }
    // Every original left at once (the initial window of 10 covers the message) on both sides.
    let segs = message.div_ceil(MSS);
    assert_eq!(live.iter().filter(|x| !x.retrans).count(), segs, "{t}");
    assert_eq!(model.iter().filter(|x| !x.retrans).count(), segs, "{t}");
}

#[test]
fn no_loss_no_retransmission() {
    case("no loss", &[], Duration::from_secs(2));
}

#[test]
fn a_lost_middle_segment_is_resent_by_rack_at_once() {
    case("middle loss", &[2], Duration::from_secs(2));
}

#[test]
fn a_lost_retransmission_waits_for_the_rto() {
    // The third segment, then its fast retransmission (the ninth data packet).
    case("lost retransmission", &[2, 8], Duration::from_secs(2));
}

#[test]
fn a_black_hole_backs_the_one_timer_off_on_each_expiry() {
    // All eight, the probe and two RTO retransmissions are lost; the third RTO's retransmission gets through.
    case(
        "black hole",
        &(0..=10).collect::<Vec<_>>(),
        Duration::from_secs(4),
    );
}

#[test]
fn a_lone_segment_is_probed_at_the_rto_and_only_then_backed_off() {
    // One request-sized segment (the incident's 4000-byte batched request) and its first two retransmissions are
    // lost. With one packet out the probe's timeout is about the RTO's, and Linux arms the probe, capped at the
    // RTO: the probe at ~208 ms, then the first RTO ~208 ms after it, then the backed-off one.
    case_of("lone segment", 4_000, &[0, 1, 2], Duration::from_secs(3));
}

#[test]
fn the_probe_fires_on_the_tick_this_kernels_floor_gives() {
    // The eight originals and the probe are lost (the first RTO's retransmission gets through). The probe is armed
    // after the last original left, for the jiffies this kernel's floor gives (`TlpFloor::pto_jiffies` at
    // loopback's SRTT of tens of microseconds), and fires on the timer wheel's tick between that many jiffies and
    // one more after (`jiffies::fires_at`). A loaded machine only delays it (the timer softirq, the socket lock),
    // so the earliest of three runs is compared. The other floor's window does not overlap (1 jiffy against 3): this
    // fails if the facts table gives this kernel the wrong floor.
    let when = floor().pto_jiffies(Ns::from_us(40), 8, Ns::from_ms(200));
    let mut probes = Vec::new();
    for _ in 0..3 {
        let Some(live) = live(
            MESSAGE,
            &(0..=8).collect::<Vec<_>>(),
            Duration::from_secs(1),
        ) else {
            return;
        };
        let last = live
            .iter()
            .filter(|x| !x.retrans)
            .map(|x| x.t)
            .max()
            .unwrap();
        let probe = live.iter().find(|x| x.retrans).unwrap().t - last;
        probes.push(probe);
    }
    let earliest = probes.into_iter().min().unwrap();
    let (lo, hi) = (
        Ns((when * JIFFY.0).saturating_sub(500_000)),
        Ns((when + 1) * JIFFY.0 + 1_000_000),
    );
    assert!(
        earliest > lo && earliest <= hi,
        "the earliest probe came {earliest:?} after the last segment; {:?} gives {when} jiffies: {lo:?}-{hi:?}",
        floor()
    );
}
