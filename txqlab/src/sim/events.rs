//! The event core: what can happen, and the queue that hands events out in (time, scheduling order).
//!
//! Most events are scheduled at non-decreasing times within their kind (packets leaving a FIFO shaper, client
//! timeouts a fixed delay after they are armed): those go to FIFO lanes, merged with a binary heap for the rest by
//! (time, sequence), which gives exactly the order one heap would give while keeping the heap small.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// An event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The client process: `issue` is false when the event only redraws the next arrival at a rate change.
    Arrival {
        /// Issue a request now.
        issue: bool,
    },
    /// The proxy finished a job.
    ProxyDone {
        /// Request.
        req: u32,
        /// A response (else a request).
        inbound: bool,
    },
    /// The device finished the head packet of a TX queue.
    QueueServe(u16),
    /// A request segment reaches the remote instance.
    UpArrive {
        /// Connection.
        flow: u16,
        /// Transmission index.
        xmit: u64,
    },
    /// The remote's ACK of request data reaches the client.
    UpAck {
        /// Connection.
        flow: u16,
        /// Receiver log position it covers.
        pos: u64,
    },
    /// A remote-cache instance finished serving a request.
    RemoteDone {
        /// The connection the request came on.
        flow: u16,
        /// Request.
        req: u32,
        /// Attempt.
        attempt: u8,
    },
    /// A response segment reaches the node's instance (the hypervisor's inbound shaper).
    DownShape {
        /// Connection.
        flow: u16,
        /// Transmission index.
        xmit: u64,
    },
    /// A response segment, shaped, reaches the client's socket.
    DownArrive {
        /// Connection.
        flow: u16,
        /// Transmission index.
        xmit: u64,
    },
    /// The client's ACK of response data (sent through the TX path) reaches the remote.
    DownAck {
        /// Connection.
        flow: u16,
        /// Receiver log position it covers.
        pos: u64,
    },
    /// A connection's retransmission timer (RTO or loss probe).
    Timer {
        /// Connection.
        flow: u16,
        /// The client's sender (request data), else the remote's.
        up: bool,
        /// Timer generation.
        generation: u32,
    },
    /// A client's per-attempt timeout.
    Timeout {
        /// Request.
        req: u32,
        /// Attempt.
        attempt: u8,
    },
}

#[derive(Clone, Copy, Debug)]
struct Ev {
    t: u64,
    seq: u64,
    kind: Kind,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.seq) == (o.t, o.seq)
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    fn cmp(&self, o: &Self) -> Ordering {
        // Min-heap on (time, sequence): earliest first, ties in scheduling order.
        (o.t, o.seq).cmp(&(self.t, self.seq))
    }
}

const LANES: usize = 4;

/// The ordered event queue.
#[derive(Debug, Default)]
pub struct Events {
    seq: u64,
    heap: BinaryHeap<Ev>,
    lanes: [VecDeque<Ev>; LANES],
}

impl Events {
    /// Schedules `kind` at `t`.
    pub fn push(&mut self, t: u64, kind: Kind) {
        self.seq += 1;
        let ev = Ev {
            t,
            seq: self.seq,
            kind,
        };
        // Kinds usually scheduled at non-decreasing times go to their lane; anything out of order falls back to
        // the heap, so the (time, sequence) order is exact either way.
        let lane = match kind {
            Kind::Timeout { .. } => Some(0),
            Kind::DownArrive { .. } => Some(1),
            Kind::UpArrive { .. } | Kind::DownAck { .. } => Some(2),
            Kind::UpAck { .. } => Some(3),
            _ => None,
        };
        match lane {
            Some(l) if self.lanes[l].back().is_none_or(|b| b.t <= t) => self.lanes[l].push_back(ev),
            _ => self.heap.push(ev),
        }
    }

    /// The earliest event by (time, sequence).
    pub fn pop(&mut self) -> Option<(u64, Kind)> {
        let mut best: Option<((u64, u64), usize)> = self.heap.peek().map(|e| ((e.t, e.seq), LANES));
        for (l, lane) in self.lanes.iter().enumerate() {
            if let Some(e) = lane.front()
                && best.is_none_or(|(b, _)| (e.t, e.seq) < b)
            {
                best = Some(((e.t, e.seq), l));
            }
        }
        match best?.1 {
            LANES => self.heap.pop().map(|e| (e.t, e.kind)),
            l => self.lanes[l].pop_front().map(|e| (e.t, e.kind)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_in_time_then_scheduling_order() {
        let mut q = Events::default();
        q.push(5, Kind::QueueServe(1));
        q.push(3, Kind::Timeout { req: 1, attempt: 0 });
        q.push(5, Kind::QueueServe(2));
        q.push(1, Kind::Timeout { req: 2, attempt: 0 }); // out of order for its lane: goes to the heap
        q.push(3, Kind::QueueServe(3));
        let order: Vec<(u64, Kind)> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            [
                (1, Kind::Timeout { req: 2, attempt: 0 }),
                (3, Kind::Timeout { req: 1, attempt: 0 }),
                (3, Kind::QueueServe(3)),
                (5, Kind::QueueServe(1)),
                (5, Kind::QueueServe(2)),
            ]
        );
    }
}
