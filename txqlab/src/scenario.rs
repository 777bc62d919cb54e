//! Scenario files: TOML, every field required, unknown fields rejected, stages as cumulative overrides.
//!
//! The embedded default (`scenarios/incident.toml`) is the incident; `txqlab simulate --print-scenario` writes it
//! out to edit. Errors name the file, the line and the field.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The embedded default scenario.
pub const INCIDENT: &str = include_str!("../scenarios/incident.toml");

/// Everything that can be wrong with a scenario.
#[derive(Debug)]
pub struct ScenarioError(pub String);

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScenarioError {}

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
}

/// Request sources.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Clients {
    /// Requests per second outside the rollout.
    pub steady_rps: f64,
    /// Requests per second during the rollout.
    pub rollout_rps: f64,
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
    /// Baseline bandwidth.
    pub baseline_gbps: f64,
    /// Burst bandwidth.
    pub peak_gbps: f64,
    /// Credits at the start, in seconds at peak.
    pub credit_s: f64,
    /// Packets per second.
    pub pps: u64,
    /// Tracked connections.
    pub conntrack_max: u32,
    /// Shaping queue delay bound.
    pub max_delay_ms: u64,
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
    /// Terminations during the rollout.
    pub terminations: u32,
    /// Clients stop sending to terminating instances.
    pub drain: bool,
}

/// TCP loss recovery.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tcp {
    /// Minimum RTO.
    pub rto_min_ms: u64,
    /// Dupacks for fast retransmit.
    pub dupack_threshold: u32,
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
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        // Typed parse first: toml reports the line, column and field of any mistake.
        let file: ScenarioFile =
            toml::from_str(text).map_err(|e| ScenarioError(format!("{origin}: {e}")))?;
        let mut base: toml::Table =
            toml::from_str(text).map_err(|e| ScenarioError(format!("{origin}: {e}")))?;
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
        // Every stage must resolve to valid parameters.
        for i in 0..s.stages.len() {
            let p = s.stage(i)?;
            validate(&p.params)
                .map_err(|e| ScenarioError(format!("{origin}: stage `{}`: {e}", p.name)))?;
        }
        Ok(s)
    }

    /// The embedded incident.
    pub fn incident() -> Result<Self, ScenarioError> {
        Self::parse(INCIDENT, "<embedded incident scenario>")
    }

    /// Stage names in order.
    pub fn stage_names(&self) -> Vec<String> {
        self.stages.iter().map(|s| s.name.clone()).collect()
    }

    /// Stage `i` with the overrides of stages `0..=i` applied.
    pub fn stage(&self, i: usize) -> Result<Stage, ScenarioError> {
        let mut t = self.base.clone();
        for s in &self.stages[..=i] {
            for (key, value) in &s.set {
                set_dotted(&mut t, key, value.clone()).map_err(|e| {
                    ScenarioError(format!("{}: stage `{}`: {e}", self.origin, s.name))
                })?;
            }
        }
        let name = self.stages[i].name.clone();
        let params: Params = t
            .try_into()
            .map_err(|e| ScenarioError(format!("{}: stage `{name}`: {e}", self.origin)))?;
        Ok(Stage { name, params })
    }

    /// Index of the stage called `name`.
    pub fn stage_index(&self, name: &str) -> Result<usize, ScenarioError> {
        self.stages
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| {
                ScenarioError(format!(
                    "no stage `{name}`; stages are: {}",
                    self.stage_names().join(", ")
                ))
            })
    }
}

/// Applies one override to a stage's parameters (for `--sweep`, `--seed`, `--duration`).
pub fn override_param(p: &Params, key: &str, value: toml::Value) -> Result<Params, ScenarioError> {
    let mut t = toml::Table::try_from(p).map_err(|e| ScenarioError(e.to_string()))?;
    set_dotted(&mut t, key, value)?;
    let p: Params = t
        .try_into()
        .map_err(|e| ScenarioError(format!("`{key}`: {e}")))?;
    validate(&p).map_err(|e| ScenarioError(format!("`{key}`: {e}")))?;
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

fn set_dotted(t: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), ScenarioError> {
    let mut parts = key.split('.').peekable();
    let mut cur = t;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            let Some(slot) = cur.get_mut(p) else {
                return Err(ScenarioError(format!("unknown parameter `{key}`")));
            };
            if std::mem::discriminant(slot) != std::mem::discriminant(&value)
                && !(slot.is_float() && value.is_integer())
            {
                return Err(ScenarioError(format!(
                    "`{key}` must be a {}, not {value}",
                    slot.type_str()
                )));
            }
            *slot = match (slot.is_float(), value) {
                (true, toml::Value::Integer(i)) => toml::Value::Float(i as f64),
                (_, v) => v,
            };
            return Ok(());
        }
        cur = match cur.get_mut(p) {
            Some(toml::Value::Table(next)) => next,
            _ => return Err(ScenarioError(format!("unknown parameter `{key}`"))),
        };
    }
    Err(ScenarioError(format!("empty parameter name `{key}`")))
}

/// Checks values that would make the simulation meaningless.
pub fn validate(p: &Params) -> Result<(), String> {
    let checks: [(bool, &str); 14] = [
        (
            p.duration_s > 0.0 && p.duration_s <= 3600.0,
            "duration_s must be in (0, 3600]",
        ),
        (
            p.rollout.start_s >= 0.0 && p.rollout.end_s >= p.rollout.start_s,
            "rollout.end_s must not precede start_s",
        ),
        (
            p.clients.steady_rps >= 0.0 && p.clients.rollout_rps >= 0.0,
            "clients rates must not be negative",
        ),
        (
            p.clients.steady_rps + p.clients.rollout_rps <= 1e6,
            "clients rates above 10^6 requests/s",
        ),
        (p.proxy.cores > 0.0, "proxy.cores must be positive"),
        (
            p.proxy.cfs_period_ms > 0,
            "proxy.cfs_period_ms must be positive",
        ),
        (
            p.proxy.connections > 0,
            "proxy.connections must be positive",
        ),
        (
            p.nic.queues > 0 && p.nic.queues <= 64,
            "nic.queues must be 1..=64",
        ),
        (
            p.nic.ring_depth.is_power_of_two() && p.nic.ring_depth >= 64,
            "nic.ring_depth must be a power of two >= 64",
        ),
        (
            p.nic.queue_pps > 0.0 && p.nic.queue_gbps > 0.0,
            "nic.queue_pps and queue_gbps must be positive",
        ),
        (
            p.network.mss >= 536 && p.network.mss <= 65000,
            "network.mss must be 536..=65000",
        ),
        (
            p.allowance.peak_gbps >= p.allowance.baseline_gbps && p.allowance.baseline_gbps > 0.0,
            "allowance: 0 < baseline_gbps <= peak_gbps",
        ),
        (p.remote.instances > 0, "remote.instances must be positive"),
        (p.tcp.rto_min_ms > 0, "tcp.rto_min_ms must be positive"),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some((_, why)) => Err((*why).to_string()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_incident_has_five_cumulative_stages() {
        let s = Scenario::incident().unwrap();
        assert_eq!(
            s.stage_names(),
            [
                "baseline",
                "sidecar-cpu",
                "kernel-fix",
                "network-optimised",
                "drain"
            ]
        );
        let last = s.stage(4).unwrap().params;
        assert_eq!(last.proxy.cores, 8.0);
        assert_eq!(last.kernel.release, "6.1.0-18-amd64");
        assert!(last.remote.drain);
        assert_eq!(s.stage(0).unwrap().params.proxy.cores, 2.0);
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
}
