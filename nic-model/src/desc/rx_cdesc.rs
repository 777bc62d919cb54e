use bitflags::bitflags;
use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::defs::*;

bitflags! {
    /// Flag bits of an RX completion's `status` word.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
    pub struct RxStatus: u32 {
        /// L3 checksum error.
        const L3_CSUM_ERR = RX_CDESC_BASE_L3_CSUM_ERR_MASK;
        /// L4 checksum error.
        const L4_CSUM_ERR = RX_CDESC_BASE_L4_CSUM_ERR_MASK;
        /// IPv4 fragment.
        const IPV4_FRAG = RX_CDESC_BASE_IPV4_FRAG_MASK;
        /// The device checked the L4 checksum.
        const L4_CSUM_CHECKED = RX_CDESC_BASE_L4_CSUM_CHECKED_MASK;
        /// Phase.
        const PHASE = RX_CDESC_BASE_PHASE_MASK;
        /// First descriptor of the packet.
        const FIRST = RX_CDESC_BASE_FIRST_MASK;
        /// Last descriptor of the packet.
        const LAST = RX_CDESC_BASE_LAST_MASK;
        /// Data is in the buffer.
        const BUFFER = RX_CDESC_BASE_BUFFER_MASK;
    }
}

/// RX completion descriptor, 16-byte base form (`struct ena_eth_io_rx_cdesc_base`).
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Default, PartialEq, Eq, Debug,
)]
#[repr(C)]
pub struct RxCdesc {
    /// Protocol indices, checksum results, phase, first/last.
    pub status: U32,
    /// Bytes written into the buffer.
    pub length: U16,
    /// req_id of the buffer used.
    pub req_id: U16,
    /// The RSS hash the device computed (the `skb_get_hash()` value the stack later sees).
    pub hash: U32,
    /// Sub-queue id.
    pub sub_qid: U16,
    /// Offset of the data in the buffer.
    pub offset: u8,
    /// Reserved.
    pub reserved: u8,
}

impl RxCdesc {
    /// Builds a completion as the device writes it.
    pub fn new(
        req_id: u16,
        length: u16,
        hash: u32,
        l3_proto: u8,
        l4_proto: u8,
        flags: RxStatus,
        phase: u8,
    ) -> Self {
        let mut status = flags;
        status.set(RxStatus::PHASE, phase & 1 == 1);
        Self {
            status: U32::new(
                (l3_proto as u32 & RX_CDESC_BASE_L3_PROTO_IDX_MASK)
                    | (((l4_proto as u32) << RX_CDESC_BASE_L4_PROTO_IDX_SHIFT)
                        & RX_CDESC_BASE_L4_PROTO_IDX_MASK)
                    | status.bits(),
            ),
            length: U16::new(length),
            req_id: U16::new(req_id),
            hash: U32::new(hash),
            sub_qid: U16::new(0),
            offset: 0,
            reserved: 0,
        }
    }

    /// Status flag bits.
    pub fn flags(&self) -> RxStatus {
        RxStatus::from_bits_truncate(self.status.get())
    }

    /// Phase bit as 0 or 1.
    pub fn phase(&self) -> u8 {
        ((self.status.get() & RX_CDESC_BASE_PHASE_MASK) >> RX_CDESC_BASE_PHASE_SHIFT) as u8
    }

    /// L3 protocol index.
    pub fn l3_proto(&self) -> u8 {
        (self.status.get() & RX_CDESC_BASE_L3_PROTO_IDX_MASK) as u8
    }

    /// L4 protocol index.
    pub fn l4_proto(&self) -> u8 {
        ((self.status.get() & RX_CDESC_BASE_L4_PROTO_IDX_MASK) >> RX_CDESC_BASE_L4_PROTO_IDX_SHIFT)
            as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_fields_round_trip() {
        let c = RxCdesc::new(
            77,
            1514,
            0xdead_beef,
            L3_PROTO_IPV6,
            L4_PROTO_UDP,
            RxStatus::FIRST | RxStatus::LAST,
            1,
        );
        assert_eq!((c.l3_proto(), c.l4_proto(), c.phase()), (11, 13, 1));
        assert!(c.flags().contains(RxStatus::FIRST | RxStatus::LAST));
        assert_eq!(c.as_bytes()[8..12], 0xdead_beef_u32.to_le_bytes());
    }
}
