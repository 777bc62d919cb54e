//! The event core: what can happen, and the queue that hands events out in (time, scheduling order).
//!
//! A hierarchical calendar (a timing wheel of two levels, exact): most events fall within a few milliseconds
//! (a device's next packet tens of microseconds ahead, a segment's one-way trip 250 us ahead), so the current
//! span of 4.2 ms is split into 1024 buckets of 4.1 us, found through a bitmap and sorted only when their time
//! comes (most hold one event); the next 255 spans (1.07 s: retransmission timers, service times, client
//! timeouts) are unsorted buckets poured into the fine ones when their span starts; anything later waits in a
//! binary heap. Within a bucket events are ordered by (time, sequence), so the order is exactly the one a single
//! heap gives (tested against one).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::time::Ns;

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
    /// The client's delayed-ACK timer for a connection's response data.
    DelayedAck {
        /// Connection.
        flow: u16,
    },
    /// A burst of other pods' egress starts.
    BackgroundBurst {
        /// Which source (`others.rs`).
        source: u8,
    },
    /// The next packet of a burst of other pods' egress; `left` more follow it.
    BackgroundPacket {
        /// Which source.
        source: u8,
        /// Packets still to send in this burst.
        left: u32,
    },
    /// The earliest client timeout that may still fire (the clients' FIFO of timeouts holds the rest).
    Timeout,
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

/// Fine buckets: 2^12 ns (4.1 us) each.
const W0: u32 = 12;
/// Fine buckets in a span.
const N0: usize = 1024;
/// A span (a coarse bucket): N0 fine buckets, 2^22 ns (4.2 ms).
const W1: u32 = W0 + N0.trailing_zeros();
/// Spans in the coarse ring, the current one included (1.07 s).
const N1: u64 = 256;

/// No node: the end of a list.
const NIL: u32 = u32::MAX;

/// An event in the slab, linked to the next one of its bucket (or of the free list).
#[derive(Clone, Copy, Debug)]
struct Node {
    ev: Ev,
    next: u32,
}

/// The calendar: the current span's fine buckets, the next spans' coarse buckets, and a heap beyond.
///
/// Bucket contents are singly linked lists of nodes in one slab whose free slots are reused last-freed first, so
/// scheduling an event writes to memory that was touched a moment ago rather than to one of 1280 separate buffers.
#[derive(Debug)]
struct Calendar {
    slab: Vec<Node>,
    /// Head of the free list in `slab`.
    free: u32,
    /// The current span's lists by fine bucket; those before `cur` are empty.
    near: [u32; N0],
    /// Which fine buckets' lists hold events.
    bits: [u64; N0 / 64],
    /// The fine bucket being popped: its events, sorted latest first (the earliest is popped from the end).
    cur: usize,
    sorted: Vec<Ev>,
    /// Whether `sorted` holds bucket `cur` (else the bucket is yet to be found and sorted).
    current: bool,
    /// The current span (time >> W1).
    span: u64,
    /// Lists of the spans after the current one, by span modulo N1, unsorted.
    mid: [u32; N1 as usize],
    /// Events in `mid`.
    mid_len: usize,
    /// Events N1 spans or more ahead.
    far: BinaryHeap<Ev>,
}

impl Default for Calendar {
    fn default() -> Self {
        Self {
            slab: Vec::new(),
            free: NIL,
            near: [NIL; N0],
            bits: [0; N0 / 64],
            cur: 0,
            sorted: Vec::new(),
            current: false,
            span: 0,
            mid: [NIL; N1 as usize],
            mid_len: 0,
            far: BinaryHeap::new(),
        }
    }
}

impl Calendar {
    /// Puts `ev` at the head of the list starting at `head`.
    #[inline]
    fn link(&mut self, head: u32, ev: Ev) -> u32 {
        let node = Node { ev, next: head };
        if self.free != NIL {
            let i = self.free;
            let slot = &mut self.slab[i as usize];
            self.free = slot.next;
            *slot = node;
            i
        } else {
            self.slab.push(node);
            (self.slab.len() - 1) as u32
        }
    }

    /// Takes the node `i` out of the slab: its event and the next node of its list.
    #[inline]
    fn unlink(&mut self, i: u32) -> (Ev, u32) {
        let slot = &mut self.slab[i as usize];
        let (ev, next) = (slot.ev, slot.next);
        slot.next = self.free;
        self.free = i;
        (ev, next)
    }

