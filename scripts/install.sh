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
scripts/install-deps.sh
command -v cargo >/dev/null || { echo "install.sh: cargo not found: install Rust with rustup first" >&2; exit 1; }
scripts/build.sh
target/release/isobench setup
scripts/start-dockerd.sh || echo "install.sh: dockerd could not be started; the docker environment will be reported unavailable" >&2
echo "install.sh: done. Try: target/release/isobench doctor && target/release/isobench run"
