#!/usr/bin/env bash
# Serving benchmark (issue 6): prints figures, asserts nothing.
#   1. the empty-request round trip per transport (µs): stdio, TCP loopback,
#      the OCI runtimes and docker (stdio, TCP), the QEMU guest's serial
#      console and its vsock, wherever this host runs them;
#   2. the peak Server-scenario QPS meeting a latency bound, for knn and
#      yolov8, native vs docker.
# Usage: scripts/bench-serving.sh [OUT_DIR]   (default: a temporary directory)
# Environment: ROUND_TRIPS (default 1000), KNN_BOUND_MS (25), YOLO_BOUND_MS (5000),
#   SKIP_VM=1 to leave out the QEMU guest, SKIP_PEAK=1 to measure round trips only.
set -euo pipefail
cd "$(dirname "$0")/.."
isobench=target/release/isobench
[ -x "$isobench" ] || { echo "bench-serving: $isobench missing: run scripts/build.sh first" >&2; exit 1; }
out="${1:-$(mktemp -d "${TMPDIR:-/tmp}/bench-serving.XXXXXX")}"
mkdir -p "$out"
round_trips="${ROUND_TRIPS:-1000}"

serve() { # name, then serve-bench flags
  local name=$1; shift
  echo "== $name"
  if ! "$isobench" serve-bench --offline --output "$out/$name" "$@"; then
    echo "bench-serving: $name failed (above); going on" >&2
  fi
}

rt=(--workload knn --scenario single-stream --duration 0 --min-queries 50
    --round-trip-requests "$round_trips" --warmup-requests 20)
serve rt-native-stdio --env native "${rt[@]}"
serve rt-native-tcp --env native --transport tcp "${rt[@]}"
for env in oci-runc oci-crun gvisor; do
  serve "rt-$env-stdio" --env "$env" "${rt[@]}"
done
if curl -fsS --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; then
  serve rt-docker-stdio --env docker "${rt[@]}"
  serve rt-docker-tcp --env docker --transport tcp "${rt[@]}"
else
  echo "bench-serving: dockerd is not running (scripts/start-dockerd.sh): docker left out" >&2
fi
if [ "${SKIP_VM:-0}" != 1 ]; then
  vm=(--workload knn --scenario single-stream --duration 0 --min-queries 20
      --round-trip-requests 200 --warmup-requests 5 --timeout 600)
  serve rt-qemu-serial --env qemu-microvm "${vm[@]}"
  serve rt-qemu-vsock --env qemu-microvm --transport vsock "${vm[@]}"
fi

if [ "${SKIP_PEAK:-0}" != 1 ]; then
  envs=native
  curl -fsS --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1 && envs=native,docker
  serve peak-knn --env "$envs" --workload knn --scenario server --find-peak \
    --latency-bound-ms "${KNN_BOUND_MS:-25}" --duration 5 --min-queries 500 --peak-steps 8
  # The same over TCP: separates the isolation from docker's stdio proxy.
  serve peak-knn-tcp --env "$envs" --transport tcp --workload knn --scenario server --find-peak \
    --latency-bound-ms "${KNN_BOUND_MS:-25}" --duration 5 --min-queries 500 --peak-steps 8
  serve peak-yolov8 --env "$envs" --workload yolov8 --scenario server --find-peak \
    --latency-bound-ms "${YOLO_BOUND_MS:-5000}" --duration 20 --min-queries 20 --peak-steps 6 \
    --round-trip-requests 50 --warmup-requests 2
fi

echo
echo "== summary (µs for round trips; QPS for peaks)"
python3 - "$out" <<'EOF'
import json, pathlib, sys
rows = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*/results.json")):
    for r in json.loads(path.read_text()).get("serving", []):
        rt = r.get("round_trip") or {}
        rows.append((path.parent.name, r["env"], r["transport"], r["scenario"],
                     rt.get("p50_us"), rt.get("p99_us"), r.get("peak_qps"),
                     r.get("throughput_ratio_to_native"), r.get("failure")))
print(f"{'run':18} {'env':13} {'transport':9} {'scenario':13} {'rtt p50':>8} {'rtt p99':>8} {'peak QPS':>9} {'vs native':>9}  failure")
for run, env, tr, sc, p50, p99, peak, ratio, failure in rows:
    f = lambda x, d=0: "-" if x is None else f"{x:.{d}f}"
    print(f"{run:18} {env:13} {tr:9} {sc:13} {f(p50):>8} {f(p99):>8} {f(peak, 2):>9} {f(ratio, 2):>9}  {failure or ''}")
EOF
echo "results: $out"
