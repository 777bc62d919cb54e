//! Google gVNIC (`drivers/net/ethernet/google/gve/`): no `ndo_select_queue`; `gve_tx_add_to_block`
//! (`gve_utils.c`) gives TX queue `q` the CPU `q % active_cpus`, with `active_cpus = min(notify blocks / 2,
//! online CPUs)`, taken here as `min(queues, cpus)`.

use super::{Hook, HookReason, check_queues, xps_from};
use crate::Result;
use crate::netdev::{DriverHook, XpsMaps};
use crate::profile::Confidence;

pub(super) fn hook() -> Hook {
    Hook {
        hook: DriverHook::None,
        confidence: Confidence::Certain,
        reason: HookReason::Source("gve has no ndo_select_queue"),
    }
}

pub(super) fn default_xps(queues: u16, cpus: u16) -> Result<XpsMaps> {
    check_queues(queues)?;
    let active = queues.min(cpus);
    xps_from(cpus, |c| {
        let mut owned = heapless::Vec::new();
        if c < active {
            for q in (c..queues).step_by(active as usize) {
                let _ = owned.push(q);
            }
        }
        owned
    })
}
