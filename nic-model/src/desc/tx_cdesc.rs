use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::defs::{TX_CDESC_FLAGS_MBZ, TX_CDESC_PHASE_MASK};

/// TX completion descriptor, 8 bytes (`struct ena_eth_io_tx_cdesc`).
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Default, PartialEq, Eq, Debug,
)]
#[repr(C)]
pub struct TxCdesc {
    /// req_id of the completed packet.
    pub req_id: U16,
    /// Completion status (0 = success).
    pub status: u8,
    /// Bit 0: phase; the other bits must be zero.
    pub flags: u8,
    /// Sub-queue id.
    pub sub_qid: U16,
    /// The device's SQ head after this completion.
    pub sq_head_idx: U16,
}

impl TxCdesc {
    /// Builds a successful completion as the device writes it.
    #[inline(always)]
    pub fn new(req_id: u16, phase: u8, sq_head_idx: u16) -> Self {
        Self {
            req_id: U16::new(req_id),
            status: 0,
            flags: phase & TX_CDESC_PHASE_MASK as u8,
            sub_qid: U16::new(0),
            sq_head_idx: U16::new(sq_head_idx),
        }
    }

    /// The phase bit.
    #[inline(always)]
    pub fn phase(&self) -> u8 {
        self.flags & TX_CDESC_PHASE_MASK as u8
    }

    /// Must-be-zero bits set in `flags`, if any.
    #[inline(always)]
    pub fn mbz_bits(&self) -> u8 {
        self.flags & TX_CDESC_FLAGS_MBZ
    }
}
