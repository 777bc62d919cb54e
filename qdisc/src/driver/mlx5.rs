//! NVIDIA/Mellanox ConnectX (`drivers/net/ethernet/mellanox/mlx5/core/`).
//!
//! - `mlx5e_select_queue` (`en/selq.c`) calls `netdev_pick_tx(dev, skb, NULL)` and, with one traffic class and no
//!   PTP or HTB queues (the default), returns its answer unchanged: selection is the core's.
//! - `mlx5e_set_netdev_mtu_xps`/`mlx5e_build_txq_maps` path (`en_main.c`, the loop over completion vectors):
//!   channel `ix` gets the CPUs of completion IRQs `ix, ix + channels, ...`; with IRQ `i` on CPU `i`, CPU `c` owns
//!   queue `c % queues`.

use super::{Hook, HookReason, check_queues, xps_from};
use crate::Result;
use crate::netdev::{DriverHook, XpsMaps};
use crate::profile::Confidence;

pub(super) fn hook() -> Hook {
    Hook {
        hook: DriverHook::None,
        confidence: Confidence::Likely,
        reason: HookReason::Source(
            "mlx5e_select_queue defers to netdev_pick_tx with one traffic class and no PTP/HTB queues (en/selq.c)",
        ),
    }
}

pub(super) fn default_xps(queues: u16, cpus: u16) -> Result<XpsMaps> {
    check_queues(queues)?;
    xps_from(cpus, |c| {
        let mut owned = heapless::Vec::new();
        let _ = owned.push(c % queues);
        owned
    })
}
