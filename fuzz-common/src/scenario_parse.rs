//! `scenario_parse`: scenario TOML through `txqlab::scenario`.
//!
//! Properties, for a text that parses:
//! - every stage resolves, to parameters that pass `validate`;
//! - the file serialized back (`ScenarioFile` -> TOML) parses to a scenario with the same stages resolving to
//!   the same parameters;
//! - each resolved stage serialized on its own (`Params` -> TOML, a scenario without stages) parses and resolves
//!   to itself: what `simulate --print-scenario` relies on.
//!
//! Parameters are compared as their TOML text, so a NaN that survives is compared by spelling.

use txqlab::scenario::{Params, Scenario, ScenarioFile, validate};

fn text_of(p: &Params) -> String {
    toml::to_string(p).unwrap_or_else(|e| panic!("resolved parameters do not serialize: {e}"))
}

fn resolved(s: &Scenario) -> Vec<(String, String)> {
    (0..s.stage_names().len())
        .map(|i| {
            let st = s
                .stage(i)
                .unwrap_or_else(|e| panic!("stage {i} of a parsed scenario does not resolve: {e}"));
            assert!(
                validate(&st.params).is_ok(),
                "stage `{}` resolves to invalid parameters",
                st.name
            );
            (st.name, text_of(&st.params))
        })
        .collect()
}

fn serialize(f: &ScenarioFile) -> String {
    toml::to_string(f).unwrap_or_else(|e| panic!("the file does not serialize: {e}"))
}

/// The fuzz body.
pub fn scenario_parse(data: &[u8]) {
    check(data, serialize);
}

fn check(data: &[u8], serialize: fn(&ScenarioFile) -> String) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let s = match Scenario::parse(text, "fuzz.toml") {
        Ok(s) => s,
        Err(e) => {
            assert!(
                e.to_string().starts_with("fuzz.toml:"),
                "an error must name its origin: {e}"
            );
            return;
        }
    };
    let stages = resolved(&s);

    // The whole file, serialized and parsed again.
    let file: ScenarioFile = toml::from_str(text)
        .unwrap_or_else(|e| panic!("Scenario::parse accepted what ScenarioFile rejects: {e}"));
    let back = serialize(&file);
    let again = Scenario::parse(&back, "again.toml")
        .unwrap_or_else(|e| panic!("the serialized file does not parse: {e}\n{back}"));
    assert_eq!(
        stages,
        resolved(&again),
        "serialize -> parse changed a stage\n{back}"
    );

    // Each stage on its own.
    for (name, params) in &stages {
        let alone = Scenario::parse(params, "stage.toml")
            .unwrap_or_else(|e| panic!("stage `{name}` serialized does not parse: {e}\n{params}"));
        let r = resolved(&alone);
        assert_eq!(r.len(), 1);
        assert_eq!(&r[0].1, params, "stage `{name}` does not resolve to itself");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_incident_round_trips() {
        scenario_parse(txqlab::scenario::INCIDENT.as_bytes());
    }

    /// The property can fail: a serializer that loses the last stage's overrides is caught.
    #[test]
    fn a_lossy_serializer_is_caught() {
        fn lossy(f: &ScenarioFile) -> String {
            let mut f = f.clone();
            if let Some(last) = f.stages.last_mut() {
                last.set.clear();
            }
            serialize(&f)
        }
        let r = std::panic::catch_unwind(|| check(txqlab::scenario::INCIDENT.as_bytes(), lossy));
        assert!(r.is_err());
    }
}
