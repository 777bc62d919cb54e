//! Which driver printed the counters, and how each driver names its per-queue TX packet counter.
//!
//! Every name below is the one the driver's `get_strings` (ETH_SS_STATS) emits in Linux 6.1:
//!
//! | driver | per-queue TX counter | source |
//! |---|---|---|
//! | ena | `queue_N_tx_cnt` | `ena_ethtool.c`: `ena_queue_strings` (`"queue_%u_%s_%s"`, `ena_stats_tx_strings` `cnt`) |
//! | virtio_net | `tx_queue_N_packets` | `virtio_net.c`: `virtnet_get_strings` (`"tx_queue_%u_%s"`, `virtnet_sq_stats_desc`); 6.10+ prints `txN_packets` |
//! | hv_netvsc | `tx_queue_N_packets` | `hyperv/netvsc_drv.c`: `netvsc_get_strings` |
//! | ixgbe | `tx_queue_N_packets` | `ixgbe_ethtool.c`: `ixgbe_get_strings` |
//! | ice | `tx_queue_N_packets` | `ice_ethtool.c`: `__ice_get_strings` |
//! | igb | `tx_queue_N_packets` | `igb_ethtool.c`: `igb_get_strings` |
//! | mlx5_core | `txN_packets` | `mlx5/core/en_stats.c`: `sq_stats_desc` (`MLX5E_DECLARE_TX_STAT`, `"tx%d_"#fld`) |
//! | i40e | `tx-N.packets` (`tx-N.tx_packets` before 4.18) | `i40e_ethtool.c`: `i40e_gstrings_queue_stats` (`"%s-%u.packets"`) |
//! | bnxt_en | `[N]: tx_ucast_packets` + `tx_mcast_packets` + `tx_bcast_packets` | `bnxt_ethtool.c`: `bnxt_get_strings` (`"[%d]: %s"`, `bnxt_ring_tx_stats_str`) |
//! | gve | `tx_posted_desc[N]` (descriptors, no per-queue packet count) | `gve_ethtool.c`: `gve_gstrings_tx_stats` |
//! | mlx4_en | `txN_packets` | `mlx4/en_ethtool.c`: `mlx4_en_get_strings` (`"tx%d_packets"`) |
//! | bnx2x | `[N]: tx_ucast_packets` + `tx_mcast_packets` + `tx_bcast_packets` | `bnx2x_ethtool.c`: `bnx2x_q_stats_arr` (`"[%s]: tx_ucast_packets"`) |
//! | veth | none (`tx_queue_N_xdp_xmit` counts XDP only) | `veth.c`: `veth_get_strings` |

use schemars::JsonSchema;
use serde::Serialize;

/// Highest TX queue count a Linux device can have: `rtnl_create_link` refuses `num_tx_queues > 4096`
/// (net/core/rtnetlink.c), so a larger queue number is not a real device's counter.
pub const MAX_TX_QUEUES: u32 = 4096;

/// A driver txqlab knows the counter names of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub enum Driver {
    /// AWS Elastic Network Adapter.
    #[serde(rename = "ena")]
    Ena,
    /// virtio-net.
    #[serde(rename = "virtio_net")]
    VirtioNet,
    /// Hyper-V netvsc.
    #[serde(rename = "hv_netvsc")]
    HvNetvsc,
    /// Intel 82599/X5xx.
    #[serde(rename = "ixgbe")]
    Ixgbe,
    /// Intel E800.
    #[serde(rename = "ice")]
    Ice,
    /// Intel 82575/82576/I350.
    #[serde(rename = "igb")]
    Igb,
    /// Mellanox/NVIDIA ConnectX-4 and later.
    #[serde(rename = "mlx5_core")]
    Mlx5,
    /// Intel X710/XL710.
    #[serde(rename = "i40e")]
    I40e,
    /// Broadcom NetXtreme-C/E.
    #[serde(rename = "bnxt_en")]
    Bnxt,
    /// Google Virtual NIC.
    #[serde(rename = "gve")]
    Gve,
    /// Virtual ethernet pair.
    #[serde(rename = "veth")]
    Veth,
    /// Mellanox ConnectX-3.
    #[serde(rename = "mlx4_en")]
    Mlx4,
    /// Broadcom NetXtreme II 10/20G.
    #[serde(rename = "bnx2x")]
    Bnx2x,
}

