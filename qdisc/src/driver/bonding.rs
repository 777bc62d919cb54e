//! The bonding master (`drivers/net/bonding/bond_main.c`): `bond_select_queue` returns a recorded rx queue
//! reduced into range by repeated subtraction, otherwise queue 0; no XPS map.

use super::{Hook, HookReason};
use crate::netdev::DriverHook;
use crate::profile::Confidence;

pub(super) fn hook() -> Hook {
    Hook {
        hook: DriverHook::Bonding,
        confidence: Confidence::Certain,
        reason: HookReason::Source("bond_select_queue (bond_main.c)"),
    }
}
