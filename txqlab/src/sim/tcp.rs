//! TCP loss recovery of one direction of a connection, as Linux does it where it matters for the incident
//! (`net/ipv4/tcp_input.c`, `tcp_recovery.c`, `tcp_timer.c`, `tcp_output.c`):
//!
//! - **one retransmission timer per connection** (`icsk_retransmit_timer`), restarted when an ACK acknowledges new
//!   data and backed off (doubled) only when it expires again without progress (RFC 6298 5.5, `tcp_retransmit_timer`
//!   -> `icsk_backoff++`); the backoff is cleared by an ACK of new data (`tcp_ack` -> `icsk_backoff = 0`);
//! - RTO = SRTT + max(4 x RTTVAR, `rto_min`) (`tcp_rtt_estimator`, `tcp_set_rto`: the variance term is at least
//!   `TCP_RTO_MIN`), Karn's rule (no RTT sample from a retransmitted segment);
//! - **RACK loss detection** (`tcp_rack_detect_loss`, RFC 8985): a segment is lost once a segment sent after it is
//!   delivered. The reordering window is 0 because nothing on this path reorders a connection's packets (Linux
//!   uses 0 in recovery and once `sacked_out >= dupthresh`; otherwise min_rtt/4, a fraction of a millisecond here);
//! - **tail loss probe** (`tcp_schedule_loss_probe`, `tcp_send_loss_probe`): in the Open state, PTO = 2 x SRTT plus
//!   `TCP_RTO_MIN` when one packet is out, else plus a floor, never later than the RTO (capped, it is still a
//!   probe: a lone lost segment is probed at about the RTO's time, and only the RTO after it backs off). The
//!   floor depends on the kernel ([`TlpFloor`], `qdisc::facts::TLP_FLOOR_US`): older kernels round 2 x SRTT up to
//!   jiffies and add `TCP_TIMEOUT_MIN` (2 jiffies), newer ones add `TCP_TIMEOUT_MIN_US` (2 ms) and then round. The
//!   probe sends new data if there is any, else retransmits the last segment, so a loss at the tail is found by
//!   RACK instead of waiting for the RTO;
//! - **timers on jiffies** (`jiffies.rs`): the RTO, the probe and the delayed ACK are whole jiffies at HZ = 250,
//!   armed as `jiffies + when` on the timer wheel, so each fires on a tick, up to one jiffy (more for the wheel's
//!   outer levels) after its nominal time;
//! - **fast recovery** entered once per episode: ssthresh = cwnd x beta and cwnd = ssthresh (CUBIC's beta 717/1024,
//!   `tcp_cubic.c`; the proportional rate reduction that spreads the cut over one RTT is collapsed into one step);
//!   losses found during the episode are retransmitted without further cuts; the episode ends when everything sent
//!   before it is acknowledged (`tcp_try_undo_recovery`/`tcp_end_cwnd_reduction` at `high_seq`);
//! - **RTO** (`tcp_enter_loss`): every unacknowledged segment is marked lost, ssthresh = cwnd x beta, cwnd = 1,
//!   retransmission restarts from the head, in sequence order (`tcp_xmit_retransmit_queue`), and the window grows
//!   in slow start while the lost data is resent (`tcp_cong_avoid` runs in the Loss state).
//! - **delayed ACK** at the receiver: every second full segment, at once for data out of order, at the end of a
//!   message, and otherwise by the delayed-ACK timer `TCP_DELACK_MIN` (40 ms) after the first segment left
//!   unacknowledged (`__tcp_ack_snd_check`, `tcp_send_delayed_ack`).
//!
//! `tests/tcp_oracle.rs` runs the live kernel's TCP over loopback with the same drops and checks these against it:
//! RACK's fast retransmit, a lost retransmission found by the RTO, a black hole's probe and backed-off RTOs, and a
//! lone segment's probe capped at the RTO.
//! It found the last three points above (the model resent the second segment before the head after a second RTO,
//! held the window at 1 through the Loss state, and never ACKed a lone segment).
//!
//! Window growth is Reno's (slow start below ssthresh, +1/cwnd per ACKed segment above); CUBIC's cubic growth is
//! not modelled (connections here are short of the point where they differ much: windows of tens of segments).
//!
//! The receiver (`TcpReceiver`) keeps `rcv_nxt` and the out-of-order set to tell duplicates from new data, and a log
//! of every arrival: an ACK carries the log position it covers, so the sender learns exactly which transmissions
//! arrived (what SACK blocks plus the cumulative ACK tell a Linux sender).

use std::collections::{BTreeSet, VecDeque};

