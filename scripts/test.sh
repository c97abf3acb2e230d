#!/usr/bin/env bash
# The test suite, from a fresh clone: installs and starts what the tests need
# (packages, both agent builds, the pinned assets, dockerd), runs every test,
# and stops the daemon it started.
set -euo pipefail
cd "$(dirname "$0")/.."
started_dockerd=0
cleanup() {
  if [ "$started_dockerd" = 1 ]; then scripts/stop-dockerd.sh || true; fi
}
trap cleanup EXIT
scripts/install-deps.sh
scripts/build.sh
scripts/install-vhost-device-vsock.sh
# The microVM kernel (Firecracker's device model, tested under QEMU here); ~6 min, cached.
scripts/build-microvm-kernel.sh
target/release/isobench setup
if ! [ -S /var/run/docker.sock ] || ! curl -fsS --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; then
  scripts/start-dockerd.sh && started_dockerd=1
fi
export ISOBENCH_AGENT_STATIC="$PWD/target/x86_64-unknown-linux-gnu/release/isobench-agent"
export ISOBENCH_AGENT_DYNAMIC="$PWD/target/release/isobench-agent"
log=$(mktemp)
# --no-fail-fast: one failing test file does not hide the results of the others.
status=0
cargo test --release --workspace --locked --no-fail-fast -- --test-threads=1 2>&1 | tee "$log" || status=$?
passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
failures=$(grep -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' || true)
rm -f "$log"
if [ "$status" != 0 ]; then
  echo
  echo "tests: ${passed} passed, ${failed} failed (cargo test exited with ${status})"
  if [ -n "$failures" ]; then printf '  failed: %s\n' $failures; fi
  exit "$status"
fi
# Fuzz the untrusted-input parsers for a bounded time (issue 7); FUZZ_SECONDS=0 skips.
if [ "${FUZZ_SECONDS:-60}" != 0 ]; then
  scripts/fuzz.sh
fi
echo
echo "tests: ${passed} passed, ${failed} failed"
