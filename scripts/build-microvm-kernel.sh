#!/usr/bin/env bash
# Builds a minimal guest kernel for isobench's VMs from Debian's linux-source-6.1,
# everything built in (no modules):
#   vmlinux   uncompressed ELF with the PVH note: Firecracker (which loads only ELF on
#             x86_64) and QEMU (-M microvm and q35 boot it through PVH, the fastest way)
#   bzImage   LZ4-compressed, for QEMU or any bootloader that wants a bzImage
#   config    the .config it was built with
# into ${ISOBENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/isobench}/kernels/microvm-<version>/.
#
# Why: Debian's cloud kernel (isobench's default guest kernel) has virtio and vsock
# only as modules and lacks CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, so it cannot see
# Firecracker's virtio-mmio devices (vsock, block, net), which Firecracker announces
# on the kernel command line. ext4 and virtio-blk are built in for the read-only
# root drive of `--workload command` (the user's tree as an ext4 image).
# Takes ~4 minutes on 2 cores; does nothing when the kernel is already built with
# every option below (a kernel cached by an older version of this script that
# lacks one is rebuilt).
#
# Usage: scripts/build-microvm-kernel.sh [--force]
#   --force   rebuild even when the kernel is already in the cache
# Environment: JOBS (default: nproc), TMPDIR (where the ~1.5 GB build tree goes).
set -euo pipefail

log() { echo "build-microvm-kernel: $*" >&2; }
die() { log "error: $*"; exit 1; }

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$arg' (see --help)" ;;
  esac
done

source_package=linux-source-6.1
source_tarball=/usr/src/linux-source-6.1.tar.xz
cache="${ISOBENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/isobench}"
kernels="$cache/kernels"
jobs="${JOBS:-$(nproc)}"

# Options that must come out =y (checked after the build). The first group is
# what the VMs and the agent need; the rest make it a better benchmark guest.
required=(
  64BIT PRINTK TTY SERIAL_8250 SERIAL_8250_CONSOLE
  BLK_DEV_INITRD RD_GZIP BINFMT_ELF PROC_FS SYSFS DEVTMPFS DEVTMPFS_MOUNT
  PVH HYPERVISOR_GUEST PARAVIRT KVM_GUEST
  VIRTIO_MENU VIRTIO VIRTIO_MMIO VIRTIO_MMIO_CMDLINE_DEVICES VIRTIO_PCI VIRTIO_BLK BLOCK
  # the root drive of --workload command: an ext4 image the agent mounts read-only
  EXT4_FS
  NET UNIX INET VSOCKETS VIRTIO_VSOCKETS VIRTIO_VSOCKETS_COMMON
  ACPI PCI FUTEX EPOLL EVENTFD SHMEM MULTIUSER POSIX_TIMERS HIGH_RES_TIMERS SMP X86_TSC
  # what a static Rust/glibc binary as /init and its threads use
  TIMERFD SIGNALFD FILE_LOCKING ADVISE_SYSCALLS MEMBARRIER RSEQ TMPFS PROC_SYSCTL
  # virtio-serial (the agent's --device transport), virtio-net, MSI for virtio-pci on q35
  VIRTIO_CONSOLE NETDEVICES VIRTIO_NET PCI_MSI
  # clocks under KVM (kvmclock) and the PVH boot path
  PARAVIRT_CLOCK X86_64
  # faster to decompress than tinyconfig's XZ (0.67 s of XZ under TCG)
  KERNEL_LZ4
  # a benchmark guest: compiled for speed, SLUB allocator
  CC_OPTIMIZE_FOR_PERFORMANCE SLUB
)
# tinyconfig choices to switch off (the other side of a choice above).
disabled=(KERNEL_XZ CC_OPTIMIZE_FOR_SIZE SLOB MODULES)

# --- the version to build: linux-source-6.1's upstream version ---------------
package_version() {
  local v
  v=$(dpkg-query -W -f='${Status} ${Version}' "$source_package" 2>/dev/null \
        | sed -n 's/^install ok installed //p' || true)
  if [ -z "$v" ]; then
    v=$(apt-cache policy "$source_package" 2>/dev/null | sed -n 's/^ *Candidate: *//p' || true)
    [ "$v" = "(none)" ] && v=""
  fi
  echo "${v%%-*}"   # 6.1.192-2 -> 6.1.192 (the kernel's own version)
}

# True when $1 holds a complete build whose config has every required option:
# a build by an older version of this script (fewer options) is stale.
is_current() {
  local dir="$1" opt
  [ -f "$dir/vmlinux" ] && [ -f "$dir/bzImage" ] && [ -f "$dir/config" ] || return 1
  for opt in "${required[@]}"; do
    grep -q "^CONFIG_$opt=y\$" "$dir/config" || return 1
  done
}

print_result() {
  local dir="$1"
  cat <<EOF
build-microvm-kernel: kernel $(basename "$dir")
  $dir/vmlinux   (ELF with PVH note; for every VMM)
  $dir/bzImage   (LZ4 bzImage)
  $dir/config
Use it with:
  isobench run --env firecracker --kernel $dir/vmlinux ...
  isobench run --env qemu-microvm,qemu-q35 --kernel $dir/vmlinux ...   # PVH boot, fastest
  isobench run --env qemu-microvm,qemu-q35 --kernel $dir/bzImage ...   # also works
EOF
}