use super::jiffies::{JIFFY, fires_at, to_jiffies};
use super::time::Ns;

/// CUBIC's multiplicative decrease (`beta = 717` out of 1024 in `tcp_cubic.c`).
pub const BETA: f64 = 717.0 / 1024.0;
/// `TCP_TIMEOUT_MIN`: 2 jiffies.
pub const TIMEOUT_MIN_JIFFIES: u64 = 2;
/// `TCP_TIMEOUT_MIN_US`: 2 ms.
pub const TIMEOUT_MIN_US: Ns = Ns::from_ms(2);
/// `TCP_DELACK_MIN` (`HZ / 25`, 40 ms at any HZ): the delayed-ACK timer for data left unacknowledged
/// (`tcp_send_delayed_ack`; the first timeout of a connection is `TCP_ATO_MIN`, the same 40 ms).
pub const DELACK_MIN: Ns = Ns::from_ms(40);
/// `TCP_RTO_MAX`: 120 s.
pub const RTO_MAX: Ns = Ns::from_ms(120_000);

/// How `tcp_schedule_loss_probe` adds the probe timeout's floor when more than one packet is out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlpFloor {
    /// Before `1c2709cfff1d` ("tcp: fix excessive TLP and RACK timeouts from HZ rounding"): 2 x SRTT rounded up to
    /// jiffies, plus `TCP_TIMEOUT_MIN` (3 jiffies, 12 ms, on a sub-millisecond path at HZ = 250).
    Jiffies,
    /// Since: 2 x SRTT plus `TCP_TIMEOUT_MIN_US`, rounded up to jiffies (1 jiffy on such a path).
    Micros,
}

impl TlpFloor {
    /// The floor of a kernel whose profile says whether it carries the change.
    pub fn of(profile: &qdisc::KernelProfile) -> Self {
        if profile.tlp_floor_us.present {
            Self::Micros
        } else {
            Self::Jiffies
        }
    }

    /// The probe timeout in jiffies for an SRTT of `srtt` with `packets_out` packets out and the RTO's floor
    /// `rto_min` (`tcp_schedule_loss_probe`: `tp->srtt_us >> 2` is 2 x SRTT).
    pub fn pto_jiffies(self, srtt: Ns, packets_out: u32, rto_min: Ns) -> u64 {
        let two_srtt = Ns(srtt.0.saturating_mul(2));
        match (self, packets_out) {
            (Self::Jiffies, 1) => to_jiffies(two_srtt) + to_jiffies(rto_min),
            (Self::Jiffies, _) => to_jiffies(two_srtt) + TIMEOUT_MIN_JIFFIES,
            (Self::Micros, 1) => to_jiffies(two_srtt + rto_min),
            (Self::Micros, _) => to_jiffies(two_srtt + TIMEOUT_MIN_US),
        }
    }
}

/// What a transmitted segment carries: the request it belongs to, the request's attempt, and its index in the
/// message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payload {
    /// Request id.
    pub req: u32,
    /// The attempt of the request this data belongs to.
    pub attempt: u8,
    /// Segment index within the message.
    pub seg: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Sent, not known delivered.
    Out,
    /// Known delivered (cumulatively or selectively acknowledged).
    Acked,
    /// Marked lost, waiting for its retransmission.
    Lost,
    /// Marked lost and retransmitted: a later entry carries it.
    Resent,
}

#[derive(Clone, Copy, Debug)]
struct Sent {
    xmit: u64,
    seq: u64,
    data: Payload,
    at: Ns,
    retrans: bool,
    state: State,
}

/// Which timer the connection's single retransmission timer runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    /// Retransmission timeout.
    Rto,
    /// Tail loss probe.
    Tlp,
}

/// What the sender wants done after an event.
#[derive(Debug, Default)]
pub struct Actions {
    /// Transmissions to put on the wire now: (transmission index, payload, is a retransmission).
    pub send: Vec<(u64, Payload, bool)>,
    /// Arm an event for the timer at this time (with this generation) if set.
    pub timer: Option<(Ns, u32)>,
    /// The retransmission timer expired (the caller re-draws the socket's txhash: `sk_rethink_txhash`).
    pub rto_fired: bool,
}

