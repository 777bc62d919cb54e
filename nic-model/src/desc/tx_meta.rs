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
/// lengths and offsets) the device applies to this and, when stored, later packets.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Default, PartialEq, Eq, Debug,
)]
#[repr(C)]
pub struct TxMetaDesc {
    /// req_id bits 9:0 [9:0], MSS bits 13:10 [19:16], control bits.
    pub len_ctrl: U32,
    /// req_id bits 15:10 [5:0].
    pub word1: U32,
    /// L3 header length [7:0], L3 header offset [15:8], L4 header length in words [21:16], MSS bits 9:0 [31:22].
    pub word2: U32,
    /// Reserved.
    pub word3: U32,
}

impl TxMetaDesc {
    /// Builds a meta descriptor for a TSO/checksum context (`ena_com_create_meta`).
    pub fn new(
        req_id: u16,
        ctrl: TxMetaCtrl,
        mss: u16,
        l3_hdr_len: u8,
        l3_hdr_off: u8,
        l4_hdr_len_words: u8,
    ) -> Self {
        let (hi, lo) = split_req_id(req_id);
        let mss = mss as u32 & 0x3fff;
        Self {
            len_ctrl: U32::new(
                lo | (((mss >> 10) << TX_META_DESC_MSS_HI_SHIFT) & TX_META_DESC_MSS_HI_MASK)
                    | (ctrl | TxMetaCtrl::META_DESC).bits(),
            ),
            word1: U32::new(hi & TX_META_DESC_REQ_ID_HI_MASK),
            word2: U32::new(
                l3_hdr_len as u32
                    | ((l3_hdr_off as u32) << TX_META_DESC_L3_HDR_OFF_SHIFT)
                    | (((l4_hdr_len_words as u32) << TX_META_DESC_L4_HDR_LEN_IN_WORDS_SHIFT)
                        & TX_META_DESC_L4_HDR_LEN_IN_WORDS_MASK)
                    | ((mss & 0x3ff) << TX_META_DESC_MSS_LO_SHIFT),
            ),
            word3: U32::new(0),
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
        let m = TxMetaDesc::new(
            1023 + 1024 * 5,
            TxMetaCtrl::FIRST | TxMetaCtrl::PHASE,
            8961,
            20,
            14,
            5,
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
        let m = TxMetaDesc::new(3, TxMetaCtrl::FIRST, 1448, 20, 14, 5);
        let as_data: TxDesc = transmute!(m);
        assert!(as_data.is_meta());
    }

    #[test]
    fn reserved_word3_is_rejected() {
        let mut m = TxMetaDesc::new(0, TxMetaCtrl::FIRST, 0, 0, 0, 0);
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
