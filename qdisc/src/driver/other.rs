//! A driver txqlab has no file for: assumed to have no `ndo_select_queue` and no default XPS map. The assumption is
//! stated in every answer built on it, never presented as checked.

use super::{Hook, HookReason};
use crate::netdev::DriverHook;
use crate::profile::Confidence;

pub(super) fn hook() -> Hook {
    Hook {
        hook: DriverHook::None,
        confidence: Confidence::Ambiguous,
        reason: HookReason::Source(
            "driver unknown to txqlab: assumed to have no ndo_select_queue and no default XPS (not checked)",
        ),
    }
}