/// Sender state of one direction of a connection.
#[derive(Debug)]
pub struct TcpSender {
    out: VecDeque<Sent>,
    lost: VecDeque<u64>,
    backlog: VecDeque<Payload>,
    next_xmit: u64,
    next_seq: u64,
    /// Segments in flight (`tcp_packets_in_flight`: sent, not acknowledged, not marked lost).
    pub pipe: u32,
    /// Congestion window, segments.
    pub cwnd: f64,
    ssthresh: f64,
    max_cwnd: f64,
    srtt: Option<Ns>,
    rttvar: Ns,
    rto_min: Ns,
    tlp_floor: TlpFloor,
    backoff: u32,
    /// Recovery (or loss) episode in progress until every transmission before this index is acknowledged.
    recovery_until: Option<u64>,
    /// The episode is an RTO's (`TCP_CA_Loss`): the window grows in slow start from 1 (`tcp_cong_avoid` runs in
    /// the Loss state; only fast recovery holds it, `tcp_in_cwnd_reduction`).
    in_loss: bool,
    tlp_out: bool,
    timer_kind: TimerKind,
    deadline: Option<Ns>,
    timer_event: Option<Ns>,
    timer_gen: u32,
    acked_log: u64,
    /// Entries of `out` still to be delivered (`Out` or `Lost`): `tcp_write_queue_empty`/`packets_out` kept as a
    /// count instead of a scan of `out`.
    unacked: u32,
    /// RACK has looked at every transmission before this index: none of them is `Out` any more (a state never
    /// returns to `Out`), so the next walk starts here, as `tcp_rack_detect_loss` walks `tsorted_sent_queue`
    /// only from the oldest transmission not yet delivered or marked lost.
    rack_from: u64,
    /// Retransmissions sent.
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub rtos: u64,
    /// Recovery episodes entered (fast recovery, not RTO).
    pub recoveries: u64,
}

impl TcpSender {
    /// A connection whose handshake measured `rtt`, on a kernel whose probe timeout has the floor `tlp_floor`.
    pub fn new(init_cwnd: f64, max_cwnd: f64, rto_min: Ns, rtt: Ns, tlp_floor: TlpFloor) -> Self {
        Self {
            out: VecDeque::new(),
            lost: VecDeque::new(),
            backlog: VecDeque::new(),
            next_xmit: 0,
            next_seq: 0,
            pipe: 0,
            cwnd: init_cwnd,
            ssthresh: f64::INFINITY,
            max_cwnd,
            srtt: Some(rtt),
            rttvar: Ns(rtt.0 / 2),
            rto_min,
            tlp_floor,
            backoff: 0,
            recovery_until: None,
            in_loss: false,
            tlp_out: false,
            timer_kind: TimerKind::Rto,
            deadline: None,
            timer_event: None,
            timer_gen: 0,
            acked_log: 0,
            unacked: 0,
            rack_from: 0,
            retransmits: 0,
            rtos: 0,
            recoveries: 0,
        }
    }

    /// The current RTO in jiffies, backoff applied: `icsk_rto` (`__tcp_set_rto`: SRTT plus the variance term, at
    /// least `TCP_RTO_MIN`, rounded up to jiffies) shifted by the backoff (`inet_csk_rto_backoff`), at most
    /// `TCP_RTO_MAX`.
    pub fn rto_jiffies(&self) -> u64 {
        let srtt = self.srtt.unwrap_or(Ns::from_ms(1000));
        let base = to_jiffies(Ns(srtt.0 + (4 * self.rttvar.0).max(self.rto_min.0)));
        base.saturating_mul(1u64 << self.backoff.min(20))
            .min(to_jiffies(RTO_MAX))
    }

    /// The current RTO, backoff applied.
    pub fn rto(&self) -> Ns {
        Ns(self.rto_jiffies() * JIFFY.0)
    }

    /// Receiver log position the sender has read up to.
    pub fn acked_log(&self) -> u64 {
        self.acked_log
    }

    /// Queues new data (the socket's write queue).
    pub fn write(&mut self, data: Payload) {
        self.backlog.push_back(data);
    }

