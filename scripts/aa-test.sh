#!/usr/bin/env bash
# The A/A test: three identical runs back to back, then `isobench compare`
# on each pair. Nothing changes between the runs but time, so no pair may be
# called "slower" or "faster": a verdict there would be the host's drift (or
# the statistics) speaking, not the configuration.
#
# Usage: scripts/aa-test.sh [OUTPUT_DIR] [extra `isobench run` flags...]
# Default: native, knn, 30 iterations, 8 repetitions per run.
# Exit status: 0 when no pair was called slower or faster, 1 otherwise; the
# last line says how many pairs came out `same` (equivalence shown) and how
# many `inconclusive` (two runs are two sessions of a drifting host: only a
# tight enough interval shows them the same).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-aa-test}
shift || true
isobench=${ISOBENCH:-target/release/isobench}
mkdir -p "$out"
for run in a b c; do
  echo "== run $run" >&2
  "$isobench" run --offline --overwrite --env native --workload knn --iterations 30 --repetitions 8 \
    --output "$out/aa-$run" "$@" >"$out/aa-$run.txt"
done
status=0
same=0
inconclusive=0
for pair in "a b" "b c" "a c"; do
  set -- $pair
  echo "== compare aa-$1 aa-$2"
  code=0
  "$isobench" compare "$out/aa-$1/results.json" "$out/aa-$2/results.json" | tee "$out/compare-$1-$2.txt" || code=$?
  # The outcomes from compare's JSON (format 3), not from its words.
  "$isobench" compare --json "$out/aa-$1/results.json" "$out/aa-$2/results.json" >"$out/compare-$1-$2.json" || true
  outcomes=$(python3 -c 'import json, sys; print(" ".join(r["outcome"] for r in json.load(open(sys.argv[1]))["rows"]))' \
    "$out/compare-$1-$2.json")
  echo "outcomes: $outcomes"
  if [[ " $outcomes " == *" slower "* || " $outcomes " == *" faster "* ]]; then
    echo "A/A FAILED: aa-$1 vs aa-$2 was called significantly different" >&2
    status=1
  elif [ "$code" != 0 ]; then
    echo "A/A FAILED: isobench compare exited $code" >&2
    status=1
  fi
  if [[ " $outcomes " == *" same "* ]]; then same=$((same + 1)); fi
  if [[ " $outcomes " == *" inconclusive "* ]]; then inconclusive=$((inconclusive + 1)); fi
done
[ "$status" = 0 ] && echo "A/A passed: no pair of identical runs was called slower or faster"
echo "A/A outcomes: ${same} of 3 pairs same, ${inconclusive} inconclusive"
exit "$status"
