//! Enqueue/dequeue/requeue sequences on fq_codel and pfifo_fast: every packet leaves exactly once (dequeued or
//! dropped), and the counters agree with what happened.

use arbitrary::Unstructured;
use qdisc::sched::{FqCodel, FqCodelConfig, PfifoFast, QPkt, Qdisc, QdiscStats};

/// Packet tags the target hands out.
const TAGS: usize = 512;

/// The fuzz body.
pub fn qdisc_ops(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Some(mut q) = qdisc_of(&mut u) else {
        return;
    };
    let mut l = Ledger::new();
    let (mut now, mut held) = (0u64, None::<QPkt>);
    for _ in 0..400 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.int_in_range(0..=3u8) else {
            break;
        };
        now += u.int_in_range(0..=20_000_000u64).unwrap_or(0);
        match op {
            0 | 1 if l.next_tag < TAGS as u64 => {
                let p = QPkt {
                    len: u.int_in_range(1..=9000u32).unwrap_or(100),
                    hash: u.arbitrary().unwrap_or(0),
                    priority: u.arbitrary().unwrap_or(0),
                    tag: l.next_tag,
                    enqueue_ns: 0,
                    ecn: u.int_in_range(0..=3u8).unwrap_or(0),
                };
                l.enqueued(&p);
                let mut drops = heapless::Vec::<u64, TAGS>::new();
                q.enqueue(p, now, &mut |d| {
                    let _ = drops.push(d.tag);
                });
                drops.iter().for_each(|t| l.dropped(*t));
            }
            2 if held.is_none() => {
                let mut drops = heapless::Vec::<u64, TAGS>::new();
                let p = q.dequeue(now, &mut |d| {
                    let _ = drops.push(d.tag);
                });
                drops.iter().for_each(|t| l.dropped(*t));
                if let Some(p) = p {
                    l.dequeued(&p);
                    if u.arbitrary::<bool>().unwrap_or(false) {
                        // The driver said busy: it holds the packet until it requeues it.
                        l.state[p.tag as usize] = HELD;
                        held = Some(p);
                    }
                }
            }
            _ => {
                if let Some(p) = held.take() {
                    l.state[p.tag as usize] = QUEUED;
                    q.requeue(p);
                }
            }
        }
        l.check(&q.stats());
    }
}

/// An fq_codel or a pfifo_fast with an arbitrary configuration; `None` for one fq_codel refuses.
fn qdisc_of(u: &mut Unstructured<'_>) -> Option<Box<dyn Qdisc>> {
    let which = u.arbitrary::<bool>().ok()?;
    let limit = u.int_in_range(1..=200u32).unwrap_or(50);
    if !which {
        return Some(Box::new(
            PfifoFast::<256>::new(limit).unwrap_or_else(|e| panic!("{e}")),
        ));
    }
    let cfg = FqCodelConfig {
        limit,
        flows: u.int_in_range(1..=16u32).unwrap_or(4),
        quantum: u
            .arbitrary::<bool>()
            .unwrap_or(false)
            .then(|| u.int_in_range(1..=3000u32).unwrap_or(1514)),
        ecn: u.arbitrary().unwrap_or(true),
        drop_batch: u.int_in_range(1..=64u32).unwrap_or(64),
        memory_limit: u.int_in_range(1..=1u64 << 26).unwrap_or(32 << 20),
        ..FqCodelConfig::default()
    };
    let mtu = u.int_in_range(68..=9216u32).unwrap_or(1500);
    FqCodel::<16, 256>::new(cfg, qdisc::sched::psched_mtu(mtu, qdisc::sched::ETH_HLEN))
        .ok()
        .map(|q| Box::new(q) as Box<dyn Qdisc>)
}

/// A packet's state in [`Ledger::state`]: never seen.
const UNSEEN: u8 = 0;
/// Inside the qdisc.
const QUEUED: u8 = 1;
/// Dequeued or dropped.
const GONE: u8 = 2;
/// Held by the driver (busy) until it requeues it.
const HELD: u8 = 3;

/// What the target knows happened to each packet, to check the qdisc's counters against.
struct Ledger {
    state: [u8; TAGS],
    next_tag: u64,
    sent: u64,
    dropped: u64,
    /// A packet counts as sent at its first dequeue only, as in the kernel (requeue does not undo it).
    counted: [bool; TAGS],
    /// The ECN bits each packet entered with: CoDel may only turn ECT into CE (`INET_ECN_set_ce`).
    ecn_in: [u8; TAGS],
}

impl Ledger {
    fn new() -> Self {
        Self {
            state: [UNSEEN; TAGS],
            next_tag: 0,
            sent: 0,
            dropped: 0,
            counted: [false; TAGS],
            ecn_in: [0; TAGS],
        }
    }

    fn enqueued(&mut self, p: &QPkt) {
        self.state[p.tag as usize] = QUEUED;
        self.ecn_in[p.tag as usize] = p.ecn;
        self.next_tag += 1;
    }

    fn gone(&mut self, tag: u64) {
        assert_eq!(
            self.state[tag as usize], QUEUED,
            "packet {tag} left twice or was never queued"
        );
        self.state[tag as usize] = GONE;
    }

    fn dropped(&mut self, tag: u64) {
        self.gone(tag);
        self.dropped += 1;
    }

    fn dequeued(&mut self, p: &QPkt) {
        let before = self.ecn_in[p.tag as usize];
        assert!(
            p.ecn == before || (before != 0 && p.ecn == qdisc::sched::INET_ECN_CE),
            "packet {} entered with ECN {before} and left with {}",
            p.tag,
            p.ecn
        );
        self.gone(p.tag);
        if !self.counted[p.tag as usize] {
            self.counted[p.tag as usize] = true;
            self.sent += 1;
        }
    }

    /// The qdisc's queue length and counters against the ledger.
    fn check(&self, s: &QdiscStats) {
        let queued = self.state.iter().filter(|x| **x == QUEUED).count() as u64;
        assert_eq!(s.qlen, queued, "qlen disagrees with the packets inside");
        assert_eq!(
            (s.packets, s.drops),
            (self.sent, self.dropped),
            "counters disagree"
        );
    }
}
