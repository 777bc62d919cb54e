//! What each egress driver does to TX-queue selection: its `ndo_select_queue` hook (by kernel version and, for
//! the out-of-tree ENA driver, by driver version) and the XPS map it installs at probe time. `txqlab predict`, the
//! simulator, `txqlab diagnose`, `txqlab probe` and the vm-tests verdicts all build their device here, with one
//! flow-hash seed ([`PREDICTION_SEED`]).
//!
//! Adding a driver is one file with its `hook` and `default_xps`, and one [`Driver`] variant.

mod bonding;
mod ena;
mod gve;
mod mlx5;
mod other;
mod software;
mod virtio_net;

use core::fmt;

use crate::netdev::{DriverHook, MAX_TX_QUEUES, NetDev, XpsMaps};
use crate::profile::{Confidence, KernelProfile};
use crate::{Error, RefSelector, Result};

pub use ena::{EnaBuild, EnaVersion};

/// The seed that stands for the per-boot flow-dissector key in predictions. Any value gives the same expected
/// shares (the prediction probes the whole hash space); one value everywhere keeps every command's answer for the
/// same question identical.
pub const PREDICTION_SEED: u64 = 0x7c;

/// An egress driver, as `ethtool -i` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// AWS ENA (`ena`): in-tree, or Amazon's out-of-tree amzn-drivers build.
    Ena(EnaBuild),
    /// `virtio_net`.
    VirtioNet,
    /// NVIDIA/Mellanox ConnectX (`mlx5_core`).
    Mlx5,
    /// Google gVNIC (`gve`).
    Gve,
    /// The bonding master (`bonding`).
    Bonding,
    /// `dummy` (a test stand-in for a NIC).
    Dummy,
    /// `veth` as the egress device (a multi-queue veth standing in for a NIC, as `txqlab probe` uses it).
    Veth,
    /// A driver txqlab has no file for: no hook and no default XPS are assumed, and said to be assumed.
    Other,
}

/// The hook a driver puts in front of `netdev_pick_tx` on a given kernel, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hook {
    /// The hook.
    pub hook: DriverHook,
    /// How sure.
    pub confidence: Confidence,
    /// Why, citing the driver source or the facts table.
    pub reason: HookReason,
}

/// Why a driver has the hook it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookReason {
    /// From the kernel profile (in-tree ENA).
    Kernel(crate::profile::Reason),
    /// A fixed property of the driver, with the source that shows it.
    Source(&'static str),
}

impl fmt::Display for HookReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kernel(r) => r.fmt(f),
            Self::Source(s) => f.write_str(s),
        }
    }
}

impl Driver {
    /// Reads `ethtool -i`'s `driver:` and `version:` values. An `ena` whose version is a driver version (`2.8.3g`)
    /// rather than the kernel's release is the out-of-tree build.
    pub fn from_ethtool_i(driver: &str, version: Option<&str>) -> Self {
        match driver.trim() {
            "ena" => Self::Ena(ena::build_of(version)),
            "virtio_net" => Self::VirtioNet,
            "mlx5_core" | "mlx5e" | "mlx5" => Self::Mlx5,
            "gve" => Self::Gve,
            "bonding" => Self::Bonding,
            "dummy" => Self::Dummy,
            "veth" => Self::Veth,
            _ => Self::Other,
        }
    }

