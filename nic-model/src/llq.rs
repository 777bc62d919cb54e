//! LLQ (low-latency queue) placement: descriptors and the packet header written straight into device memory.
//!
//! With LLQ the submission ring lives in device memory and is made of entries ("lines") of 128, 192 or 256
//! bytes. The driver fills one entry at a time in a bounce buffer and copies it whole
//! (`ena_com_write_bounce_buffer_to_dev`). A packet's first entry holds `descs_before_header` descriptors and
//! then the pushed header; later entries hold `entry_size / 16` descriptors each (`ena_com_sq_update_llq_tail`).
//! The 6.1 driver asks for 128-byte entries (`set_default_llq_configurations`) and keeps the default TX ring at
//! 1024 entries whatever the entry size; halving the ring for "large LLQ" (256-byte entries) came after 6.1.

use crate::defs::{DESC_SIZE, ENA_DEFAULT_RING_SIZE};
use crate::{Error, Result};

/// LLQ entry size (`ENA_ADMIN_LIST_ENTRY_SIZE_*B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum LlqEntrySize {
    /// 128 bytes, the default.
    B128,
    /// 192 bytes.
    B192,
    /// 256 bytes ("large LLQ").
    B256,
}

impl LlqEntrySize {
    /// The entry size in bytes.
    pub const fn bytes(self) -> u16 {
        match self {
            Self::B128 => 128,
            Self::B192 => 192,
            Self::B256 => 256,
        }
    }
}

/// LLQ layout of one submission queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct LlqConfig {
    /// Bytes per entry.
    pub entry_size: LlqEntrySize,
    /// Descriptors in a packet's first entry before the header (`ENA_ADMIN_LLQ_NUM_DESCS_BEFORE_HEADER_*`:
    /// 1, 2, 4 or 8; 2 is the driver's default).
    pub descs_before_header: u8,
    /// The device asked for a meta descriptor with every packet (`ENA_ADMIN_DISABLE_META_CACHING` in the LLQ
    /// accelerated mode, `llq_info.disable_meta_caching`): `ena_tx_csum` then marks every packet meta-valid and
    /// `ena_com_create_and_store_tx_meta_desc` writes a meta descriptor without consulting the cache.
    pub disable_meta_caching: bool,
}

impl Default for LlqConfig {
    fn default() -> Self {
        Self {
            entry_size: LlqEntrySize::B128,
            descs_before_header: 2,
            disable_meta_caching: false,
        }
    }
}

impl LlqConfig {
    /// Checks the combination the device would accept.
    pub fn validate(&self) -> Result<()> {
        if !matches!(self.descs_before_header, 1 | 2 | 4 | 8) {
            return Err(Error::InvalidConfig {
                field: "llq.descs_before_header",
                reason: "must be 1, 2, 4 or 8",
            });
        }
        if self.header_room() == 0 {
            return Err(Error::InvalidConfig {
                field: "llq.descs_before_header",
                reason: "leaves no room for the header in the entry",
            });
        }
        Ok(())
    }

    /// Descriptor slots in one entry (`desc_list_entry_size / desc_entry_size`).
    pub const fn descs_per_entry(&self) -> u16 {
        self.entry_size.bytes() / DESC_SIZE as u16
    }

    /// Header bytes that fit after the leading descriptors of a packet's first entry
    /// (96 for the default 128-byte entry with 2 descriptors).
    pub const fn header_room(&self) -> u16 {
        self.entry_size
            .bytes()
            .saturating_sub(self.descs_before_header as u16 * DESC_SIZE as u16)
    }

    /// `descs / descs_per_entry`, rounded down, with the divisor a constant of each entry size (no divide
    /// instruction on the transmit path).
    #[inline(always)]
    pub const fn whole_entries(&self, descs: u16) -> u16 {
        match self.entry_size {
            LlqEntrySize::B128 => descs / 8,
            LlqEntrySize::B192 => descs / 12,
            LlqEntrySize::B256 => descs / 16,
        }
    }

    /// Entries a packet of `descs` descriptors occupies.
    #[inline(always)]
    pub const fn entries_for(&self, descs: u16) -> u16 {
        let first = self.descs_before_header as u16;
        if descs <= first {
            1
        } else {
            1 + (descs - first).div_ceil(self.descs_per_entry())
        }
    }

    /// The 6.1 driver's default TX ring depth in entries for this layout: `ENA_DEFAULT_RING_SIZE` whatever the
    /// entry size (`ena_probe`; the halving for 256-byte entries came after 6.1).
    pub const fn default_tx_ring_size(&self) -> u16 {
        ENA_DEFAULT_RING_SIZE
    }
}

