//! AWS ENA (`drivers/net/ethernet/amazon/ena/ena_netdev.c`; out of tree: amzn-drivers `kernel/linux/ena`).
//!
//! - In-tree: `ena_select_queue` returns a recorded rx queue as it is (then `netdev_cap_txqueue` turns one beyond
//!   the real count into 0) and otherwise calls `netdev_pick_tx(dev, skb, NULL)`; removed by 78e886ba2b54
//!   ([`crate::facts::ENA_HOOK_REMOVAL`]), so whether a kernel has it comes from the kernel profile.
//! - amzn-drivers: before 2.9.0 the same hook; from 2.9.0 to 2.11.x the recorded queue is reduced modulo the real
//!   TX queue count; 2.12.0 removed the hook.
//! - No XPS map: the driver never calls `netif_set_xps_queue`.

use core::fmt;

use super::{Hook, HookReason};
use crate::netdev::DriverHook;
use crate::profile::{Confidence, KernelProfile};

/// An amzn-drivers version (`ethtool -i` prints it with a trailing `g`, like `2.8.3g`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EnaVersion {
    /// Major.
    pub major: u16,
    /// Minor.
    pub minor: u16,
    /// Patch.
    pub patch: u16,
}

impl fmt::Display for EnaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Which ENA driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnaBuild {
    /// The kernel's own driver: its hook follows the kernel version.
    InTree,
    /// Amazon's out-of-tree driver: its hook follows its own version.
    Amzn(EnaVersion),
}

/// First amzn-drivers release that reduces a recorded queue modulo the queue count.
const MODULO_FROM: EnaVersion = EnaVersion {
    major: 2,
    minor: 9,
    patch: 0,
};
/// First amzn-drivers release without `ena_select_queue`.
const REMOVED_IN: EnaVersion = EnaVersion {
    major: 2,
    minor: 12,
    patch: 0,
};

/// In-tree drivers report the kernel release as their version (`6.1.0-18-amd64`); amzn-drivers report
/// `MAJOR.MINOR.PATCHg`. A major version of 3 or more is a kernel's.
pub(super) fn build_of(version: Option<&str>) -> EnaBuild {
    let Some(v) = version.map(str::trim) else {
        return EnaBuild::InTree;
    };
    let v = v.strip_suffix('g').unwrap_or(v);
    let mut parts = v.split('.').map(|p| p.parse::<u16>().ok());
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Some(major)), Some(Some(minor)), Some(Some(patch)), None) if major < 3 => {
            EnaBuild::Amzn(EnaVersion {
                major,
                minor,
                patch,
            })
        }
        _ => EnaBuild::InTree,
    }
}

/// The in-tree driver's hook: whether the kernel still has `ena_select_queue` (the kernel profile says, from the
/// facts table).
pub(super) fn in_tree_hook(profile: &KernelProfile) -> Hook {
    let ena = profile.ena_select_queue;
    Hook {
        hook: if ena.present {
            DriverHook::EnaLegacy
        } else {
            DriverHook::None
        },
        confidence: ena.confidence,
        reason: HookReason::Kernel(ena.reason),
    }
}

/// amzn-drivers' hook, which follows the driver's own version whatever the kernel.
pub(super) fn amzn_hook(v: EnaVersion) -> Hook {
    let (hook, reason) = if v >= REMOVED_IN {
        (
            DriverHook::None,
            "amzn-drivers 2.12.0 removed ena_select_queue (RELEASENOTES.md)",
        )
    } else if v >= MODULO_FROM {
        (
            DriverHook::EnaModulo,
            "amzn-drivers 2.9.0 to 2.11.x reduce a recorded rx queue modulo the TX queue count (RELEASENOTES.md)",
        )
    } else {
        (
            DriverHook::EnaLegacy,
            "amzn-drivers before 2.9.0 return a recorded rx queue as it is from ena_select_queue",
        )
    };
    Hook {
        hook,
        confidence: Confidence::Likely,
        reason: HookReason::Source(reason),
    }
}

/// Either driver's hook on a kernel of `profile`.
#[cfg(test)]
fn hook(build: EnaBuild, profile: &KernelProfile) -> Hook {
    match build {
        EnaBuild::InTree => in_tree_hook(profile),
        EnaBuild::Amzn(v) => amzn_hook(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_ethtool_i() {
        assert_eq!(build_of(None), EnaBuild::InTree);
        assert_eq!(build_of(Some("6.1.0-18-amd64")), EnaBuild::InTree);
        assert_eq!(build_of(Some("5.10.0")), EnaBuild::InTree);
        assert_eq!(
            build_of(Some("2.8.3g")),
            EnaBuild::Amzn(EnaVersion {
                major: 2,
                minor: 8,
                patch: 3
            })
        );
    }

    #[test]
    fn amzn_driver_hooks_by_version() {
        let p = KernelProfile::from_release("6.12.0").unwrap();
        let h = |s| hook(build_of(Some(s)), &p).hook;
        assert_eq!(h("2.8.9g"), DriverHook::EnaLegacy);
        assert_eq!(h("2.9.0g"), DriverHook::EnaModulo);
        assert_eq!(h("2.11.3g"), DriverHook::EnaModulo);
        assert_eq!(h("2.12.0g"), DriverHook::None);
        assert_eq!(h("2.11.1"), DriverHook::EnaModulo, "no g suffix");
        assert_eq!(h("1.5.0g"), DriverHook::EnaLegacy);
        // The in-tree driver marks its version with K (k in older kernels) or reports the kernel release.
        for in_tree in ["2.1.0K", "1.2.0k", "6.1.0-18-amd64"] {
            assert_eq!(build_of(Some(in_tree)), EnaBuild::InTree, "{in_tree}");
        }
        // In-tree follows the kernel.
        assert_eq!(hook(EnaBuild::InTree, &p).hook, DriverHook::None);
        let old = KernelProfile::from_release("6.1.50").unwrap();
        assert_eq!(hook(EnaBuild::InTree, &old).hook, DriverHook::EnaLegacy);
    }
}
