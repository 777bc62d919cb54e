//! Scenario files: TOML, every field required, unknown fields rejected, stages as cumulative overrides.
//!
//! The embedded default (`scenarios/incident.toml`) is the incident; `txqlab simulate --print-scenario` writes it
//! out to edit. Errors name the file, the line and the field.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::{Error, Result};

pub mod instances;

/// The embedded default scenario.
pub const INCIDENT: &str = include_str!("../scenarios/incident.toml");

/// A scenario file: parameters plus the stages that modify them one after the other.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Scenario name.
    pub name: String,
    /// Seed of every random draw.
    pub seed: u64,
    /// Simulated seconds per stage.
    pub duration_s: f64,
    /// Deploy window.
    pub rollout: Rollout,
    /// Request sources.
    pub clients: Clients,
    /// The sidecar proxy.
    pub proxy: Proxy,
    /// The node's kernel.
    pub kernel: Kernel,
    /// The ENA device and its qdiscs.
    pub nic: Nic,
    /// The path to the remote cache.
    pub network: Network,
    /// The instance's network allowances.
    pub allowance: Allowance,
    /// The remote cache.
    pub remote: Remote,
    /// TCP loss recovery.
    pub tcp: Tcp,
    /// Other pods' egress on the node: batch uploads.
    pub background: Background,
    /// Other pods' egress on the node: fan-outs over many short flows (none when the section is absent).
    #[serde(default)]
    pub fanout: Background,
    /// Stages, applied cumulatively.
    #[serde(default)]
    pub stages: Vec<StageDef>,
}

/// One stage: a name and the parameters it changes (dotted keys).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StageDef {
    /// Stage name.
    pub name: String,
    /// Overrides, `"section.key" = value`.
    #[serde(default)]
    pub set: toml::Table,
}

/// The deploy window.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Start, seconds into the stage.
    pub start_s: f64,
    /// End.
    pub end_s: f64,
    /// New pods started over the window (one after the other, at jittered intervals).
    pub pods: u32,
    /// How long one new pod warms its cache.
    pub warmup_s: f64,
}

/// Request sources.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Clients {
    /// Requests per second outside the rollout.
    pub steady_rps: f64,
    /// Requests per second one warming pod adds.
    pub warmup_rps: f64,
    /// Reads one warming pod keeps in flight at most (0: no limit).
    #[serde(default)]
    pub warmup_inflight: u32,
    /// Client timeout.
    pub timeout_ms: u64,
    /// Retries before giving up.
    pub max_retries: u32,
}

/// The sidecar proxy.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// CPU limit in cores (CFS quota / period).
    pub cores: f64,
    /// CFS period.
    pub cfs_period_ms: u64,
    /// Worker threads (Envoy's concurrency).
    pub threads: u32,
    /// CPU per request.
    pub cpu_per_request_us: u64,
    /// Pending requests at most.
    pub max_pending: usize,
    /// Upstream connections (flows).
    pub connections: u32,
    /// Request size on the wire.
    pub request_bytes: u32,
}

/// The node's kernel.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    /// `uname -r`.
    pub release: String,
    /// Sending CPU.
    pub cpu: u16,
    /// Overrides the profile's veth inference.
    #[serde(default)]
    pub veth_records_rx_queue: Option<bool>,
}

/// Child qdisc kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QdiscKind {
    /// fq_codel.
    FqCodel,
    /// pfifo_fast.
    PfifoFast,
}

/// The ENA device.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    /// TX queues.
    pub queues: u16,
    /// Child qdisc.
    pub qdisc: QdiscKind,
    /// fq_codel limit.
    pub fq_codel_limit: u32,
    /// pfifo_fast band length.
    pub txqueuelen: u32,
    /// TX ring depth.
    pub ring_depth: u16,
    /// BQL byte limit per ring.
    pub bql_limit_bytes: u64,
    /// Per-queue packet rate.
    pub queue_pps: f64,
    /// Per-queue bit rate.
    pub queue_gbps: f64,
    /// virtio-style XPS by CPU.
    pub xps_cpus: bool,
}

/// The network path.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// One-way latency.
    pub one_way_us: u64,
    /// TCP MSS.
    pub mss: u32,
}

/// The instance allowances.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Allowance {
    /// The node's instance type: its baseline and burst bandwidth come from the embedded catalogue
    /// ([`instances::CATALOGUE`]).
    pub instance: String,
    /// Bits the bandwidth allowance lets through above the baseline rate at once, in Mbit (the shaper's
    /// micro-burst bucket).
    pub burst_mbit: f64,
    /// The packet-rate allowance's bucket, in milliseconds of `pps`.
    pub pps_burst_ms: f64,
    /// Credits at the start, in seconds at peak.
    pub credit_s: f64,
    /// Packets per second.
    pub pps: u64,
    /// Shaping queue delay bound, in milliseconds (a fraction allowed: the sweep moves it by 10%).
    pub max_delay_ms: f64,
}

/// The remote cache.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    /// Instances.
    pub instances: u32,
    /// Fixed service time.
    pub service_base_ms: f64,
    /// Mean of the exponential service time.
    pub service_mean_ms: f64,
    /// Response size.
    pub response_bytes: u32,
    /// How long a terminating instance swallows requests.
    pub terminating_s: f64,
    /// Terminations per minute of rollout, at random times, each of a random instance.
    pub terminations_per_min: f64,
    /// Clients stop sending to terminating instances.
    pub drain: bool,
    /// Requests one instance serves at once; the rest wait in FIFO order.
    pub workers: u32,
    /// The remote's line rate: back-to-back segments of a connection leave this fast.
    pub line_gbps: f64,
    /// The remote cache's kernel (`uname -r`), for its TCP timers; the node's (`kernel.release`) when absent.
    #[serde(default)]
    pub kernel_release: Option<String>,
}

