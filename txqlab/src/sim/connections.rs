//! The connections' TCP glue: senders and receivers of both directions (`tcp.rs`) wired to the node's TX path
//! and to the remote's NIC, and the client's socket receiving response data and ACKing it through the TX path.

use super::*;

impl Sim<'_> {
    /// Whether data of request `d` was abandoned (the client moved to another attempt or gave up: Envoy resets
    /// the stream, so unsent data of it is never sent).
    pub(super) fn stale(reqs: &[Req], d: Payload) -> bool {
        let r = reqs[d.req as usize];
        r.done || r.attempt != d.attempt
    }

    /// Lets a connection's sender transmit what its window allows.
    pub(super) fn pump(&mut self, flow: u16, up: bool) {
        let mut a = std::mem::take(&mut self.actions);
        let now = self.now;
        let reqs = &self.reqs;
        let f = &mut self.flows[flow as usize];
        let s = if up { &mut f.up } else { &mut f.down };
        s.pump(now, &mut |d| Self::stale(reqs, d), &mut a);
        self.apply(flow, up, a);
    }

    pub(super) fn on_ack(&mut self, flow: u16, up: bool, pos: u64) {
        let mut a = std::mem::take(&mut self.actions);
        let now = self.now;
        let reqs = &self.reqs;
        let f = &mut self.flows[flow as usize];
        let (s, rx) = if up {
            (&mut f.up, &mut f.up_rx)
        } else {
            (&mut f.down, &mut f.down_rx)
        };
        s.on_ack(now, &rx.log, pos, &mut |d| Self::stale(reqs, d), &mut a);
        rx.log.trim(s.acked_log());
        self.apply(flow, up, a);
    }

    pub(super) fn on_timer(&mut self, flow: u16, up: bool, generation: u32) {
        let mut a = std::mem::take(&mut self.actions);
        let now = self.now;
        let reqs = &self.reqs;
        let f = &mut self.flows[flow as usize];
        let s = if up { &mut f.up } else { &mut f.down };
        s.on_timer(now, generation, &mut |d| Self::stale(reqs, d), &mut a);
        if up && a.rto_fired {
            // The RTO re-draws the socket's txhash (`sk_rethink_txhash` from `tcp_write_timeout`): on a fixed
            // kernel the connection may move to another TX queue.
            let f = flow as usize;
            self.flows[f].hash = self.rng.random();
            self.flows[f].queue = self.sel.queue(self.flows[f].hash, f, self.now);
        }
        self.apply(flow, up, a);
    }

    /// Carries out what a sender asked for: transmissions and its timer.
    pub(super) fn apply(&mut self, flow: u16, up: bool, mut a: Actions) {
        if let Some((t, generation)) = a.timer.take() {
            self.ev.push(
                t,
                Kind::Timer {
                    flow,
                    up,
                    generation,
                },
            );
        }
        for &(xmit, data, _) in &a.send {
            if up {
                let bytes = self.p.proxy.request_bytes
                    + HDR_BYTES * self.p.proxy.request_bytes.div_ceil(self.p.network.mss);
                self.egress(flow, bytes, tag(flow, false, xmit));
            } else {
                self.remote_send(flow, xmit, data);
            }
        }
        a.send.clear();
        a.rto_fired = false;
        self.actions = a;
    }

    /// A response segment reaches the client's socket; the client ACKs through the TX path.
    pub(super) fn on_down_arrive(&mut self, flow: u16, xmit: u64) {
        let n = self.resp_segs;
        let f = &mut self.flows[flow as usize];
        let Some((seq, d)) = f.down.lookup(xmit) else {
            return;
        };
        let arr = f.down_rx.arrive(xmit, seq);
        let mut complete = false;
        let r = &mut self.reqs[d.req as usize];
        if arr.new && !r.done && r.attempt == d.attempt {
            r.segs_got += 1;
            complete = r.segs_got == n;
        }
        let now = self.now;
        match f.down_rx.ack_policy(now, arr.ack_now, complete) {
            AckNow::Ack(pos) => self.egress(flow, ACK_BYTES, tag(flow, true, pos)),
            AckNow::Timer(t) => self.ev.push(t, Kind::DelayedAck { flow }),
            AckNow::Wait => {}
        }
        if complete {
            self.proxy_submit(d.req, true);
        }
    }

    /// The client's delayed-ACK timer of a connection fired.
    pub(super) fn on_delayed_ack(&mut self, flow: u16) {
        match self.flows[flow as usize].down_rx.on_delack(self.now) {
            AckNow::Ack(pos) => self.egress(flow, ACK_BYTES, tag(flow, true, pos)),
            AckNow::Timer(t) => self.ev.push(t, Kind::DelayedAck { flow }),
            AckNow::Wait => {}
        }
    }
}

/// The sidecar's upstream connections, spread round-robin over the remote's instances; each flow's hash is a draw
/// of `rng` (the socket's `sk_txhash`).
///
/// The requests are probed with the node kernel's floor ([`TlpFloor`]) and the responses with the remote kernel's
/// (`floors`: node, remote).
pub(super) fn open(p: &Params, floors: (TlpFloor, TlpFloor), rng: &mut Pcg64Mcg) -> Vec<Flow> {
    let rtt = Ns::from_us(2 * p.network.one_way_us);
    let rto_min = Ns::from_ms(p.tcp.rto_min_ms);
    let (init, max) = (p.tcp.init_cwnd as f64, p.tcp.max_cwnd as f64);
    (0..p.proxy.connections)
        .map(|c| Flow {
            hash: rng.random(),
            queue: 0,
            instance: c % p.remote.instances,
            up: TcpSender::new(init, max, rto_min, rtt, floors.0),
            up_rx: TcpReceiver::default(),
            down: TcpSender::new(init, max, rto_min, rtt, floors.1),
            down_rx: TcpReceiver::default(),
            remote_link_free: Ns::ZERO,
        })
        .collect()
}
