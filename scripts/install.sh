#!/usr/bin/env bash
# Installs everything isobench needs on a fresh Debian 12 machine (as root) and
# builds it: host packages, the Rust build (CLI + both agent builds), vhost-device-vsock
# (the QEMU guests' vsock device when the host has no /dev/vhost-vsock), the pinned
# models / images / data / binaries (`isobench setup`), and a running dockerd.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
command -v cargo >/dev/null || { echo "install.sh: cargo not found: install Rust with rustup first" >&2; exit 1; }
scripts/build.sh
scripts/install-vhost-device-vsock.sh
scripts/install-youki.sh
target/release/isobench setup
scripts/start-dockerd.sh || echo "install.sh: dockerd could not be started; the docker environment will be reported unavailable" >&2
echo "install.sh: done. Try: target/release/isobench doctor && target/release/isobench run"