    #[inline]
    fn insert(&mut self, ev: Ev) {
        let t = ev.t();
        let span = t >> W1;
        if span <= self.span {
            // The current span (an earlier time cannot be scheduled; it would go first in the current bucket).
            let i = if span < self.span {
                self.cur
            } else {
                ((t >> W0) as usize % N0).max(self.cur)
            };
            if i == self.cur && self.current {
                // Latest first: the position after every later event.
                let at = self.sorted.partition_point(|e| e.key > ev.key);
                self.sorted.insert(at, ev);
            } else {
                self.bits[i / 64] |= 1 << (i % 64);
                self.near[i] = self.link(self.near[i], ev);
            }
        } else if span < self.span + N1 {
            let slot = (span % N1) as usize;
            self.mid[slot] = self.link(self.mid[slot], ev);
            self.mid_len += 1;
        } else {
            self.far.push(ev);
        }
    }

    /// The first fine bucket at or after `from` that holds events.
    #[inline]
    fn next_bucket(&self, from: usize) -> Option<usize> {
        let mut w = from / 64;
        let mut m = self.bits.get(w)? & (!0u64 << (from % 64));
        loop {
            if m != 0 {
                return Some(w * 64 + m.trailing_zeros() as usize);
            }
            w += 1;
            m = *self.bits.get(w)?;
        }
    }

    /// Starts the next span that holds events: its coarse bucket is poured into the fine buckets, and the far
    /// heap's events that are now within the coarse ring are moved in. False when nothing is left.
    fn next_span(&mut self) -> bool {
        if self.mid_len == 0 {
            let Some(e) = self.far.peek() else {
                return false;
            };
            self.span = (e.t() >> W1).max(self.span + 1);
        } else {
            self.span += 1;
        }
        self.cur = 0;
        self.current = false;
        let slot = (self.span % N1) as usize;
        let mut i = std::mem::replace(&mut self.mid[slot], NIL);
        while i != NIL {
            let (ev, next) = self.unlink(i);
            self.mid_len -= 1;
            self.insert(ev);
            i = next;
        }
        while self
            .far
            .peek()
            .is_some_and(|e| (e.t() >> W1) < self.span + N1)
        {
            if let Some(ev) = self.far.pop() {
                self.insert(ev);
            }
        }
        true
    }

    /// Takes the earliest event.
    #[inline]
    fn pop(&mut self) -> Option<Ev> {
        if let Some(ev) = self.sorted.pop() {
            return Some(ev);
        }
        self.make_current()?;
        self.sorted.pop()
    }

    /// The key of the earliest event, without taking it.
    #[inline]
    fn peek_key(&mut self) -> Option<u128> {
        if self.sorted.is_empty() {
            self.make_current()?;
        }
        self.sorted.last().map(|e| e.key)
    }

    /// Makes the bucket of the earliest event current: its list moves into `sorted`, sorted. `None` when no event
    /// is left.
    fn make_current(&mut self) -> Option<()> {
        loop {
            match self.next_bucket(self.cur) {
                Some(i) => {
                    self.cur = i;
                    self.current = true;
                    self.bits[i / 64] &= !(1 << (i % 64));
                    let mut n = std::mem::replace(&mut self.near[i], NIL);
                    while n != NIL {
                        let (ev, next) = self.unlink(n);
                        self.sorted.push(ev);
                        n = next;
                    }
                    if self.sorted.len() > 1 {
                        self.sorted
                            .sort_unstable_by_key(|e| std::cmp::Reverse(e.key));
                    }
                    return Some(());
                }
                None => {
                    if !self.next_span() {
                        return None;
                    }
                }
            }
        }
    }
}

/// Lanes for events whose times mostly come in the order they are scheduled (a fixed delay after the present, or
/// the release time of a FIFO shaper): such an event waits in its lane's FIFO instead of the calendar, and the
/// queue hands out whichever is first by (time, sequence) among the calendar and the lanes' fronts. The order is
/// the one the calendar alone gives; an event earlier than its lane's last one goes to the calendar.
#[derive(Clone, Copy, Debug)]
pub enum Lane {
    /// Packets leaving the node's device for the wire (one way to the remote).
    WireOut = 0,
    /// The remote's ACKs of request data (one way to the node).
    WireIn = 1,
    /// Response segments released by the inbound shaper.
    Shaped = 2,
    /// Response segments on the wire from the remote's NIC to the node (one way after each connection's
    /// serialisation; bursts of different connections interleave, and those out of order go to the calendar).
    WireDown = 3,
}
const LANES: usize = 4;