/// TCP loss recovery.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tcp {
    /// Minimum RTO.
    pub rto_min_ms: u64,
    /// Initial congestion window, segments.
    pub init_cwnd: u32,
    /// Largest congestion window (the receive window), segments.
    pub max_cwnd: u32,
}

/// Other pods' egress on the node (not the sidecar's connections): bursts of small packets at random times, on
/// `flows` flows that leave through the same veth, TX-queue selection, qdiscs, ring and shaper. Open loop: drops
/// do not slow it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Background {
    /// Bursts per minute, at random times over the whole stage.
    pub bursts_per_min: f64,
    /// Length of one burst.
    pub burst_ms: f64,
    /// Packets per second during a burst.
    pub burst_pps: f64,
    /// Bytes of one packet on the wire.
    pub packet_bytes: u32,
    /// Flows the bursts are spread over.
    pub flows: u32,
}

/// No bursts.
impl Default for Background {
    fn default() -> Self {
        Self {
            bursts_per_min: 0.0,
            burst_ms: 0.0,
            burst_pps: 0.0,
            packet_bytes: 1500,
            flows: 1,
        }
    }
}

/// The parameters of one stage (the file without its stage list).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Scenario name.
    pub name: String,
    /// Seed.
    pub seed: u64,
    /// Simulated seconds.
    pub duration_s: f64,
    /// See [`ScenarioFile`].
    pub rollout: Rollout,
    /// See [`ScenarioFile`].
    pub clients: Clients,
    /// See [`ScenarioFile`].
    pub proxy: Proxy,
    /// See [`ScenarioFile`].
    pub kernel: Kernel,
    /// See [`ScenarioFile`].
    pub nic: Nic,
    /// See [`ScenarioFile`].
    pub network: Network,
    /// See [`ScenarioFile`].
    pub allowance: Allowance,
    /// See [`ScenarioFile`].
    pub remote: Remote,
    /// See [`ScenarioFile`].
    pub tcp: Tcp,
    /// See [`ScenarioFile`].
    pub background: Background,
    /// See [`ScenarioFile`].
    #[serde(default)]
    pub fanout: Background,
}

impl Allowance {
    /// (baseline, burst) bandwidth in Gbit/s of the instance type, per direction.
    pub fn bandwidth_gbps(&self) -> Result<(f64, f64)> {
        instances::lookup(&self.instance).map(|t| (t.baseline_gbps, t.peak_gbps))
    }
}

/// A stage ready to run.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Its name.
    pub name: String,
    /// Its parameters (all earlier stages' overrides applied).
    pub params: Params,
}

/// A loaded scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where it came from (a path, or `<embedded incident>`).
    pub origin: String,
    base: toml::Table,
    stages: Vec<StageDef>,
}

impl Scenario {
    /// Parses scenario text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let syntax = |e| Error::ScenarioSyntax {
            file: origin.to_string(),
            source: Box::new(e),
        };
        // Typed parse first: toml reports the line, column and field of any mistake.
        let file: ScenarioFile = toml::from_str(text).map_err(syntax)?;
        let mut base: toml::Table = toml::from_str(text).map_err(syntax)?;
        base.remove("stages");
        let mut stages = file.stages;
        if stages.is_empty() {
            stages.push(StageDef {
                name: "default".into(),
                set: toml::Table::new(),
            });
        }
        let s = Self {
            origin: origin.to_string(),
            base,
            stages,
        };
        // Every stage must resolve to valid parameters: a bad value in the last stage fails before anything runs.
        for i in 0..s.stages.len() {
            let p = s.stage(i)?;
            if let Err(invalid) = validate(&p.params) {
                return Err(Error::Scenario {
                    file: origin.to_string(),
                    line: s.line_of(text, i, invalid.key),
                    stage: p.name,
                    invalid,
                });
            }
        }
        Ok(s)
    }

    /// The line (1-based) that sets `key` for stage `i`: the last stage up to `i` overriding it, else the base
    /// section's `key = ...` line.
    fn line_of(&self, text: &str, i: usize, key: &str) -> Option<usize> {
        let lines: Vec<&str> = text.lines().collect();
        if let Some(k) = (0..=i)
            .rev()
            .find(|&k| self.stages[k].set.contains_key(key))
        {
            // The k-th `[[stages]]` block, then the line that names the key (inline table or `[stages.set]`).
            let start = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.trim_start().starts_with("[[stages]]"))
                .nth(k)
                .map(|(n, _)| n)?;
            let quoted = format!("\"{key}\"");
            return lines
                .iter()
                .enumerate()
                .skip(start)
                .find(|(_, l)| l.contains(&quoted))
                .map(|(n, _)| n + 1);
        }
        let (section, field) = match key.rsplit_once('.') {
            Some((s, f)) => (Some(s), f),
            None => (None, key),
        };
        let mut cur: Option<&str> = None;
        for (n, l) in lines.iter().enumerate() {
            let t = l.trim();
            if t.starts_with('[') {
                cur = Some(t.trim_matches(|c| c == '[' || c == ']').trim());
                continue;
            }
            let is_key = t
                .strip_prefix(field)
                .is_some_and(|rest| rest.trim_start().starts_with('='));
            if is_key && cur == section {
                return Some(n + 1);
            }
        }
        None
    }

    /// The embedded incident.
    pub fn incident() -> Result<Self> {
        Self::parse(INCIDENT, "<embedded incident scenario>")
    }

    /// Stage names in order.
    pub fn stage_names(&self) -> Vec<String> {
        self.stages.iter().map(|s| s.name.clone()).collect()
    }

    /// Stage `i` with the overrides of stages `0..=i` applied.
    pub fn stage(&self, i: usize) -> Result<Stage> {
        let mut t = self.base.clone();
        for s in &self.stages[..=i] {
            for (key, value) in &s.set {
                set_dotted(&mut t, key, value.clone()).map_err(|e| Error::Stage {
                    file: self.origin.clone(),
                    stage: s.name.clone(),
                    source: Box::new(e),
                })?;
            }
        }
        let name = self.stages[i].name.clone();
        let params: Params = t.try_into().map_err(|e| Error::StageParams {
            file: self.origin.clone(),
            stage: name.clone(),
            source: Box::new(e),
        })?;
        Ok(Stage { name, params })
    }

    /// The scenario with `key` of its base sections (what holds before any stage's `set`) set to `value`. A stage
    /// that sets the key itself keeps its own value, as it would had the file said so: moving
    /// `remote.instances` from 12 to 11 leaves the scale-out stage (and those after it) at its 24. The sweep of
    /// assumptions moves them this way.
    pub fn with_base(&self, key: &str, value: toml::Value) -> Result<Self> {
        let value_s = value.to_string();
        let base: Params = self
            .base
            .clone()
            .try_into()
            .map_err(|e| Error::StageParams {
                file: self.origin.clone(),
                stage: "(the file's sections before any stage)".into(),
                source: Box::new(e),
            })?;
        let moved = override_param(&base, key, value)?;
        let mut s = self.clone();
        s.base = toml::Table::try_from(&moved).map_err(|e| Error::Encode {
            format: "TOML",
            detail: e.to_string(),
        })?;
        for i in 0..s.stages.len() {
            validate(&s.stage(i)?.params).map_err(|invalid| Error::Override {
                key: key.to_string(),
                value: value_s.clone(),
                invalid,
            })?;
        }
        Ok(s)
    }

    /// Index of the stage called `name`.
    pub fn stage_index(&self, name: &str) -> Result<usize> {
        self.stages
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::NoStage {
                name: name.to_string(),
                stages: self.stage_names(),
            })
    }
}