stale_note() {
  local opt missing=()
  if [ -f "$1/vmlinux" ] && ! is_current "$1"; then
    for opt in "${required[@]}"; do
      grep -q "^CONFIG_$opt=y\$" "$1/config" 2>/dev/null || missing+=("$opt")
    done
    log "$1 was built without ${missing[*]:-its config}, which this version needs: rebuilding"
  fi
}

version=$(package_version)
if [ -z "$version" ]; then
  # No apt metadata (offline): fall back to a kernel built earlier.
  newest=$(ls -d "$kernels"/microvm-*/ 2>/dev/null | sort -V | tail -n1 || true)
  if [ "$force" = 0 ] && [ -n "$newest" ] && is_current "${newest%/}"; then
    print_result "${newest%/}"
    exit 0
  fi
  die "cannot tell the version of $source_package (run 'apt-get update')"
fi
out="$kernels/microvm-$version"
stale_note "$out"

if [ "$force" = 0 ] && is_current "$out"; then
  log "already built"
  print_result "$out"
  exit 0
fi

# --- build dependencies --------------------------------------------------------
packages=($source_package build-essential flex bison bc libelf-dev libssl-dev xz-utils lz4 binutils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    sudo=(sudo)
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -f "$source_tarball" ] || die "$source_tarball is missing although $source_package is installed"

# --- build in a temporary directory -------------------------------------------
mkdir -p "$kernels"
# One build at a time per cache (a second run waits, then finds the result).
exec 9>"$kernels/.microvm-build.lock"
flock 9
if [ "$force" = 0 ] && is_current "$out"; then
  log "built by a concurrent run"
  print_result "$out"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/isobench-kernel.XXXXXX")
staging=""
cleanup() {
  rm -rf "$work"
  if [ -n "$staging" ]; then rm -rf "$staging"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
log "unpacking $source_tarball into $work"
tar -xf "$source_tarball" -C "$work"
src="$work/linux-source-6.1"
[ -f "$src/Makefile" ] || die "unexpected tarball layout (no $src/Makefile)"
built_version=$(make -s -C "$src" kernelversion)
if [ "$built_version" != "$version" ]; then
  log "note: tree says $built_version, package says $version; naming it microvm-$built_version"
  version="$built_version"
  out="$kernels/microvm-$version"
fi

cd "$src"
log "configuring (tinyconfig + ${#required[@]} options)"
make -s tinyconfig >/dev/null
# tinyconfig is 32-bit on x86: switch to 64-bit first so the rest resolves for x86_64.
scripts/config --enable 64BIT
make -s olddefconfig >/dev/null
for opt in "${required[@]}"; do scripts/config --enable "$opt"; done
for opt in "${disabled[@]}"; do scripts/config --disable "$opt"; done
scripts/config --set-str LOCALVERSION "-isobench-microvm"
make -s olddefconfig >/dev/null
# Two passes: options whose dependencies were only met in the first pass.
for opt in "${required[@]}"; do scripts/config --enable "$opt"; done
make -s olddefconfig >/dev/null

log "building vmlinux and bzImage with $jobs jobs (~4 min on 2 cores)"
if ! make -j"$jobs" vmlinux bzImage >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log" >&2
  die "kernel build failed (last lines above)"
fi

# --- verify ---------------------------------------------------------------------
bad=()
for opt in "${required[@]}"; do
  state=$(scripts/config --state "$opt")
  [ "$state" = y ] || bad+=("CONFIG_$opt=$state")
done
if [ ${#bad[@]} -gt 0 ]; then
  for b in "${bad[@]}"; do log "required option not built in: $b (want y)"; done
  die "the final .config lacks ${#bad[@]} required option(s); see above"
fi
grep -q '^CONFIG_MODULES=y' .config && die "CONFIG_MODULES=y although everything should be built in"
# PVH entry point: ELF note owned by "Xen", type XEN_ELFNOTE_PHYS32_ENTRY (0x12).
notes=$(readelf -n vmlinux)
if ! grep -Eq '^[[:space:]]+Xen[[:space:]]' <<<"$notes"; then
  die "vmlinux has no Xen/PVH ELF note (readelf -n vmlinux); Firecracker and QEMU PVH boot need CONFIG_PVH"
fi
magic() { od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }
[ "$(magic vmlinux 0 4)" = 7f454c46 ] || die "vmlinux is not an ELF file"
[ "$(magic arch/x86/boot/bzImage 514 4)" = 48647253 ] || die "bzImage has no HdrS boot header"

# --- install into the cache (atomically: staging dir, then rename) -------------
staging=$(mktemp -d "$kernels/.microvm-$version.XXXXXX")
cp vmlinux "$staging/vmlinux"
cp arch/x86/boot/bzImage "$staging/bzImage"
cp .config "$staging/config"
chmod 755 "$staging"
rm -rf "$out"
mv "$staging" "$out"
staging=""
log "built $(make -s kernelrelease) in $(( $(date +%s) - started )) s:" \
  "vmlinux $(du -h --apparent-size "$out/vmlinux" | cut -f1), bzImage $(du -h --apparent-size "$out/bzImage" | cut -f1)"
print_result "$out"