/// The ordered event queue.
#[derive(Debug)]
pub struct Events {
    seq: u64,
    cal: Calendar,
    lanes: [std::collections::VecDeque<Ev>; LANES],
    /// The key of each lane's first and last event (`u128::MAX` and 0 when it is empty). `pop` compares the first
    /// ones on every event and `push_lane` the last one: kept here, together, they are read from one cache line
    /// instead of through each FIFO's buffer.
    front: [u128; LANES],
    back: [u128; LANES],
    /// The lane whose first event is the earliest (`LANES` when every lane is empty), and that event's key: it
    /// changes only when a lane's first event does, so `pop` compares one key with the calendar's.
    first: usize,
    first_key: u128,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            seq: 0,
            cal: Calendar::default(),
            lanes: Default::default(),
            front: [u128::MAX; LANES],
            back: [0; LANES],
            first: LANES,
            first_key: u128::MAX,
        }
    }
}

impl Events {
    /// Schedules `kind` at `t`.
    #[inline]
    pub fn push(&mut self, t: Ns, kind: Kind) {
        let seq = self.reserve();
        self.cal.insert(Ev::new(t.0, seq, kind));
    }

    /// Schedules `kind` at `t` through `lane` (see [`Lane`]).
    #[inline]
    pub fn push_lane(&mut self, lane: Lane, t: Ns, kind: Kind) {
        let seq = self.reserve();
        let ev = Ev::new(t.0, seq, kind);
        let l = lane as usize;
        if self.back[l] < ev.key {
            self.lanes[l].push_back(ev);
            self.back[l] = ev.key;
            if self.front[l] == u128::MAX {
                self.front[l] = ev.key;
                if ev.key < self.first_key {
                    (self.first, self.first_key) = (l, ev.key);
                }
            }
        } else {
            self.cal.insert(ev);
        }
    }