/// Applies one override to a stage's parameters (for `--sweep`, `--seed`, `--duration`).
pub fn override_param(p: &Params, key: &str, value: toml::Value) -> Result<Params> {
    let value_s = value.to_string();
    // TOML integers are signed: a seed >= 2^63 (set from the command line) travels outside the table.
    let mut q = p.clone();
    q.seed = 0;
    let mut t = toml::Table::try_from(&q).map_err(|e| Error::Encode {
        format: "TOML",
        detail: e.to_string(),
    })?;
    set_dotted(&mut t, key, value)?;
    let mut p2: Params = t.try_into().map_err(|e| Error::OverrideType {
        key: key.to_string(),
        source: Box::new(e),
    })?;
    if key != "seed" {
        p2.seed = p.seed;
    }
    let p = p2;
    validate(&p).map_err(|invalid| Error::Override {
        key: key.to_string(),
        value: value_s,
        invalid,
    })?;
    Ok(p)
}

/// Reads a command-line value as TOML (number, boolean, or bare string).
pub fn parse_value(s: &str) -> toml::Value {
    let doc = format!("v = {s}");
    match toml::from_str::<toml::Table>(&doc)
        .ok()
        .and_then(|mut t| t.remove("v"))
    {
        Some(v) => v,
        None => toml::Value::String(s.to_string()),
    }
}

/// The numeric parameters a scenario text marks as assumptions: a key whose comment block above it says
/// "assumption" (the keys before the first `[[stages]]`). The sweep test moves each of them by +-10%.
pub fn assumption_keys(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut section: Option<String> = None;
    let mut comment = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("[[stages]]") {
            break;
        }
        if let Some(c) = t.strip_prefix('#') {
            comment.push_str(c);
            comment.push(' ');
            continue;
        }
        if t.starts_with('[') {
            section = Some(t.trim_matches(|c| c == '[' || c == ']').to_string());
            comment.clear();
            continue;
        }
        if let Some((k, v)) = t.split_once('=') {
            let (k, v) = (k.trim(), v.trim());
            let numeric = v.parse::<f64>().is_ok();
            if numeric && comment.to_lowercase().contains("assumption") {
                out.push(match &section {
                    Some(s) => format!("{s}.{k}"),
                    None => k.to_string(),
                });
            }
        }
        comment.clear();
    }
    out
}

/// Parameters that may be left out of a scenario, with their TOML type.
const OPTIONAL: [(&str, &str); 2] = [
    ("kernel.veth_records_rx_queue", "boolean"),
    ("remote.kernel_release", "string"),
];

fn set_dotted(t: &mut toml::Table, key: &str, value: toml::Value) -> Result<()> {
    let unknown = || Error::UnknownParameter {
        key: key.to_string(),
    };
    let mut parts = key.split('.').peekable();
    let mut cur = t;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            // Optional parameters are absent from the table when unset: insert them, type-checked.
            if !cur.contains_key(p) {
                return match OPTIONAL.iter().find(|(k, _)| *k == key) {
                    Some((_, ty)) if value.type_str() == *ty => {
                        cur.insert(p.to_string(), value);
                        Ok(())
                    }
                    Some((_, ty)) => Err(Error::ParameterType {
                        key: key.to_string(),
                        expected: ty,
                        value: value.to_string(),
                    }),
                    None => Err(unknown()),
                };
            }
            let Some(slot) = cur.get_mut(p) else {
                return Err(unknown());
            };
            if std::mem::discriminant(slot) != std::mem::discriminant(&value)
                && !(slot.is_float() && value.is_integer())
            {
                return Err(Error::ParameterType {
                    key: key.to_string(),
                    expected: slot.type_str(),
                    value: value.to_string(),
                });
            }
            *slot = match (slot.is_float(), value) {
                (true, toml::Value::Integer(i)) => toml::Value::Float(i as f64),
                (_, v) => v,
            };
            return Ok(());
        }
        cur = match cur.get_mut(p) {
            Some(toml::Value::Table(next)) => next,
            _ => return Err(unknown()),
        };
    }
    Err(unknown())
}

/// A parameter outside what the model (or the kernel it mirrors) accepts: which one, and the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// Dotted parameter name.
    pub key: &'static str,
    /// What is wrong, with the limit and where it comes from.
    pub msg: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.msg)
    }
}

