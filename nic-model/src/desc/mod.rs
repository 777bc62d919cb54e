//! Byte-exact ENA I/O descriptors (`ena_eth_io_defs.h`), all fields little-endian.
//!
//! Each type is a `#[repr(C)]` zerocopy struct that can be viewed over raw ring memory, with typed accessors
//! for every field and a `validate` that reports must-be-zero violations as [`Error`](crate::Error) values.
//! The TX descriptors and completions and the RX completion keep their words private and pair with a value type,
//! as smoltcp's wire `Packet`/`Repr` do: [`TxDescRepr`], [`TxMetaDescRepr`], [`TxCdescRepr`] and [`RxCdescRepr`]
//! `emit` the words the writer puts in the ring and `parse` what the reader finds there.

mod rx;
mod rx_cdesc;
mod tx;
mod tx_cdesc;
mod tx_meta;

pub use rx::{RxCtrl, RxDesc};
pub use rx_cdesc::{RxCdesc, RxCdescRepr, RxStatus};
pub use tx::{TxCtrl, TxDesc, TxDescRepr, TxOffload};
pub use tx_cdesc::{TxCdesc, TxCdescRepr};
pub use tx_meta::{TxMetaCtrl, TxMetaDesc, TxMetaDescRepr};

use static_assertions::const_assert_eq;

const_assert_eq!(core::mem::size_of::<TxDesc>(), 16);
const_assert_eq!(core::mem::size_of::<TxMetaDesc>(), 16);
const_assert_eq!(core::mem::size_of::<TxCdesc>(), 8);
const_assert_eq!(core::mem::size_of::<RxDesc>(), 16);
const_assert_eq!(core::mem::size_of::<RxCdesc>(), 16);

/// Splits a 16-bit req_id into the TX descriptor's high (bits 15:10) and low (bits 9:0) parts.
#[inline(always)]
pub(crate) const fn split_req_id(req_id: u16) -> (u32, u32) {
    ((req_id as u32) >> 10, (req_id as u32) & 0x3ff)
}
