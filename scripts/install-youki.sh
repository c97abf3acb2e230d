#!/usr/bin/env bash
# Installs youki (the Rust OCI runtime, from the crates registry, at a pinned
# version with its own Cargo.lock) for the `oci-youki` environment:
#   ${YOUKI_ROOT:-/usr/local}/bin/youki
# Built with cgroup v1 and v2 support and seccomp: youki's default features
# lack cgroup v1, and such a build fails on hybrid-cgroup hosts with "v1 cgroup
# feature is required, but was not enabled during compile time".
# Needs root (apt-get, /usr/local) and cargo. Idempotent: skips the build
# (~3-4 min on 2 cores) when `youki --version` already reports the version
# and `youki features` cgroup v1 support; otherwise (re)builds it.
set -euo pipefail
shopt -s extglob
version=0.7.0
root="${YOUKI_ROOT:-/usr/local}"
bin="$root/bin/youki"
# The pinned version, built with cgroup v1 support (`youki features`).
usable() {
  local version_text features
  [ -x "$1" ] || return 1
  version_text=$("$1" --version 2>/dev/null) || return 1
  features=$("$1" features 2>/dev/null) || return 1
  [[ $'\n'"$version_text" == *$'\n'"youki version"?(:)" $version"$'\n'* ]] \
    && [[ $(tr -d ' \n' <<<"$features") == *'"v1":true'* ]]
}
for candidate in "$bin" "$(command -v youki || true)"; do
  if [ -n "$candidate" ] && usable "$candidate"; then
    echo "install-youki: $candidate ($version, cgroup v1 + v2) already installed"
    exit 0
  fi
done
command -v cargo >/dev/null || { echo "install-youki: cargo not found: install Rust with rustup first" >&2; exit 1; }
missing=()
for p in libseccomp-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-youki: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
target=$(mktemp -d)
trap 'rm -rf "$target"' EXIT
echo "install-youki: building youki $version (cgroup v1 + v2, seccomp; ~3-4 min)"
CARGO_TARGET_DIR="$target" cargo install --force --quiet --locked --root "$root" --version "$version" \
  --no-default-features --features v1,v2,seccomp youki
"$bin" --version
echo "install-youki: installed $bin"