    /// Sends what the window allows: lost segments first (`tcp_xmit_retransmit_queue`), then new data
    /// (`tcp_write_xmit`). `stale` says whether new data was abandoned by the application before it was sent (it is
    /// then dropped, never numbered); retransmissions are always sent, as bytes once sent must be delivered.
    pub fn pump(&mut self, now: Ns, stale: &mut dyn FnMut(Payload) -> bool, a: &mut Actions) {
        let mut sent_new = false;
        // `pipe < max(floor(cwnd), 1)`, without the libm call `floor` is on x86-64 without SSE4.1: for an integer
        // `pipe`, `pipe < floor(cwnd)` exactly when `pipe + 1 <= cwnd` (also for a NaN or infinite `cwnd`).
        while self.pipe < 1 || f64::from(self.pipe) + 1.0 <= self.cwnd {
            if let Some(x) = self.lost.pop_front() {
                let Some(i) = self.index(x) else { continue };
                if self.out[i].state != State::Lost {
                    continue;
                }
                self.out[i].state = State::Resent;
                self.unacked -= 1;
                let (seq, data) = (self.out[i].seq, self.out[i].data);
                self.transmit(now, seq, data, true, a);
                continue;
            }
            let Some(d) = self.backlog.pop_front() else {
                break;
            };
            if stale(d) {
                continue;
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            self.transmit(now, seq, d, false, a);
            sent_new = true;
        }
        if sent_new || self.deadline.is_none() {
            self.rearm(now, false, a);
        }
    }

    fn transmit(&mut self, now: Ns, seq: u64, data: Payload, retrans: bool, a: &mut Actions) {
        let xmit = self.next_xmit;
        self.next_xmit += 1;
        self.out.push_back(Sent {
            xmit,
            seq,
            data,
            at: now,
            retrans,
            state: State::Out,
        });
        self.pipe += 1;
        self.unacked += 1;
        if retrans {
            self.retransmits += 1;
        }
        a.send.push((xmit, data, retrans));
    }

    fn index(&self, xmit: u64) -> Option<usize> {
        // Transmission indices in `out` are consecutive (appended in order, removed from the front only).
        let first = self.out.front()?.xmit;
        let i = usize::try_from(xmit.checked_sub(first)?).ok()?;
        (i < self.out.len()).then_some(i)
    }

    /// The receiver side looks up what a transmission carried (sequence number and payload), while the sender
    /// still holds it.
    pub fn lookup(&self, xmit: u64) -> Option<(u64, Payload)> {
        self.index(xmit)
            .map(|i| (self.out[i].seq, self.out[i].data))
    }

    /// Some segment is sent and neither delivered nor retransmitted (`Out` or `Lost`).
    fn outstanding(&self) -> bool {
        self.unacked > 0
    }

    /// (Re)arms the one timer: TLP in the Open state if no probe is out, else RTO (`tcp_set_xmit_timer`).
    ///
    /// The probe is never later than the RTO would be (`tcp_schedule_loss_probe`): on an ACK that advances the RTO
    /// (`advancing_rto`) the whole RTO from now, after sending the RTO still left from the head's transmission
    /// (`tcp_rto_delta_us`). It stays a probe when capped: with one packet out (probe timeout 2 x SRTT +
    /// `TCP_RTO_MIN`) Linux probes at about the RTO's time, with no loss state and no backoff, and the RTO follows
    /// from the probe. (Found by `tests/tcp_oracle.rs`: a lone segment lost twice is resent at about 208 and 416 ms
    /// by the kernel; an RTO at 208 ms with its backoff put the second at 640 ms.)
    fn rearm(&mut self, now: Ns, advancing_rto: bool, a: &mut Actions) {
        if !self.outstanding() {
            self.deadline = None;
            return;
        }
        let rto = self.rto_jiffies();
        let (kind, when) = if self.recovery_until.is_none() && !self.tlp_out {
            let srtt = self.srtt.unwrap_or(Ns::from_ms(1000));
            let pto = self.tlp_floor.pto_jiffies(srtt, self.pipe, self.rto_min);
            let cap = if advancing_rto {
                Some(rto)
            } else {
                // The head: the oldest transmission still out (in the Open state nothing is lost or resent).
                self.out
                    .iter()
                    .find(|s| matches!(s.state, State::Out | State::Lost))
                    .map(|h| Ns(h.at.0 + rto * JIFFY.0))
                    .filter(|&due| due > now)
                    .map(|due| to_jiffies(due - now))
            };
            (TimerKind::Tlp, cap.map_or(pto, |c| pto.min(c)))
        } else {
            (TimerKind::Rto, rto)
        };
        let at = fires_at(now, when);
        self.timer_kind = kind;
        self.deadline = Some(at);
        // One event in the queue at a time; a later deadline is picked up when the earlier event fires.
        if self.timer_event.is_none_or(|t| at < t) {
            self.timer_gen = self.timer_gen.wrapping_add(1);
            self.timer_event = Some(at);
            a.timer = Some((at, self.timer_gen));
        }
    }

    /// An ACK arrived covering receiver log entries up to `log_pos`; `log` holds the transmission indices the
    /// receiver saw (the part from `acked_log` on).
    pub fn on_ack(
        &mut self,
        now: Ns,
        log: &ReceiverLog,
        log_pos: u64,
        stale: &mut dyn FnMut(Payload) -> bool,
        a: &mut Actions,
    ) {
        if log_pos <= self.acked_log {
            return; // An older ACK overtaken by a newer one.
        }
        let mut newest: Option<u64> = None;
        let mut delivered = 0u32;
        let mut sample: Option<Ns> = None;
        for x in log.range(self.acked_log, log_pos) {
            let Some(i) = self.index(x) else { continue };
            let s = &mut self.out[i];
            match s.state {
                State::Out => self.pipe -= 1,
                State::Lost => {}
                State::Acked | State::Resent => continue,
            }
            s.state = State::Acked;
            self.unacked -= 1;
            delivered += 1;
            if !s.retrans {
                sample = Some(now.saturating_sub(s.at));
            }
            newest = Some(newest.map_or(x, |n: u64| n.max(x)));
        }
        self.acked_log = log_pos;
        if let Some(r) = sample {
            self.rtt_sample(r);
        }
        let newly_lost = newest.is_some_and(|n| self.rack_detect_loss(n));
        // Cumulative progress: forget the acknowledged and retransmitted head.
        while self
            .out
            .front()
            .is_some_and(|s| matches!(s.state, State::Acked | State::Resent))
        {
            self.out.pop_front();
        }
        if delivered > 0 {
            self.backoff = 0;
            self.tlp_out = false;
        }
        if let Some(until) = self.recovery_until
            && self.out.front().is_none_or(|s| s.xmit >= until)
        {
            self.recovery_until = None;
            self.in_loss = false;
        }
        if newly_lost && self.recovery_until.is_none() {
            // tcp_enter_recovery: one cut per episode.
            self.recoveries += 1;
            self.ssthresh = (self.cwnd * BETA).max(2.0);
            self.cwnd = self.ssthresh;
            self.recovery_until = Some(self.next_xmit);
        } else if self.recovery_until.is_none() || self.in_loss {
            for _ in 0..delivered {
                if self.cwnd < self.ssthresh {
                    self.cwnd += 1.0;
                } else {
                    self.cwnd += 1.0 / self.cwnd;
                }
            }
            self.cwnd = self.cwnd.min(self.max_cwnd);
        }
        self.pump(now, stale, a);
        if delivered > 0 {
            self.rearm(now, true, a);
        }
    }

    /// RACK (`tcp_rack_detect_loss`): every transmission sent before `newest`, the newest one delivered, and still
    /// out is lost. Returns whether any was newly marked.
    fn rack_detect_loss(&mut self, newest: u64) -> bool {
        if newest <= self.rack_from {
            return false;
        }
        let mut newly_lost = false;
        // Entries before `rack_from` were walked by an earlier ACK and none of them is `Out`.
        let skip = self
            .out
            .front()
            .map_or(0, |s| self.rack_from.saturating_sub(s.xmit));
        let skip = usize::try_from(skip).map_or(self.out.len(), |k| k.min(self.out.len()));
        for s in self.out.range_mut(skip..) {
            if s.xmit >= newest {
                break;
            }
            if s.state == State::Out {
                s.state = State::Lost;
                self.pipe -= 1;
                self.lost.push_back(s.xmit);
                newly_lost = true;
            }
        }
        self.rack_from = newest;
        newly_lost
    }

    fn rtt_sample(&mut self, r: Ns) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = Ns(r.0 / 2);
            }
            Some(s) => {
                let err = s.0.abs_diff(r.0);
                self.rttvar = Ns((3 * self.rttvar.0 + err) / 4);
                self.srtt = Some(Ns((7 * s.0 + r.0) / 8));
            }
        }
    }

    /// The timer event of generation `generation` fired.
    pub fn on_timer(
        &mut self,
        now: Ns,
        generation: u32,
        stale: &mut dyn FnMut(Payload) -> bool,
        a: &mut Actions,
    ) {
        if generation != self.timer_gen {
            return;
        }
        self.timer_event = None;
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline {
            // Restarted since this event was queued.
            self.timer_gen = self.timer_gen.wrapping_add(1);
            self.timer_event = Some(deadline);
            a.timer = Some((deadline, self.timer_gen));
            return;
        }
        self.deadline = None;
        if !self.outstanding() {
            return;
        }
        match self.timer_kind {
            TimerKind::Tlp => {
                // tcp_send_loss_probe: new data if any, else the last segment again.
                self.tlp_out = true;
                let before = a.send.len();
                if !self.backlog.is_empty() {
                    let cwnd = self.cwnd;
                    self.cwnd = self.cwnd.max(self.pipe as f64 + 1.0);
                    self.pump(now, stale, a);
                    self.cwnd = cwnd;
                }
                if a.send.len() == before
                    && let Some(i) = self.out.iter().rposition(|s| s.state == State::Out)
                {
                    self.out[i].state = State::Resent;
                    self.pipe -= 1;
                    self.unacked -= 1;
                    let (seq, data) = (self.out[i].seq, self.out[i].data);
                    self.transmit(now, seq, data, true, a);
                }
                self.rearm(now, false, a);
            }
            TimerKind::Rto => {
                // tcp_retransmit_timer -> tcp_enter_loss: all unacknowledged data is lost; back off.
                self.rtos += 1;
                a.rto_fired = true;
                self.ssthresh = (self.cwnd * BETA).max(2.0);
                self.cwnd = 1.0;
                for s in self.out.iter_mut() {
                    if s.state == State::Out {
                        s.state = State::Lost;
                        self.lost.push_back(s.xmit);
                    }
                }
                // Retransmitted from the head in sequence order (`tcp_xmit_retransmit_queue` walks the
                // retransmission queue by sequence), not in the order the segments were last sent: after a second
                // RTO the head's retransmission is the newest transmission, and it goes first. (Found by
                // `tests/tcp_oracle.rs`: the live kernel resends the head; this resent the second segment.)
                let mut lost: Vec<u64> = self.lost.drain(..).collect();
                lost.sort_unstable_by_key(|&x| {
                    (self.index(x).map_or(u64::MAX, |i| self.out[i].seq), x)
                });
                lost.dedup();
                self.lost = lost.into();
                self.pipe = 0;
                self.recovery_until = Some(self.next_xmit);
                self.in_loss = true;
                self.tlp_out = false;
                self.pump(now, stale, a);
                self.backoff = self.backoff.saturating_add(1);
                self.rearm(now, false, a);
            }
        }
    }
}

