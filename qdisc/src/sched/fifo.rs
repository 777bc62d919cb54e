//! Fixed-capacity storage whose all-zero value is empty, so that a qdisc holding it can be allocated zeroed on the
//! heap ([`zerocopy::FromZeros`]) and set up in place, never built on the stack.
//!
//! - [`Fifo`]: a ring of `N` entries, what pfifo_fast's bands (`struct skb_array` in `sch_generic.c`) and
//!   fq_codel's `new_flows`/`old_flows` lists (`struct list_head` in `sch_fq_codel.c`, here flow indices) hold.
//! - [`Held`]: the one packet the driver refused (`q->gso_skb` of `dev_requeue_skb`), sent first next time.

use zerocopy::FromZeros;

use super::QPkt;

/// A first-in first-out ring of up to `N` entries; zero is the empty ring.
#[derive(FromZeros)]
pub struct Fifo<T, const N: usize> {
    buf: [T; N],
    head: usize,
    len: usize,
}

impl<T: Copy, const N: usize> Fifo<T, N> {
    /// Entries held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Holds nothing.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The oldest entry.
    #[inline]
    pub fn front(&self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.buf.get(self.head).copied()
    }

    /// Appends `v`; false (and nothing stored) when the ring is full.
    #[inline]
    pub fn push_back(&mut self, v: T) -> bool {
        if self.len >= N {
            return false;
        }
        let mut i = self.head + self.len;
        if i >= N {
            i -= N;
        }
        match self.buf.get_mut(i) {
            Some(slot) => {
                *slot = v;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Takes the oldest entry.
    #[inline]
    pub fn pop_front(&mut self) -> Option<T> {
        let v = self.front()?;
        self.head += 1;
        if self.head >= N {
            self.head = 0;
        }
        self.len -= 1;
        Some(v)
    }
}

/// At most one packet put back by the driver; zero holds none.
#[derive(FromZeros, Clone, Copy)]
pub struct Held {
    pkt: QPkt,
    full: bool,
}

impl Held {
    /// Holds `pkt` (replacing any packet held: the stack requeues one packet at a time).
    #[inline]
    pub fn put(&mut self, pkt: QPkt) {
        self.pkt = pkt;
        self.full = true;
    }

    /// Takes the packet held.
    #[inline]
    pub fn take(&mut self) -> Option<QPkt> {
        if !self.full {
            return None;
        }
        self.full = false;
        Some(self.pkt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zero_fifo_is_empty_and_wraps_in_order() {
        let mut f: Fifo<u16, 3> = Fifo::new_zeroed();
        assert!(f.is_empty());
        assert_eq!(f.pop_front(), None);
        for round in 0..5u16 {
            assert!(f.push_back(round));
            assert!(f.push_back(round + 100));
            assert_eq!(f.len(), 2);
            assert_eq!(f.pop_front(), Some(round));
            assert_eq!(f.front(), Some(round + 100));
            assert_eq!(f.pop_front(), Some(round + 100));
        }
        assert!(f.push_back(1) && f.push_back(2) && f.push_back(3));
        assert!(!f.push_back(4), "full");
        assert_eq!(
            core::iter::from_fn(|| f.pop_front()).collect::<heapless::Vec<u16, 4>>(),
            [1, 2, 3]
        );
    }

    #[test]
    fn held_gives_back_its_packet_once() {
        let mut h = Held::new_zeroed();
        assert_eq!(h.take(), None);
        h.put(QPkt {
            tag: 7,
            ..QPkt::default()
        });
        assert_eq!(h.take().map(|p| p.tag), Some(7));
        assert_eq!(h.take(), None);
    }
}