    /// The name `ethtool -i` prints.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Ena(_) => "ena",
            Self::VirtioNet => "virtio_net",
            Self::Mlx5 => "mlx5_core",
            Self::Gve => "gve",
            Self::Bonding => "bonding",
            Self::Dummy => "dummy",
            Self::Veth => "veth",
            Self::Other => "other",
        }
    }

    /// The hook on a kernel of `profile`.
    pub fn hook(&self, profile: &KernelProfile) -> Hook {
        self.hook_of_driver()
            .unwrap_or_else(|| ena::in_tree_hook(profile))
    }

    /// The hook when it follows from the driver alone (every driver but the in-tree ENA, whose hook depends on the
    /// kernel: `None`).
    pub fn hook_of_driver(&self) -> Option<Hook> {
        Some(match self {
            Self::Ena(EnaBuild::InTree) => return None,
            Self::Ena(EnaBuild::Amzn(v)) => ena::amzn_hook(*v),
            Self::VirtioNet => virtio_net::hook(),
            Self::Mlx5 => mlx5::hook(),
            Self::Gve => gve::hook(),
            Self::Bonding => bonding::hook(),
            Self::Dummy => software::hook("dummy.c has no ndo_select_queue"),
            Self::Veth => software::hook("veth.c has no ndo_select_queue"),
            Self::Other => other::hook(),
        })
    }

    /// The XPS cpus map the driver installs when it brings `queues` TX queues up on `cpus` online CPUs
    /// (`None`: it installs none).
    pub fn default_xps(&self, queues: u16, cpus: u16) -> Result<Option<XpsMaps>> {
        if cpus == 0 {
            return Err(Error::InvalidConfig {
                field: "cpus",
                reason: "must be at least 1",
            });
        }
        match self {
            Self::VirtioNet => virtio_net::default_xps(queues, cpus).map(Some),
            Self::Mlx5 => mlx5::default_xps(queues, cpus).map(Some),
            Self::Gve => gve::default_xps(queues, cpus).map(Some),
            Self::Ena(_) | Self::Bonding | Self::Dummy | Self::Veth | Self::Other => Ok(None),
        }
    }

    /// The device as selection sees it: `queues` TX queues, the driver's hook on this kernel, and its default XPS
    /// map unless `xps` says otherwise (`Some(false)`: cleared, as `echo 0 > xps_cpus` does; `Some(true)`: the
    /// driver's default, or virtio_net's spread for a driver without one).
    pub fn netdev(
        &self,
        profile: &KernelProfile,
        queues: u16,
        cpus: u16,
        xps: Option<bool>,
    ) -> Result<NetDev> {
        let mut dev = NetDev::new(queues)?;
        dev.driver = self.hook(profile).hook;
        dev.xps_cpus = match xps {
            Some(false) => None,
            None => self.default_xps(queues, cpus)?,
            Some(true) => match self.default_xps(queues, cpus)? {
                Some(m) => Some(m),
                None => Some(virtio_net::default_xps(queues, cpus)?),
            },
        };
        Ok(dev)
    }

    /// A reference selector over [`Driver::netdev`] with the kernel's rules and [`PREDICTION_SEED`].
    pub fn selector(
        &self,
        profile: &KernelProfile,
        queues: u16,
        cpus: u16,
        xps: Option<bool>,
    ) -> Result<RefSelector> {
        RefSelector::new(
            self.netdev(profile, queues, cpus, xps)?,
            profile.rules,
            PREDICTION_SEED,
        )
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ena(EnaBuild::InTree) => f.write_str("ena (in-tree)"),
            Self::Ena(EnaBuild::Amzn(v)) => write!(f, "ena (amzn-drivers {v})"),
            d => f.write_str(d.name()),
        }
    }
}

/// An XPS cpus table from "which queues does CPU `c` own".
fn xps_from(
    cpus: u16,
    mut owns: impl FnMut(u16) -> heapless::Vec<u16, { crate::netdev::MAX_XPS_QUEUES }>,
) -> Result<XpsMaps> {
    let ids = cpus.min(crate::netdev::MAX_XPS_MAPS as u16);
    XpsMaps::per_id(ids, &mut owns)
}

/// Queue counts past what the model holds are refused here, once, for every driver.
fn check_queues(queues: u16) -> Result<()> {
    if queues == 0 || queues > MAX_TX_QUEUES {
        return Err(Error::InvalidConfig {
            field: "queues",
            reason: "must be between 1 and 256",
        });
    }
    Ok(())
}