impl Driver {
    /// Every driver, for tables and tests.
    pub const ALL: [Self; 13] = [
        Self::Ena,
        Self::VirtioNet,
        Self::HvNetvsc,
        Self::Ixgbe,
        Self::Ice,
        Self::Igb,
        Self::Mlx5,
        Self::I40e,
        Self::Bnxt,
        Self::Gve,
        Self::Veth,
        Self::Mlx4,
        Self::Bnx2x,
    ];

    /// The name `ethtool -i` prints as `driver:`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ena => "ena",
            Self::VirtioNet => "virtio_net",
            Self::HvNetvsc => "hv_netvsc",
            Self::Ixgbe => "ixgbe",
            Self::Ice => "ice",
            Self::Igb => "igb",
            Self::Mlx5 => "mlx5_core",
            Self::I40e => "i40e",
            Self::Bnxt => "bnxt_en",
            Self::Gve => "gve",
            Self::Veth => "veth",
            Self::Mlx4 => "mlx4_en",
            Self::Bnx2x => "bnx2x",
        }
    }

    /// The driver `ethtool -i` names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The per-queue TX counter scheme this driver prints.
    pub fn tx_scheme(self) -> Option<TxScheme> {
        match self {
            Self::Ena => Some(TxScheme::QueueTxCnt),
            Self::VirtioNet | Self::HvNetvsc | Self::Ixgbe | Self::Ice | Self::Igb => {
                Some(TxScheme::TxQueuePackets)
            }
            Self::Mlx5 | Self::Mlx4 => Some(TxScheme::TxNPackets),
            Self::I40e => Some(TxScheme::TxDashPackets),
            Self::Bnxt | Self::Bnx2x => Some(TxScheme::BnxtRing),
            Self::Gve => Some(TxScheme::GvePostedDesc),
            Self::Veth => None,
        }
    }
}

/// How a driver names its per-queue TX counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxScheme {
    /// ENA `queue_N_tx_cnt`.
    QueueTxCnt,
    /// `tx_queue_N_packets` (virtio_net, hv_netvsc, ixgbe, ice, igb).
    TxQueuePackets,
    /// `txN_packets` (mlx5_core; virtio_net from 6.10).
    TxNPackets,
    /// i40e `tx-N.packets` / `tx-N.tx_packets`.
    TxDashPackets,
    /// bnxt_en `[N]: tx_ucast_packets`, `_mcast_`, `_bcast_`: the three add up to the ring's packets.
    BnxtRing,
    /// gve `tx_posted_desc[N]`.
    GvePostedDesc,
}

impl TxScheme {
    /// Every scheme, in the order inference tries them.
    pub const ALL: [Self; 6] = [
        Self::QueueTxCnt,
        Self::TxQueuePackets,
        Self::TxNPackets,
        Self::TxDashPackets,
        Self::BnxtRing,
        Self::GvePostedDesc,
    ];

    /// The counter name pattern, as the report shows it.
    pub fn pattern(self) -> &'static str {
        match self {
            Self::QueueTxCnt => "queue_N_tx_cnt",
            Self::TxQueuePackets => "tx_queue_N_packets",
            Self::TxNPackets => "txN_packets",
            Self::TxDashPackets => "tx-N.packets",
            Self::BnxtRing => "[N]: tx_ucast_packets + tx_mcast_packets + tx_bcast_packets",
            Self::GvePostedDesc => "tx_posted_desc[N] (descriptors)",
        }
    }

    /// The queue number if `name` is this scheme's per-queue TX counter (or one of its parts).
    pub fn queue_of(self, name: &str) -> Option<u64> {
        let num = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Digits that do not fit 64 bits still name a queue: an absurd one, refused by the caller.
            Some(s.parse::<u64>().unwrap_or(u64::MAX))
        };
        match self {
            Self::QueueTxCnt => num(name.strip_prefix("queue_")?.strip_suffix("_tx_cnt")?),
            Self::TxQueuePackets => {
                num(name.strip_prefix("tx_queue_")?.strip_suffix("_packets")?)
            }
            Self::TxNPackets => num(name.strip_prefix("tx")?.strip_suffix("_packets")?),
            Self::TxDashPackets => {
                let rest = name.strip_prefix("tx-")?;
                num(rest
                    .strip_suffix(".packets")
                    .or_else(|| rest.strip_suffix(".tx_packets"))?)
            }
            Self::BnxtRing => {
                let (q, field) = name.strip_prefix('[')?.split_once("]:")?;
                matches!(
                    field.trim(),
                    "tx_ucast_packets" | "tx_mcast_packets" | "tx_bcast_packets"
                )
                .then_some(())?;
                num(q)
            }
            Self::GvePostedDesc => num(name.strip_prefix("tx_posted_desc[")?.strip_suffix(']')?),
        }
    }
}