/// Most requests one stage may issue: their per-request state (about 100 bytes each with its events) stays
/// below 2 GB.
pub const MAX_REQUESTS: f64 = 20e6;
/// Bytes of simulator state per issued request (request record, its events, its share of the histograms).
const BYTES_PER_REQUEST: f64 = 100.0;
/// Largest TX ring this model stores (`txpath::RING_SLOTS`).
pub const MAX_RING: u16 = 4096;
/// Largest fq_codel limit the model's fq_codel holds (`txpath::FqCodelChild`).
pub const MAX_FQ_CODEL_LIMIT: u32 = 16384;
/// Largest pfifo_fast band the model holds.
pub const MAX_TXQUEUELEN: u32 = 4096;

fn range_f(key: &'static str, v: f64, lo: f64, hi: f64, why: &str) -> Result<(), Invalid> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(Invalid {
            key,
            msg: format!("{v} is outside [{lo}, {hi}] ({why})"),
        })
    }
}

fn range_u(key: &'static str, v: u64, lo: u64, hi: u64, why: &str) -> Result<(), Invalid> {
    if v >= lo && v <= hi {
        Ok(())
    } else {
        Err(Invalid {
            key,
            msg: format!("{v} is outside [{lo}, {hi}] ({why})"),
        })
    }
}

/// Requests a stage issues on average: the steady rate over the whole stage, plus each rolled-out pod's warm-up
/// requests.
pub fn expected_requests(p: &Params) -> f64 {
    let d = p.duration_s;
    p.clients.steady_rps * d + p.clients.warmup_rps * p.rollout.pods as f64 * p.rollout.warmup_s
}

/// Checks every value against the limits of the model and of the kernel it mirrors; the first bad one is
/// returned with its limit. Nothing that passes can hang, overflow or exhaust memory.
pub fn validate(p: &Params) -> Result<(), Invalid> {
    validate_load(p)?;
    validate_proxy(p)?;
    validate_device(p)?;
    validate_allowance(p)?;
    validate_remote(p)?;
    validate_tcp(p)?;
    validate_other_pods(p, &p.background, OtherPods::BACKGROUND)?;
    validate_other_pods(p, &p.fanout, OtherPods::FANOUT)?;
    range_u(
        "remote.workers",
        p.remote.workers as u64,
        1,
        100_000,
        "requests in service per instance",
    )?;
    range_f(
        "remote.line_gbps",
        p.remote.line_gbps,
        0.01,
        400.0,
        "Gbit/s",
    )?;
    Ok(())
}

/// The stage's length, rollout and client load, and the simulator state they imply.
///
/// Longer than most functions on purpose: one range check per field, in the order a reader meets them in the
/// scenario file, each naming its field and limit.
fn validate_load(p: &Params) -> Result<(), Invalid> {
    let bad = |key, msg: String| Err(Invalid { key, msg });
    range_f(
        "duration_s",
        p.duration_s,
        1e-3,
        3600.0,
        "simulated seconds per stage",
    )?;
    range_f("rollout.start_s", p.rollout.start_s, 0.0, 1e6, "seconds")?;
    range_f(
        "rollout.end_s",
        p.rollout.end_s,
        p.rollout.start_s,
        1e6,
        "must not precede start_s",
    )?;
    range_f(
        "clients.steady_rps",
        p.clients.steady_rps,
        0.0,
        1e6,
        "requests/s",
    )?;
    range_f(
        "clients.warmup_rps",
        p.clients.warmup_rps,
        0.0,
        1e6,
        "requests/s",
    )?;
    range_u("rollout.pods", p.rollout.pods as u64, 1, 1000, "pods")?;
    range_u(
        "clients.warmup_inflight",
        p.clients.warmup_inflight as u64,
        0,
        1_000_000,
        "reads in flight per pod (0: no limit)",
    )?;
    range_f(
        "rollout.warmup_s",
        p.rollout.warmup_s,
        1e-3,
        (p.rollout.end_s - p.rollout.start_s).max(1e-3),
        "a warm-up fits in the rollout window",
    )?;
    if p.clients.warmup_rps * p.rollout.pods as f64 > 1e6 {
        return bad(
            "clients.warmup_rps",
            format!(
                "{} pods x {} requests/s could reach more than 10^6 requests/s",
                p.rollout.pods, p.clients.warmup_rps
            ),
        );
    }
    range_u(
        "clients.timeout_ms",
        p.clients.timeout_ms,
        1,
        3_600_000,
        "1 ms to 1 hour",
    )?;
    range_u(
        "clients.max_retries",
        p.clients.max_retries as u64,
        0,
        100,
        "retries",
    )?;
    let n = expected_requests(p);
    if n > MAX_REQUESTS {
        return bad(
            "clients.steady_rps",
            format!(
                "the stage would issue about {:.0} M requests (~{:.1} GB of simulator state); the limit is {:.0} M: \
                 shorten duration_s or lower the rates",
                n / 1e6,
                n * BYTES_PER_REQUEST / 1e9,
                MAX_REQUESTS / 1e6
            ),
        );
    }
    Ok(())
}

