use bitflags::bitflags;
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::split_req_id;
use crate::defs::*;
use crate::{Error, Result};

bitflags! {
    /// Control bits of a TX meta descriptor's `len_ctrl` word (`ENA_ETH_IO_TX_META_DESC_*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct TxMetaCtrl: u32 {
        /// Extended metadata valid.
        const EXT_VALID = TX_META_DESC_EXT_VALID_MASK;
        /// Ethernet metadata type: extended.
        const ETH_META_TYPE = TX_META_DESC_ETH_META_TYPE_MASK;
        /// The device caches this context for later packets (`ena_com_create_meta`).
        const META_STORE = TX_META_DESC_META_STORE_MASK;
        /// Always set: this entry is a meta descriptor.
        const META_DESC = TX_META_DESC_META_DESC_MASK;
        /// Phase.
        const PHASE = TX_META_DESC_PHASE_MASK;
        /// First descriptor of the packet (a meta descriptor always leads its packet).
        const FIRST = TX_META_DESC_FIRST_MASK;
        /// Last.
        const LAST = TX_META_DESC_LAST_MASK;
        /// Completion requested.
        const COMP_REQ = TX_META_DESC_COMP_REQ_MASK;
    }
}

/// TX meta descriptor, 16 bytes (`struct ena_eth_io_tx_meta_desc`): the offload context (MSS, header
/// lengths and offsets) the device applies to this and, when stored, later packets. A view with private words;
/// [`TxMetaDescRepr`] is its value.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Default, PartialEq, Eq, Debug,
)]
#[repr(C)]
pub struct TxMetaDesc {
    /// req_id bits 9:0 [9:0], MSS bits 13:10 [19:16], control bits.
    len_ctrl: U32,
    /// req_id bits 15:10 [5:0].
    word1: U32,
    /// L3 header length [7:0], L3 header offset [15:8], L4 header length in words [21:16], MSS bits 9:0 [31:22].
    word2: U32,
    /// Reserved.
    word3: U32,
}

/// The meaning of a TX meta descriptor: [`emit`](Self::emit) encodes it as `ena_com_create_meta` does,
/// [`parse`](Self::parse) checks and decodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxMetaDescRepr {
    /// req_id (the 6.1 driver writes 0 here).
    pub req_id: u16,
    /// Control bits; [`TxMetaCtrl::META_DESC`] is always emitted.
    pub ctrl: TxMetaCtrl,
    /// TSO maximum segment size (14 bits).
    pub mss: u16,
    /// L3 header length in bytes.
    pub l3_hdr_len: u8,
    /// L3 header offset in bytes.
    pub l3_hdr_off: u8,
    /// L4 header length in 32-bit words (6 bits).
    pub l4_hdr_len_words: u8,
}

impl TxMetaDescRepr {
    /// The descriptor's words (`ena_com_create_meta`).
    pub fn emit(&self) -> TxMetaDesc {
        let (hi, lo) = split_req_id(self.req_id);
        let mss = self.mss as u32 & 0x3fff;
        TxMetaDesc {
            len_ctrl: U32::new(
                lo | (((mss >> 10) << TX_META_DESC_MSS_HI_SHIFT) & TX_META_DESC_MSS_HI_MASK)
                    | (self.ctrl | TxMetaCtrl::META_DESC).bits(),
            ),
            word1: U32::new(hi & TX_META_DESC_REQ_ID_HI_MASK),
            word2: U32::new(
                self.l3_hdr_len as u32
                    | ((self.l3_hdr_off as u32) << TX_META_DESC_L3_HDR_OFF_SHIFT)
                    | (((self.l4_hdr_len_words as u32) << TX_META_DESC_L4_HDR_LEN_IN_WORDS_SHIFT)
                        & TX_META_DESC_L4_HDR_LEN_IN_WORDS_MASK)
                    | ((mss & 0x3ff) << TX_META_DESC_MSS_LO_SHIFT),
            ),
            word3: U32::new(0),
        }
    }

    /// Checks the reserved bits ([`TxMetaDesc::validate`]; `index` is reported in the error) and decodes.
    pub fn parse(desc: &TxMetaDesc, index: u16) -> Result<Self> {
        desc.validate(index)?;
        Ok(Self {
            req_id: desc.req_id(),
            ctrl: desc.ctrl(),
            mss: desc.mss(),
            l3_hdr_len: desc.l3_hdr_len(),
            l3_hdr_off: desc.l3_hdr_off(),
            l4_hdr_len_words: desc.l4_hdr_len_words(),
        })
    }
}

