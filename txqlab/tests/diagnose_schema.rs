//! The JSON Schemas in txqlab/schemas/ are generated from the Rust types (`schemars`) and must match them;
//! the outputs carry `schema_version` and only user-facing names. Regenerate after a deliberate change with
//! `TXQLAB_BLESS=1 cargo test -p txqlab --test diagnose_schema`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn check(name: &str, schema: schemars::Schema) {
    let path = format!("{}/schemas/{name}.schema.json", env!("CARGO_MANIFEST_DIR"));
    let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    if std::env::var_os("TXQLAB_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{path} differs from the schema generated from the Rust types: rerun with TXQLAB_BLESS=1 and commit"
    );
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    check("diagnose", txqlab::diagnose::schema());
    check("predict", txqlab::predict::schema());
    check("simulate", txqlab::report::schema());
}

fn json(args: &[&str]) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_txqlab"))
        .args(args)
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Top-level keys of an output are exactly the schema's properties, and `schema_version` is the current one.
fn conforms(v: &serde_json::Value, schema: &schemars::Schema, version: u32) {
    let s = serde_json::to_value(schema).unwrap();
    let props: Vec<&String> = s["properties"].as_object().unwrap().keys().collect();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    for k in &keys {
        assert!(props.contains(k), "{k} not in the schema");
    }
    for r in s["required"].as_array().unwrap() {
        assert!(v.get(r.as_str().unwrap()).is_some(), "{r} missing");
    }
    assert_eq!(v["schema_version"], version);
}

#[test]
fn outputs_carry_schema_version_and_user_facing_names() {
    let fixture = format!(
        "{}/tests/fixtures/ena_pinned.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let d = json(&["diagnose", &fixture, "--json"]);
    conforms(
        &d,
        &txqlab::diagnose::schema(),
        txqlab::diagnose::SCHEMA_VERSION,
    );
    assert_eq!(d["driver"], "ena");
    let p = json(&[
        "predict", "--kernel", "5.10.27", "--driver", "ena", "--path", "veth", "--json",
    ]);
    conforms(
        &p,
        &txqlab::predict::schema(),
        txqlab::predict::SCHEMA_VERSION,
    );
    let text = format!("{d}{p}");
    for internal in [
        "EnaLegacy",
        "DriverRxRecorded",
        "VirtioNet",
        "\"Ena\"",
        "RxRecorded",
        "\"Hash\"",
    ] {
        assert!(!text.contains(internal), "{internal} in {text}");
    }
    assert!(
        p["driver_hook"]
            .as_str()
            .unwrap()
            .starts_with("ena_select_queue")
    );
}

#[test]
fn readme_has_the_findings_table_generated_from_the_ids() {
    let table = txqlab::diagnose::finding::markdown_table();
    if std::env::var_os("TXQLAB_BLESS").is_some() {
        std::fs::write(
            format!("{}/../target/findings-table.md", env!("CARGO_MANIFEST_DIR")),
            &table,
        )
        .unwrap();
    }
    let readme =
        std::fs::read_to_string(format!("{}/../README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert!(
        readme.contains(&table),
        "README.md lacks the findings table (TXQLAB_BLESS=1 writes it to target/findings-table.md)"
    );
    for id in txqlab::diagnose::FindingId::ALL {
        assert!(readme.contains(&format!("| `{}` |", id.as_str())));
    }
}
