//! The one error type of `nic-model`.

use core::fmt;

/// Everything that can go wrong in the device model, the driver model, the shaper or the parsers.
///
/// Malformed guest data (descriptors, completions) is reported here and counted, exactly where the real
/// driver or device would notice it; nothing in this crate panics on hostile input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A configuration value is impossible (for example a ring depth that is not a power of two).
    InvalidConfig {
        /// The configuration field at fault.
        field: &'static str,
        /// Why the value is rejected.
        reason: &'static str,
    },
    /// A completion or descriptor carried a req_id outside `0..depth`
    /// (`ena_com_tx_comp_req_id_get`: "Invalid req id"; the driver counts `bad_req_id`).
    BadReqId {
        /// The req_id read.
        req_id: u16,
        /// The ring depth it must be below.
        depth: u16,
    },
    /// A completion named a req_id that has no packet outstanding (`validate_tx_req_id` in `ena_netdev.c`).
    ReqIdNotOutstanding {
        /// The req_id read.
        req_id: u16,
    },
    /// A submission-queue entry inside the doorbell range had the wrong phase bit.
    PhaseMismatch {
        /// Ring index (line) of the entry.
        index: u16,
    },
    /// Must-be-zero bits were set in a descriptor.
    MustBeZero {
        /// Ring index (line) of the entry.
        index: u16,
        /// Which descriptor word (0..4) held them.
        word: u8,
        /// The offending bits.
        bits: u32,
    },
    /// The first/last bits do not delimit a packet (first missing, first repeated, last never seen).
    BadFirstLast {
        /// Ring index (line) of the entry.
        index: u16,
    },
    /// A packet has neither buffer bytes nor pushed header bytes.
    EmptyPacket {
        /// Ring index (line) of the entry.
        index: u16,
    },
    /// An LLQ header does not fit the room left in the entry (`ena_com_write_header_to_bounce`).
    HeaderTooLong {
        /// Header bytes asked for.
        len: u16,
        /// Bytes of room in the entry.
        room: u16,
    },
    /// A packet uses more descriptors than the device accepts.
    TooManyDescriptors {
        /// Descriptors used.
        count: u16,
        /// Maximum allowed.
        max: u16,
    },
    /// The submission queue has no room for the packet: `ena_com_prepare_tx` wants `num_bufs + 1` free entries
    /// (-ENOMEM). `ena_start_xmit` drops the packet and counts `prepare_ctx_err`, without a reset.
    NoSpace,
    /// The queue is stopped; the stack must not transmit on it until it is woken.
    QueueStopped,
    /// An LLQ line had to be written with the burst budget (`max_entries_in_tx_burst` since the last doorbell)
    /// spent: `ena_com_write_bounce_buffer_to_dev` returns -ENOSPC, the packet is dropped and the driver resets.
    TxBurstExceeded,
    /// The device asked for a reset earlier; the queue refuses work until [`reset`] is called.
    ///
    /// [`reset`]: crate::TxQueue::reset
    ResetPending,
    /// An RX completion referred to more descriptors than the ring holds, or its first bit was wrong
    /// (`ena_com_cdesc_rx_pkt_get`; the driver counts `bad_desc_num`).
    BadDescNum {
        /// Descriptors the packet claimed.
        count: u16,
    },
    /// The RX ring had no buffer to place a packet in (`empty_rx_ring`).
    EmptyRxRing,
    /// A line of `ethtool -S` text could not be read.
    Parse {
        /// 1-based line number.
        line: usize,
        /// What was wrong with it.
        kind: ParseErrorKind,
    },
}

/// Why a statistics line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// No `name: value` separator.
    MissingColon,
    /// The counter name is empty.
    EmptyName,
    /// The value is not a non-negative integer that fits 64 bits.
    BadValue,
    /// The same counter appeared twice.
    Duplicate,
    /// A per-queue counter names a queue beyond the model's limit.
    QueueOutOfRange,
    /// There were no counters at all.
    Empty,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingColon => "expected `name: value`",
            Self::EmptyName => "counter name is empty",
            Self::BadValue => "value is not a non-negative 64-bit integer",
            Self::Duplicate => "counter appears twice",
            Self::QueueOutOfRange => "queue index beyond the supported maximum",
            Self::Empty => "no counters found",
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::InvalidConfig { field, reason } => {
                write!(f, "invalid configuration `{field}`: {reason}")
            }
            Self::BadReqId { req_id, depth } => {
                write!(f, "invalid req_id {req_id} (ring depth {depth})")
            }
            Self::ReqIdNotOutstanding { req_id } => {
                write!(f, "req_id {req_id} completed but not outstanding")
            }
            Self::PhaseMismatch { index } => {
                write!(f, "phase mismatch in submission entry {index}")
            }
            Self::MustBeZero { index, word, bits } => {
                write!(
                    f,
                    "must-be-zero bits {bits:#010x} set in word {word} of entry {index}"
                )
            }
            Self::BadFirstLast { index } => write!(
                f,
                "first/last bits do not delimit a packet at entry {index}"
            ),
            Self::EmptyPacket { index } => write!(f, "packet at entry {index} has no bytes"),
            Self::HeaderTooLong { len, room } => write!(
                f,
                "LLQ header of {len} bytes exceeds the {room} bytes of room"
            ),
            Self::TooManyDescriptors { count, max } => {
                write!(f, "packet uses {count} descriptors, at most {max} allowed")
            }
            Self::NoSpace => f.write_str("submission queue full"),
            Self::QueueStopped => f.write_str("queue stopped"),
            Self::TxBurstExceeded => {
                f.write_str("more entries than max_entries_in_tx_burst without a doorbell")
            }
            Self::ResetPending => f.write_str("device reset pending"),
            Self::BadDescNum { count } => {
                write!(f, "RX packet spans a bad number of descriptors ({count})")
            }
            Self::EmptyRxRing => f.write_str("RX ring empty"),
            Self::Parse { line, kind } => write!(f, "line {line}: {kind}"),
        }
    }
}

impl core::error::Error for Error {}

/// Shorthand for results in this crate.
pub type Result<T> = core::result::Result<T, Error>;