/// The sidecar proxy's CPU (`cpu.cfs_period_us`/`cpu.cfs_quota_us` as `tg_set_cfs_bandwidth()` accepts them) and its
/// connections.
fn validate_proxy(p: &Params) -> Result<(), Invalid> {
    let bad = |key, msg: String| Err(Invalid { key, msg });
    range_u(
        "proxy.cfs_period_ms",
        p.proxy.cfs_period_ms,
        1,
        1000,
        "kernel: cpu.cfs_period_us must be within min_cfs_quota_period (1 ms) and max_cfs_quota_period (1 s), tg_set_cfs_bandwidth()",
    )?;
    range_f("proxy.cores", p.proxy.cores, 0.0, 1024.0, "cores")?;
    if p.proxy.cores * (p.proxy.cfs_period_ms as f64) < 1.0 {
        return bad(
            "proxy.cores",
            format!(
                "{} cores x {} ms period is a CFS quota below 1 ms (kernel: cpu.cfs_quota_us >= min_cfs_quota_period, tg_set_cfs_bandwidth())",
                p.proxy.cores, p.proxy.cfs_period_ms
            ),
        );
    }
    range_u(
        "proxy.threads",
        p.proxy.threads as u64,
        1,
        1024,
        "worker threads",
    )?;
    range_u(
        "proxy.cpu_per_request_us",
        p.proxy.cpu_per_request_us,
        0,
        10_000_000,
        "at most 10 s of CPU per request",
    )?;
    range_u(
        "proxy.max_pending",
        p.proxy.max_pending as u64,
        1,
        10_000_000,
        "requests",
    )?;
    range_u(
        "proxy.connections",
        p.proxy.connections as u64,
        1,
        65_535,
        "flows",
    )?;
    range_u(
        "proxy.request_bytes",
        p.proxy.request_bytes as u64,
        1,
        65_536,
        "one request is one GSO packet: GSO_MAX_SIZE = 65536",
    )?;
    Ok(())
}

/// The kernel and the NIC, then [`validate_network`].
fn validate_device(p: &Params) -> Result<(), Invalid> {
    let bad = |key, msg: String| Err(Invalid { key, msg });
    if let Err(e) = qdisc::KernelProfile::from_release(&p.kernel.release) {
        return bad("kernel.release", format!("`{}`: {e}", p.kernel.release));
    }
    if let Some(r) = &p.remote.kernel_release
        && let Err(e) = qdisc::KernelProfile::from_release(r)
    {
        return bad("remote.kernel_release", format!("`{r}`: {e}"));
    }
    range_u(
        "kernel.cpu",
        p.kernel.cpu as u64,
        0,
        8191,
        "Debian's NR_CPUS = 8192",
    )?;
    range_u("nic.queues", p.nic.queues as u64, 1, 64, "TX queues")?;
    if !p.nic.ring_depth.is_power_of_two() || p.nic.ring_depth < 64 || p.nic.ring_depth > MAX_RING {
        return bad(
            "nic.ring_depth",
            format!(
                "{} must be a power of two in [64, {MAX_RING}] (ENA rings are powers of two; this model stores at most {MAX_RING} descriptors)",
                p.nic.ring_depth
            ),
        );
    }
    range_u(
        "nic.fq_codel_limit",
        p.nic.fq_codel_limit as u64,
        1,
        MAX_FQ_CODEL_LIMIT as u64,
        "packets the model's fq_codel holds",
    )?;
    range_u(
        "nic.txqueuelen",
        p.nic.txqueuelen as u64,
        1,
        MAX_TXQUEUELEN as u64,
        "packets the model's pfifo_fast holds",
    )?;
    range_u(
        "nic.bql_limit_bytes",
        p.nic.bql_limit_bytes,
        1,
        268_435_455,
        "kernel: DQL_MAX_LIMIT",
    )?;
    range_f(
        "nic.queue_pps",
        p.nic.queue_pps,
        1e3,
        1e9,
        "packets/s per TX queue",
    )?;
    range_f(
        "nic.queue_gbps",
        p.nic.queue_gbps,
        0.01,
        400.0,
        "Gbit/s per TX queue",
    )?;
    validate_network(p)
}

/// The network path, and the instance type that bounds the NIC's queues.
fn validate_network(p: &Params) -> Result<(), Invalid> {
    let bad = |key, msg: String| Err(Invalid { key, msg });
    range_u(
        "network.one_way_us",
        p.network.one_way_us,
        0,
        10_000_000,
        "at most 10 s",
    )?;
    range_u(
        "network.mss",
        p.network.mss as u64,
        536,
        65_000,
        "RFC 879 minimum to a 64 KB frame",
    )?;
    let it = match instances::lookup(&p.allowance.instance) {
        Ok(t) => t,
        Err(e) => return bad("allowance.instance", e.to_string()),
    };
    if p.nic.queues > it.ena_queues {
        return bad(
            "nic.queues",
            format!(
                "{} TX queues, but a {} has {} ENA queues per interface",
                p.nic.queues, it.name, it.ena_queues
            ),
        );
    }
    Ok(())
}

/// The ENA allowance shaper.
fn validate_allowance(p: &Params) -> Result<(), Invalid> {
    range_f(
        "allowance.burst_mbit",
        p.allowance.burst_mbit,
        0.0,
        1e6,
        "Mbit",
    )?;
    range_f(
        "allowance.pps_burst_ms",
        p.allowance.pps_burst_ms,
        0.0,
        10_000.0,
        "ms",
    )?;
    range_f(
        "allowance.credit_s",
        p.allowance.credit_s,
        0.0,
        86_400.0,
        "seconds at peak",
    )?;
    range_u(
        "allowance.pps",
        p.allowance.pps,
        1,
        1_000_000_000,
        "packets/s",
    )?;
    range_f(
        "allowance.max_delay_ms",
        p.allowance.max_delay_ms,
        0.0,
        1000.0,
        "ms",
    )?;
    Ok(())
}

