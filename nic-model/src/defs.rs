//! Bit positions and masks of the ENA I/O descriptors.
//!
//! Each constant carries the name of its `ENA_ETH_IO_*` macro in the kernel's
//! `drivers/net/ethernet/amazon/ena/ena_eth_io_defs.h`, minus the `ENA_ETH_IO_` prefix, so the two can be read
//! side by side. [`KERNEL_DEFS`] lists them all with their full kernel names; the conformance test compiles the
//! kernel header and checks every value against it.

macro_rules! ena_defs {
    ($($(#[$meta:meta])* $name:ident = $value:expr;)*) => {
        $( $(#[$meta])* pub const $name: u32 = $value; )*
        /// Every constant above with the name of the kernel macro it mirrors.
        pub const KERNEL_DEFS: &[(&str, u32)] = &[
            $( (concat!("ENA_ETH_IO_", stringify!($name)), $name), )*
        ];
    };
}

const fn bit(n: u32) -> u32 {
    1 << n
}

const fn genmask(high: u32, low: u32) -> u32 {
    (u32::MAX >> (31 - high)) & !(bit(low) - 1)
}

ena_defs! {
    /// TX descriptor `len_ctrl` [15:0]: buffer length in bytes.
    TX_DESC_LENGTH_MASK = genmask(15, 0);
    /// TX descriptor `len_ctrl` [21:16]: req_id bits 15:10.
    TX_DESC_REQ_ID_HI_SHIFT = 16;
    /// Mask of the above.
    TX_DESC_REQ_ID_HI_MASK = genmask(21, 16);
    /// TX descriptor `len_ctrl` 23: this is a meta descriptor (0 for data).
    TX_DESC_META_DESC_SHIFT = 23;
    /// Mask of the above.
    TX_DESC_META_DESC_MASK = bit(23);
    /// TX descriptor `len_ctrl` 24: phase.
    TX_DESC_PHASE_SHIFT = 24;
    /// Mask of the above.
    TX_DESC_PHASE_MASK = bit(24);
    /// TX descriptor `len_ctrl` 26: first descriptor of the packet.
    TX_DESC_FIRST_SHIFT = 26;
    /// Mask of the above.
    TX_DESC_FIRST_MASK = bit(26);
    /// TX descriptor `len_ctrl` 27: last descriptor of the packet.
    TX_DESC_LAST_SHIFT = 27;
    /// Mask of the above.
    TX_DESC_LAST_MASK = bit(27);
    /// TX descriptor `len_ctrl` 28: completion requested.
    TX_DESC_COMP_REQ_SHIFT = 28;
    /// Mask of the above.
    TX_DESC_COMP_REQ_MASK = bit(28);
    /// TX descriptor `meta_ctrl` [3:0]: L3 protocol index.
    TX_DESC_L3_PROTO_IDX_MASK = genmask(3, 0);
    /// TX descriptor `meta_ctrl` 4: don't fragment.
    TX_DESC_DF_SHIFT = 4;
    /// Mask of the above.
    TX_DESC_DF_MASK = bit(4);
    /// TX descriptor `meta_ctrl` 7: TSO enabled.
    TX_DESC_TSO_EN_SHIFT = 7;
    /// Mask of the above.
    TX_DESC_TSO_EN_MASK = bit(7);
    /// TX descriptor `meta_ctrl` [12:8]: L4 protocol index.
    TX_DESC_L4_PROTO_IDX_SHIFT = 8;
    /// Mask of the above.
    TX_DESC_L4_PROTO_IDX_MASK = genmask(12, 8);
    /// TX descriptor `meta_ctrl` 13: L3 checksum offload.
    TX_DESC_L3_CSUM_EN_SHIFT = 13;
    /// Mask of the above.
    TX_DESC_L3_CSUM_EN_MASK = bit(13);
    /// TX descriptor `meta_ctrl` 14: L4 checksum offload.
    TX_DESC_L4_CSUM_EN_SHIFT = 14;
    /// Mask of the above.
    TX_DESC_L4_CSUM_EN_MASK = bit(14);
    /// TX descriptor `meta_ctrl` 15: do not append the Ethernet FCS.
    TX_DESC_ETHERNET_FCS_DIS_SHIFT = 15;
    /// Mask of the above.
    TX_DESC_ETHERNET_FCS_DIS_MASK = bit(15);
    /// TX descriptor `meta_ctrl` 17: L4 checksum over a partial pseudo-header.
    TX_DESC_L4_CSUM_PARTIAL_SHIFT = 17;
    /// Mask of the above.
    TX_DESC_L4_CSUM_PARTIAL_MASK = bit(17);
    /// TX descriptor `meta_ctrl` [31:22]: req_id bits 9:0.
    TX_DESC_REQ_ID_LO_SHIFT = 22;
    /// Mask of the above.
    TX_DESC_REQ_ID_LO_MASK = genmask(31, 22);
    /// TX descriptor `buff_addr_hi_hdr_sz` [15:0]: buffer address bits 47:32.
    TX_DESC_ADDR_HI_MASK = genmask(15, 0);
    /// TX descriptor `buff_addr_hi_hdr_sz` [31:24]: header bytes pushed inline (LLQ).
    TX_DESC_HEADER_LENGTH_SHIFT = 24;
    /// Mask of the above.
    TX_DESC_HEADER_LENGTH_MASK = genmask(31, 24);
    /// TX meta descriptor `len_ctrl` [9:0]: req_id bits 9:0.
    TX_META_DESC_REQ_ID_LO_MASK = genmask(9, 0);
    /// TX meta descriptor `len_ctrl` 14: extended metadata valid.
    TX_META_DESC_EXT_VALID_SHIFT = 14;
    /// Mask of the above.
    TX_META_DESC_EXT_VALID_MASK = bit(14);
    /// TX meta descriptor `len_ctrl` [19:16]: MSS bits 13:10.
    TX_META_DESC_MSS_HI_SHIFT = 16;
    /// Mask of the above.
    TX_META_DESC_MSS_HI_MASK = genmask(19, 16);
    /// TX meta descriptor `len_ctrl` 20: Ethernet metadata type (extended).
    TX_META_DESC_ETH_META_TYPE_SHIFT = 20;
    /// Mask of the above.
    TX_META_DESC_ETH_META_TYPE_MASK = bit(20);
    /// TX meta descriptor `len_ctrl` 21: the device stores this context for later packets.
    TX_META_DESC_META_STORE_SHIFT = 21;
    /// Mask of the above.
    TX_META_DESC_META_STORE_MASK = bit(21);
    /// TX meta descriptor `len_ctrl` 23: meta descriptor (1).
    TX_META_DESC_META_DESC_SHIFT = 23;
    /// Mask of the above.
    TX_META_DESC_META_DESC_MASK = bit(23);
    /// TX meta descriptor `len_ctrl` 24: phase.
    TX_META_DESC_PHASE_SHIFT = 24;
    /// Mask of the above.
    TX_META_DESC_PHASE_MASK = bit(24);
    /// TX meta descriptor `len_ctrl` 26: first.
    TX_META_DESC_FIRST_SHIFT = 26;
    /// Mask of the above.
    TX_META_DESC_FIRST_MASK = bit(26);
    /// TX meta descriptor `len_ctrl` 27: last.
    TX_META_DESC_LAST_SHIFT = 27;
    /// Mask of the above.
    TX_META_DESC_LAST_MASK = bit(27);
    /// TX meta descriptor `len_ctrl` 28: completion requested.
    TX_META_DESC_COMP_REQ_SHIFT = 28;
    /// Mask of the above.
    TX_META_DESC_COMP_REQ_MASK = bit(28);
    /// TX meta descriptor word 1 [5:0]: req_id bits 15:10.
    TX_META_DESC_REQ_ID_HI_MASK = genmask(5, 0);
    /// TX meta descriptor word 2 [7:0]: L3 header length.
    TX_META_DESC_L3_HDR_LEN_MASK = genmask(7, 0);
    /// TX meta descriptor word 2 [15:8]: L3 header offset.
    TX_META_DESC_L3_HDR_OFF_SHIFT = 8;
    /// Mask of the above.
    TX_META_DESC_L3_HDR_OFF_MASK = genmask(15, 8);
    /// TX meta descriptor word 2 [21:16]: L4 header length in 32-bit words.
    TX_META_DESC_L4_HDR_LEN_IN_WORDS_SHIFT = 16;
    /// Mask of the above.
    TX_META_DESC_L4_HDR_LEN_IN_WORDS_MASK = genmask(21, 16);
    /// TX meta descriptor word 2 [31:22]: MSS bits 9:0.
    TX_META_DESC_MSS_LO_SHIFT = 22;
    /// Mask of the above.
    TX_META_DESC_MSS_LO_MASK = genmask(31, 22);
    /// TX completion `flags` 0: phase.
    TX_CDESC_PHASE_MASK = bit(0);
    /// RX descriptor `ctrl` 0: phase.
    RX_DESC_PHASE_MASK = bit(0);
    /// RX descriptor `ctrl` 2: first.
    RX_DESC_FIRST_SHIFT = 2;
    /// Mask of the above.
    RX_DESC_FIRST_MASK = bit(2);
    /// RX descriptor `ctrl` 3: last.
    RX_DESC_LAST_SHIFT = 3;
    /// Mask of the above.
    RX_DESC_LAST_MASK = bit(3);
    /// RX descriptor `ctrl` 4: completion requested.
    RX_DESC_COMP_REQ_SHIFT = 4;
    /// Mask of the above.
    RX_DESC_COMP_REQ_MASK = bit(4);
    /// RX completion `status` [4:0]: L3 protocol index.
    RX_CDESC_BASE_L3_PROTO_IDX_MASK = genmask(4, 0);
    /// RX completion `status` [6:5]: number of source VLAN tags.
    RX_CDESC_BASE_SRC_VLAN_CNT_SHIFT = 5;
    /// Mask of the above.
    RX_CDESC_BASE_SRC_VLAN_CNT_MASK = genmask(6, 5);
    /// RX completion `status` [12:8]: L4 protocol index.
    RX_CDESC_BASE_L4_PROTO_IDX_SHIFT = 8;
    /// Mask of the above.
    RX_CDESC_BASE_L4_PROTO_IDX_MASK = genmask(12, 8);
    /// RX completion `status` 13: L3 checksum error.
    RX_CDESC_BASE_L3_CSUM_ERR_SHIFT = 13;
    /// Mask of the above.
    RX_CDESC_BASE_L3_CSUM_ERR_MASK = bit(13);
    /// RX completion `status` 14: L4 checksum error.
    RX_CDESC_BASE_L4_CSUM_ERR_SHIFT = 14;
    /// Mask of the above.
    RX_CDESC_BASE_L4_CSUM_ERR_MASK = bit(14);
    /// RX completion `status` 15: IPv4 fragment.
    RX_CDESC_BASE_IPV4_FRAG_SHIFT = 15;
    /// Mask of the above.
    RX_CDESC_BASE_IPV4_FRAG_MASK = bit(15);
    /// RX completion `status` 16: the device checked the L4 checksum.
    RX_CDESC_BASE_L4_CSUM_CHECKED_SHIFT = 16;
    /// Mask of the above.
    RX_CDESC_BASE_L4_CSUM_CHECKED_MASK = bit(16);
    /// RX completion `status` 24: phase.
    RX_CDESC_BASE_PHASE_SHIFT = 24;
    /// Mask of the above.
    RX_CDESC_BASE_PHASE_MASK = bit(24);
    /// RX completion `status` 26: first.
    RX_CDESC_BASE_FIRST_SHIFT = 26;
    /// Mask of the above.
    RX_CDESC_BASE_FIRST_MASK = bit(26);
    /// RX completion `status` 27: last.
    RX_CDESC_BASE_LAST_SHIFT = 27;
    /// Mask of the above.
    RX_CDESC_BASE_LAST_MASK = bit(27);
    /// RX completion `status` 30: buffer (the packet's data sits in the RX buffer).
    RX_CDESC_BASE_BUFFER_SHIFT = 30;
    /// Mask of the above.
    RX_CDESC_BASE_BUFFER_MASK = bit(30);
}

/// RX descriptor `ctrl` bit 5, which `ena_com_add_single_rx_desc` always sets (`ENA_ETH_IO_RX_DESC_*` has no
/// macro for it; the header documents it as "MBO", must be one).
pub const RX_DESC_MBO_MASK: u32 = bit(5);

/// `len_ctrl` bits of a data TX descriptor that the header leaves undefined (22, 25, 29..31): must be zero.
pub const TX_DESC_LEN_CTRL_MBZ: u32 = !(TX_DESC_LENGTH_MASK
    | TX_DESC_REQ_ID_HI_MASK
    | TX_DESC_META_DESC_MASK
    | TX_DESC_PHASE_MASK
    | TX_DESC_FIRST_MASK
    | TX_DESC_LAST_MASK
    | TX_DESC_COMP_REQ_MASK);

/// `meta_ctrl` bits of a data TX descriptor that are undefined (5, 6, 16, 18..21): must be zero.
pub const TX_DESC_META_CTRL_MBZ: u32 = !(TX_DESC_L3_PROTO_IDX_MASK
    | TX_DESC_DF_MASK
    | TX_DESC_TSO_EN_MASK
    | TX_DESC_L4_PROTO_IDX_MASK
    | TX_DESC_L3_CSUM_EN_MASK
    | TX_DESC_L4_CSUM_EN_MASK
    | TX_DESC_ETHERNET_FCS_DIS_MASK
    | TX_DESC_L4_CSUM_PARTIAL_MASK
    | TX_DESC_REQ_ID_LO_MASK);

/// `buff_addr_hi_hdr_sz` bits 16..23 (reserved): must be zero.
pub const TX_DESC_ADDR_HI_HDR_MBZ: u32 = !(TX_DESC_ADDR_HI_MASK | TX_DESC_HEADER_LENGTH_MASK);

/// `len_ctrl` bits of a TX meta descriptor that are undefined (10..13, 15, 22, 25, 29..31): must be zero.
pub const TX_META_DESC_LEN_CTRL_MBZ: u32 = !(TX_META_DESC_REQ_ID_LO_MASK
    | TX_META_DESC_EXT_VALID_MASK
    | TX_META_DESC_MSS_HI_MASK
    | TX_META_DESC_ETH_META_TYPE_MASK
    | TX_META_DESC_META_STORE_MASK
    | TX_META_DESC_META_DESC_MASK
    | TX_META_DESC_PHASE_MASK
    | TX_META_DESC_FIRST_MASK
    | TX_META_DESC_LAST_MASK
    | TX_META_DESC_COMP_REQ_MASK);

/// TX completion `flags` bits other than phase: must be zero.
pub const TX_CDESC_FLAGS_MBZ: u8 = !(TX_CDESC_PHASE_MASK as u8);

/// L3 protocol index of IPv4 (`ENA_ETH_IO_L3_PROTO_IPV4`).
pub const L3_PROTO_IPV4: u8 = 8;
/// L3 protocol index of IPv6 (`ENA_ETH_IO_L3_PROTO_IPV6`).
pub const L3_PROTO_IPV6: u8 = 11;
/// L4 protocol index of TCP (`ENA_ETH_IO_L4_PROTO_TCP`).
pub const L4_PROTO_TCP: u8 = 12;
/// L4 protocol index of UDP (`ENA_ETH_IO_L4_PROTO_UDP`).
pub const L4_PROTO_UDP: u8 = 13;

/// `MAX_SKB_FRAGS` of a kernel built with the default configuration (`include/linux/skbuff.h`).
pub const MAX_SKB_FRAGS: u16 = 17;
/// Free entries needed before a stopped queue is woken (`ENA_TX_WAKEUP_THRESH` in `ena_netdev.h`).
pub const ENA_TX_WAKEUP_THRESH: u16 = MAX_SKB_FRAGS + 2;
/// Default TX/RX ring depth (`ENA_DEFAULT_RING_SIZE`).
pub const ENA_DEFAULT_RING_SIZE: u16 = 1024;
/// Smallest ring depth the driver accepts (`ENA_MIN_RING_SIZE`).
pub const ENA_MIN_RING_SIZE: u16 = 256;
/// Size in bytes of every TX/RX submission descriptor.
pub const DESC_SIZE: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genmask_matches_hand_values() {
        assert_eq!(genmask(15, 0), 0x0000_ffff);
        assert_eq!(genmask(21, 16), 0x003f_0000);
        assert_eq!(genmask(31, 22), 0xffc0_0000);
        assert_eq!(genmask(31, 24), 0xff00_0000);
        assert_eq!(bit(28), 0x1000_0000);
    }

    #[test]
    fn every_shift_is_the_low_bit_of_its_mask() {
        for (name, value) in KERNEL_DEFS {
            if let Some(stem) = name.strip_suffix("_SHIFT") {
                let mask_name = [stem, "_MASK"].concat();
                let mask = KERNEL_DEFS
                    .iter()
                    .find(|(n, _)| *n == mask_name)
                    .map(|(_, m)| *m);
                assert_eq!(mask.map(u32::trailing_zeros), Some(*value), "{name}");
            }
        }
    }

    #[test]
    fn data_descriptor_mbz_bits_are_the_undefined_ones() {
        assert_eq!(TX_DESC_LEN_CTRL_MBZ, (1 << 22) | (1 << 25) | 0xe000_0000);
        assert_eq!(
            TX_DESC_META_CTRL_MBZ,
            0b0110_0000 | (1 << 16) | (0b1111 << 18)
        );
        assert_eq!(TX_DESC_ADDR_HI_HDR_MBZ, 0x00ff_0000);
    }
}
