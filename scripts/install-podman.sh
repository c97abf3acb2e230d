#!/usr/bin/env bash
# Installs podman (Debian 12's podman 4.3 with conmon, and runc, the runtime isobench runs it with) for the `podman` environment, rootful.
# Needs root (apt-get). Idempotent: does nothing when `podman --version` answers
# and `podman info` works. isobench starts its own API service
# (`podman system service`) for each run; nothing is left running here.
set -euo pipefail
ready() {
  command -v podman >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 && podman info --format '{{.Host.CgroupsVersion}}' >/dev/null 2>&1
}
if ready; then
  echo "install-podman: $(podman --version) already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-podman: needs root (apt-get install podman)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
  echo "install-podman: installing podman (Debian 12)"
  apt-get update -qq
  # --no-install-recommends: no slirp4netns / uidmap / fuse-overlayfs (rootless
  # only), no buildah, no dbus; rootful podman needs conmon, an OCI runtime
  # (runc: crun 1.8 refuses hybrid cgroups), containers-common (policy.json,
  # registries.conf) and catatonit.
  apt-get install -y -qq --no-install-recommends podman conmon catatonit runc >/dev/null
fi
if ! podman info --format '{{.Host.CgroupsVersion}}' >/dev/null 2>&1; then
  echo "install-podman: podman info fails:" >&2
  podman info >&2 || true
  exit 1
fi
echo "install-podman: installed $(podman --version) ($(podman info --format 'cgroups {{.Host.CgroupsVersion}}, manager {{.Host.CgroupManager}}, runtime {{.Host.OCIRuntime.Name}}'))"
