#!/usr/bin/env bash
# YOLOv8 inference time: the agent's ort and tract engines against Python
# onnxruntime, same model, same image (bus.jpg), same thread count, in one
# run. Prints medians, minima and ratios; asserts nothing about time.
#
# The three are run in alternating rounds (ort, python, tract, ort, ...),
# each round with its own warm-ups, and the samples pooled, so that load
# from other processes on the host hits all three alike.
#
# Usage: scripts/bench-engines.sh [ITERATIONS] [THREADS] [ROUNDS]
#        (ITERATIONS measured runs per engine in total, default 20)
# Env:   ISOBENCH_ASSETS (default: $ISOBENCH_CACHE/assets or ~/.cache/isobench/assets)
#        PYTHON  a python with onnxruntime, numpy, opencv-python-headless
#                (default: a venv this script makes once in $cache/bench-venv, with
#                onnxruntime from the pinned wheel in the cache and numpy/opencv from PyPI)
# Targets (issue 2): ort within 1.1x of Python onnxruntime, tract within 2.5x.
set -euo pipefail

iterations=${1:-20}
threads=${2:-1}
rounds=${3:-4}
warmup=3
per_round=$(( (iterations + rounds - 1) / rounds ))
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${ISOBENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/isobench}
assets=${ISOBENCH_ASSETS:-$cache/assets}
python=${PYTHON:-$cache/bench-venv/bin/python}
model=$assets/models/yolov8-fall.onnx
image=$assets/images/bus.jpg

for f in "$model" "$image"; do
    [[ -f $f ]] || { echo "error: $f is missing; run \`isobench setup\` first" >&2; exit 1; }
done
if [[ -z ${PYTHON:-} ]] && ! "$python" -c 'import onnxruntime, cv2, numpy' 2>/dev/null; then
    wheel=$(ls "$cache"/wheels/onnxruntime-1.32.0-*.whl 2>/dev/null | head -1)
    [[ -n $wheel ]] || { echo "error: the onnxruntime wheel is not in $cache/wheels; run \`isobench setup\`" >&2; exit 1; }
    echo "bench-engines: creating $cache/bench-venv (onnxruntime from $wheel, numpy and opencv-python-headless from PyPI)" >&2
    python3 -m venv "$cache/bench-venv"
    "$cache/bench-venv/bin/python" -m pip install -q "$wheel" numpy opencv-python-headless
fi
"$python" -c 'import onnxruntime, cv2, numpy' 2>/dev/null || {
    echo "error: $python lacks onnxruntime/cv2/numpy; set PYTHON to a venv with onnxruntime numpy opencv-python-headless" >&2
    exit 1
}

(cd "$root" && cargo build --release -q -p isobench-agent --features ort)
agent=$root/target/release/isobench-agent
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$cache/runtime/onnxruntime/libonnxruntime.so}
samples=$(mktemp)
trap 'rm -f "$samples"' EXIT

# Appends "ENGINE MS" lines for the measured (non-warm-up) iterations.
agent_round() {
    "$agent" run --workload yolov8 --engine "$1" --threads "$threads" \
        --warmup "$warmup" --iterations "$per_round" \
        --assets "$assets" --images "$image" |
        python3 -c '
import json, sys
for r in map(json.loads, sys.stdin):
    if r.get("type") == "iteration" and not r["warmup"]:
        print(sys.argv[1], r["inference_us"] / 1000)' "$1" >>"$samples"
}
python_round() {
    "$python" "$root/scripts/reference/yolov8_reference.py" "$model" "$image" \
        --bench "$per_round" --threads "$threads" 2>/dev/null |
        sed -n 's/^BENCH .*times_ms=\(.*\)$/\1/p' | tr ',' '\n' | sed 's/^/python /' >>"$samples"
}

echo "YOLOv8 fall detector, bus.jpg, 640x640, threads=$threads:" \
    "$rounds rounds x ($warmup warm-ups + $per_round runs) per engine, load $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$rounds"); do
    agent_round ort
    python_round
    agent_round tract
done

python3 - "$samples" <<'PY'
import statistics, sys
s = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    s.setdefault(k, []).append(float(v))
med = {k: statistics.median(v) for k, v in s.items()}
low = {k: min(v) for k, v in s.items()}
print(f"{'engine':<20}{'runs':>5}{'median ms':>11}{'min ms':>9}{'median/py':>11}{'min/py':>8}  target")
for k, name, target in [("python", "python onnxruntime", ""), ("ort", "agent ort", "<= 1.10x"), ("tract", "agent tract", "<= 2.50x")]:
    print(f"{name:<20}{len(s[k]):>5}{med[k]:>11.2f}{low[k]:>9.2f}{med[k] / med['python']:>10.2f}x{low[k] / low['python']:>7.2f}x  {target}")
PY