/// Infers the driver from counter names no other driver prints. `has` tells whether a name is present;
/// `any` whether a name matching a predicate is (for excerpts that do not start at queue 0).
pub fn infer(
    has: impl Fn(&str) -> bool,
    any: impl Fn(&dyn Fn(&str) -> bool) -> bool,
) -> Option<Driver> {
    let txn = |suffix: &'static str| {
        move |n: &str| {
            n.strip_prefix("tx")
                .and_then(|r| r.strip_suffix(suffix))
                .is_some_and(|q| !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()))
        }
    };
    // ENA's per-queue TX and allowance counters by nic-model's names (`ena_ethtool.c`); the admin queue's
    // counters (`ena_stats_ena_com_strings`) are not modelled there.
    let ena_named = |n: &str| {
        use nic_model::ethtool::{Counter, classify};
        matches!(classify(n), Counter::Tx { .. } | Counter::Eni(_))
    };
    if any(&ena_named) || has("ena_admin_q_aborted_cmd") {
        Some(Driver::Ena)
    } else if has("tx_queue_0_kicks") || any(&txn("_kicks")) {
        Some(Driver::VirtioNet)
    } else if has("tx_queue_0_xdp_xmit") && has("tx_queue_0_packets") {
        Some(Driver::HvNetvsc)
    } else if has("tx_queue_0_restart") {
        Some(Driver::Igb)
    } else if has("fdir_match") || has("rx_pb_0_pxon") {
        Some(Driver::Ixgbe)
    } else if has("tx_bytes.nic") || has("rx_bytes.nic") {
        Some(Driver::Ice)
    } else if any(&txn("_nop")) || any(&txn("_xmit_more")) {
        Some(Driver::Mlx5)
    } else if has("tx-0.packets") || has("tx-0.tx_packets") {
        Some(Driver::I40e)
    } else if any(&|n: &str| n.starts_with('[') && n.ends_with("]: tx_exhaustion_events")) {
        Some(Driver::Bnx2x)
    } else if any(&|n: &str| n.starts_with('[') && n.ends_with("]: tx_ucast_packets")) {
        Some(Driver::Bnxt)
    } else if has("tx_posted_desc[0]") {
        Some(Driver::Gve)
    } else if has("peer_ifindex") {
        Some(Driver::Veth)
    } else {
        None
    }
}

/// `ethtool -i` output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverInfo {
    /// `driver:`.
    pub driver: Option<String>,
    /// `version:`.
    pub version: Option<String>,
    /// `bus-info:`.
    pub bus_info: Option<String>,
}

impl DriverInfo {
    /// The keys `ethtool -i` prints (`dump_drvinfo` in ethtool.c).
    pub const KEYS: [&'static str; 10] = [
        "driver",
        "version",
        "firmware-version",
        "expansion-rom-version",
        "bus-info",
        "supports-statistics",
        "supports-test",
        "supports-eeprom-access",
        "supports-register-dump",
        "supports-priv-flags",
    ];

    /// Takes one `key: value` line; false when the key is not an `ethtool -i` key.
    pub fn take(&mut self, key: &str, value: &str) -> bool {
        let v = value.trim();
        let v = (!v.is_empty()).then(|| v.to_string());
        match key {
            "driver" => self.driver = v,
            "version" => self.version = v,
            "bus-info" => self.bus_info = v,
            k => return Self::KEYS.contains(&k),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_reads_its_own_names_only() {
        use TxScheme::*;
        let cases = [
            (QueueTxCnt, "queue_3_tx_cnt", Some(3)),
            (QueueTxCnt, "queue_3_rx_cnt", None),
            (TxQueuePackets, "tx_queue_12_packets", Some(12)),
            (TxQueuePackets, "rx_queue_12_packets", None),
            (TxNPackets, "tx7_packets", Some(7)),
            (TxNPackets, "ptp_tx0_packets", None),
            (TxNPackets, "tx7_tso_packets", None),
            (TxDashPackets, "tx-2.packets", Some(2)),
            (TxDashPackets, "tx-2.tx_packets", Some(2)),
            (BnxtRing, "[5]: tx_bcast_packets", Some(5)),
            (BnxtRing, "[5]: rx_ucast_packets", None),
            (GvePostedDesc, "tx_posted_desc[1]", Some(1)),
        ];
        for (s, name, q) in cases {
            assert_eq!(s.queue_of(name), q, "{name}");
        }
    }
}
