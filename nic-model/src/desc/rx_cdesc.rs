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

/// RX completion descriptor, 16-byte base form (`struct ena_eth_io_rx_cdesc_base`): the view over the completion
/// ring's bytes, read through typed accessors. Its words are private; [`RxCdescRepr`] is the value a device writes.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Default, PartialEq, Eq, Debug,
)]
#[repr(C)]
pub struct RxCdesc {
    /// Protocol indices, checksum results, phase, first/last.
    status: U32,
    /// Bytes written into the buffer.
    length: U16,
    /// req_id of the buffer used.
    req_id: U16,
    /// The RSS hash the device computed (the `skb_get_hash()` value the stack later sees).
    hash: U32,
    /// Sub-queue id.
    sub_qid: U16,
    /// Offset of the data in the buffer.
    offset: u8,
    /// Reserved.
    reserved: u8,
}

/// The meaning of an RX completion (smoltcp's `Repr`): [`emit`](Self::emit) encodes it as the device writes it,
/// [`parse`](Self::parse) decodes what the driver reads (`ena_com_rx_pkt` reads every field; none is reserved in a
/// way the driver checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxCdescRepr {
    /// req_id of the buffer used.
    pub req_id: u16,
    /// Bytes written into the buffer.
    pub length: u16,
    /// The RSS hash.
    pub hash: u32,
    /// L3 protocol index.
    pub l3_proto: u8,
    /// L4 protocol index.
    pub l4_proto: u8,
    /// Status bits: first/last, checksum results, and the phase ([`RxStatus::PHASE`]).
    pub status: RxStatus,
}

impl RxCdescRepr {
    /// The completion's words (sub-queue id, offset and reserved byte 0).
    pub fn emit(&self) -> RxCdesc {
        RxCdesc {
            status: U32::new(
                (self.l3_proto as u32 & RX_CDESC_BASE_L3_PROTO_IDX_MASK)
                    | (((self.l4_proto as u32) << RX_CDESC_BASE_L4_PROTO_IDX_SHIFT)
                        & RX_CDESC_BASE_L4_PROTO_IDX_MASK)
                    | self.status.bits(),
            ),
            length: U16::new(self.length),
            req_id: U16::new(self.req_id),
            hash: U32::new(self.hash),
            sub_qid: U16::new(0),
            offset: 0,
            reserved: 0,
        }
    }

    /// Every field of a completion.
    pub fn parse(c: &RxCdesc) -> Self {
        Self {
            req_id: c.req_id(),
            length: c.length(),
            hash: c.hash(),
            l3_proto: c.l3_proto(),
            l4_proto: c.l4_proto(),
            status: c.flags(),
        }
    }
}

impl RxCdesc {
    /// req_id of the buffer used.
    #[inline(always)]
    pub fn req_id(&self) -> u16 {
        self.req_id.get()
    }

    /// Bytes written into the buffer.
    #[inline(always)]
    pub fn length(&self) -> u16 {
        self.length.get()
    }

    /// The RSS hash.
    #[inline(always)]
    pub fn hash(&self) -> u32 {
        self.hash.get()
    }

    /// The whole status word, for tests and fuzzers that corrupt rings.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn status_word(&self) -> u32 {
        self.status.get()
    }

    /// Overwrites the status word, the length, the req_id and the hash, as a hostile or buggy device might.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn corrupt(&mut self, status: u32, length: u16, req_id: u16, hash: u32) {
        self.status.set(status);
        self.length.set(length);
        self.req_id.set(req_id);
        self.hash.set(hash);
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
        let r = RxCdescRepr {
            req_id: 77,
            length: 1514,
            hash: 0xdead_beef,
            l3_proto: L3_PROTO_IPV6,
            l4_proto: L4_PROTO_UDP,
            status: RxStatus::FIRST | RxStatus::LAST | RxStatus::PHASE,
        };
        let c = r.emit();
        assert_eq!(RxCdescRepr::parse(&c), r);
        assert_eq!((c.l3_proto(), c.l4_proto(), c.phase()), (11, 13, 1));
        assert!(c.flags().contains(RxStatus::FIRST | RxStatus::LAST));
        assert_eq!(c.as_bytes()[8..12], 0xdead_beef_u32.to_le_bytes());
    }
}