/// Transmission indices the receiver saw, in arrival order; the sender reads the part it has not seen.
#[derive(Debug, Default)]
pub struct ReceiverLog {
    base: u64,
    xmits: VecDeque<u64>,
}

impl ReceiverLog {
    /// Position after the last entry.
    pub fn end(&self) -> u64 {
        self.base + self.xmits.len() as u64
    }

    fn range(&self, from: u64, to: u64) -> impl Iterator<Item = u64> + '_ {
        let from = from.max(self.base);
        let to = to.min(self.end());
        let (a, b) = (
            (from - self.base) as usize,
            (to.max(from) - self.base) as usize,
        );
        self.xmits.range(a..b).copied()
    }

    /// Forgets entries the sender has read.
    pub fn trim(&mut self, upto: u64) {
        let n = usize::try_from(upto.saturating_sub(self.base))
            .map_or(self.xmits.len(), |n| n.min(self.xmits.len()));
        self.xmits.drain(..n);
        self.base += n as u64;
    }
}

/// Receiver state of one direction of a connection.
#[derive(Debug, Default)]
pub struct TcpReceiver {
    rcv_nxt: u64,
    ooo: BTreeSet<u64>,
    /// Arrivals, for the ACKs.
    pub log: ReceiverLog,
    unacked: u32,
    /// When the delayed ACK is due: `DELACK_MIN` after the first segment left unacknowledged.
    delack_due: Option<Ns>,
    /// When the one queued delayed-ACK event fires.
    delack_event: Option<Ns>,
}

