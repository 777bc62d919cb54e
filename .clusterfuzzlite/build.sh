#!/bin/bash -eu
# Builds every cargo-fuzz target of fuzz/ into $OUT, each with its seed corpus ($OUT/<target>_seed_corpus.zip)
# and, for the text parsers, its dictionary ($OUT/<target>.dict). Run by ClusterFuzzLite/OSS-Fuzz in
# base-builder-rust (nightly is the default toolchain there); here: SRC=<parent of checkout> OUT=<dir>
# RUSTUP_TOOLCHAIN=nightly bash .clusterfuzzlite/build.sh (.ci/run does that into a temporary $OUT).
: "${SRC:?set SRC to the directory holding the checkout}" "${OUT:?set OUT to the output directory}"
root="${TXQLAB_ROOT:-$SRC/txqlab}"
cd "$root/fuzz"

targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^txqlab-fuzz$')
# cargo-fuzz's default profile: optimised, with debug assertions and overflow checks (an overflow is a finding
# here: the model's arithmetic must be exact), the same build `.ci/run`'s fuzz stage uses. The sanitizer comes
# from $SANITIZER when set (OSS-Fuzz sets it), cargo-fuzz's default (address) otherwise.
# cargo-fuzz knows address, leak, memory and thread; for OSS-Fuzz's others (coverage, undefined) the image's
# cargo wrapper supplies the instrumentation and cargo-fuzz adds none.
case "${SANITIZER:-address}" in
  address | leak | memory | thread) sanitizer="${SANITIZER:-address}" ;;
  *) sanitizer=none ;;
esac
cargo fuzz build --sanitizer "$sanitizer"
bin_dir=target/x86_64-unknown-linux-gnu/release

# Which dictionary serves which target.
declare -A dict=(
  [ethtool_parse]=ethtool [diagnose_input]=ethtool [tc_parse]=tc [scenario_parse]=toml [release_parse]=kernel_release
)
mkdir -p "$OUT"
for t in $targets; do
  cp "$bin_dir/$t" "$OUT/$t"
  if [ -d "corpus/$t" ] && [ -n "$(ls -A "corpus/$t")" ]; then
    rm -f "$OUT/${t}_seed_corpus.zip"
    (cd "corpus/$t" && zip -q -r "$OUT/${t}_seed_corpus.zip" .)
  fi
  if [ -n "${dict[$t]:-}" ]; then
    cp "dict/${dict[$t]}.dict" "$OUT/$t.dict"
  fi
done
echo "built $(echo $targets | wc -w) fuzz targets into $OUT"