/// Where the submission ring lives (`enum ena_admin_placement_policy_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Placement {
    /// Host memory: one 16-byte descriptor per ring entry, no inline header (`ENA_ADMIN_PLACEMENT_POLICY_HOST`).
    #[default]
    Host,
    /// Device memory (`ENA_ADMIN_PLACEMENT_POLICY_DEV`).
    Llq(LlqConfig),
}

impl Placement {
    /// Descriptor slots per ring entry.
    #[inline(always)]
    pub const fn slots_per_entry(&self) -> u16 {
        match self {
            Self::Host => 1,
            Self::Llq(l) => l.descs_per_entry(),
        }
    }

    /// Descriptor slots usable in a packet's first entry.
    #[inline(always)]
    pub const fn first_entry_slots(&self) -> u16 {
        match self {
            Self::Host => 1,
            Self::Llq(l) => l.descs_before_header as u16,
        }
    }

    /// Ring entries a packet of `descs` descriptors occupies.
    #[inline(always)]
    pub const fn entries_for(&self, descs: u16) -> u16 {
        match self {
            Self::Host => descs,
            Self::Llq(l) => l.entries_for(descs),
        }
    }

    /// Header bytes the driver may push inline under LLQ (`tx_max_header_size` = entry size minus the leading
    /// descriptors, `ena_com_config_dev_mode`); 0 in host placement, where nothing is pushed.
    pub const fn max_header(&self) -> u16 {
        match self {
            Self::Host => 0,
            Self::Llq(l) => l.header_room(),
        }
    }

    /// `io_sq->disable_meta_caching`: only an LLQ queue takes it from the device (`ena_com_init_io_sq`).
    #[inline(always)]
    pub const fn disable_meta_caching(&self) -> bool {
        match self {
            Self::Host => false,
            Self::Llq(l) => l.disable_meta_caching,
        }
    }

    /// `ena_com_sq_have_enough_space`: host placement compares free entries with the descriptors needed;
    /// LLQ converts descriptors to entries and keeps two entries in reserve (one for the header line, one for
    /// rounding).
    #[inline(always)]
    pub const fn have_enough_space(&self, free: u16, required_descs: u16) -> bool {
        match self {
            Self::Host => free >= required_descs,
            Self::Llq(l) => free > l.whole_entries(required_descs) + 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_entry_has_two_descriptors_and_96_header_bytes() {
        let l = LlqConfig::default();
        assert_eq!((l.descs_per_entry(), l.header_room()), (8, 96));
        assert_eq!(l.default_tx_ring_size(), 1024);
        assert!(l.validate().is_ok());
    }

    #[test]
    fn large_llq_keeps_the_6_1_ring_size() {
        let l = LlqConfig {
            entry_size: LlqEntrySize::B256,
            descs_before_header: 2,
            ..LlqConfig::default()
        };
        assert_eq!(
            (
                l.descs_per_entry(),
                l.header_room(),
                l.default_tx_ring_size()
            ),
            (16, 224, 1024)
        );
    }

    #[test]
    fn entries_per_packet() {
        let l = LlqConfig::default();
        assert_eq!(l.entries_for(1), 1);
        assert_eq!(l.entries_for(2), 1);
        assert_eq!(l.entries_for(3), 2);
        assert_eq!(l.entries_for(10), 2);
        assert_eq!(l.entries_for(11), 3);
        let l = LlqConfig {
            entry_size: LlqEntrySize::B192,
            descs_before_header: 1,
            ..LlqConfig::default()
        };
        assert_eq!(
            (l.descs_per_entry(), l.header_room(), l.entries_for(13)),
            (12, 176, 2)
        );
    }

    #[test]
    fn eight_descriptors_in_a_128_byte_entry_leave_no_header_room() {
        let l = LlqConfig {
            entry_size: LlqEntrySize::B128,
            descs_before_header: 8,
            ..LlqConfig::default()
        };
        assert!(l.validate().is_err());
        assert!(
            LlqConfig {
                descs_before_header: 3,
                ..LlqConfig::default()
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn space_rule_keeps_two_lines_in_reserve_under_llq() {
        let p = Placement::Llq(LlqConfig::default());
        // 19 descriptors -> 19/8 + 2 = 4 lines must be strictly exceeded.
        assert!(!p.have_enough_space(4, 19));
        assert!(p.have_enough_space(5, 19));
        assert!(Placement::Host.have_enough_space(19, 19));
        assert!(!Placement::Host.have_enough_space(18, 19));
    }
}
