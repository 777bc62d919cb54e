//! The bodies of txqlab's fuzz targets and the input types they decode. `fuzz/fuzz_targets/*.rs` call these; the
//! tests of this crate replay the committed corpus (`fuzz/corpus/<target>/`) under plain `cargo test`, so every
//! input a campaign found stays a regression test. A target panics exactly when an invariant breaks.
//!
//! A target body takes the fuzzer's bytes; what it cannot decode it ignores. Here `tc_parse` on a `tc -s` dump
//! (parse, render, parse again: the same entries), then every registered target on an empty input:
//!
//! ```
//! let dump = b"qdisc mq 1: dev eth0 root\n Sent 4200 bytes 7 pkt (dropped 0, overlimits 0 requeues 0)\n \
//!              backlog 0b 0p requeues 0\n";
//! txqlab_fuzz_common::tc_parse(dump);
//! for (name, body) in txqlab_fuzz_common::TARGETS {
//!     assert!(!name.is_empty());
//!     body(b"");
//! }
//! ```
#![allow(clippy::panic)]

mod desc_validate;
mod diagnose_input;
mod ena_com_diff;
mod ethtool_parse;
mod qdisc_ops;
mod release_parse;
mod ring_ops;
mod scenario_parse;
mod select_diff;
mod shaper_bound;
mod tc_parse;

pub use desc_validate::desc_validate;
pub use diagnose_input::diagnose_input;
pub use ena_com_diff::ena_com_diff;
pub use ethtool_parse::ethtool_parse;
pub use qdisc_ops::qdisc_ops;
pub use release_parse::release_parse;
pub use ring_ops::ring_ops;
pub use scenario_parse::scenario_parse;
pub use select_diff::select_diff;
pub use shaper_bound::shaper_bound;
pub use tc_parse::tc_parse;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by name, for the replay and the CI smoke run.
pub const TARGETS: &[(&str, Target)] = &[
    ("select_diff", select_diff),
    ("ring_ops", ring_ops),
    ("shaper_bound", shaper_bound),
    ("desc_validate", desc_validate),
    ("ethtool_parse", ethtool_parse),
    ("release_parse", release_parse),
    ("qdisc_ops", qdisc_ops),
    ("tc_parse", tc_parse),
    ("diagnose_input", diagnose_input),
    ("scenario_parse", scenario_parse),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn corpus_root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
    }

    /// Inputs that once crashed a target, kept apart from the corpus (which `cargo fuzz cmin` may prune).
    #[test]
    fn regressions_replay() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
        let mut n = 0;
        for (name, target) in TARGETS {
            let Ok(entries) = std::fs::read_dir(root.join(name)) else {
                continue;
            };
            for e in entries {
                target(&std::fs::read(e.unwrap().path()).unwrap());
                n += 1;
            }
        }
        assert!(n >= 2, "regression inputs missing");
    }

    /// Replays every committed corpus file of every target.
    #[test]
    fn committed_corpus_replays() {
        let mut total = 0;
        for (name, target) in TARGETS {
            let dir = corpus_root().join(name);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                panic!("no corpus for {name} in {}", dir.display())
            };
            let mut n = 0;
            for e in entries {
                let data = std::fs::read(e.unwrap().path()).unwrap();
                target(&data);
                n += 1;
            }
            assert!(n > 0, "empty corpus for {name}");
            total += n;
        }
        println!("replayed {total} corpus inputs");
    }

    /// Writes the seed corpus: `cargo test -p txqlab-fuzz-common write_seeds -- --ignored`.
    #[test]
    #[ignore = "a tool, not a check: writes the seed corpus into fuzz/corpus"]
    fn write_seeds() {
        let seeds: &[(&str, &[&[u8]])] = &[
            ("ethtool_parse", &[
                b"NIC statistics:\n     tx_timeout: 0\n     bw_out_allowance_exceeded: 12\n     queue_0_tx_cnt: 99\n     queue_0_rx_bad_csum: 1\n",
                b"queue_7_tx_bad_req_id: 3\nconntrack_allowance_available: 100\n",
            ]),
            ("release_parse", &[b"5.15.0-1019-aws", b"6.1.0-18-amd64", b"5.10.192-183.736.amzn2.x86_64", b"4.19.184"]),
            ("select_diff", &[&[7u8; 64], &[0u8; 200], &[0xffu8; 300]]),
            ("ring_ops", &[&[1u8; 128], &[3u8; 400]]),
            ("shaper_bound", &[&[9u8; 120], &[0x80u8; 64]]),
            ("desc_validate", &[&[0u8; 64], &[0x1du8; 300]]),
            ("qdisc_ops", &[&[1u8; 300], &[0x55u8; 500], &[0u8; 64]]),
            ("tc_parse", &[
                b"qdisc mq 0: root \n Sent 100 bytes 2 pkt (dropped 1, overlimits 0 requeues 3) \n backlog 0b 0p requeues 3\n",
                b"class mq :1 root leaf 8001: \n Sent 5 bytes 1 pkt (dropped 0, overlimits 0 requeues 0) \n backlog 12Kb 3p requeues 0\n",
            ]),
            ("diagnose_input", &[
                b"NIC statistics:\n     queue_0_tx_cnt: 900\n     queue_1_tx_cnt: 3\n     bw_in_allowance_exceeded: 4\n",
                b"tx_queue_0_packets: 5\ntx_queue_1_packets: 5\n",
            ]),
            ("scenario_parse", &[txqlab::scenario::INCIDENT.as_bytes(), b"name = 1\n"]),
        ];
        for (name, inputs) in seeds {
            let dir = corpus_root().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, data) in inputs.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i}")), data).unwrap();
            }
        }
    }
}
