//! txqlab's errors: one enum, each variant saying what failed and where (file, line, stage, parameter, limit).
//!
//! `diagnose`, `probe` and `predict` keep their own error types, which carry their exit status
//! ([`crate::diagnose::Error::exit_code`]) or their source from the `qdisc` crate; here they are variants' sources,
//! not strings.

use std::path::PathBuf;

use crate::scenario::Invalid;

/// `Result` with txqlab's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a txqlab command or a scenario from loading.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A scenario file is not TOML, or does not match the scenario's fields (toml names the line, column and
    /// field).
    #[error("{file}: {source}")]
    ScenarioSyntax {
        /// The file, or `<embedded incident scenario>`.
        file: String,
        /// toml's message.
        source: Box<toml::de::Error>,
    },
    /// A stage resolves to a value outside what the model, or the kernel it mirrors, accepts.
    #[error("{file}{}: stage `{stage}`: {invalid}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Scenario {
        /// The file the scenario came from.
        file: String,
        /// The 1-based line that sets the field, when it can be found.
        line: Option<usize>,
        /// The stage whose parameters are wrong.
        stage: String,
        /// The field (`Invalid::key`) and its limit (`Invalid::msg`).
        invalid: Invalid,
    },
    /// A stage's `set` table cannot be applied to the parameters before it.
    #[error("{file}: stage `{stage}`: {source}")]
    Stage {
        /// The file the scenario came from.
        file: String,
        /// The stage.
        stage: String,
        /// What is wrong with one of its overrides.
        source: Box<Error>,
    },
    /// A stage's parameters do not have the scenario's types once its overrides are applied.
    #[error("{file}: stage `{stage}`: {source}")]
    StageParams {
        /// The file the scenario came from.
        file: String,
        /// The stage.
        stage: String,
        /// toml's message.
        source: Box<toml::de::Error>,
    },
    /// An override (a stage's `set`, `--sweep`, `--duration`) names no parameter.
    #[error("unknown parameter `{key}`")]
    UnknownParameter {
        /// The dotted name as given.
        key: String,
    },
    /// An override's value has the wrong TOML type.
    #[error("`{key}` must be a {expected}, not {value}")]
    ParameterType {
        /// The dotted parameter name.
        key: String,
        /// The TOML type it has (`integer`, `float`, `boolean`, ...).
        expected: &'static str,
        /// The value given.
        value: String,
    },
    /// An override cannot be turned back into parameters (a value out of its type's range).
    #[error("`{key}`: {source}")]
    OverrideType {
        /// The dotted parameter name.
        key: String,
        /// toml's message.
        source: Box<toml::de::Error>,
    },
    /// A command-line override is outside the model's limit.
    #[error("`{key}={value}`: {invalid}")]
    Override {
        /// The dotted parameter name.
        key: String,
        /// The value given.
        value: String,
        /// The limit it breaks.
        invalid: Invalid,
    },
    /// `--stage NAME` names no stage of the scenario.
    #[error("no stage `{name}`; stages are: {}", stages.join(", "))]
    NoStage {
        /// As given.
        name: String,
        /// The scenario's stages.
        stages: Vec<String>,
    },
    /// An instance type missing from the embedded catalogue (`scenario::instances`).
    #[error("`{name}` is not in the embedded catalogue ({})", known.join(", "))]
    UnknownInstance {
        /// As given.
        name: String,
        /// The catalogue's names.
        known: Vec<&'static str>,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file (as given on the command line).
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A plot could not be drawn into its SVG file.
    #[error("{}: {detail}", path.display())]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// plotters' message.
        detail: String,
    },
    /// Output could not be encoded.
    #[error("{format}: {detail}")]
    Encode {
        /// `JSON`, `CSV`, `TOML`.
        format: &'static str,
        /// The encoder's message.
        detail: String,
    },
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// `txqlab diagnose` or `txqlab collect` failed (its own exit status: [`crate::diagnose::Error::exit_code`]).
    #[error(transparent)]
    Diagnose(#[from] crate::diagnose::Error),
    /// `txqlab probe` could not reach a verdict.
    #[error(transparent)]
    Probe(#[from] crate::probe::ProbeError),
    /// `txqlab predict` was given a kernel or device it cannot model.
    #[error(transparent)]
    Predict(#[from] crate::predict::PredictError),
    /// A stage's parameters break a limit of the model (found when a stage is run without a scenario file, e.g.
    /// by a library caller or a sweep).
    #[error("stage `{stage}`: {invalid}")]
    StageInvalid {
        /// The stage.
        stage: String,
        /// The field and its limit.
        invalid: Invalid,
    },
    /// The kernel or queue-selection model refuses the stage's settings (`qdisc` names what and why).
    #[error("{field}: {source}")]
    Qdisc {
        /// The scenario field behind the refused value.
        field: &'static str,
        /// What `qdisc` refused.
        source: qdisc::Error,
    },
    /// The device or hypervisor model refuses the stage's settings (`nic-model` names what and why).
    #[error("{field}: {source}")]
    Nic {
        /// The scenario field behind the refused value.
        field: &'static str,
        /// What `nic-model` refused.
        source: nic_model::Error,
    },
    /// A distribution of the model cannot be built from the stage's settings.
    #[error("{field}: {detail}")]
    Distribution {
        /// The scenario field.
        field: &'static str,
        /// `rand_distr`'s message.
        detail: String,
    },
    /// The model's structures could not be allocated.
    #[error("cannot allocate {what} ({bytes} bytes)")]
    Alloc {
        /// What.
        what: &'static str,
        /// Its size.
        bytes: usize,
    },
    /// A simulation thread of a parallel run panicked or left its run unfinished.
    #[error("a simulation run {0}")]
    SimThread(&'static str),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A JSON encoding error.
    pub fn json(e: &serde_json::Error) -> Self {
        Self::Encode {
            format: "JSON",
            detail: e.to_string(),
        }
    }

    /// A CSV encoding error.
    pub fn csv(e: &dyn std::fmt::Display) -> Self {
        Self::Encode {
            format: "CSV",
            detail: e.to_string(),
        }
    }
}