/// What the receiver does after a segment: ACK now (up to this log position), or leave it to the delayed-ACK
/// timer, queuing an event for it at the given time when none is queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckNow {
    /// Send an ACK covering the log up to here.
    Ack(u64),
    /// Queue the delayed-ACK event at this time.
    Timer(Ns),
    /// The delayed-ACK event already queued will do.
    Wait,
}

/// What the receiver makes of an arriving segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// New data (not a duplicate).
    pub new: bool,
    /// It arrived out of order or duplicated: ACK at once (RFC 5681 4.2, `tcp_data_queue` -> quick ACK).
    pub ack_now: bool,
}

impl TcpReceiver {
    /// A segment with sequence number `seq`, sent as transmission `xmit`, arrived.
    pub fn arrive(&mut self, xmit: u64, seq: u64) -> Arrival {
        self.log.xmits.push_back(xmit);
        let new = if seq < self.rcv_nxt || self.ooo.contains(&seq) {
            false
        } else if seq == self.rcv_nxt {
            self.rcv_nxt += 1;
            while self.ooo.remove(&self.rcv_nxt) {
                self.rcv_nxt += 1;
            }
            true
        } else {
            self.ooo.insert(seq);
            true
        };
        self.unacked += 1;
        Arrival {
            new,
            ack_now: !new || !self.ooo.is_empty(),
        }
    }

