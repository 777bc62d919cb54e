//! Transmit Packet Steering on the egress device: `get_xps_queue` (`net/core/dev.c`) consults the CPU map
//! (`queues/tx-N/xps_cpus`) and the rx-queue map (`xps_rxqs`) before the flow hash. veth installs neither map
//! (no `netif_set_xps_queue` in `drivers/net/veth.c`), but the probe checks, and clears any it finds: the device is
//! the probe's own, and the prediction models a device without XPS.

use super::error::ProbeError;
use super::netns::Netns;

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XpsState {
    /// No map set on any queue.
    None,
    /// Maps were set and have been cleared: `(file, mask)` as found.
    Cleared(Vec<(String, String)>),
    /// The kernel has no XPS (`CONFIG_XPS` off): selection cannot consult a map.
    Unsupported,
    /// The maps could not be read (e.g. sysfs cannot be mounted in a restricted container): the node's own
    /// traffic, judged as the control, still shows whether a map decides.
    NotChecked(String),
}

impl XpsState {
    /// For the report.
    pub fn describe(&self) -> String {
        match self {
            Self::None => "none set".into(),
            Self::Cleared(v) => format!(
                "cleared ({})",
                v.iter()
                    .map(|(f, m)| format!("{f}={m}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Unsupported => "not built (no xps_cpus in sysfs)".into(),
            Self::NotChecked(why) => format!("not checked ({why})"),
        }
    }
}

/// A cpumask as sysfs prints it (`bitmap_print_to_pagebuf`: hex words separated by commas) is empty.
pub fn mask_is_empty(s: &str) -> bool {
    s.trim().chars().all(|c| c == '0' || c == ',')
}

/// Checks and clears XPS on `dev` (with `queues` TX queues) in `ns`.
pub fn check_and_clear(ns: &Netns, dev: &str, queues: u16) -> Result<XpsState, ProbeError> {
    ns.run_with_sysfs(|| {
        let base = format!("/sys/class/net/{dev}/queues");
        if !std::path::Path::new(&format!("{base}/tx-0/xps_cpus")).exists() {
            if !std::path::Path::new(&format!("{base}/tx-0")).exists() {
                return Err(ProbeError::Os {
                    what: format!("checking XPS on {dev}"),
                    detail: format!("{base}/tx-0 does not exist in the probe's sysfs"),
                });
            }
            return Ok(XpsState::Unsupported);
        }
        let mut found = Vec::new();
        for q in 0..queues {
            for map in ["xps_cpus", "xps_rxqs"] {
                let f = format!("{base}/tx-{q}/{map}");
                // xps_rxqs exists from v4.18; xps_cpus reads fail with ENOENT-like errors on 1-CPU systems.
                let Ok(mask) = std::fs::read_to_string(&f) else {
                    continue;
                };
                if !mask_is_empty(&mask) {
                    std::fs::write(&f, "0")
                        .map_err(|e| ProbeError::os(format!("clearing {f}"), e))?;
                    found.push((format!("tx-{q}/{map}"), mask.trim().to_string()));
                }
            }
        }
        Ok(if found.is_empty() {
            XpsState::None
        } else {
            XpsState::Cleared(found)
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks() {
        assert!(super::mask_is_empty("0\n"));
        assert!(super::mask_is_empty("00000000,00000000\n"));
        assert!(!super::mask_is_empty("00000001\n"));
    }
}
