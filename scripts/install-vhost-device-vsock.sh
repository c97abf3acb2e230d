#!/usr/bin/env bash
# Installs vhost-device-vsock (rust-vmm, from the crates registry, at a pinned
# version with its own Cargo.lock) into the isobench cache:
#   CACHE/runtime/vhost-device-vsock/bin/vhost-device-vsock
# QEMU guests use it as their virtio-vsock device (vhost-user-vsock) on hosts
# without /dev/vhost-vsock; it exposes the guest's ports on a hybrid-vsock Unix
# socket, the protocol Firecracker's vsock uses. Idempotent (~1.5 min on 2 cores).
set -euo pipefail
version=0.3.0
cache="${ISOBENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/isobench}"
root="$cache/runtime/vhost-device-vsock"
bin="$root/bin/vhost-device-vsock"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$version"; then
  echo "install-vhost-device-vsock: $bin ($version) already installed"
  exit 0
fi
command -v cargo >/dev/null || { echo "install-vhost-device-vsock: cargo not found: install Rust with rustup first" >&2; exit 1; }
target=$(mktemp -d)
trap 'rm -rf "$target"' EXIT
CARGO_TARGET_DIR="$target" cargo install --quiet --locked --root "$root" --version "$version" vhost-device-vsock
"$bin" --version
echo "install-vhost-device-vsock: installed $bin"
