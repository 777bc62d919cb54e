//! The ENA driver's own code as the test oracle of `nic-model`.
//!
//! `build.rs` compiles `drivers/net/ethernet/amazon/ena/ena_eth_com.c` from Debian's linux-source-6.1 as user-space
//! C against txqlab's platform shim (`shim/`: fixed-width types, barriers, `writel`/`__iowrite64_copy` into plain
//! memory, `netdev_err` as a print) together with `csrc/oracle.c`, which plays the netdev side (`ena_start_xmit`,
//! `ena_clean_tx_irq`, ...) around the real `ena_com_prepare_tx`, `ena_com_rx_pkt` and the inline helpers of
//! `ena_eth_com.h`.
//!
//! - [`OracleTxQueue`] and [`OracleRxQueue`]: safe handles on the compiled code.
//! - [`diff`]: drives an [`OracleTxQueue`] and a `nic_model::TxQueue` with the same packets and completions and
//!   compares submission-queue bytes (LLQ: device memory as written from the bounce buffers), doorbells, counters,
//!   queue state and results after every step; the same for RX completions against `nic_model::RxQueue`.
//!
//! Without the kernel source the crate still builds and [`unavailable`] says why.

mod rx;
mod tx;

pub mod diff;

pub use rx::{OracleRxQueue, OracleRxStats, RxPkt};
pub use tx::{OracleState, OracleTxQueue, Xmit};

/// Why the oracle was not built (no kernel source, or it did not compile); `None` when it is there.
pub fn unavailable() -> Option<&'static str> {
    if cfg!(ena_oracle) {
        None
    } else {
        Some(
            option_env!("ENA_ORACLE_MISSING")
                .unwrap_or("ena-oracle was built without the kernel source"),
        )
    }
}

/// Where the compiled ENA sources were taken from.
pub fn source_dir() -> Option<&'static str> {
    option_env!("ENA_ORACLE_SOURCE")
}

/// Errors of the oracle handles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OracleError {
    /// The oracle was not built; the text says why.
    #[error("ENA oracle unavailable: {0}")]
    Unavailable(&'static str),
    /// The configuration is outside what the oracle (or the driver) supports.
    #[error("ENA oracle configuration: {0}")]
    Config(&'static str),
}
