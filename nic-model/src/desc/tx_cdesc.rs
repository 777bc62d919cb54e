use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::defs::{TX_CDESC_FLAGS_MBZ, TX_CDESC_PHASE_MASK};

/// TX completion descriptor, 8 bytes (`struct ena_eth_io_tx_cdesc`): a view with private words, read through
/// accessors; [`TxCdescRepr`] is its value.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Default, PartialEq, Eq, Debug,
)]
#[repr(C)]
pub struct TxCdesc {
    /// req_id of the completed packet.
    req_id: U16,
    /// Completion status (0 = success).
    status: u8,
    /// Bit 0: phase; the other bits must be zero.
    flags: u8,
    /// Sub-queue id.
    sub_qid: U16,
    /// The device's SQ head after this completion.
    sq_head_idx: U16,
}

/// The meaning of a TX completion: [`emit`](Self::emit) writes it, [`parse`](Self::parse) reads it back. Any value
/// can be emitted (a hostile device's completion too); the driver reads only `req_id` and the phase bit
/// (`ena_com_tx_comp_req_id_get`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxCdescRepr {
    /// req_id of the completed packet.
    pub req_id: u16,
    /// Completion status (0 = success).
    pub status: u8,
    /// Bit 0: phase; the other bits must be zero.
    pub flags: u8,
    /// Sub-queue id.
    pub sub_qid: u16,
    /// The device's SQ head after this completion.
    pub sq_head_idx: u16,
}

impl TxCdescRepr {
    /// The completion's words.
    #[inline(always)]
    pub fn emit(&self) -> TxCdesc {
        TxCdesc {
            req_id: U16::new(self.req_id),
            status: self.status,
            flags: self.flags,
            sub_qid: U16::new(self.sub_qid),
            sq_head_idx: U16::new(self.sq_head_idx),
        }
    }

    /// Every field of a completion.
    pub fn parse(c: &TxCdesc) -> Self {
        Self {
            req_id: c.req_id.get(),
            status: c.status,
            flags: c.flags,
            sub_qid: c.sub_qid.get(),
            sq_head_idx: c.sq_head_idx.get(),
        }
    }
}

impl TxCdesc {
    /// A successful completion as the device writes it.
    #[inline(always)]
    pub fn new(req_id: u16, phase: u8, sq_head_idx: u16) -> Self {
        TxCdescRepr {
            req_id,
            flags: phase & TX_CDESC_PHASE_MASK as u8,
            sq_head_idx,
            ..TxCdescRepr::default()
        }
        .emit()
    }

    /// req_id of the completed packet.
    #[inline(always)]
    pub fn req_id(&self) -> u16 {
        self.req_id.get()
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
