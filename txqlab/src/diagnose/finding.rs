//! Findings: a stable id, a severity, a message with the advice, and details for scripts.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Needs action; makes the exit status 1.
    Warning,
}

/// The finding ids: stable names scripts can match on. [`FindingId::meaning`] is the README's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingId {
    /// One TX queue carries nearly all packets.
    TxQueuePinning,
    /// One TX queue carries more than twice its fair share.
    TxQueueImbalance,
    /// Too few packets to judge the spread.
    TooFewPackets,
    /// The spread check did not run: no per-queue counts.
    PerQueueUnavailable,
    /// Queue numbers are missing in the counters.
    QueueNumbersMissing,
    /// Counters hold 2^64-1.
    CounterInvalid,
    /// Counters went down between the snapshots.
    CountersReset,
    /// An ENA allowance counter rose.
    AllowanceExceeded,
    /// ENA TX queues stopped for lack of descriptors.
    TxQueueStops,
    /// ENA completions with an invalid req_id.
    BadReqId,
    /// ENA device resets.
    DeviceReset,
    /// ENA TX completions that did not arrive in time.
    MissedTx,
    /// The ENA driver version's queue-selection hook.
    EnaSelectQueue,
    /// A qdisc or class dropped packets.
    QdiscDrops,
    /// A qdisc or class requeued packets.
    QdiscRequeues,
    /// TCP retransmitted segments in the interval.
    TcpRetransmits,
    /// Which TX queues have an XPS map by CPU (live snapshots and bundles).
    XpsMap,
}

impl FindingId {
    /// Every id, in the README's order.
    pub const ALL: [Self; 17] = [
        Self::TxQueuePinning,
        Self::TxQueueImbalance,
        Self::TooFewPackets,
        Self::PerQueueUnavailable,
        Self::QueueNumbersMissing,
        Self::CounterInvalid,
        Self::CountersReset,
        Self::AllowanceExceeded,
        Self::TxQueueStops,
        Self::BadReqId,
        Self::DeviceReset,
        Self::MissedTx,
        Self::EnaSelectQueue,
        Self::QdiscDrops,
        Self::QdiscRequeues,
        Self::TcpRetransmits,
        Self::XpsMap,
    ];

