use bitflags::bitflags;
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::split_req_id;
use crate::defs::*;
use crate::{Error, Result};

bitflags! {
    /// Control bits of a TX data descriptor's `len_ctrl` word (`ENA_ETH_IO_TX_DESC_*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct TxCtrl: u32 {
        /// Meta descriptor (never set on a data descriptor).
        const META_DESC = TX_DESC_META_DESC_MASK;
        /// Phase of the ring pass the driver wrote this entry in.
        const PHASE = TX_DESC_PHASE_MASK;
        /// First descriptor of the packet (when no meta descriptor precedes it).
        const FIRST = TX_DESC_FIRST_MASK;
        /// Last descriptor of the packet.
        const LAST = TX_DESC_LAST_MASK;
        /// The driver wants a completion for this packet.
        const COMP_REQ = TX_DESC_COMP_REQ_MASK;
    }
}

bitflags! {
    /// Offload bits of a TX data descriptor's `meta_ctrl` word.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
    pub struct TxOffload: u32 {
        /// IPv4 don't-fragment.
        const DF = TX_DESC_DF_MASK;
        /// TCP segmentation offload.
        const TSO_EN = TX_DESC_TSO_EN_MASK;
        /// IPv4 header checksum offload.
        const L3_CSUM_EN = TX_DESC_L3_CSUM_EN_MASK;
        /// TCP/UDP checksum offload.
        const L4_CSUM_EN = TX_DESC_L4_CSUM_EN_MASK;
        /// Do not append the Ethernet FCS.
        const ETHERNET_FCS_DIS = TX_DESC_ETHERNET_FCS_DIS_MASK;
        /// L4 checksum over a partial pseudo-header.
        const L4_CSUM_PARTIAL = TX_DESC_L4_CSUM_PARTIAL_MASK;
    }
}

/// TX data descriptor, 16 bytes (`struct ena_eth_io_tx_desc`).
///
/// The 16-bit req_id is split: bits 15:10 in `len_ctrl` [21:16], bits 9:0 in `meta_ctrl` [31:22].
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Default, PartialEq, Eq, Debug,
)]
#[repr(C)]
pub struct TxDesc {
    /// Length [15:0], req_id high bits [21:16], control bits 23..28.
    pub len_ctrl: U32,
    /// Protocol indices, offload bits, req_id low bits [31:22].
    pub meta_ctrl: U32,
    /// Buffer address bits 31:0.
    pub buff_addr_lo: U32,
    /// Buffer address bits 47:32 [15:0]; inline header length [31:24].
    pub buff_addr_hi_hdr_sz: U32,
}

