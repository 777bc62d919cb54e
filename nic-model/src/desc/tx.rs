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

/// TX data descriptor, 16 bytes (`struct ena_eth_io_tx_desc`): the view over the ring's bytes, read through typed
/// accessors. Its words are private; [`TxDescRepr`] is the value a driver builds and a device reads.
///
/// The 16-bit req_id is split: bits 15:10 in `len_ctrl` [21:16], bits 9:0 in `meta_ctrl` [31:22].
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Default, PartialEq, Eq, Debug,
)]
#[repr(C)]
pub struct TxDesc {
    /// Length [15:0], req_id high bits [21:16], control bits 23..28.
    len_ctrl: U32,
    /// Protocol indices, offload bits, req_id low bits [31:22].
    meta_ctrl: U32,
    /// Buffer address bits 31:0.
    buff_addr_lo: U32,
    /// Buffer address bits 47:32 [15:0]; inline header length [31:24].
    buff_addr_hi_hdr_sz: U32,
}

/// The meaning of a TX data descriptor (smoltcp's `Repr`): [`emit`](Self::emit) encodes it as
/// `ena_com_prepare_tx` does, [`parse`](Self::parse) checks and decodes what a driver wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxDescRepr {
    /// Buffer length in bytes (0 for an LLQ packet that is all pushed header).
    pub length: u16,
    /// req_id (the 6.1 driver writes it in a packet's first data descriptor only, 0 elsewhere).
    pub req_id: u16,
    /// Control bits: phase, first, last, completion request (and the meta bit, which a data descriptor leaves
    /// clear).
    pub ctrl: TxCtrl,
    /// L3 protocol index (IPv4 8, IPv6 11).
    pub l3_proto: u8,
    /// L4 protocol index (TCP 12, UDP 13).
    pub l4_proto: u8,
    /// Offload bits.
    pub offload: TxOffload,
    /// 48-bit buffer address (`dma_addr_bits` 48: bits 47:32 in the last word).
    pub addr: u64,
    /// Header bytes pushed inline into the LLQ entry; in host placement, header bytes in the first buffer.
    pub header_len: u8,
}

impl TxDescRepr {
    /// The descriptor's words, as `ena_com_prepare_tx` writes them (every field masked to its width).
    #[inline(always)]
    pub fn emit(&self) -> TxDesc {
        let (hi, lo) = split_req_id(self.req_id);
        TxDesc {
            len_ctrl: U32::new(
                self.length as u32
                    | ((hi << TX_DESC_REQ_ID_HI_SHIFT) & TX_DESC_REQ_ID_HI_MASK)
                    | self.ctrl.bits(),
            ),
            meta_ctrl: U32::new(
                (self.l3_proto as u32 & TX_DESC_L3_PROTO_IDX_MASK)
                    | (((self.l4_proto as u32) << TX_DESC_L4_PROTO_IDX_SHIFT)
                        & TX_DESC_L4_PROTO_IDX_MASK)
                    | self.offload.bits()
                    | (lo << TX_DESC_REQ_ID_LO_SHIFT),
            ),
            buff_addr_lo: U32::new(self.addr as u32),
            buff_addr_hi_hdr_sz: U32::new(
                ((self.addr >> 32) as u32 & TX_DESC_ADDR_HI_MASK)
                    | ((self.header_len as u32) << TX_DESC_HEADER_LENGTH_SHIFT),
            ),
        }
    }

    /// Checks the must-be-zero bits ([`TxDesc::validate`]; `index` is reported in the error) and decodes every
    /// field.
    #[inline(always)]
    pub fn parse(desc: &TxDesc, index: u16) -> Result<Self> {
        desc.validate(index)?;
        Ok(Self {
            length: desc.length(),
            req_id: desc.req_id(),
            ctrl: desc.ctrl(),
            l3_proto: desc.l3_proto(),
            l4_proto: desc.l4_proto(),
            offload: desc.offload(),
            addr: desc.addr(),
            header_len: desc.header_len(),
        })
    }
}

