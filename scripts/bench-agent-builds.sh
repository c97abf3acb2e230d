#!/usr/bin/env bash
# Two builds of the agent, the same workload: is the new build slower?
# How the release profile's choices were checked (Cargo.toml): an agent built
# before a profile or dependency change against one built after it.
#
# The two binaries run in interleaved pairs (old, new, then new, old, ...),
# each run with its own model load, 2 warm-ups and ITERATIONS measured
# iterations; per pair the ratio new/old of the mean inference, preprocessing
# and model-load times; printed: the geometric mean of the ratios with its
# 95% t interval over the pairs, and whether every iteration's output digest
# was identical. Asserts nothing about time.
#
# Usage: scripts/bench-agent-builds.sh OLD_AGENT NEW_AGENT [WORKLOAD] [PAIRS] [ITERATIONS]
#        (defaults: yolov8, 8 pairs, 5 iterations; the static agent is
#        target/x86_64-unknown-linux-gnu/release/isobench-agent: copy it away
#        before rebuilding)
# Env:   ISOBENCH_ASSETS (default: $ISOBENCH_CACHE/assets or ~/.cache/isobench/assets)
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
old=$1 new=$2 workload=${3:-yolov8} pairs=${4:-8} iterations=${5:-5}
for agent in "$old" "$new"; do
  [ -x "$agent" ] || { echo "bench-agent-builds: $agent is not an executable agent build" >&2; exit 2; }
done
cache=${ISOBENCH_CACHE:-$HOME/.cache/isobench}
assets=${ISOBENCH_ASSETS:-$cache/assets}
[ -d "$assets/models" ] || { echo "bench-agent-builds: no models in $assets: run \`isobench setup\` first" >&2; exit 2; }

exec python3 - "$old" "$new" "$workload" "$pairs" "$iterations" "$assets" <<'EOF'
import json, math, statistics, subprocess, sys

old, new, workload, pairs, iterations, assets = sys.argv[1:]
pairs = int(pairs)
if pairs < 2:
    sys.exit("bench-agent-builds: at least 2 pairs are needed for an interval")
# Two-sided 97.5% quantiles of Student's t, df = 1..30.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]

def run(agent):
    out = subprocess.run(
        [agent, "run", "--workload", workload, "--iterations", iterations,
         "--warmup", "2", "--assets", assets],
        capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench-agent-builds: {agent} failed: {out.stderr.strip().splitlines()[-1:]}")
    inference, preprocess, load, digests = [], [], None, []
    for line in out.stdout.splitlines():
        record = json.loads(line)
        if record["type"] == "ready":
            load = record["model_load_us"]
        elif record["type"] == "iteration" and not record["warmup"]:
            inference.append(record["inference_us"])
            preprocess.append(record["preprocess_us"])
            digests.append(json.dumps(record.get("digest"), sort_keys=True))
    return {"inference": statistics.mean(inference), "preprocess": statistics.mean(preprocess),
            "model load": load, "digests": digests}

log_ratios = {"inference": [], "preprocess": [], "model load": []}
identical = True
for pair in range(pairs):
    order = [old, new] if pair % 2 == 0 else [new, old]
    got = {agent: run(agent) for agent in order}
    a, b = got[old], got[new]
    identical &= a["digests"] == b["digests"]
    for figure, logs in log_ratios.items():
        if a[figure] and b[figure]:
            logs.append(math.log(b[figure] / a[figure]))
    print(f"pair {pair + 1}: inference old {a['inference'] / 1e3:.1f} ms, new {b['inference'] / 1e3:.1f} ms; "
          f"model load old {a['model load'] / 1e3:.0f} ms, new {b['model load'] / 1e3:.0f} ms", flush=True)

print(f"{workload}, new / old (geometric mean of {pairs} interleaved pairs, 95% t interval):")
for figure, logs in log_ratios.items():
    if len(logs) < 2:
        continue
    mean = statistics.mean(logs)
    half = T975[min(len(logs) - 1, 30) - 1] * statistics.stdev(logs) / math.sqrt(len(logs))
    print(f"  {figure:<10} {math.exp(mean):.3f}x [{math.exp(mean - half):.3f}, {math.exp(mean + half):.3f}]")
print(f"  outputs    {'identical' if identical else 'DIFFERENT'} in every iteration")
EOF
