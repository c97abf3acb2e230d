#!/usr/bin/env bash
# Benchmarks of the harness itself (figures, no asserts):
#  1. its overhead: the agent's in-agent inference median run directly vs under
#     `isobench run --env native` (target: < 1% apart), interleaved in alternating
#     order, one run (ROUNDS, default 6);
#  2. container start times (launch -> agent ready) for docker vs runc vs crun vs gVisor.
# Usage: scripts/bench-harness.sh [workload] [iterations]   (default: yolov8 40)
set -euo pipefail
cd "$(dirname "$0")/.."
workload="${1:-yolov8}"
iterations="${2:-40}"
isobench=target/release/isobench
agent=target/x86_64-unknown-linux-gnu/release/isobench-agent
assets="${ISOBENCH_CACHE:-$HOME/.cache/isobench}/assets"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median_of_agent() { # stdin: agent JSON lines -> median inference_us of measured iterations
  python3 -c '
import json, statistics, sys
xs = [r["inference_us"] for r in map(json.loads, (l for l in sys.stdin if l.startswith("{\"v\":"))) if r["type"] == "iteration" and not r["warmup"]]
print(statistics.median(xs))'
}
median_of_results() { # $1: results.json -> median inference_us of the native environment
  python3 -c '
import json, statistics, sys
r = json.load(open(sys.argv[1]))
print(statistics.median(s["inference_us"] for e in r["environments"] for rep in e["repetitions"] for s in rep["iterations"]))' "$1"
}

rounds="${ROUNDS:-6}"
echo "== harness overhead: $workload, $iterations iterations, $rounds rounds, order alternating (ABBA...)"
direct=(); harness=()
run_direct() {
  "$agent" run --workload "$workload" --iterations "$iterations" --warmup 3 --assets "$assets" | median_of_agent
}
run_harness() {
  "$isobench" run --offline --env native --workload "$workload" --iterations "$iterations" --warmup 3 \
      --repetitions 1 --output "$work/h$1" >/dev/null 2>&1
  median_of_results "$work/h$1/results.json"
}
for round in $(seq 1 "$rounds"); do
  # Alternate which goes first, so a drift of the host (frequency, neighbours) cancels out.
  if [ $((round % 2)) = 1 ]; then
    d=$(run_direct); h=$(run_harness "$round")
  else
    h=$(run_harness "$round"); d=$(run_direct)
  fi
  direct+=("$d"); harness+=("$h")
  echo "round $round: direct median ${d} us, under isobench ${h} us (ratio $(python3 -c "print(f'{$h/$d:.4f}')"))"
done
python3 - "${direct[@]}" "${harness[@]}" <<'PY'
import statistics, sys
v = list(map(float, sys.argv[1:])); n = len(v) // 2
d, h = statistics.median(v[:n]), statistics.median(v[n:])
ratios = sorted(b / a for a, b in zip(v[:n], v[n:]))
print(f"median of rounds: direct {d:.0f} us, under isobench {h:.0f} us, ratio {h/d:.4f} ({(h/d-1)*100:+.2f}%)")
print(f"per-round ratios: {ratios[0]:.4f} .. {ratios[-1]:.4f} (median {statistics.median(ratios):.4f});"
      f" spread of direct rounds {min(v[:n]):.0f} .. {max(v[:n]):.0f} us")
PY

echo "== container start times (launch -> ready), knn, 10 fresh containers each"
envs=native
for e in docker oci-runc oci-crun gvisor; do
  if "$isobench" doctor 2>/dev/null | grep -qE "^$e +available"; then envs="$envs,$e"; fi
done
"$isobench" run --offline --env "$envs" --workload knn --iterations 1 --warmup 0 --repetitions 10 \
    --output "$work/start" >/dev/null 2>&1 || true
python3 - "$work/start/results.json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
for e in r["environments"]:
    xs = sorted(rep["ready_seconds"] * 1000 for rep in e["repetitions"] if rep.get("ready_seconds"))
    if xs:
        print(f"{e['name']:<10} start to ready: min {xs[0]:7.1f} ms  median {statistics.median(xs):7.1f} ms  max {xs[-1]:7.1f} ms  (n={len(xs)})")
    else:
        print(f"{e['name']:<10} {e['status']}")
PY
