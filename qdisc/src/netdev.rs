//! The egress device's configuration as selection sees it: queues, traffic classes, XPS maps, driver hook.

use heapless::Vec;

use crate::{Error, Result};

/// Most TX queues the model handles.
pub const MAX_TX_QUEUES: u16 = 256;
/// Most traffic classes (`TC_MAX_QUEUE`).
pub const TC_MAX: usize = 16;
/// Most XPS maps in one table (ids x traffic classes).
pub const MAX_XPS_MAPS: usize = 64;
/// Most queues in one XPS map.
pub const MAX_XPS_QUEUES: usize = 16;

/// `tc_to_txq[tc]`: the queue range of one traffic class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TcTxq {
    /// First queue.
    pub offset: u16,
    /// Number of queues.
    pub count: u16,
}

/// One XPS table (`struct xps_dev_maps`): for each id (CPU or rx queue) and traffic class, a list of TX queues.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XpsMaps {
    /// Ids the table covers (`nr_ids`: CPUs for the cpus map, rx queues for the rxqs map).
    pub nr_ids: u16,
    /// Traffic classes per id (`num_tc`, at least 1).
    pub num_tc: u8,
    /// `attr_map[id * num_tc + tc]`; an empty list means no map for that slot.
    pub maps: Vec<Vec<u16, MAX_XPS_QUEUES>, MAX_XPS_MAPS>,
}

impl XpsMaps {
    /// A table of `nr_ids` ids, one traffic class, `queues_of(id)` each.
    pub fn per_id(
        nr_ids: u16,
        mut queues_of: impl FnMut(u16) -> Vec<u16, MAX_XPS_QUEUES>,
    ) -> Result<Self> {
        let mut maps = Vec::new();
        for id in 0..nr_ids {
            maps.push(queues_of(id)).map_err(|_| Error::InvalidConfig {
                field: "xps.nr_ids",
                reason: "more maps than the model holds",
            })?;
        }
        Ok(Self {
            nr_ids,
            num_tc: 1,
            maps,
        })
    }

    /// The map of `(id, tc)`, if any.
    #[inline(always)]
    pub fn map(&self, id: u32, tc: u32) -> Option<&[u16]> {
        let idx = (id * self.num_tc as u32 + tc) as usize;
        self.maps
            .get(idx)
            .map(|m| m.as_slice())
            .filter(|m| !m.is_empty())
    }
}

/// The driver's own `ndo_select_queue`, when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum DriverHook {
    /// No hook: the core's `netdev_pick_tx` decides (virtio_net, dummy, ENA since v6.9).
    #[default]
    None,
    /// ENA's `ena_select_queue` (in-tree until 78e886ba2b54, see `facts::ENA_HOOK_REMOVAL`; amzn-drivers before 2.9.0):
    /// a recorded rx queue is returned as is, otherwise `netdev_pick_tx(dev, skb, NULL)`.
    EnaLegacy,
    /// amzn-drivers' ENA from 2.9.0 to 2.11.x: a recorded rx queue modulo the real TX queue count, otherwise
    /// `netdev_pick_tx(dev, skb, NULL)`.
    EnaModulo,
    /// bonding's `bond_select_queue`: a recorded rx queue reduced into range by subtraction, otherwise queue 0.
    Bonding,
}

impl DriverHook {
    /// The kernel function (and behaviour) the hook stands for.
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none (netdev_pick_tx decides)",
            Self::EnaLegacy => "ena_select_queue (a recorded rx queue as it is)",
            Self::EnaModulo => "ena_select_queue (a recorded rx queue modulo the queue count)",
            Self::Bonding => "bond_select_queue",
        }
    }
}

/// The egress device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDev {
    /// `real_num_tx_queues`.
    pub real_num_tx_queues: u16,
    /// `num_tc`, 0 when no traffic classes are configured.
    pub num_tc: u8,
    /// `tc_to_txq`.
    pub tc_to_txq: [TcTxq; TC_MAX],
    /// `prio_tc_map`.
    pub prio_tc_map: [u8; TC_MAX],
    /// XPS by CPU (`xps_cpus`), if set.
    pub xps_cpus: Option<XpsMaps>,
    /// XPS by rx queue (`xps_rxqs`), if set.
    pub xps_rxqs: Option<XpsMaps>,
    /// The driver's hook.
    pub driver: DriverHook,
    /// `NR_CPUS` of the kernel (a `sender_cpu` beyond it is reset to the current CPU).
    pub nr_cpus: u16,
}

impl NetDev {
    /// A device with `queues` TX queues and nothing else configured (XPS cleared).
    pub fn new(queues: u16) -> Result<Self> {
        let d = Self {
            real_num_tx_queues: queues,
            num_tc: 0,
            tc_to_txq: [TcTxq::default(); TC_MAX],
            prio_tc_map: [0; TC_MAX],
            xps_cpus: None,
            xps_rxqs: None,
            driver: DriverHook::None,
            nr_cpus: 8192,
        };
        d.validate()?;
        Ok(d)
    }

    /// virtio_net's XPS default (see [`crate::driver`]).
    pub fn with_virtio_default_xps(mut self, cpus: u16) -> Result<Self> {
        self.xps_cpus = crate::Driver::VirtioNet.default_xps(self.real_num_tx_queues, cpus)?;
        Ok(self)
    }

    /// Checks the configuration the way the kernel's setters would refuse it.
    pub fn validate(&self) -> Result<()> {
        if self.real_num_tx_queues == 0 || self.real_num_tx_queues > MAX_TX_QUEUES {
            return Err(Error::InvalidConfig {
                field: "real_num_tx_queues",
                reason: "must be between 1 and 256",
            });
        }
        if self.num_tc as usize > TC_MAX {
            return Err(Error::InvalidConfig {
                field: "num_tc",
                reason: "at most 16 traffic classes",
            });
        }
        for t in &self.tc_to_txq[..self.num_tc as usize] {
            if t.offset as u32 + t.count as u32 > self.real_num_tx_queues as u32 {
                return Err(Error::InvalidConfig {
                    field: "tc_to_txq",
                    reason: "range beyond the real TX queues",
                });
            }
        }
        let tcs = self.num_tc.max(1);
        if self.prio_tc_map.iter().any(|tc| *tc >= tcs) {
            return Err(Error::InvalidConfig {
                field: "prio_tc_map",
                reason: "names a traffic class beyond num_tc",
            });
        }
        for maps in [&self.xps_cpus, &self.xps_rxqs].into_iter().flatten() {
            if maps.num_tc == 0 {
                return Err(Error::InvalidConfig {
                    field: "xps.num_tc",
                    reason: "must be at least 1",
                });
            }
        }
        Ok(())
    }

    /// `netdev_get_prio_tc_map`.
    #[inline(always)]
    pub fn prio_tc(&self, priority: u32) -> u8 {
        self.prio_tc_map[(priority & 15) as usize]
    }
}
