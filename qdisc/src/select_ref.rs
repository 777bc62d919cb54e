//! The reference selector: a plain transcription of how Linux picks a TX queue (`net/core/dev.c`), branch by
//! branch, reporting which branch decided. It is the oracle the fast selector is fuzzed against.

use crate::hash::{reciprocal_scale, skb_get_hash};
use crate::netdev::{DriverHook, NetDev};
use crate::skb::{NO_QUEUE_MAPPING, Skb, XmitCtx};

/// `sk_tx_queue_set` refreshes the stamp of an unchanged queue only when it is older than this (HZ, one second).
pub(crate) const TXQ_STAMP_REFRESH_NS: u64 = 1_000_000_000;

/// The branch that decided a packet's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    /// A tc egress hook chose the queue (skip txqueue).
    TcHook,
    /// The device has one TX queue.
    SingleQueue,
    /// `sk_tx_queue_get`: the socket's cached queue.
    SocketCache,
    /// `get_xps_queue`, rxqs map (keyed by the socket's rx queue).
    XpsRxqs,
    /// `get_xps_queue`, cpus map (keyed by the sender CPU).
    XpsCpus,
    /// `skb_tx_hash` with a recorded rx queue: the rx queue reduced into the class's range.
    RxRecorded,
    /// `skb_tx_hash`: the flow hash scaled onto the range.
    Hash,
    /// The driver's `ndo_select_queue` returned a recorded rx queue (ENA's old hook, bonding).
    DriverRxRecorded,
    /// bonding's hook without a recorded rx queue: queue 0.
    DriverDefault,
    /// `skb_tx_hash` with a recorded rx queue and an empty traffic class on a kernel without the fallback: the
    /// `while (hash >= qcount)` loop never ends and the CPU spins in softirq (a soft lockup). Reported as queue 0.
    SoftLockup,
}

impl Branch {
    /// The name a kernel engineer knows: the function (and case) that decided.
    pub const fn name(self) -> &'static str {
        match self {
            Self::TcHook => "tc egress hook (skip_txqueue)",
            Self::SingleQueue => "single TX queue",
            Self::SocketCache => "sk_tx_queue_get (socket's cached queue)",
            Self::XpsRxqs => "get_xps_queue (xps_rxqs)",
            Self::XpsCpus => "get_xps_queue (xps_cpus)",
            Self::RxRecorded => "skb_tx_hash (recorded rx queue)",
            Self::Hash => "skb_tx_hash (flow hash)",
            Self::DriverRxRecorded => "ndo_select_queue (recorded rx queue)",
            Self::DriverDefault => "ndo_select_queue (default queue 0)",
            Self::SoftLockup => "skb_tx_hash (spins: empty traffic class)",
        }
    }

    /// A stable identifier for machine-readable output.
    pub const fn id(self) -> &'static str {
        match self {
            Self::TcHook => "tc_hook",
            Self::SingleQueue => "single_queue",
            Self::SocketCache => "socket_cache",
            Self::XpsRxqs => "xps_rxqs",
            Self::XpsCpus => "xps_cpus",
            Self::RxRecorded => "rx_recorded",
            Self::Hash => "flow_hash",
            Self::DriverRxRecorded => "driver_rx_recorded",
            Self::DriverDefault => "driver_default",
            Self::SoftLockup => "soft_lockup",
        }
    }

    /// Whether the packet's queue came from a recorded rx queue (the incident's signature).
    pub const fn is_rx_recorded(self) -> bool {
        matches!(self, Self::RxRecorded | Self::DriverRxRecorded)
    }
}

/// What `netdev_cap_txqueue` printed when the choice was out of range (the queue became 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapWarning {
    /// The queue that was selected.
    pub selected: u16,
    /// `real_num_tx_queues`.
    pub real: u16,
}

impl core::fmt::Display for CapWarning {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "selects TX queue {}, but real number of TX queues is {}",
            self.selected, self.real
        )
    }
}

/// The reference selector's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The TX queue.
    pub queue: u16,
    /// The branch that chose it.
    pub branch: Branch,
    /// Set when the choice was capped to 0.
    pub capped: Option<CapWarning>,
}

