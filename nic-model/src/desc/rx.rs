use bitflags::bitflags;
use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::defs::*;

bitflags! {
    /// `ctrl` byte of an RX descriptor.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct RxCtrl: u8 {
        /// Phase.
        const PHASE = RX_DESC_PHASE_MASK as u8;
        /// First.
        const FIRST = RX_DESC_FIRST_MASK as u8;
        /// Last.
        const LAST = RX_DESC_LAST_MASK as u8;
        /// Completion requested.
        const COMP_REQ = RX_DESC_COMP_REQ_MASK as u8;
        /// Must be one (`ena_com_add_single_rx_desc` sets it).
        const MBO = RX_DESC_MBO_MASK as u8;
    }
}

/// RX submission descriptor, 16 bytes (`struct ena_eth_io_rx_desc`): one empty buffer for the device. Its words are
/// private: [`new`](Self::new) writes them, the accessors read them.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Default, PartialEq, Eq, Debug,
)]
#[repr(C)]
pub struct RxDesc {
    /// Buffer length in bytes; 0 means 64 KiB.
    length: U16,
    /// Must be zero.
    reserved2: u8,
    /// Control bits.
    ctrl: u8,
    /// req_id the completion will carry back.
    req_id: U16,
    /// Must be zero.
    reserved6: U16,
    /// Buffer address bits 31:0.
    buff_addr_lo: U32,
    /// Buffer address bits 47:32.
    buff_addr_hi: U16,
    /// Must be zero.
    reserved16_w3: U16,
}

impl RxDesc {
    /// Builds a refill descriptor as `ena_com_add_single_rx_desc` does (first, last, comp_req, MBO, phase).
    pub fn new(length: u16, req_id: u16, phase: u8, addr: u64) -> Self {
        let mut ctrl = RxCtrl::FIRST | RxCtrl::LAST | RxCtrl::COMP_REQ | RxCtrl::MBO;
        ctrl.set(RxCtrl::PHASE, phase & 1 == 1);
        Self {
            length: U16::new(length),
            reserved2: 0,
            ctrl: ctrl.bits(),
            req_id: U16::new(req_id),
            reserved6: U16::new(0),
            buff_addr_lo: U32::new(addr as u32),
            buff_addr_hi: U16::new((addr >> 32) as u16),
            reserved16_w3: U16::new(0),
        }
    }

    /// req_id the completion will carry back.
    pub fn req_id(&self) -> u16 {
        self.req_id.get()
    }

    /// Buffer size in bytes (a length field of 0 means 65536).
    pub fn buffer_len(&self) -> u32 {
        match self.length.get() {
            0 => 65536,
            n => n as u32,
        }
    }

    /// Control bits.
    pub fn ctrl(&self) -> RxCtrl {
        RxCtrl::from_bits_retain(self.ctrl)
    }

    /// True when a reserved field is non-zero or the must-be-one bit is clear.
    pub fn malformed(&self) -> bool {
        self.reserved2 != 0
            || self.reserved6.get() != 0
            || self.reserved16_w3.get() != 0
            || !self.ctrl().contains(RxCtrl::MBO)
            || self.ctrl & 0b1100_0010 != 0
    }
}