/// The remote service and its terminations during the rollout.
fn validate_remote(p: &Params) -> Result<(), Invalid> {
    let bad = |key, msg: String| Err(Invalid { key, msg });
    range_u(
        "remote.instances",
        p.remote.instances as u64,
        1,
        10_000,
        "instances",
    )?;
    range_f(
        "remote.service_base_ms",
        p.remote.service_base_ms,
        0.0,
        60_000.0,
        "ms",
    )?;
    range_f(
        "remote.service_mean_ms",
        p.remote.service_mean_ms,
        1e-6,
        60_000.0,
        "ms",
    )?;
    range_u(
        "remote.response_bytes",
        p.remote.response_bytes as u64,
        1,
        16 << 20,
        "at most 16 MiB",
    )?;
    let segs = (p.remote.response_bytes as u64).div_ceil(p.network.mss as u64);
    if segs > u16::MAX as u64 {
        return bad(
            "remote.response_bytes",
            format!(
                "{} bytes in {}-byte segments is {segs} segments; at most {} per response",
                p.remote.response_bytes,
                p.network.mss,
                u16::MAX
            ),
        );
    }
    range_f(
        "remote.terminating_s",
        p.remote.terminating_s,
        0.0,
        3600.0,
        "seconds",
    )?;
    let rollout_min = (p.rollout.end_s.min(p.duration_s) - p.rollout.start_s).max(0.0) / 60.0;
    range_f(
        "remote.terminations_per_min",
        p.remote.terminations_per_min,
        0.0,
        600.0,
        "per minute",
    )?;
    if p.remote.terminations_per_min * rollout_min > 1000.0 {
        return bad(
            "remote.terminations_per_min",
            format!(
                "{} per minute over a {:.1}-minute rollout is more than 1000 terminations per stage",
                p.remote.terminations_per_min, rollout_min
            ),
        );
    }
    Ok(())
}

/// The dotted names of one `[background]`-shaped section's fields, for its errors.
struct OtherPods {
    bursts_per_min: &'static str,
    burst_ms: &'static str,
    burst_pps: &'static str,
    packet_bytes: &'static str,
    flows: &'static str,
}

impl OtherPods {
    const BACKGROUND: Self = Self {
        bursts_per_min: "background.bursts_per_min",
        burst_ms: "background.burst_ms",
        burst_pps: "background.burst_pps",
        packet_bytes: "background.packet_bytes",
        flows: "background.flows",
    };
    const FANOUT: Self = Self {
        bursts_per_min: "fanout.bursts_per_min",
        burst_ms: "fanout.burst_ms",
        burst_pps: "fanout.burst_pps",
        packet_bytes: "fanout.packet_bytes",
        flows: "fanout.flows",
    };
}

/// Other pods' bursts (`[background]` or `[fanout]`).
fn validate_other_pods(p: &Params, b: &Background, k: OtherPods) -> Result<(), Invalid> {
    let bad = |key, msg: String| Err(Invalid { key, msg });
    range_f(k.bursts_per_min, b.bursts_per_min, 0.0, 600.0, "per minute")?;
    range_f(k.burst_ms, b.burst_ms, 0.0, 10_000.0, "ms")?;
    range_f(k.burst_pps, b.burst_pps, 0.0, 10e6, "packets/s")?;
    if b.bursts_per_min / 60.0 * p.duration_s * b.burst_ms / 1000.0 * b.burst_pps > 200e6 {
        return bad(
            k.burst_pps,
            "the stage would send more than 200 M packets of other pods".into(),
        );
    }
    range_u(k.packet_bytes, b.packet_bytes as u64, 60, 65_536, "bytes")?;
    range_u(k.flows, b.flows as u64, 1, 65_535, "flows")
}