/// Selection rules that changed between kernel versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PickRules {
    /// `net.core.txq_reselection_ms` when the kernel has it (the v6.19 cycle): a full socket's cached queue older
    /// than this counts as unset.
    pub txq_reselection_ms: Option<u32>,
    /// `skb_tx_hash` has no fallback for a traffic class with no queues (kernels before it was added, see
    /// [`crate::facts::TC_EMPTY_FALLBACK`]): a recorded rx queue then loops for ever.
    pub tc_empty_class_spins: bool,
}

/// The reference selector over a device.
#[derive(Debug, Clone)]
pub struct RefSelector {
    dev: NetDev,
    rules: PickRules,
    hash_seed: u64,
}

impl RefSelector {
    /// A selector over a validated device; `hash_seed` stands for the per-boot flow-dissector key.
    pub fn new(dev: NetDev, rules: PickRules, hash_seed: u64) -> crate::Result<Self> {
        dev.validate()?;
        Ok(Self {
            dev,
            rules,
            hash_seed,
        })
    }

    /// The device.
    pub fn dev(&self) -> &NetDev {
        &self.dev
    }

    /// The version-dependent rules.
    pub fn rules(&self) -> PickRules {
        self.rules
    }

    /// The flow-dissector seed.
    pub fn hash_seed(&self) -> u64 {
        self.hash_seed
    }

    /// `netdev_core_pick_tx` (with the skip-txqueue shortcut of `__dev_queue_xmit`), then
    /// `skb_set_queue_mapping`.
    pub fn select(&self, skb: &mut Skb, ctx: XmitCtx) -> Decision {
        let dev = &self.dev;
        let real = dev.real_num_tx_queues;
        let (queue, branch) = if skb.skip_txqueue {
            (skb.queue_mapping, Branch::TcHook)
        } else {
            // XPS needs the sending CPU: a sender_cpu beyond NR_CPUS (or unset) becomes the current CPU + 1.
            if skb.sender_cpu.wrapping_sub(1) >= dev.nr_cpus {
                skb.sender_cpu = ctx.cpu.wrapping_add(1);
            }
            if real == 1 {
                (0, Branch::SingleQueue)
            } else {
                match dev.driver {
                    DriverHook::None => self.netdev_pick_tx(skb, ctx),
                    DriverHook::EnaLegacy => {
                        // `ena_select_queue`.
                        if skb.rx_queue_recorded() {
                            (skb.rx_queue(), Branch::DriverRxRecorded)
                        } else {
                            self.netdev_pick_tx(skb, ctx)
                        }
                    }
                    DriverHook::EnaModulo => {
                        // amzn-drivers' `ena_select_queue` from 2.9.0 to 2.11.x: the recorded queue modulo the
                        // real TX queue count.
                        if skb.rx_queue_recorded() {
                            (skb.rx_queue() % real, Branch::DriverRxRecorded)
                        } else {
                            self.netdev_pick_tx(skb, ctx)
                        }
                    }
                    DriverHook::Bonding => {
                        // `bond_select_queue`.
                        if skb.rx_queue_recorded() {
                            let mut q = skb.rx_queue();
                            while q >= real {
                                q -= real;
                            }
                            (q, Branch::DriverRxRecorded)
                        } else {
                            (0, Branch::DriverDefault)
                        }
                    }
                }
            }
        };
        // `netdev_cap_txqueue`.
        let (queue, capped) = if queue >= real {
            (
                0,
                Some(CapWarning {
                    selected: queue,
                    real,
                }),
            )
        } else {
            (queue, None)
        };
        skb.queue_mapping = queue;
        Decision {
            queue,
            branch,
            capped,
        }
    }

    /// `sk_tx_queue_get`, with the reselection timeout of newer kernels.
    fn sk_tx_queue_get(&self, skb: &Skb, ctx: XmitCtx) -> i32 {
        let Some(sk) = &skb.sk else { return -1 };
        if sk.tx_queue == NO_QUEUE_MAPPING {
            return -1;
        }
        if let Some(ms) = self.rules.txq_reselection_ms
            && sk.full
            && ctx.now_ns.saturating_sub(sk.tx_queue_set_ns) > ms as u64 * 1_000_000
        {
            return -1;
        }
        sk.tx_queue as i32
    }

