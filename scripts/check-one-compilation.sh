#!/usr/bin/env bash
# Checks that the agent built alone (`cargo rustc -p isobench-agent`, the
# static link in scripts/build.sh) asks for the same features of every
# dependency as the workspace build, so it reuses that build's artifacts
# instead of compiling ~200 crates again. Prints what to add to
# crates/workspace-hack/Cargo.toml when it does not. Needs no compilation.
set -euo pipefail
cd "$(dirname "$0")/.."
tree() { cargo tree --locked -e normal,build --prefix none -f '{p}|{f}' "$@" | sed 's/ (\*)$//' | sort -u; }
workspace=$(mktemp); agent=$(mktemp)
trap 'rm -f "$workspace" "$agent"' EXIT
tree --workspace >"$workspace"
tree -p isobench-agent >"$agent"
python3 - "$workspace" "$agent" <<'PY'
import sys
def load(path):
    features = {}
    for line in open(path):
        line = line.rstrip("\n")
        if "|" in line:
            package, enabled = line.split("|", 1)
            features.setdefault(package.strip(), set()).update(f for f in enabled.split(",") if f)
    return features
workspace, agent = load(sys.argv[1]), load(sys.argv[2])
missing = {p: sorted(workspace.get(p, set()) - f) for p, f in agent.items() if workspace.get(p, set()) - f}
if missing:
    print("check-one-compilation: the agent alone would recompile these dependencies with fewer features;")
    print("add them to crates/workspace-hack/Cargo.toml ([build-dependencies] for proc macros' and build scripts'):")
    for package, features in sorted(missing.items()):
        print(f"  {package}: {', '.join(features)}")
    sys.exit(1)
print(f"check-one-compilation: ok ({len(agent)} packages of the agent have the workspace's features)")
PY
