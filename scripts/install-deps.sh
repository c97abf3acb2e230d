#!/usr/bin/env bash
# Installs the host packages isobench's environments use (Debian 12, as root);
# with --tests, also those only the tests use (scripts/test.sh passes it).
# Idempotent: packages already installed are left alone.
set -euo pipefail
packages=(
  docker.io runc crun runsc         # containers: Docker Engine, OCI runtimes, gVisor
  qemu-system-x86                   # QEMU microvm / q35 (KVM or TCG)
  lz4 cpio file iptables            # kernel extraction, checks, dockerd networking
  python3-pip                       # setup fetches pinned wheels with pip
  e2fsprogs                         # mkfs.ext4 -d: a user's root filesystem as a VM drive
)
# Test-only, left out of a user's install (chromium alone is ~100 MB to fetch
# and unpack, beside the CPU-bound first build).
test_packages=(
  chromium                          # HTML report screenshot test (headless)
  debootstrap                       # the user-program tests build a Debian tree with Python + NumPy
)
for arg in "$@"; do
  case "$arg" in
    --tests) packages+=("${test_packages[@]}") ;;
    *) echo "install-deps.sh: unknown argument $arg (known: --tests)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# python3 -m pip may come from a non-Debian Python (pyenv): then python3-pip is not needed.
if python3 -m pip --version >/dev/null 2>&1; then
  missing=("${missing[@]/python3-pip}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: ok"
