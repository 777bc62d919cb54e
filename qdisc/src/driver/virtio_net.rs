//! `virtio_net` (`drivers/net/virtio_net.c`): no `ndo_select_queue`; `virtnet_set_affinity` installs an XPS cpus
//! map at probe time, which hides the rx-recorded path for traffic sent on a CPU that owns a queue.

use super::{Hook, HookReason, check_queues, xps_from};
use crate::netdev::{DriverHook, XpsMaps};
use crate::profile::Confidence;
use crate::{Error, Result};

pub(super) fn hook() -> Hook {
    Hook {
        hook: DriverHook::None,
        confidence: Confidence::Certain,
        reason: HookReason::Source("virtio_net.c has no ndo_select_queue"),
    }
}

/// `virtnet_set_affinity`: queue pair `i` gets a group of `stride` CPUs in turn (`stride = max(cpus / queues, 1)`,
/// the first `cpus % queues` groups one more when there are at least as many CPUs as queues), wrapping round the
/// online CPUs; so with more queues than CPUs, CPU `c` owns queues `c, c + cpus, c + 2 cpus, ...`.
pub(super) fn default_xps(queues: u16, cpus: u16) -> Result<XpsMaps> {
    check_queues(queues)?;
    let stride = (cpus / queues).max(1);
    let stragglers = if cpus >= queues { cpus % queues } else { 0 };
    let mut err = None;
    let maps = xps_from(cpus, |c| {
        let mut owned = heapless::Vec::new();
        let mut cpu = 0u16;
        for q in 0..queues {
            for _ in 0..stride + u16::from(q < stragglers) {
                if cpu == c && owned.push(q).is_err() {
                    err = Some(Error::InvalidConfig {
                        field: "xps",
                        reason: "a CPU would own more queues than the model holds",
                    });
                }
                cpu = (cpu + 1) % cpus;
            }
        }
        owned
    })?;
    err.map_or(Ok(maps), Err)
}