    /// Takes the next place in the scheduling order for an event that will be pushed later with
    /// [`Events::push_reserved`]: it goes among events at the same time as if it had been pushed now.
    pub fn reserve(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Schedules `kind` at `t` in the place `seq` reserved.
    pub fn push_reserved(&mut self, t: Ns, seq: u64, kind: Kind) {
        self.cal.insert(Ev::new(t.0, seq, kind));
    }

    /// Checks the cached keys against the lanes themselves and returns how many events wait in lanes (tests only).
    #[cfg(test)]
    fn check_lanes(&self) -> usize {
        let mut first = (LANES, u128::MAX);
        for (l, fifo) in self.lanes.iter().enumerate() {
            assert_eq!(
                self.front[l],
                fifo.front().map_or(u128::MAX, |e| e.key),
                "lane {l} front"
            );
            assert_eq!(
                self.back[l],
                fifo.back().map_or(0, |e| e.key),
                "lane {l} back"
            );
            assert!(
                fifo.iter()
                    .zip(fifo.iter().skip(1))
                    .all(|(a, b)| a.key < b.key),
                "lane {l} order"
            );
            if self.front[l] < first.1 {
                first = (l, self.front[l]);
            }
        }
        assert_eq!((self.first, self.first_key), first, "earliest lane");
        self.lanes.iter().map(|fifo| fifo.len()).sum()
    }

    /// The earliest event by (time, sequence).
    #[inline]
    pub fn pop(&mut self) -> Option<(Ns, Kind)> {
        let lane = self.first;
        let ev = match self.lanes.get_mut(lane) {
            Some(fifo) if self.cal.peek_key().is_none_or(|k| self.first_key < k) => {
                let ev = fifo.pop_front()?;
                match fifo.front() {
                    Some(next) => self.front[lane] = next.key,
                    None => (self.front[lane], self.back[lane]) = (u128::MAX, 0),
                }
                (self.first, self.first_key) = (LANES, u128::MAX);
                for (i, &f) in self.front.iter().enumerate() {
                    if f < self.first_key {
                        (self.first, self.first_key) = (i, f);
                    }
                }
                ev
            }
            _ => self.cal.pop()?,
        };
        Some((Ns(ev.t()), ev.kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_in_time_then_scheduling_order() {
        let mut q = Events::default();
        q.push(Ns(5), Kind::QueueServe(1));
        q.push(
            Ns(3),
            Kind::ProxyDone {
                req: 1,
                inbound: false,
            },
        );
        q.push(Ns(5), Kind::QueueServe(2));
        q.push(
            Ns(1),
            Kind::ProxyDone {
                req: 2,
                inbound: false,
            },
        ); // out of order for its lane: goes to the heap
        q.push(Ns(3), Kind::QueueServe(3));
        let order: Vec<(u64, Kind)> = std::iter::from_fn(|| q.pop())
            .map(|(t, k)| (t.0, k))
            .collect();
        assert_eq!(
            order,
            [
                (
                    1,
                    Kind::ProxyDone {
                        req: 2,
                        inbound: false
                    }
                ),
                (
                    3,
                    Kind::ProxyDone {
                        req: 1,
                        inbound: false
                    }
                ),
                (3, Kind::QueueServe(3)),
                (5, Kind::QueueServe(1)),
                (5, Kind::QueueServe(2)),
            ]
        );
    }

    #[test]
    fn a_crowded_bucket_keeps_the_order() {
        // Many events in one 4 us bucket, some pushed while it is being popped.
        let mut q = Events::default();
        for i in 0..10u16 {
            q.push(Ns(1000 - i as u64 * 50), Kind::QueueServe(i));
        }
        let mut got = Vec::new();
        for round in 0..3u16 {
            got.extend(q.pop().map(|(t, k)| (t.0, k)));
            q.push(Ns(1000), Kind::QueueServe(100 + round));
            q.push(Ns(600), Kind::QueueServe(200 + round));
        }
        got.extend(std::iter::from_fn(|| q.pop()).map(|(t, k)| (t.0, k)));
        let mut want = got.clone();
        want.sort_by_key(|&(t, _)| t); // stable: equal times stay in the order popped
        assert_eq!(got, want);
        assert_eq!(got.len(), 16);
        // Equal times come out in scheduling order.
        let at_1000: Vec<Kind> = got.iter().filter(|e| e.0 == 1000).map(|e| e.1).collect();
        assert_eq!(
            at_1000,
            [
                Kind::QueueServe(0),
                Kind::QueueServe(100),
                Kind::QueueServe(101),
                Kind::QueueServe(102)
            ]
        );
    }

    #[test]
    fn the_calendar_and_lanes_give_the_order_of_a_heap() {
        for seed in [7, 8, 9] {
            heap_order_with_seed(seed);
        }
    }

    fn heap_order_with_seed(seed: u64) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
        let mut q = Events::default();
        let mut reference = BinaryHeap::new();
        let mut seq = 0;
        let mut now = 0u64;
        // Pushes through a lane, and how many of them stayed in it (rather than going to the calendar).
        let (mut to_lanes, mut kept) = (0u32, 0u32);
        for round in 0..50_000 {
            // Schedule a few events at now + a mix of near, far and equal times, then pop a few.
            for _ in 0..rng.random_range(0..3) {
                let dt = match rng.random_range(0..4) {
                    0 => 0,
                    1 => rng.random_range(0..100_000),
                    2 => rng.random_range(0..300_000_000),
                    _ => rng.random_range(0..5_000_000_000),
                };
                seq += 1;
                let k = Kind::QueueServe(seq as u16);
                // Half go through a lane: a fixed delay (in order), a fixed delay plus a little (mostly in order),
                // or a random one (mostly out of order: the lane hands those to the calendar). Every lane is used,
                // so the earliest lane changes hands often.
                let how = rng.random_range(0..8);
                let t = match how {
                    0 => now + 250_000,
                    1 => now + 100_000,
                    2 => now + 250_000 + rng.random_range(0..20_000),
                    _ => now + dt,
                };
                let in_lanes = q.check_lanes();
                match how {
                    0 => q.push_lane(Lane::WireOut, Ns(t), k),
                    1 => q.push_lane(Lane::WireIn, Ns(t), k),
                    2 => q.push_lane(Lane::WireDown, Ns(t), k),
                    3 => q.push_lane(Lane::Shaped, Ns(t), k),
                    _ => q.push(Ns(t), k),
                }
                if how < 4 {
                    to_lanes += 1;
                    kept += u32::from(q.check_lanes() > in_lanes);
                }
                reference.push(Ev::new(t, seq, k));
            }
            // As many pops as pushes on average: the queue and its lanes empty and refill again and again.
            for _ in 0..rng.random_range(0..3) {
                let a = q.pop().map(|(t, k)| (t.0, k));
                let b = reference.pop().map(|e| (e.t(), e.kind));
                assert_eq!(a, b, "seed {seed} round {round}");
                q.check_lanes();
                if let Some((t, _)) = a {
                    now = t;
                }
            }
        }
        // The lanes do their job: the in-order pushes (three of the four kinds) mostly stay in them.
        assert!(
            kept * 2 > to_lanes,
            "seed {seed}: {kept} of {to_lanes} pushes stayed in a lane"
        );
        while let Some(b) = reference.pop() {
            assert_eq!(q.pop(), Some((Ns(b.t()), b.kind)));
            q.check_lanes();
        }
        assert_eq!(q.pop(), None);
        assert_eq!(q.check_lanes(), 0);
    }
}
