//! `txqlab predict`: where will N flows land on this kernel, driver and path, and which branch decides.

use std::fmt::Write as _;

use qdisc::predict::predict;
use qdisc::veth::Path;

use qdisc::{Branch, Confidence, DriverHook, KernelProfile, NetDev, RefSelector};
use schemars::JsonSchema;
use serde::Serialize;

/// Version of the JSON layout of [`Answer`]; raised when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// The egress driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Driver {
    /// AWS ENA (its old `ena_select_queue` on kernels before 6.9).
    Ena,
    /// virtio_net (default XPS map by CPU).
    #[value(name = "virtio_net")]
    VirtioNet,
    /// Any driver without its own queue selection and without default XPS.
    Other,
}

/// What to predict.
#[derive(Debug, Clone)]
pub struct Query {
    /// `uname -r` of the node.
    pub kernel: String,
    /// Egress driver.
    pub driver: Driver,
    /// Where the traffic starts.
    pub path: Path,
    /// XPS by CPU: `None` means the driver's default (on for virtio_net, off otherwise).
    pub xps: Option<bool>,
    /// TX queues.
    pub queues: u16,
    /// Flows.
    pub flows: u32,
    /// Online CPUs (for the XPS map).
    pub cpus: u16,
    /// Sending CPU.
    pub cpu: u16,
    /// Overrides the profile's veth inference.
    pub veth_records: Option<bool>,
}

/// The answer, as `--json` prints it (schema: txqlab/schemas/predict.schema.json).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Answer {
    /// Version of this layout.
    pub schema_version: u32,
    /// The kernel release.
    pub kernel: String,
    /// Whether veth records the rx queue on this kernel.
    pub veth_records_rx_queue: bool,
    /// How sure the profile is: certain, likely, ambiguous.
    pub confidence: String,
    /// Why.
    pub reason: String,
    /// The driver's `ndo_select_queue` in effect: `none` (the core's `netdev_pick_tx`), `ena_select_queue` or
    /// `bond_select_queue`.
    pub driver_hook: String,
    /// The deciding branch, by the kernel function that decides: `tc_egress_hook`, `single_queue`,
    /// `sk_tx_queue_get`, `xps_rxqs`, `xps_cpus`, `skb_tx_hash_rx_recorded`, `skb_tx_hash`,
    /// `ndo_select_queue_rx_recorded`, `ndo_select_queue_default`.
    pub branch: String,
    /// True when every flow lands on one known queue.
    pub exact: bool,
    /// Expected share per queue.
    pub expected_share: Vec<f64>,
    /// Flows per queue: lowest and highest consistent with the model at 99.9 %.
    pub band: Vec<(u32, u32)>,
    /// Flows predicted.
    pub flows: u32,
}

/// The hook's name as the driver source names it.
pub fn hook_name(h: DriverHook) -> &'static str {
    match h {
        DriverHook::None => "none",
        DriverHook::EnaLegacy => "ena_select_queue",
        DriverHook::Bonding => "bond_select_queue",
    }
}

/// The branch's name after the kernel function that decides in it (`netdev_pick_tx` and its callees).
pub fn branch_name(b: Branch) -> &'static str {
    match b {
        Branch::TcHook => "tc_egress_hook",
        Branch::SingleQueue => "single_queue",
        Branch::SocketCache => "sk_tx_queue_get",
        Branch::XpsRxqs => "xps_rxqs",
        Branch::XpsCpus => "xps_cpus",
        Branch::RxRecorded => "skb_tx_hash_rx_recorded",
        Branch::Hash => "skb_tx_hash",
        Branch::DriverRxRecorded => "ndo_select_queue_rx_recorded",
        Branch::DriverDefault => "ndo_select_queue_default",
    }
}

/// The JSON Schema of [`Answer`], as committed in `txqlab/schemas/predict.schema.json`.
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(Answer)
}

/// Runs a prediction.
pub fn run(q: &Query) -> Result<Answer, String> {
    let profile = KernelProfile::from_release(&q.kernel)
        .map_err(|e| format!("--kernel {}: {e}", q.kernel))?;
    let profile = match q.veth_records {
        Some(v) => profile.with_override(v),
        None => profile,
    };
    let mut dev = NetDev::new(q.queues).map_err(|e| format!("--queues: {e}"))?;
    let xps = q.xps.unwrap_or(q.driver == Driver::VirtioNet);
    if xps {
        dev = dev
            .with_virtio_default_xps(q.cpus)
            .map_err(|e| format!("--cpus: {e}"))?;
    }
    if q.driver == Driver::Ena && profile.ena_select_queue {
        dev.driver = DriverHook::EnaLegacy;
    }
    let hook = hook_name(dev.driver).to_string();
    let sel = RefSelector::new(dev, profile.rules, 0x7c).map_err(|e| e.to_string())?;
    let p = predict(&sel, q.path, profile.veth_records_rx_queue, q.cpu, q.flows);
    Ok(Answer {
        schema_version: SCHEMA_VERSION,
        kernel: q.kernel.clone(),
        veth_records_rx_queue: profile.veth_records_rx_queue,
        confidence: match profile.confidence {
            Confidence::Certain => "certain",
            Confidence::Likely => "likely",
            Confidence::Ambiguous => "ambiguous",
        }
        .into(),
        reason: profile.reason.into(),
        driver_hook: hook,
        branch: branch_name(p.branch).to_string(),
        exact: p.exact,
        expected_share: p.queues.iter().map(|s| s.expected).collect(),
        band: p.queues.iter().map(|s| (s.low, s.high)).collect(),
        flows: p.flows,
    })
}

/// The readable form.
pub fn render(a: &Answer) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "kernel {}: veth {} the rx queue ({}: {})",
        a.kernel,
        if a.veth_records_rx_queue {
            "records"
        } else {
            "does not record"
        },
        a.confidence,
        a.reason
    );
    let _ = writeln!(
        out,
        "driver hook: {}; deciding branch: {}{}",
        a.driver_hook,
        a.branch,
        if a.exact {
            " (every flow on the same queue)"
        } else {
            " (hash-based: band at 99.9 %)"
        }
    );
    let _ = writeln!(out, "{} flows per TX queue:", a.flows);
    for (q, (share, (lo, hi))) in a.expected_share.iter().zip(&a.band).enumerate() {
        let bar = "#".repeat((share * 50.0).round() as usize);
        let range = if lo == hi {
            format!("{lo}")
        } else {
            format!("{lo}..{hi}")
        };
        let _ = writeln!(
            out,
            "  queue {q:>2} {:>5.1}% {range:>11}  {bar}",
            share * 100.0
        );
    }
    out
}
