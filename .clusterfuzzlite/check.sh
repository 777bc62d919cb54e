#!/bin/bash -eu
# Proves build.sh works outside the OSS-Fuzz image: runs it against this checkout into a temporary $OUT and checks
# that every cargo-fuzz target of fuzz/Cargo.toml is there as an executable, with its seed corpus, and that each
# dictionary it copied is a valid libFuzzer dictionary (the target loads it and runs its seeds once).
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
SRC=$(dirname "$root") OUT="$out" TXQLAB_ROOT="$root" RUSTUP_TOOLCHAIN="${RUSTUP_TOOLCHAIN:-nightly}" \
  bash "$root/.clusterfuzzlite/build.sh"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$root/fuzz/Cargo.toml" | grep -v '^txqlab-fuzz$')
n=0
for t in $targets; do
  test -x "$out/$t" || { echo "build.sh did not produce $OUT/$t" >&2; exit 1; }
  test -s "$out/${t}_seed_corpus.zip" || { echo "build.sh did not produce ${t}_seed_corpus.zip" >&2; exit 1; }
  if [ -f "$out/$t.dict" ]; then
    "$out/$t" -dict="$out/$t.dict" -runs=0 "$root/fuzz/corpus/$t" >"$out/$t.log" 2>&1 \
      || { echo "$t rejects its dictionary or seeds:" >&2; tail -5 "$out/$t.log" >&2; exit 1; }
    grep -q "Dictionary: [1-9][0-9]* entries" "$out/$t.log" \
      || { echo "$t loaded no entries from $t.dict" >&2; exit 1; }
  fi
  n=$((n + 1))
done
echo "build.sh: all $n fuzz targets built into \$OUT, with seed corpora and dictionaries"
