//! Software devices used as NIC stand-ins in tests: `dummy` (`drivers/net/dummy.c`) and a multi-queue `veth`
//! (`drivers/net/veth.c`). Neither has an `ndo_select_queue` nor installs an XPS map.

use super::{Hook, HookReason};
use crate::netdev::DriverHook;
use crate::profile::Confidence;

pub(super) fn hook(source: &'static str) -> Hook {
    Hook {
        hook: DriverHook::None,
        confidence: Confidence::Certain,
        reason: HookReason::Source(source),
    }
}