impl TxDesc {
    /// Word `word` (0 to 3) as a little-endian `u32`, for tests and fuzzers that corrupt rings.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn word(&self, word: u8) -> u32 {
        match word % 4 {
            0 => self.len_ctrl.get(),
            1 => self.meta_ctrl.get(),
            2 => self.buff_addr_lo.get(),
            _ => self.buff_addr_hi_hdr_sz.get(),
        }
    }

    /// Overwrites word `word` (0 to 3, taken modulo 4), as a hostile or buggy driver might.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn set_word(&mut self, word: u8, value: u32) {
        match word % 4 {
            0 => self.len_ctrl.set(value),
            1 => self.meta_ctrl.set(value),
            2 => self.buff_addr_lo.set(value),
            _ => self.buff_addr_hi_hdr_sz.set(value),
        }
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
        let reserved = (self.len_ctrl.get() & TX_DESC_LEN_CTRL_MBZ)
            | (self.meta_ctrl.get() & TX_DESC_META_CTRL_MBZ)
            | (self.buff_addr_hi_hdr_sz.get() & TX_DESC_ADDR_HI_HDR_MBZ);
        if reserved == 0 {
            Ok(())
        } else {
            self.must_be_zero_error(index)
        }
    }

    /// The first word with a must-be-zero bit set, as the error.
    #[cold]
    fn must_be_zero_error(&self, index: u16) -> Result<()> {
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
        let r = TxDescRepr {
            length: 1500,
            req_id: 0xabcd,
            ctrl: TxCtrl::PHASE | TxCtrl::FIRST | TxCtrl::LAST | TxCtrl::COMP_REQ,
            l3_proto: L3_PROTO_IPV4,
            l4_proto: L4_PROTO_TCP,
            offload: TxOffload::L4_CSUM_EN | TxOffload::DF,
            addr: 0x0000_1234_5678_9abc,
            header_len: 96,
        };
        let d = r.emit();
        assert_eq!(TxDescRepr::parse(&d, 0), Ok(r));
        assert_eq!(d.length(), 1500);
        assert_eq!(d.req_id(), 0xabcd);
        assert_eq!(d.phase(), 1);
        assert_eq!(d.l3_proto(), 8);
        assert_eq!(d.l4_proto(), 12);
        assert_eq!(d.addr(), 0x1234_5678_9abc);
        assert_eq!(d.header_len(), 96);
        assert!(d.offload().contains(TxOffload::L4_CSUM_EN | TxOffload::DF));
        // req_id 0xabcd: bits 15:10 = 0x2a into len_ctrl[21:16], bits 9:0 = 0x3cd into meta_ctrl[31:22].
        assert_eq!((d.word(0) >> 16) & 0x3f, 0x2a);
        assert_eq!(d.word(1) >> 22, 0x3cd);
        assert_eq!(
            d.word(0) & (1 << 24 | 1 << 26 | 1 << 27 | 1 << 28),
            0x1d00_0000
        );
        assert!(d.validate(0).is_ok());
    }

    #[test]
    fn bytes_are_little_endian_in_declaration_order() {
        let d = TxDescRepr {
            length: 0x0102,
            addr: 0x0000_0506_0708_090a,
            header_len: 0x0b,
            ..TxDescRepr::default()
        }
        .emit();
        let b = d.as_bytes();
        assert_eq!(&b[0..4], &[0x02, 0x01, 0, 0]);
        assert_eq!(&b[8..12], &[0x0a, 0x09, 0x08, 0x07]);
        assert_eq!(&b[12..16], &[0x06, 0x05, 0, 0x0b]);
    }

    #[test]
    fn reserved_bits_are_rejected_with_their_word() {
        let mut d = TxDesc::default();
        d.set_word(1, 1 << 16);
        assert_eq!(
            TxDescRepr::parse(&d, 7),
            Err(Error::MustBeZero {
                index: 7,
                word: 1,
                bits: 1 << 16
            })
        );
        let mut d = TxDesc::default();
        d.set_word(0, 1 << 31);
        assert_eq!(
            d.validate(0),
            Err(Error::MustBeZero {
                index: 0,
                word: 0,
                bits: 1 << 31
            })
        );
        let mut d = TxDesc::default();
        d.set_word(3, 1 << 20);
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