    /// Delayed ACK (`__tcp_ack_snd_check`): ACK every second full segment, at once when told to, and at the end of
    /// a message (the application reads it and the window update goes out); otherwise the delayed-ACK timer
    /// (`tcp_send_delayed_ack`) ACKs `DELACK_MIN` after the first unacknowledged segment.
    pub fn ack_policy(&mut self, now: Ns, ack_now: bool, end_of_message: bool) -> AckNow {
        if ack_now || end_of_message || self.unacked >= 2 {
            self.unacked = 0;
            self.delack_due = None;
            return AckNow::Ack(self.log.end());
        }
        let due = *self
            .delack_due
            .get_or_insert_with(|| fires_at(now, to_jiffies(DELACK_MIN)));
        if self.delack_event.is_some() {
            AckNow::Wait
        } else {
            self.delack_event = Some(due);
            AckNow::Timer(due)
        }
    }

    /// The queued delayed-ACK event fired: ACK what is unacknowledged if it is due, or queue the event again for
    /// when it is (an ACK sent meanwhile restarted it: `tcp_event_ack_sent` clears the timer).
    pub fn on_delack(&mut self, now: Ns) -> AckNow {
        self.delack_event = None;
        match self.delack_due {
            Some(due) if due > now => {
                self.delack_event = Some(due);
                AckNow::Timer(due)
            }
            Some(_) if self.unacked > 0 => {
                self.unacked = 0;
                self.delack_due = None;
                AckNow::Ack(self.log.end())
            }
            _ => AckNow::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(seg: u16) -> Payload {
        Payload {
            req: 0,
            attempt: 0,
            seg,
        }
    }

    fn sender() -> TcpSender {
        TcpSender::new(
            10.0,
            700.0,
            Ns::from_ms(200),
            Ns::from_ms(1),
            TlpFloor::Jiffies,
        )
    }

    #[test]
    fn the_probe_floor_as_each_kernel_rounds_it() {
        // A loopback-like path (SRTT 40 us): 3 jiffies before 1c2709cfff1d, 1 since; with one packet out both add
        // TCP_RTO_MIN (51 jiffies).
        let srtt = Ns::from_us(40);
        let rto_min = Ns::from_ms(200);
        assert_eq!(TlpFloor::Jiffies.pto_jiffies(srtt, 8, rto_min), 3);
        assert_eq!(TlpFloor::Micros.pto_jiffies(srtt, 8, rto_min), 1);
        assert_eq!(TlpFloor::Jiffies.pto_jiffies(srtt, 1, rto_min), 51);
        assert_eq!(TlpFloor::Micros.pto_jiffies(srtt, 1, rto_min), 51);
        // A 5 ms SRTT: 3 + 2 = 5 jiffies against ceil(12 ms) = 3.
        let srtt = Ns::from_ms(5);
        assert_eq!(TlpFloor::Jiffies.pto_jiffies(srtt, 8, rto_min), 5);
        assert_eq!(TlpFloor::Micros.pto_jiffies(srtt, 8, rto_min), 3);
    }

    /// Deliver transmissions `xs` and ACK them all at `now`.
    fn deliver(s: &mut TcpSender, r: &mut TcpReceiver, now: Ns, xs: &[u64]) -> Actions {
        for &x in xs {
            let (seq, _) = s.lookup(x).unwrap();
            r.arrive(x, seq);
        }
        let mut a = Actions::default();
        let end = r.log.end();
        s.on_ack(now, &r.log, end, &mut |_| false, &mut a);
        a
    }

    #[test]
    fn one_timer_backs_off_only_on_repeated_expiry() {
        let mut s = sender();
        let mut a = Actions::default();
        for i in 0..8 {
            s.write(p(i));
        }
        s.pump(Ns(0), &mut |_| false, &mut a);
        assert_eq!(a.send.len(), 8);
        // Nothing arrives. First the tail loss probe (2 x SRTT rounded up to 1 jiffy, plus 2: armed at jiffy 0 for
        // 3 jiffies, it fires on tick 4), then one RTO, then a doubled one.
        let (t, g) = a.timer.unwrap();
        assert_eq!(t, Ns::from_ms(16));
        let mut a = Actions::default();
        s.on_timer(t, g, &mut |_| false, &mut a);
        assert_eq!(a.send.len(), 1, "the probe retransmits the last segment");
        assert!(a.send[0].2);
        let (t2, g2) = a.timer.unwrap();
        let rto = s.rto();
        // 1 ms + 200 ms is 51 jiffies; armed on tick 4 it fires on tick 56.
        assert_eq!(rto, Ns::from_ms(204));
        assert_eq!(t2, Ns::from_ms(224));
        let mut a = Actions::default();
        s.on_timer(t2, g2, &mut |_| false, &mut a);
        assert!(a.rto_fired);
        assert_eq!(a.send.len(), 1, "cwnd 1 after an RTO: the head only");
        assert_eq!(s.rto(), Ns(2 * rto.0), "backed off once");
        // The 8 lost segments do not each get a timer: one expiry, one doubling.
        assert_eq!(s.rtos, 1);
        // The head's retransmission is lost too: the second RTO resends the head again, not the next segment.
        let mut a = Actions {
            timer: a.timer,
            ..Actions::default()
        };
        let mut t3 = t2;
        while !a.rto_fired {
            // A timer event queued before the deadline moved re-queues itself for it.
            let (t, g) = a.timer.unwrap();
            t3 = t;
            a = Actions::default();
            s.on_timer(t, g, &mut |_| false, &mut a);
        }
        // 102 jiffies from tick 56 is on the wheel's second level (8-jiffy buckets): expiry 158, bucket 160.
        assert_eq!(
            t3,
            Ns::from_ms(640),
            "the second RTO, after the doubled timeout"
        );
        assert_eq!(a.send.iter().map(|x| x.1.seg).collect::<Vec<_>>(), [0]);
        assert_eq!(s.rto(), Ns(4 * rto.0), "backed off twice");
    }

    #[test]
    fn a_burst_of_losses_is_one_recovery_episode_found_by_rack() {
        let mut s = sender();
        let mut r = TcpReceiver::default();
        let mut a = Actions::default();
        for i in 0..10 {
            s.write(p(i));
        }
        s.pump(Ns(0), &mut |_| false, &mut a);
        // Transmissions 2..=7 are dropped; 0, 1, 8, 9 arrive.
        let a = deliver(&mut s, &mut r, Ns::from_ms(1), &[0, 1, 8, 9]);
        let resent: Vec<u16> = a.send.iter().filter(|x| x.2).map(|x| x.1.seg).collect();
        assert_eq!(s.recoveries, 1);
        assert_eq!(s.cwnd, 10.0 * BETA + 0.0);
        assert_eq!(
            resent,
            [2, 3, 4, 5, 6, 7],
            "all six retransmitted at once, in order"
        );
        assert_eq!(s.rtos, 0);
    }

    #[test]
    fn a_tail_loss_is_found_by_the_probe_not_the_rto() {
        let mut s = sender();
        let mut r = TcpReceiver::default();
        let mut a = Actions::default();
        for i in 0..4 {
            s.write(p(i));
        }
        s.pump(Ns(0), &mut |_| false, &mut a);
        let mut pending = a.timer.unwrap();
        // 0 and 1 arrive, 2 and 3 (the tail) are lost.
        let a = deliver(&mut s, &mut r, Ns::from_ms(1), &[0, 1]);
        if let Some(t) = a.timer {
            pending = t;
        }
        // The queued timer event fires; restarted by the ACK, it re-queues itself for the probe.
        let (t, g) = pending;
        let mut a = Actions::default();
        s.on_timer(t, g, &mut |_| false, &mut a);
        let t = if a.send.is_empty() {
            let (t, g) = a.timer.unwrap();
            a = Actions::default();
            s.on_timer(t, g, &mut |_| false, &mut a);
            t
        } else {
            t
        };
        assert!(t < Ns::from_ms(20), "{t:?}");
        assert_eq!(a.send.len(), 1);
        let probe = a.send[0].0;
        // The probe (segment 3 again) arrives; RACK marks segment 2 lost and recovery resends it.
        let a = deliver(&mut s, &mut r, t + Ns::from_ms(1), &[probe]);
        assert_eq!(a.send.iter().map(|x| x.1.seg).collect::<Vec<_>>(), [2]);
        assert_eq!(s.rtos, 0);
    }

    #[test]
    fn duplicates_are_not_new_data() {
        let mut r = TcpReceiver::default();
        assert!(r.arrive(0, 0).new);
        assert!(r.arrive(2, 2).new);
        assert!(r.arrive(2, 2).ack_now);
        assert!(!r.arrive(3, 2).new);
        assert!(r.arrive(4, 1).new);
        assert!(!r.arrive(5, 0).new);
    }
}
