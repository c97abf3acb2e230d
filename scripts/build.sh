#!/usr/bin/env bash
# Builds isobench and its agent, compiling the dependency tree once:
#   target/release/isobench                                  host CLI
#   target/x86_64-unknown-linux-gnu/release/isobench-agent   static agent (tract), the one
#                                                            every environment runs
# With --ort, also (on demand: `isobench setup --engine ort` calls it):
#   target/release/isobench-agent-ort                        dynamic agent with ONNX Runtime
#
# The static agent is not a second `cargo build --target ...` (that compiles
# every dependency again with other flags): `cargo rustc` links the agent
# crate alone with `+crt-static`, reusing the dependencies the workspace build
# compiled. The result is a static-pie executable, checked below.
set -euo pipefail
cd "$(dirname "$0")/.."
with_ort=0
only_ort=0
for arg in "$@"; do
  case "$arg" in
    --ort) with_ort=1 ;;
    --only-ort) with_ort=1; only_ort=1 ;;
    *) echo "build.sh: unknown argument $arg (known: --ort, --only-ort)" >&2; exit 2 ;;
  esac
done
export ISOBENCH_GIT_REVISION="${ISOBENCH_GIT_REVISION:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}"
built=()
if [ "$only_ort" = 0 ]; then
  cargo build --release --workspace --locked
  # The workspace build links the same binary dynamically, and cargo may take
  # the static link for fresh after it: touching the entry point makes it
  # link again (about a second; the crate's objects are reused).
  touch crates/agent/src/main.rs
  cargo rustc --release --locked -p isobench-agent --bin isobench-agent -- -C target-feature=+crt-static
  static=target/x86_64-unknown-linux-gnu/release/isobench-agent
  mkdir -p "$(dirname "$static")"
  cp target/release/isobench-agent "$static.tmp"
  mv "$static.tmp" "$static"
  if ! file "$static" 2>/dev/null | grep -qE 'static(-pie)? linked|statically linked'; then
    echo "build.sh: $static is not statically linked: $(file "$static")" >&2
    exit 1
  fi
  built+=(target/release/isobench "$static")
fi
if [ "$with_ort" = 1 ]; then
  cargo build --release --locked -p isobench-agent --features ort
  cp target/release/isobench-agent target/release/isobench-agent-ort.tmp
  mv target/release/isobench-agent-ort.tmp target/release/isobench-agent-ort
  built+=(target/release/isobench-agent-ort)
fi
echo "built: ${built[*]}"
