//! Counters, named exactly as ENA's `ethtool -S` prints them (`ena_ethtool.c`).

macro_rules! counters {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$fmeta:meta])* $field:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, schemars::JsonSchema))]
        $vis struct $name {
            $( $(#[$fmeta])* pub $field: u64, )*
        }

        impl $name {
            /// Counter names in the order the driver prints them.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];

            /// The counters as `(name, value)` pairs, in print order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
                [$((stringify!($field), self.$field)),*].into_iter()
            }

            /// The counter of that name, for updates by name (parsers).
            pub fn get_mut(&mut self, name: &str) -> Option<&mut u64> {
                match name {
                    $(stringify!($field) => Some(&mut self.$field),)*
                    _ => None,
                }
            }

            /// Index of the counter of that name in [`Self::NAMES`].
            pub fn index_of(name: &str) -> Option<usize> {
                Self::NAMES.iter().position(|n| *n == name)
            }

            /// Field-wise `self - earlier`, saturating at zero. Only meaningful when no counter went down; two
            /// snapshots of a device go through [`crate::ethtool::NicStats::since`], which decides that.
            pub fn delta(&self, earlier: &Self) -> Self {
                Self { $( $field: self.$field.saturating_sub(earlier.$field), )* }
            }

            /// How many counters went up and how many went down since `earlier`.
            pub fn moves(&self, earlier: &Self) -> (usize, usize) {
                let mut m = (0, 0);
                $(
                    if self.$field > earlier.$field {
                        m.0 += 1;
                    } else if self.$field < earlier.$field {
                        m.1 += 1;
                    }
                )*
                m
            }
        }
    };
}

counters! {
    /// Per-TX-queue driver counters, printed as `queue_N_tx_<name>` (`ena_stats_tx_strings`).
    pub struct TxStats {
        /// Packets handed to the device.
        cnt,
        /// Bytes handed to the device.
        bytes,
        /// Times the queue was stopped for lack of descriptors.
        queue_stop,
        /// Times a stopped queue was woken.
        queue_wakeup,
        /// DMA mapping failures.
        dma_mapping_err,
        /// Packets linearized because they had more fragments than the device's scatter-gather limit.
        linearize,
        /// Linearizations that failed.
        linearize_failed,
        /// NAPI polls that completed.
        napi_comp,
        /// NAPI polls.
        tx_poll,
        /// Doorbell writes.
        doorbells,
        /// Packets the driver could not prepare (`ena_com_prepare_tx` failed).
        prepare_ctx_err,
        /// Completions with an invalid or not-outstanding req_id.
        bad_req_id,
        /// Headers copied into the LLQ bounce buffer because the linear part was too short.
        llq_buffer_copy,
        /// Completions that did not arrive in time.
        missed_tx,
        /// Interrupt unmasks.
        unmask_interrupt,
    }
}

counters! {
    /// Per-RX-queue driver counters, printed as `queue_N_rx_<name>` (`ena_stats_rx_strings`).
    pub struct RxStats {
        /// Packets received.
        cnt,
        /// Bytes received.
        bytes,
        /// Small packets copied into a fresh skb (`rx_copybreak`).
        rx_copybreak_pkt,
        /// Packets whose checksum the device verified as good.
        csum_good,
        /// Refills that could not post every buffer asked for.
        refil_partial,
        /// Packets with a checksum error.
        csum_bad,
        /// Page allocation failures.
        page_alloc_fail,
        /// skb allocation failures.
        skb_alloc_fail,
        /// DMA mapping failures.
        dma_mapping_err,
        /// Completions describing a packet over an impossible number of descriptors.
        bad_desc_num,
        /// Completions with an invalid or not-posted req_id.
        bad_req_id,
        /// Watchdog found the ring without buffers.
        empty_rx_ring,
        /// Packets whose checksum the device did not check.
        csum_unchecked,
        /// XDP verdicts (kept for fidelity of the printed set).
        xdp_aborted,
        /// XDP drop verdicts.
        xdp_drop,
        /// XDP pass verdicts.
        xdp_pass,
        /// XDP TX verdicts.
        xdp_tx,
        /// Invalid XDP verdicts.
        xdp_invalid,
        /// XDP redirect verdicts.
        xdp_redirect,
    }
}

counters! {
    /// Device-wide driver counters (`ena_stats_global_strings`).
    pub struct GlobalStats {
        /// TX watchdog timeouts.
        tx_timeout,
        /// Suspends.
        suspend,
        /// Resumes.
        resume,
        /// Keep-alive watchdog expiries.
        wd_expired,
        /// `ip link set up`.
        interface_up,
        /// `ip link set down`.
        interface_down,
        /// Admin queue paused.
        admin_q_pause,
    }
}

counters! {
    /// The hypervisor's allowance counters for the ENI (`ena_stats_eni_strings`): "packets queued or dropped
    /// because ..." each allowance was exceeded; cumulative since the device was reset.
    pub struct EniStats {
        /// Inbound aggregate bandwidth over the instance maximum.
        bw_in_allowance_exceeded,
        /// Outbound aggregate bandwidth over the instance maximum.
        bw_out_allowance_exceeded,
        /// Bidirectional packets per second over the instance maximum.
        pps_allowance_exceeded,
        /// Connection tracking table full: new connections failed.
        conntrack_allowance_exceeded,
        /// Packets to link-local services over 1024 pps.
        linklocal_allowance_exceeded,
    }
}

/// Device-side TX counters of the model. They have no `ethtool -S` name: the real device keeps them to
/// itself and answers with a reset; the model shows them so that tests and users can see what was refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceTxStats {
    /// Packets fetched and handed on.
    pub packets: u64,
    /// Bytes fetched and handed on.
    pub bytes: u64,
    /// Submission entries consumed.
    pub entries: u64,
    /// Completions posted.
    pub completions: u64,
    /// Malformed submissions refused (each also requests a reset).
    pub malformed: u64,
    /// Resets requested, by the device or by the driver.
    pub resets_requested: u64,
}

/// Device-side RX counters of the model (what `ip -s link` would report as drops).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceRxStats {
    /// Packets written to the ring.
    pub packets: u64,
    /// Packets dropped because no buffers were posted (the keep-alive's `rx_drops`).
    pub rx_drops: u64,
    /// Malformed RX descriptors refused.
    pub malformed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_ena_names_in_driver_order() {
        assert_eq!(TxStats::NAMES.len(), 15);
        assert_eq!(TxStats::NAMES[0], "cnt");
        assert_eq!(TxStats::NAMES[8], "tx_poll");
        assert_eq!(RxStats::NAMES[11], "empty_rx_ring");
        assert_eq!(EniStats::NAMES[4], "linklocal_allowance_exceeded");
    }

    #[test]
    fn get_mut_and_delta() {
        let mut a = TxStats::default();
        *a.get_mut("doorbells").unwrap() = 7;
        assert_eq!(a.doorbells, 7);
        assert!(a.get_mut("nope").is_none());
        let b = TxStats {
            doorbells: 3,
            bytes: 10,
            ..TxStats::default()
        };
        let d = a.delta(&b);
        assert_eq!((d.doorbells, d.bytes), (4, 0));
    }
}