impl TxDesc {
    /// Builds a data descriptor in one go (the encoding `ena_com_prepare_tx` performs).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn data(
        length: u16,
        req_id: u16,
        ctrl: TxCtrl,
        l3_proto: u8,
        l4_proto: u8,
        offload: TxOffload,
        addr: u64,
        header_len: u8,
    ) -> Self {
        let (hi, lo) = split_req_id(req_id);
        let ctrl = ctrl.difference(TxCtrl::META_DESC);
        Self {
            len_ctrl: U32::new(length as u32 | (hi << TX_DESC_REQ_ID_HI_SHIFT) | ctrl.bits()),
            meta_ctrl: U32::new(
                (l3_proto as u32 & TX_DESC_L3_PROTO_IDX_MASK)
                    | (((l4_proto as u32) << TX_DESC_L4_PROTO_IDX_SHIFT)
                        & TX_DESC_L4_PROTO_IDX_MASK)
                    | offload.bits()
                    | (lo << TX_DESC_REQ_ID_LO_SHIFT),
            ),
            buff_addr_lo: U32::new(addr as u32),
            buff_addr_hi_hdr_sz: U32::new(
                ((addr >> 32) as u32 & TX_DESC_ADDR_HI_MASK)
                    | ((header_len as u32) << TX_DESC_HEADER_LENGTH_SHIFT),
            ),
        }
    }

    /// ORs the phase bit in (`ena_com_prepare_tx` starts every descriptor zeroed).
    #[inline(always)]
    pub fn set_phase(&mut self, phase: u8) {
        self.len_ctrl |= ((phase as u32) << TX_DESC_PHASE_SHIFT) & TX_DESC_PHASE_MASK;
    }

    /// ORs a buffer's length and 48-bit address in, as the buffer loop of `ena_com_prepare_tx` does
    /// (`dma_addr_bits` 48: address bits 47:32 into `buff_addr_hi_hdr_sz`).
    #[inline(always)]
    pub fn set_buffer(&mut self, len: u16, addr: u64) {
        self.len_ctrl |= len as u32 & TX_DESC_LENGTH_MASK;
        self.buff_addr_lo = U32::new(addr as u32);
        self.buff_addr_hi_hdr_sz |= (addr >> 32) as u32 & TX_DESC_ADDR_HI_MASK;
    }

    /// Buffer length in bytes.
    #[inline(always)]
    pub fn length(&self) -> u16 {
        (self.len_ctrl.get() & TX_DESC_LENGTH_MASK) as u16
    }

    /// The 16-bit req_id, reassembled from both words.
    #[inline(always)]
    pub fn req_id(&self) -> u16 {
        let hi = (self.len_ctrl.get() & TX_DESC_REQ_ID_HI_MASK) >> TX_DESC_REQ_ID_HI_SHIFT;
        let lo = (self.meta_ctrl.get() & TX_DESC_REQ_ID_LO_MASK) >> TX_DESC_REQ_ID_LO_SHIFT;
        ((hi << 10) | lo) as u16
    }

    /// Control bits (meta, phase, first, last, comp_req).
    #[inline(always)]
    pub fn ctrl(&self) -> TxCtrl {
        TxCtrl::from_bits_truncate(self.len_ctrl.get())
    }

    /// The phase bit as 0 or 1.
    #[inline(always)]
    pub fn phase(&self) -> u8 {
        ((self.len_ctrl.get() & TX_DESC_PHASE_MASK) >> TX_DESC_PHASE_SHIFT) as u8
    }

    /// L3 protocol index (IPv4 8, IPv6 11).
    pub fn l3_proto(&self) -> u8 {
        (self.meta_ctrl.get() & TX_DESC_L3_PROTO_IDX_MASK) as u8
    }

    /// L4 protocol index (TCP 12, UDP 13).
    pub fn l4_proto(&self) -> u8 {
        ((self.meta_ctrl.get() & TX_DESC_L4_PROTO_IDX_MASK) >> TX_DESC_L4_PROTO_IDX_SHIFT) as u8
    }

    /// Offload bits.
    pub fn offload(&self) -> TxOffload {
        TxOffload::from_bits_truncate(self.meta_ctrl.get())
    }

    /// 48-bit buffer address.
    pub fn addr(&self) -> u64 {
        (self.buff_addr_lo.get() as u64)
            | (((self.buff_addr_hi_hdr_sz.get() & TX_DESC_ADDR_HI_MASK) as u64) << 32)
    }

    /// Header bytes pushed inline into the LLQ entry (0 in host placement).
    #[inline(always)]
    pub fn header_len(&self) -> u8 {
        ((self.buff_addr_hi_hdr_sz.get() & TX_DESC_HEADER_LENGTH_MASK)
            >> TX_DESC_HEADER_LENGTH_SHIFT) as u8
    }

    /// True when `len_ctrl` marks this entry as a meta descriptor.
    #[inline(always)]
    pub fn is_meta(&self) -> bool {
        self.len_ctrl.get() & TX_DESC_META_DESC_MASK != 0
    }

    /// Checks the must-be-zero bits of a data descriptor; `index` is reported in the error.
    #[inline(always)]
    pub fn validate(&self, index: u16) -> Result<()> {
        let checks = [
            (0u8, self.len_ctrl.get() & TX_DESC_LEN_CTRL_MBZ),
            (1, self.meta_ctrl.get() & TX_DESC_META_CTRL_MBZ),
            (3, self.buff_addr_hi_hdr_sz.get() & TX_DESC_ADDR_HI_HDR_MBZ),
        ];
        for (word, bits) in checks {
            if bits != 0 {
                return Err(Error::MustBeZero { index, word, bits });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_land_on_the_documented_bits() {
        let d = TxDesc::data(
            1500,
            0xabcd,
            TxCtrl::PHASE | TxCtrl::FIRST | TxCtrl::LAST | TxCtrl::COMP_REQ,
            L3_PROTO_IPV4,
            L4_PROTO_TCP,
            TxOffload::L4_CSUM_EN | TxOffload::DF,
            0x0000_1234_5678_9abc,
            96,
        );
        assert_eq!(d.length(), 1500);
        assert_eq!(d.req_id(), 0xabcd);
        assert_eq!(d.phase(), 1);
        assert_eq!(d.l3_proto(), 8);
        assert_eq!(d.l4_proto(), 12);
        assert_eq!(d.addr(), 0x1234_5678_9abc);
        assert_eq!(d.header_len(), 96);
        assert!(d.offload().contains(TxOffload::L4_CSUM_EN | TxOffload::DF));
        // req_id 0xabcd: bits 15:10 = 0x2a into len_ctrl[21:16], bits 9:0 = 0x3cd into meta_ctrl[31:22].
        assert_eq!((d.len_ctrl.get() >> 16) & 0x3f, 0x2a);
        assert_eq!(d.meta_ctrl.get() >> 22, 0x3cd);
        assert_eq!(
            d.len_ctrl.get() & (1 << 24 | 1 << 26 | 1 << 27 | 1 << 28),
            0x1d00_0000
        );
        assert!(d.validate(0).is_ok());
    }

    #[test]
    fn bytes_are_little_endian_in_declaration_order() {
        let d = TxDesc::data(
            0x0102,
            0,
            TxCtrl::empty(),
            0,
            0,
            TxOffload::empty(),
            0x0000_0506_0708_090a,
            0x0b,
        );
        let b = d.as_bytes();
        assert_eq!(&b[0..4], &[0x02, 0x01, 0, 0]);
        assert_eq!(&b[8..12], &[0x0a, 0x09, 0x08, 0x07]);
        assert_eq!(&b[12..16], &[0x06, 0x05, 0, 0x0b]);
    }

    #[test]
    fn reserved_bits_are_rejected_with_their_word() {
        let d = TxDesc {
            meta_ctrl: U32::new(1 << 16),
            ..TxDesc::default()
        };
        assert_eq!(
            d.validate(7),
            Err(Error::MustBeZero {
                index: 7,
                word: 1,
                bits: 1 << 16
            })
        );
        let d = TxDesc {
            len_ctrl: U32::new(1 << 31),
            ..TxDesc::default()
        };
        assert_eq!(
            d.validate(0),
            Err(Error::MustBeZero {
                index: 0,
                word: 0,
                bits: 1 << 31
            })
        );
        let d = TxDesc {
            buff_addr_hi_hdr_sz: U32::new(1 << 20),
            ..TxDesc::default()
        };
        assert_eq!(
            d.validate(0),
            Err(Error::MustBeZero {
                index: 0,
                word: 3,
                bits: 1 << 20
            })
        );
    }
}
