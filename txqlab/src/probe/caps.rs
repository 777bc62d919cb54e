//! The capabilities the probe needs, read from the effective set in `/proc/self/status` (`CapEff`, the mask
//! `capget(2)` returns; bit numbers from `include/uapi/linux/capability.h`).

use super::error::ProbeError;

/// `CAP_NET_ADMIN`: create veth devices, set addresses, routes and qdiscs.
pub const CAP_NET_ADMIN: u32 = 12;
/// `CAP_SYS_ADMIN`: `unshare(CLONE_NEWNET)`, `setns`, mount sysfs in the probe's mount namespace.
pub const CAP_SYS_ADMIN: u32 = 21;

/// The effective capability mask from the text of `/proc/self/status`.
pub fn effective(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// The capabilities missing from `cap_eff`, by name.
pub fn missing(cap_eff: u64) -> Vec<&'static str> {
    [
        (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
    ]
    .into_iter()
    .filter(|(bit, _)| cap_eff & (1u64 << bit) == 0)
    .map(|(_, name)| name)
    .collect()
}

/// Checks this process's effective capabilities.
pub fn check() -> Result<(), ProbeError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| ProbeError::os("reading /proc/self/status", e))?;
    let eff = effective(&status).ok_or_else(|| ProbeError::Os {
        what: "reading /proc/self/status".into(),
        detail: "no CapEff line".into(),
    })?;
    let missing = missing(eff);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ProbeError::MissingCapability { missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_both_and_nobody_has_none() {
        let root = effective("Name:\tx\nCapEff:\t000001ffffffffff\n");
        assert_eq!(root.map(missing), Some(vec![]));
        assert_eq!(
            missing(0),
            vec!["CAP_NET_ADMIN", "CAP_SYS_ADMIN"],
            "an unprivileged user lacks both"
        );
        assert_eq!(missing(1 << CAP_SYS_ADMIN), vec!["CAP_NET_ADMIN"]);
        assert_eq!(effective("CapPrm:\t0\n"), None);
    }
}
