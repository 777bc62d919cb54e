//! The event core: what can happen, and the queue that hands events out in (time, scheduling order).
//!
//! Most events are scheduled at non-decreasing times within their kind (packets leaving a FIFO shaper, client
//! timeouts a fixed delay after they are armed): those go to FIFO lanes. The rest go to a calendar queue: a ring
//! of buckets 65.5 us wide covering the next 268 ms (most events are that near), each bucket sorted when its
//! time comes, and a binary heap for the few beyond the horizon, moved into the ring as it turns. Lanes and
//! calendar are merged by (time, sequence), which gives exactly the order one heap would give.

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
    /// A burst of other pods' egress starts.
    BackgroundBurst,
    /// The next packet of a burst of other pods' egress; `left` more follow it.
    BackgroundPacket {
        /// Packets still to send in this burst.
        left: u32,
    },
    /// A client's per-attempt timeout.
    Timeout {
        /// Request.
        req: u32,
        /// Attempt.
        attempt: u8,
    },
}

/// An event and its place in the order: `key` is the time in the high 64 bits and the scheduling sequence in the
/// low 64, so that one integer comparison orders by (time, sequence).
#[derive(Clone, Copy, Debug)]
struct Ev {
    key: u128,
    kind: Kind,
}

impl Ev {
    fn new(t: u64, seq: u64, kind: Kind) -> Self {
        Self {
            key: ((t as u128) << 64) | seq as u128,
            kind,
        }
    }

    fn t(&self) -> u64 {
        (self.key >> 64) as u64
    }
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
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
        o.key.cmp(&self.key)
    }
}

const LANES: usize = 4;
/// Bucket width: 2^16 ns.
const SHIFT: u32 = 16;
/// Buckets in the ring.
const BUCKETS: u64 = 4096;

/// The calendar: buckets of events by time, the current one sorted, and a heap beyond the horizon.
#[derive(Debug)]
struct Calendar {
    buckets: Vec<Vec<Ev>>,
    /// Absolute index (time >> SHIFT) of the current bucket.
    cur: u64,
    /// The current bucket is sorted, latest first (so the earliest is popped from the end).
    sorted: bool,
    /// Events in the ring.
    len: usize,
    far: BinaryHeap<Ev>,
}

impl Default for Calendar {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            cur: 0,
            sorted: false,
            len: 0,
            far: BinaryHeap::new(),
        }
    }
}

impl Calendar {
    #[inline]
    fn slot(b: u64) -> usize {
        (b % BUCKETS) as usize
    }

    #[inline]
    fn insert(&mut self, ev: Ev) {
        let b = (ev.t() >> SHIFT).max(self.cur);
        if b >= self.cur + BUCKETS {
            self.far.push(ev);
            return;
        }
        let v = &mut self.buckets[Self::slot(b)];
        if b == self.cur && self.sorted {
            // Latest first: the position after every later event.
            let i = v.partition_point(|e| e.key > ev.key);
            v.insert(i, ev);
        } else {
            v.push(ev);
        }
        self.len += 1;
    }

    /// Moves the events of the far heap that are now within the horizon into the ring.
    fn migrate(&mut self) {
        while self
            .far
            .peek()
            .is_some_and(|e| (e.t() >> SHIFT) < self.cur + BUCKETS)
        {
            if let Some(ev) = self.far.pop() {
                self.insert(ev);
            }
        }
    }

    /// The key of the earliest event, its bucket made current and sorted.
    #[inline]
    fn peek(&mut self) -> Option<u128> {
        let v = &self.buckets[Self::slot(self.cur)];
        if self.sorted && !v.is_empty() {
            return v.last().map(|e| e.key);
        }
        self.peek_slow()
    }

    fn peek_slow(&mut self) -> Option<u128> {
        loop {
            let slot = Self::slot(self.cur);
            if !self.buckets[slot].is_empty() {
                if !self.sorted {
                    self.buckets[slot].sort_unstable_by(|a, b| b.key.cmp(&a.key));
                    self.sorted = true;
                }
                return self.buckets[slot].last().map(|e| e.key);
            }
            // Next bucket; with an empty ring, jump to the far heap's earliest.
            self.sorted = false;
            if self.len == 0 {
                let next = self.far.peek()?.t() >> SHIFT;
                self.cur = next.max(self.cur + 1);
            } else {
                self.cur += 1;
            }
            self.migrate();
        }
    }

    /// Takes the earliest event; `peek` must have returned it.
    #[inline]
    fn pop_peeked(&mut self) -> Option<Ev> {
        let ev = self.buckets[Self::slot(self.cur)].pop();
        if ev.is_some() {
            self.len -= 1;
        }
        ev
    }
}

/// The ordered event queue.
#[derive(Debug, Default)]
pub struct Events {
    seq: u64,
    cal: Calendar,
    lanes: [VecDeque<Ev>; LANES],
}

impl Events {
    /// Schedules `kind` at `t`.
    #[inline]
    pub fn push(&mut self, t: u64, kind: Kind) {
        self.seq += 1;
        let ev = Ev::new(t, self.seq, kind);
        // Kinds usually scheduled at non-decreasing times go to their lane; anything out of order falls back to
        // the calendar, so the (time, sequence) order is exact either way.
        let lane = match kind {
            Kind::Timeout { .. } => 0,
            Kind::DownArrive { .. } => 1,
            Kind::UpArrive { .. } | Kind::DownAck { .. } => 2,
            Kind::UpAck { .. } => 3,
            _ => return self.cal.insert(ev),
        };
        let q = &mut self.lanes[lane];
        if q.back().is_none_or(|b| b.key < ev.key) {
            q.push_back(ev);
        } else {
            self.cal.insert(ev);
        }
    }

    /// The earliest event by (time, sequence).
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, Kind)> {
        let mut best = self.cal.peek().unwrap_or(u128::MAX);
        let mut from = LANES;
        for (l, lane) in self.lanes.iter().enumerate() {
            if let Some(e) = lane.front()
                && e.key < best
            {
                best = e.key;
                from = l;
            }
        }
        let ev = match from {
            LANES => self.cal.pop_peeked(),
            l => self.lanes[l].pop_front(),
        }?;
        Some((ev.t(), ev.kind))
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

    #[test]
    fn the_calendar_gives_the_order_of_a_heap() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        let mut q = Events::default();
        let mut reference = BinaryHeap::new();
        let mut seq = 0;
        let mut now = 0u64;
        for round in 0..20_000 {
            // Schedule a few events at now + a mix of near, far and equal times, then pop one.
            for _ in 0..rng.random_range(0..3) {
                let dt = match rng.random_range(0..4) {
                    0 => 0,
                    1 => rng.random_range(0..100_000),
                    2 => rng.random_range(0..300_000_000),
                    _ => rng.random_range(0..5_000_000_000),
                };
                seq += 1;
                let k = Kind::QueueServe(seq as u16);
                q.push(now + dt, k);
                reference.push(Ev::new(now + dt, seq, k));
            }
            if round % 2 == 0 {
                let a = q.pop();
                let b = reference.pop().map(|e| (e.t(), e.kind));
                assert_eq!(a, b, "round {round}");
                if let Some((t, _)) = a {
                    now = t;
                }
            }
        }
        while let Some(b) = reference.pop() {
            assert_eq!(q.pop(), Some((b.t(), b.kind)));
        }
        assert_eq!(q.pop(), None);
    }
}