impl TxMetaDesc {
    /// Word `word` (0 to 3, modulo 4), for tests that inspect or corrupt rings.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn word(&self, word: u8) -> u32 {
        match word % 4 {
            0 => self.len_ctrl.get(),
            1 => self.word1.get(),
            2 => self.word2.get(),
            _ => self.word3.get(),
        }
    }

    /// The 16-bit req_id.
    pub fn req_id(&self) -> u16 {
        let lo = self.len_ctrl.get() & TX_META_DESC_REQ_ID_LO_MASK;
        let hi = self.word1.get() & TX_META_DESC_REQ_ID_HI_MASK;
        ((hi << 10) | lo) as u16
    }

    /// Control bits.
    pub fn ctrl(&self) -> TxMetaCtrl {
        TxMetaCtrl::from_bits_truncate(self.len_ctrl.get())
    }

    /// Maximum segment size (14 bits, split across `len_ctrl` and `word2`).
    pub fn mss(&self) -> u16 {
        let hi = (self.len_ctrl.get() & TX_META_DESC_MSS_HI_MASK) >> TX_META_DESC_MSS_HI_SHIFT;
        let lo = (self.word2.get() & TX_META_DESC_MSS_LO_MASK) >> TX_META_DESC_MSS_LO_SHIFT;
        ((hi << 10) | lo) as u16
    }

    /// L3 header length in bytes.
    pub fn l3_hdr_len(&self) -> u8 {
        (self.word2.get() & TX_META_DESC_L3_HDR_LEN_MASK) as u8
    }

    /// L3 header offset in bytes.
    pub fn l3_hdr_off(&self) -> u8 {
        ((self.word2.get() & TX_META_DESC_L3_HDR_OFF_MASK) >> TX_META_DESC_L3_HDR_OFF_SHIFT) as u8
    }

    /// L4 header length in 32-bit words.
    pub fn l4_hdr_len_words(&self) -> u8 {
        ((self.word2.get() & TX_META_DESC_L4_HDR_LEN_IN_WORDS_MASK)
            >> TX_META_DESC_L4_HDR_LEN_IN_WORDS_SHIFT) as u8
    }

    /// Checks reserved bits (undefined `len_ctrl` bits, `word1` above bit 5, all of `word3`).
    pub fn validate(&self, index: u16) -> Result<()> {
        let checks = [
            (0u8, self.len_ctrl.get() & TX_META_DESC_LEN_CTRL_MBZ),
            (1, self.word1.get() & !TX_META_DESC_REQ_ID_HI_MASK),
            (3, self.word3.get()),
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
    use crate::desc::TxDesc;
    use zerocopy::transmute;

    #[test]
    fn mss_and_req_id_split_round_trip() {
        let r = TxMetaDescRepr {
            req_id: 1023 + 1024 * 5,
            ctrl: TxMetaCtrl::FIRST | TxMetaCtrl::PHASE,
            mss: 8961,
            l3_hdr_len: 20,
            l3_hdr_off: 14,
            l4_hdr_len_words: 5,
        };
        let m = r.emit();
        assert_eq!(
            TxMetaDescRepr::parse(&m, 0),
            Ok(TxMetaDescRepr {
                ctrl: r.ctrl | TxMetaCtrl::META_DESC,
                ..r
            })
        );
        assert_eq!(m.req_id(), 1023 + 1024 * 5);
        assert_eq!(m.mss(), 8961);
        assert_eq!(
            (m.l3_hdr_len(), m.l3_hdr_off(), m.l4_hdr_len_words()),
            (20, 14, 5)
        );
        assert!(m.ctrl().contains(TxMetaCtrl::META_DESC));
        assert!(m.validate(0).is_ok());
    }

    #[test]
    fn a_meta_descriptor_reads_as_meta_through_the_data_view() {
        let m = TxMetaDescRepr {
            req_id: 3,
            ctrl: TxMetaCtrl::FIRST,
            mss: 1448,
            ..TxMetaDescRepr::default()
        }
        .emit();
        let as_data: TxDesc = transmute!(m);
        assert!(as_data.is_meta());
    }

    #[test]
    fn reserved_word3_is_rejected() {
        let mut m = TxMetaDescRepr {
            ctrl: TxMetaCtrl::FIRST,
            ..TxMetaDescRepr::default()
        }
        .emit();
        m.word3 = U32::new(9);
        assert_eq!(
            m.validate(2),
            Err(Error::MustBeZero {
                index: 2,
                word: 3,
                bits: 9
            })
        );
    }
}