/// TCP.
fn validate_tcp(p: &Params) -> Result<(), Invalid> {
    range_u(
        "tcp.rto_min_ms",
        p.tcp.rto_min_ms,
        1,
        60_000,
        "ms (Linux: TCP_RTO_MIN 200 ms, TCP_RTO_MAX 120 s)",
    )?;
    range_u("tcp.init_cwnd", p.tcp.init_cwnd as u64, 1, 1000, "segments")?;
    range_u(
        "tcp.max_cwnd",
        p.tcp.max_cwnd as u64,
        p.tcp.init_cwnd as u64,
        100_000,
        "segments, at least init_cwnd",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_incident_has_six_cumulative_stages() {
        let s = Scenario::incident().unwrap();
        assert_eq!(
            s.stage_names(),
            [
                "baseline",
                "scale-out",
                "sidecar-cpu",
                "kernel-fix",
                "network-optimised",
                "drain"
            ]
        );
        let last = s.stage(5).unwrap().params;
        assert_eq!(last.proxy.cores, 8.0);
        assert_eq!(last.remote.instances, 24);
        assert_eq!(last.kernel.release, "6.1.0-18-amd64");
        assert_eq!(last.allowance.instance, "m5n.4xlarge");
        assert!(last.remote.drain);
        assert_eq!(s.stage(0).unwrap().params.proxy.cores, 2.0);
        assert_eq!(s.stage(0).unwrap().params.remote.instances, 12);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let bad = INCIDENT.replace("[tcp]\n", "[tcp]\nrto_max_ms = 5\n");
        let e = Scenario::parse(&bad, "my.toml").unwrap_err().to_string();
        assert!(e.starts_with("my.toml: "), "{e}");
        assert!(e.contains("line"), "{e}");
        assert!(e.contains("rto_max_ms"), "{e}");
        let bad = INCIDENT.replace("queues = 8", "queues = \"eight\"");
        let e = Scenario::parse(&bad, "my.toml").unwrap_err().to_string();
        assert!(e.contains("line") && e.contains("queues"), "{e}");
        let bad = INCIDENT.replace(
            "set = { \"proxy.cores\" = 8.0 }",
            "set = { \"proxy.cpus\" = 8.0 }",
        );
        let e = Scenario::parse(&bad, "my.toml").unwrap_err().to_string();
        assert!(e.contains("sidecar-cpu") && e.contains("proxy.cpus"), "{e}");
        let bad = INCIDENT.replace("queues = 8", "queues = 0");
        let e = Scenario::parse(&bad, "my.toml").unwrap_err().to_string();
        assert!(e.contains("nic.queues"), "{e}");
    }

    #[test]
    fn a_bad_value_is_an_error_value_with_its_file_line_stage_and_field() {
        let text = INCIDENT.replace("ring_depth = 1024", "ring_depth = 8192");
        let line = 1 + text.lines().position(|l| l.contains("8192")).unwrap();
        match Scenario::parse(&text, "bad.toml") {
            Err(Error::Scenario {
                file,
                line: Some(l),
                stage,
                invalid,
            }) => {
                assert_eq!(
                    (file.as_str(), l, stage.as_str()),
                    ("bad.toml", line, "baseline")
                );
                assert_eq!(invalid.key, "nic.ring_depth");
                assert!(invalid.msg.contains("4096"), "{}", invalid.msg);
            }
            other => panic!("{other:?}"),
        }
        let p = Scenario::incident().unwrap().stage(0).unwrap().params;
        assert!(matches!(
            override_param(&p, "nic.nope", parse_value("1")),
            Err(Error::UnknownParameter { key }) if key == "nic.nope"
        ));
    }

    #[test]
    fn overrides_from_the_command_line() {
        let p = Scenario::incident().unwrap().stage(0).unwrap().params;
        let q = override_param(&p, "nic.queues", parse_value("4")).unwrap();
        assert_eq!(q.nic.queues, 4);
        let q = override_param(&p, "proxy.cores", parse_value("3")).unwrap();
        assert_eq!(q.proxy.cores, 3.0);
        assert!(override_param(&p, "nic.qdisc", parse_value("pfifo_fast")).is_ok());
        assert!(override_param(&p, "nic.nope", parse_value("1")).is_err());
        assert!(override_param(&p, "nic.queues", parse_value("x")).is_err());
    }

    #[test]
    fn a_base_move_leaves_what_a_stage_sets_itself() {
        let s = Scenario::incident().unwrap();
        let scale_out = s.stage_index("scale-out").unwrap();
        let moved = s
            .with_base("remote.instances", toml::Value::Integer(11))
            .unwrap();
        assert_eq!(moved.stage(0).unwrap().params.remote.instances, 11);
        for i in scale_out..s.stage_names().len() {
            assert_eq!(
                moved.stage(i).unwrap().params.remote.instances,
                24,
                "stage {i}"
            );
        }
        // A move the stages do not set reaches every stage; a float for an integer key and an out-of-range value
        // are refused with the key.
        let moved = s
            .with_base("rollout.warmup_s", toml::Value::Float(16.5))
            .unwrap();
        for i in 0..s.stage_names().len() {
            assert_eq!(moved.stage(i).unwrap().params.rollout.warmup_s, 16.5);
        }
        let e = s
            .with_base("remote.instances", toml::Value::Float(11.5))
            .unwrap_err();
        assert!(e.to_string().contains("remote.instances"), "{e}");
        let e = s
            .with_base("nic.ring_depth", toml::Value::Integer(8192))
            .unwrap_err();
        assert!(e.to_string().contains("4096"), "{e}");
    }

    /// Every hostile value found in issue 10 fails at parse time, naming the file, the line that set it, the
    /// parameter and its limit.
    #[test]
    fn hostile_values_fail_fast_with_file_line_and_limit() {
        // Long by its table (one row per hostile value of issue 10), not by its logic: the loop below is the test.
        let cases: [(&str, &str, &str, &str); 20] = [
            ("cores = 2.0", "cores = 1e-12", "proxy.cores", "1 ms"),
            (
                "cfs_period_ms = 100",
                "cfs_period_ms = 288230376151711744",
                "proxy.cfs_period_ms",
                "1000",
            ),
            (
                "terminations_per_min = 4.0",
                "terminations_per_min = 1e7",
                "remote.terminations_per_min",
                "600",
            ),
            (
                "terminations_per_min = 4.0",
                "terminations_per_min = 4294967295",
                "remote.terminations_per_min",
                "600",
            ),
            (
                "instance = \"m5.4xlarge\"",
                "instance = \"m9.huge\"",
                "allowance.instance",
                "m5n.4xlarge",
            ),
            (
                "duration_s = 150",
                "duration_s = 3600",
                "clients.steady_rps",
                "GB",
            ),
            (
                "timeout_ms = 1000",
                "timeout_ms = 18446744073710",
                "clients.timeout_ms",
                "3600000",
            ),
            (
                "queue_pps = 43000",
                "queue_pps = 1e-12",
                "nic.queue_pps",
                "1000",
            ),
            (
                "service_mean_ms = 17",
                "service_mean_ms = inf",
                "remote.service_mean_ms",
                "inf",
            ),
            (
                "service_mean_ms = 17",
                "service_mean_ms = nan",
                "remote.service_mean_ms",
                "NaN",
            ),
            (
                "terminating_s = 1.0",
                "terminating_s = inf",
                "remote.terminating_s",
                "inf",
            ),
            (
                "credit_s = 0.0",
                "credit_s = nan",
                "allowance.credit_s",
                "NaN",
            ),
            (
                "max_delay_ms = 5.0",
                "max_delay_ms = inf",
                "allowance.max_delay_ms",
                "inf",
            ),
            (
                "max_delay_ms = 5.0",
                "max_delay_ms = 1e300",
                "allowance.max_delay_ms",
                "[0, 1000]",
            ),
            (
                "service_base_ms = 6",
                "service_base_ms = -inf",
                "remote.service_base_ms",
                "inf",
            ),
            (
                "response_bytes = 64000",
                "response_bytes = 35127296",
                "remote.response_bytes",
                "16777216",
            ),
            (
                "ring_depth = 1024",
                "ring_depth = 8192",
                "nic.ring_depth",
                "4096",
            ),
            (
                "steady_rps = 3000",
                "steady_rps = 1e6",
                "clients.steady_rps",
                "limit is 20 M",
            ),
            (
                "fq_codel_limit = 10240",
                "fq_codel_limit = 100000",
                "nic.fq_codel_limit",
                "16384",
            ),
            (
                "max_retries = 3",
                "max_retries = 300",
                "clients.max_retries",
                "100",
            ),
        ];
        for (from, to, key, limit) in cases {
            assert!(INCIDENT.contains(from), "{from}");
            let mut text = INCIDENT.replacen(from, to, 1);
            if key == "clients.steady_rps" && to.starts_with("duration") {
                text = text.replacen("steady_rps = 3000", "steady_rps = 1e6", 1);
            }
            let line = 1 + text
                .lines()
                .position(|l| {
                    l.starts_with(to.split(" =").next().unwrap_or(to))
                        && l.contains(&to[to.len() - 3..])
                })
                .unwrap();
            let e = Scenario::parse(&text, "bad.toml").unwrap_err().to_string();
            assert!(e.contains(key), "{to}: {e}");
            assert!(e.contains(limit), "{to}: {e}");
            if key != "clients.steady_rps" {
                assert!(
                    e.starts_with(&format!("bad.toml:{line}: ")),
                    "{to}: line {line}: {e}"
                );
            } else {
                assert!(e.starts_with("bad.toml:"), "{to}: {e}");
            }
        }
        // The case: with the minimum MSS a 35 MB response used to wrap the segment count to 0.
        let text = INCIDENT
            .replace("response_bytes = 64000", "response_bytes = 35127296")
            .replace("mss = 8949", "mss = 536");
        let e = Scenario::parse(&text, "bad.toml").unwrap_err().to_string();
        assert!(
            e.contains("remote.response_bytes") && e.contains("16777216"),
            "{e}"
        );
        // cores = 1e-7 with a 1 ms period is also below the kernel's minimum quota.
        let text = INCIDENT
            .replace("cores = 2.0", "cores = 1e-7")
            .replace("cfs_period_ms = 100", "cfs_period_ms = 1");
        let e = Scenario::parse(&text, "bad.toml").unwrap_err().to_string();
        assert!(
            e.contains("proxy.cores") && e.contains("min_cfs_quota_period"),
            "{e}"
        );
    }

    /// Sets `key` to the bad release `banana` in the last stage (`drain`) and asserts that parsing fails naming
    /// the file, the line, the stage and the key.
    fn assert_bad_release_in_the_drain_stage_is_named(key: &str) {
        let text = INCIDENT.replace(
            "set = { \"remote.drain\" = true }",
            &format!("set = {{ \"remote.drain\" = true, \"{key}\" = \"banana\" }}"),
        );
        let line = 1 + text.lines().position(|l| l.contains("banana")).unwrap();
        let e = Scenario::parse(&text, "bad.toml").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("bad.toml:{line}: stage `drain`: {key}")),
            "{e}"
        );
    }

    #[test]
    fn a_bad_value_in_the_last_stage_names_that_stage_and_its_line() {
        assert_bad_release_in_the_drain_stage_is_named("kernel.release");
    }

    #[test]
    fn the_remote_kernel_is_optional_and_checked_like_the_nodes() {
        let p = Scenario::incident().unwrap().stage(3).unwrap().params;
        assert_eq!(p.remote.kernel_release, None);
        let q = override_param(
            &p,
            "remote.kernel_release",
            parse_value("\"5.11.0-1022-aws\""),
        )
        .unwrap();
        assert_eq!(q.remote.kernel_release.as_deref(), Some("5.11.0-1022-aws"));
        let e = override_param(&p, "remote.kernel_release", parse_value("5")).unwrap_err();
        assert!(e.to_string().contains("string"), "{e}");
        assert_bad_release_in_the_drain_stage_is_named("remote.kernel_release");
    }

    #[test]
    fn optional_parameters_can_be_swept_and_set_in_stages() {
        let p = Scenario::incident().unwrap().stage(0).unwrap().params;
        assert_eq!(p.kernel.veth_records_rx_queue, None);
        let q = override_param(&p, "kernel.veth_records_rx_queue", parse_value("false")).unwrap();
        assert_eq!(q.kernel.veth_records_rx_queue, Some(false));
        let e = override_param(&p, "kernel.veth_records_rx_queue", parse_value("3")).unwrap_err();
        assert!(e.to_string().contains("boolean"), "{e}");
        let text = INCIDENT.replace(
            "set = { \"proxy.cores\" = 8.0 }",
            "set = { \"proxy.cores\" = 8.0, \"kernel.veth_records_rx_queue\" = false }",
        );
        let s = Scenario::parse(&text, "x.toml").unwrap();
        assert_eq!(
            s.stage(2).unwrap().params.kernel.veth_records_rx_queue,
            Some(false)
        );
    }

    #[test]
    fn a_command_line_override_is_checked_with_its_limit() {
        let p = Scenario::incident().unwrap().stage(0).unwrap().params;
        let e = override_param(&p, "nic.ring_depth", parse_value("8192")).unwrap_err();
        assert!(e.to_string().contains("4096"), "{e}");
        let e = override_param(&p, "proxy.cores", parse_value("nan")).unwrap_err();
        assert!(e.to_string().contains("proxy.cores"), "{e}");
    }

    #[test]
    fn assumption_keys_are_the_ones_the_file_marks() {
        let keys = assumption_keys(INCIDENT);
        for k in [
            "clients.warmup_rps",
            "nic.queue_pps",
            "allowance.max_delay_ms",
            "remote.workers",
            "rollout.pods",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
        }
        for k in [
            "tcp.rto_min_ms",
            "clients.timeout_ms",
            "nic.queues",
            "proxy.cores",
            "nic.ring_depth",
        ] {
            assert!(
                !keys.iter().any(|x| x == k),
                "{k} is sourced, not an assumption"
            );
        }
        // Every key is a real parameter.
        let p = Scenario::incident().unwrap().stage(0).unwrap().params;
        for k in &keys {
            let t = toml::Table::try_from(&p).unwrap();
            let (sec, f) = k.split_once('.').unwrap_or(("", k));
            let found = if sec.is_empty() {
                t.contains_key(f)
            } else {
                t[sec].get(f).is_some()
            };
            assert!(found, "{k}");
        }
    }
}