    /// `netdev_pick_tx`.
    fn netdev_pick_tx(&self, skb: &mut Skb, ctx: XmitCtx) -> (u16, Branch) {
        let q = self.sk_tx_queue_get(skb, ctx);
        if q < 0 || skb.ooo_okay || q >= self.dev.real_num_tx_queues as i32 {
            let (new, branch) = match self.get_xps_queue(skb) {
                Some(x) => x,
                None => self.skb_tx_hash(skb),
            };
            if let Some(sk) = skb.sk.as_mut()
                && sk.full
                && sk.dst_cached
            {
                // `sk_tx_queue_set`. With the reselection timeout (4a7708443dec) it runs on every reselection:
                // a changed queue is stored with the time; an unchanged one only refreshes a stamp older than 1 s.
                if sk.tx_queue != new
                    || (self.rules.txq_reselection_ms.is_some()
                        && ctx.now_ns.saturating_sub(sk.tx_queue_set_ns) > TXQ_STAMP_REFRESH_NS)
                {
                    sk.tx_queue = new;
                    sk.tx_queue_set_ns = ctx.now_ns;
                }
            }
            (new, branch)
        } else {
            (q as u16, Branch::SocketCache)
        }
    }

    /// `get_xps_queue`: the rxqs map keyed by the socket's rx queue first, then the cpus map keyed by the sender.
    fn get_xps_queue(&self, skb: &mut Skb) -> Option<(u16, Branch)> {
        if let Some(maps) = &self.dev.xps_rxqs
            && let Some(sk) = &skb.sk
            && sk.rx_queue != NO_QUEUE_MAPPING
            && let Some(q) = self.xps_queue_idx(skb, maps, sk.rx_queue as u32)
        {
            return Some((q, Branch::XpsRxqs));
        }
        if let Some(maps) = &self.dev.xps_cpus {
            let tci = (skb.sender_cpu as u32).wrapping_sub(1);
            if let Some(q) = self.xps_queue_idx(skb, maps, tci) {
                return Some((q, Branch::XpsCpus));
            }
        }
        None
    }

    /// `__get_xps_queue_idx`.
    fn xps_queue_idx(&self, skb: &mut Skb, maps: &crate::netdev::XpsMaps, tci: u32) -> Option<u16> {
        let tc = self.dev.prio_tc(skb.priority) as u32;
        if tc >= maps.num_tc as u32 || tci >= maps.nr_ids as u32 {
            return None;
        }
        let map = maps.map(tci, tc)?;
        let q = if map.len() == 1 {
            map[0]
        } else {
            map[reciprocal_scale(skb_get_hash(skb, self.hash_seed), map.len() as u32) as usize]
        };
        (q < self.dev.real_num_tx_queues).then_some(q)
    }

    /// `skb_tx_hash`.
    fn skb_tx_hash(&self, skb: &mut Skb) -> (u16, Branch) {
        let dev = &self.dev;
        let mut qoffset = 0u16;
        let mut qcount = dev.real_num_tx_queues;
        if dev.num_tc != 0 {
            let tc = dev.prio_tc(skb.priority) as usize;
            let t = dev.tc_to_txq[tc];
            qoffset = t.offset;
            qcount = t.count;
            if qcount == 0 {
                if self.rules.tc_empty_class_spins && skb.rx_queue_recorded() {
                    // `while (unlikely(hash >= qcount)) hash -= qcount;` with qcount 0 never ends.
                    return (0, Branch::SoftLockup);
                }
                // "invalid qcount, qoffset %u for tc %u": fall back to the whole device.
                qoffset = 0;
                qcount = dev.real_num_tx_queues;
            }
        }
        if skb.rx_queue_recorded() {
            let mut hash = skb.rx_queue();
            if hash >= qoffset {
                hash -= qoffset;
            }
            while hash >= qcount {
                hash -= qcount;
            }
            return (hash + qoffset, Branch::RxRecorded);
        }
        let h = skb_get_hash(skb, self.hash_seed);
        (
            reciprocal_scale(h, qcount as u32) as u16 + qoffset,
            Branch::Hash,
        )
    }
}
