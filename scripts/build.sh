#!/usr/bin/env bash
# Builds isobench and both agent builds:
#   target/release/isobench                                  host CLI
#   target/release/isobench-agent                            dynamic agent (tract + ort)
#   target/x86_64-unknown-linux-gnu/release/isobench-agent   static agent (tract only),
#                                                            the one every environment runs by default
set -euo pipefail
cd "$(dirname "$0")/.."
export ISOBENCH_GIT_REVISION="${ISOBENCH_GIT_REVISION:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}"
cargo build --release --workspace --locked
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked \
  --target x86_64-unknown-linux-gnu -p isobench-agent --no-default-features --features tract
static=target/x86_64-unknown-linux-gnu/release/isobench-agent
if file "$static" 2>/dev/null | grep -q 'dynamically linked'; then
  echo "build.sh: $static is not static" >&2
  exit 1
fi
echo "built: target/release/isobench, target/release/isobench-agent, $static"
