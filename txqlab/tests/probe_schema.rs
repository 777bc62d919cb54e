//! The committed JSON Schema of `txqlab probe --json` is the one the Rust types generate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Regenerate with `cargo run -p txqlab -- probe --print-schema > txqlab/schemas/probe.schema.json`.

#[test]
fn committed_probe_schema_is_the_generated_one() {
    let committed = include_str!("../schemas/probe.schema.json");
    let generated = txqlab::probe::report::schema_json();
    assert!(
        committed == generated,
        "txqlab/schemas/probe.schema.json is stale: regenerate it with \
         `cargo run -p txqlab -- probe --print-schema > txqlab/schemas/probe.schema.json`"
    );
}

#[test]
fn the_schema_requires_the_documented_fields() {
    let v: serde_json::Value =
        serde_json::from_str(&txqlab::probe::report::schema_json()).expect("schema is JSON");
    let required: Vec<&str> = v["required"]
        .as_array()
        .expect("required list")
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    for f in [
        "schema_version",
        "kernel",
        "verdict",
        "per_queue_pod",
        "per_queue_node",
        "predicted",
        "branch",
    ] {
        assert!(required.contains(&f), "{f} missing from {required:?}");
    }
    let verdicts = v.to_string();
    for w in ["\"affected\"", "\"not_affected\"", "\"inconclusive\""] {
        assert!(verdicts.contains(w), "verdict {w} not in the schema");
    }
}
