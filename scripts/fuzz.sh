#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted input (agent record lines, serving
# frames, experiment TOML, results JSON) with cargo-fuzz / libFuzzer for a
# bounded time per target (FUZZ_SECONDS, default 60), starting from the corpora
# kept in fuzz/corpus/. New inputs go to a scratch directory, so the repo's
# corpora only change when someone copies interesting inputs in on purpose.
# The machine's only toolchain is stable: RUSTC_BOOTSTRAP lets it take the
# instrumentation flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# No sanitizer: the fuzzed crates (records, results, harness) have no unsafe
# code, so what fuzzing can find is a panic, which libFuzzer reports without
# ASan; the build is ~1 min shorter (2 min 46 s against 3 min 44 s fresh) and
# every execution faster.
sanitizer=(--sanitizer none)
targets=$(cargo fuzz list)
cargo fuzz build --release "${sanitizer[@]}"
for target in $targets; do
  mkdir -p "$scratch/$target" "corpus/$target"
  log="$scratch/$target.log"
  if ! cargo fuzz run --release "${sanitizer[@]}" "$target" "$scratch/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target found a crash (artifacts in fuzz/artifacts/$target)" >&2
    exit 1
  fi
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  echo "fuzz: $target: ${runs:-?} executions in ${seconds}s, no crash"
done