    /// The id as JSON and the text report print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TxQueuePinning => "tx_queue_pinning",
            Self::TxQueueImbalance => "tx_queue_imbalance",
            Self::TooFewPackets => "too_few_packets",
            Self::PerQueueUnavailable => "per_queue_unavailable",
            Self::QueueNumbersMissing => "queue_numbers_missing",
            Self::CounterInvalid => "counter_invalid",
            Self::CountersReset => "counters_reset",
            Self::AllowanceExceeded => "allowance_exceeded",
            Self::TxQueueStops => "tx_queue_stops",
            Self::BadReqId => "bad_req_id",
            Self::DeviceReset => "device_reset",
            Self::MissedTx => "missed_tx",
            Self::EnaSelectQueue => "ena_select_queue",
            Self::QdiscDrops => "qdisc_drops",
            Self::QdiscRequeues => "qdisc_requeues",
            Self::TcpRetransmits => "tcp_retransmits",
            Self::XpsMap => "xps_map",
        }
    }

    /// Severity, where fixed (`ena_select_queue` depends on the version).
    pub fn severity(self) -> Severity {
        match self {
            Self::TxQueuePinning
            | Self::TxQueueImbalance
            | Self::CountersReset
            | Self::AllowanceExceeded
            | Self::BadReqId
            | Self::DeviceReset
            | Self::MissedTx
            | Self::QdiscDrops => Severity::Warning,
            _ => Severity::Info,
        }
    }

    /// What the finding means, for the README table and `--help`.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::TxQueuePinning => {
                "one TX queue carries 90% or more of at least 1000 TX packets on a multi-queue device: the signature \
                 of the veth rx-queue recording bug (or one elephant flow)"
            }
            Self::TxQueueImbalance => {
                "one TX queue carries more than twice its fair share: few flows, a skewed hash, XPS or traffic classes"
            }
            Self::TooFewPackets => "fewer than 1000 TX packets: the spread was not judged",
            Self::PerQueueUnavailable => {
                "no per-queue TX counts (unknown driver, veth, no mq qdisc): the spread check did not run; the \
                 message says how to get the counts"
            }
            Self::QueueNumbersMissing => {
                "queue numbers have gaps (e.g. 0, 1, 3): an edited or truncated dump; shares are of the queues present"
            }
            Self::CounterInvalid => {
                "counters hold 2^64-1 (a driver's -1 printed unsigned): left out of every sum and check"
            }
            Self::CountersReset => {
                "some counters went down between --before and the input (device reset, driver reload): the findings \
                 use the input's counts since the reset, not differences"
            }
            Self::AllowanceExceeded => {
                "an ENA allowance counter (bw_in, bw_out, pps, conntrack, linklocal) is above zero: the hypervisor \
                 queued or dropped packets"
            }
            Self::TxQueueStops => {
                "ENA queue_N_tx_queue_stop: the TX ring filled up and the queue was stopped"
            }
            Self::BadReqId => "ENA completions with an invalid req_id: each one resets the device",
            Self::DeviceReset => "ENA tx_timeout or wd_expired: the driver reset the device",
            Self::MissedTx => "ENA queue_N_tx_missed_tx: TX completions did not arrive in time",
            Self::EnaSelectQueue => {
                "what the ENA driver version (ethtool -i) says about its ena_select_queue hook: warning for \
                 amzn-drivers 2.9.0 to 2.11.x (a recorded rx queue reduced modulo), info otherwise (before 2.9.0: \
                 returned as is; 2.12.0 and later: no hook; in-tree: depends on the kernel, removed by 78e886ba2b54 in v6.9 and the 2024-03 stable releases, `txqlab facts`)"
            }
            Self::QdiscDrops => {
                "a qdisc or class dropped packets (TCP retransmits follow, 200 ms minimum RTO)"
            }
            Self::QdiscRequeues => "a qdisc requeued packets: the driver reported busy (ring full)",
            Self::TcpRetransmits => {
                "TCP retransmitted segments between two live snapshots (/proc/net/snmp RetransSegs)"
            }
            Self::XpsMap => {
                "how many TX queues have an XPS map by CPU (sysfs xps_cpus, from live snapshots and bundles): with one, \
                 netdev_pick_tx's get_xps_queue decides before a recorded rx queue; without, the recorded queue or \
                 the flow hash does"
            }
        }
    }
}

/// One finding.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Finding {
    /// Stable identifier.
    pub id: FindingId,
    /// Severity.
    pub severity: Severity,
    /// What it means and what to do.
    pub message: String,
    /// Details for scripts (queue, share, counter, value, device, rate_per_s, ...).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// A widened count as a JSON number: exact up to 2^64-1, a float beyond (the message has the exact value).
pub fn big(v: u128) -> Value {
    match u64::try_from(v) {
        Ok(v) => Value::from(v),
        Err(_) => Value::from(v as f64),
    }
}

/// Builds a finding with its id's severity.
pub fn finding(id: FindingId, message: String, extra: Value) -> Finding {
    with_severity(id, id.severity(), message, extra)
}

/// Builds a finding with an explicit severity.
pub fn with_severity(id: FindingId, severity: Severity, message: String, extra: Value) -> Finding {
    let extra = match extra {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    Finding {
        id,
        severity,
        message,
        extra,
    }
}

/// The README's findings table, generated from [`FindingId::meaning`].
pub fn markdown_table() -> String {
    let mut s = String::from("| id | severity | meaning |\n|---|---|---|\n");
    for id in FindingId::ALL {
        let sev = match id {
            FindingId::EnaSelectQueue => "info or warning",
            _ => match id.severity() {
                Severity::Warning => "warning",
                Severity::Info => "info",
            },
        };
        s.push_str(&format!(
            "| `{}` | {sev} | {} |\n",
            id.as_str(),
            id.meaning()
        ));
    }
    s
}
