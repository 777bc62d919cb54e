#!/usr/bin/env bash
# Per-target line coverage of the cargo-fuzz targets on their committed corpora (issue 13 §3).
#
# Usage: fuzz/coverage.sh [TARGET...]      (no argument: every [[bin]] in fuzz/Cargo.toml, one after the other)
# Prints one line per target: target, the source files measured (its reachable code), line coverage.
# Needs the nightly toolchain with llvm-tools (`rustup +nightly component add llvm-tools`) and cargo-fuzz.
#
# What it runs, for each target T (from fuzz/):
#   cargo +nightly fuzz coverage T
#       builds T with -Cinstrument-coverage into target/x86_64-unknown-linux-gnu/coverage/, replays
#       corpus/T/ and merges the profile into coverage/T/coverage.profdata
#   llvm-cov report target/x86_64-unknown-linux-gnu/coverage/x86_64-unknown-linux-gnu/release/T \
#       -instr-profile=coverage/T/coverage.profdata FILE...
#       where FILE... are the files T is meant to exercise (files_of below); llvm-cov reports only the
#       files named, and the TOTAL row's "Lines" / "Missed Lines" / "Cover" give the figure printed here.
# llvm-cov is the one in the nightly sysroot: $(rustc +nightly --print sysroot)/lib/rustlib/<host>/bin/llvm-cov.
# The full per-file report for T is left in coverage/T/report.txt (fuzz/coverage/ is git-ignored).
#
# Environment: NICE (default 10) is the niceness of the build and the replay.
set -euo pipefail

FUZZ=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$FUZZ")
cd "$FUZZ"

HOST=$(rustc +nightly -vV | sed -n 's/^host: //p')
LLVM_BIN=$(rustc +nightly --print sysroot)/lib/rustlib/$HOST/bin
LLVM_COV=$LLVM_BIN/llvm-cov
[[ -x $LLVM_COV ]] || { echo "coverage.sh: $LLVM_COV missing: rustup +nightly component add llvm-tools" >&2; exit 2; }

# The code each target is meant to exercise, relative to the repository root: files, brace/glob patterns, and
# directories (all their .rs files). Chosen from the target bodies in fuzz-common/src/; README.md "## Fuzzing" says why.
files_of() {
    case $1 in
    select_diff) echo 'qdisc/src/select_ref.rs qdisc/src/select_fast.rs qdisc/src/hash.rs qdisc/src/netdev.rs' ;;
    # Driver side (xmit, doorbell, clean_tx_irq), device side and the mock driver/device pair: TX descriptors only.
    ring_ops) echo 'nic-model/src/tx_queue.rs nic-model/src/device.rs nic-model/src/ring.rs nic-model/src/llq.rs
        nic-model/src/mock.rs nic-model/src/desc/mod.rs nic-model/src/desc/tx*.rs' ;;
    # Raw bytes in the submission ring and a raw doorbell: only the device side parses them.
    desc_validate) echo 'nic-model/src/device.rs nic-model/src/ring.rs nic-model/src/llq.rs nic-model/src/desc/tx*.rs' ;;
    shaper_bound) echo 'nic-model/src/shaper/token_bucket.rs' ;;
    ethtool_parse) echo 'nic-model/src/ethtool.rs nic-model/src/stats.rs' ;;
    release_parse) echo 'qdisc/src/profile.rs qdisc/src/facts.rs' ;;
    # mq.rs is not fuzzed (the target drives one child qdisc).
    qdisc_ops) echo 'qdisc/src/sched/codel.rs qdisc/src/sched/fq_codel.rs qdisc/src/sched/pfifo_fast.rs
        qdisc/src/sched/mod.rs' ;;
    tc_parse) echo 'txqlab/src/diagnose/tc.rs fuzz-common/src/tc_parse.rs' ;;
    # collect.rs runs ethtool/tc/sysfs reads on the host: not reachable from bytes.
    diagnose_input) echo 'txqlab/src/diagnose/{driver,error,ethtool,finding,lines,mod,prometheus,report,snapshot,spread,tc}.rs' ;;
    scenario_parse) echo 'txqlab/src/scenario.rs txqlab/src/scenario fuzz-common/src/scenario_parse.rs' ;;
    ena_com_diff) echo 'nic-model/src/tx_queue.rs nic-model/src/device.rs nic-model/src/llq.rs
        nic-model/src/rx_queue.rs nic-model/src/desc' ;;
    *) return 1 ;;
    esac
}

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(sed -n '/^\[\[bin\]\]/,/^name/s/^name = "\(.*\)"/\1/p' Cargo.toml)
fi

status=0
for t in "${targets[@]}"; do
    spec=$(files_of "$t") || { echo "coverage.sh: no file list for target '$t'" >&2; status=1; continue; }
    files=()
    for f in $spec; do
        if [[ -d $ROOT/$f ]]; then
            files+=("$ROOT/$f"/*.rs)
        else
            eval "files+=(\"\$ROOT\"/$f)" # brace and glob patterns, expanded from the repository root
        fi
    done
    rel=("${files[@]#"$ROOT"/}")
    mkdir -p coverage
    if ! nice -n "${NICE:-10}" cargo +nightly fuzz coverage "$t" >"coverage/$t.log" 2>&1; then
        echo "coverage.sh: cargo fuzz coverage $t failed, see fuzz/coverage/$t.log" >&2
        status=1
        continue
    fi
    bin=target/$HOST/coverage/$HOST/release/$t
    "$LLVM_COV" report "$bin" -instr-profile="coverage/$t/coverage.profdata" "${files[@]}" >"coverage/$t/report.txt"
    # TOTAL  regions missed cover  functions missed executed  lines missed cover  branches missed cover
    read -r lines missed cover < <(awk '$1 == "TOTAL" { print $8, $9, $10 }' "coverage/$t/report.txt")
    echo "$t  $(IFS=,; echo "${rel[*]}")  $cover ($((lines - missed))/$lines lines)"
done
exit $status
