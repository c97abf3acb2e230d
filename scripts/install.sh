#!/usr/bin/env bash
# Installs what the default benchmark needs on a fresh Debian 12 machine (as
# root) and builds it: host packages, the Rust build (the CLI and the static
# agent, one compilation of the dependencies), the pinned models / images /
# data / binaries (`isobench setup`), and a running dockerd.
# Extras are installed on demand, each saying how long it takes:
#   isobench setup --env oci-youki      youki (built from the crates registry)
#   isobench setup --env qemu-microvm   vhost-device-vsock and the microVM kernel
#   isobench setup --engine ort         the agent with ONNX Runtime
# (`isobench doctor` lists what is missing; a run that needs youki installs it.)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "install.sh: cargo not found: install Rust with rustup first" >&2; exit 1; }
# The host packages install while the build compiles (the build needs none
# of them; apt is mostly I/O): about 20 s off a fresh machine's install.
deps_log=$(mktemp)
scripts/install-deps.sh >"$deps_log" 2>&1 &
deps=$!
build_status=0
scripts/build.sh || build_status=$?
deps_status=0
wait "$deps" || deps_status=$?
cat "$deps_log"
rm -f "$deps_log"
[ "$deps_status" = 0 ] || { echo "install.sh: scripts/install-deps.sh failed (exit $deps_status; its output is above)" >&2; exit "$deps_status"; }
[ "$build_status" = 0 ] || { echo "install.sh: scripts/build.sh failed (exit $build_status)" >&2; exit "$build_status"; }
# dockerd starts while setup fetches the wheels (both take a few seconds).
scripts/start-dockerd.sh &
dockerd=$!
target/release/isobench setup
wait "$dockerd" || echo "install.sh: dockerd could not be started; the docker environment will be reported unavailable" >&2
echo "install.sh: done. Try: target/release/isobench doctor && target/release/isobench run"
