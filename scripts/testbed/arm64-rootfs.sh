#!/usr/bin/env bash
# Build (once) and print the path of an arm64 Debian rootfs that plays a Raspberry Pi under qemu-user.
#
#   ROOTFS=$(bash scripts/testbed/arm64-rootfs.sh)      # ~3 min the first time, cached afterwards
#
# What it does (../shared/TESTBEDS.md, section 1): installs qemu-user-static + debootstrap (apt), mounts
# binfmt_misc and registers the aarch64 handler, debootstraps Debian bookworm arm64 (minbase + python3, venv, pip, openssh-server)
# from the mirror apt is configured with, writes a Pi-like CPU description (/proc/cpuinfo and
# /sys/devices/system/cpu/* as plain files: without them LiteRT skips XNNPACK and onnxruntime's cpuinfo
# fails), and installs the device wheels (numpy, onnxruntime, ai-edge-litert, pytest for cp311 aarch64,
# the versions in scripts/testbed/device-wheels.txt) into /opt/site. Root is needed (chroot, binfmt).
# The base system is cached as a tarball (the wheels are re-installed when their list changes), under
# ${EDGEWISE_TESTBED_CACHE:-$HOME/.cache/edgewise/testbed}; messages go to stderr, the path to stdout.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${EDGEWISE_TESTBED_CACHE:-${HOME:-/root}/.cache/edgewise/testbed}"
# the base system is keyed by what debootstrap installs; the wheels by their list (re-installed on change)
BASE_KEY="bookworm-arm64-minbase-python3-sshd-v2"
WHEEL_KEY="$(cat "$HERE/device-wheels.txt" | sha256sum | cut -c1-12)"
ROOTFS="$CACHE/$BASE_KEY"
log() { echo "arm64-rootfs: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "needs root (chroot, binfmt_misc)"; exit 2; }

need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

B=/proc/sys/fs/binfmt_misc
[ -e $B/register ] || mount -t binfmt_misc binfmt_misc $B
[ -e $B/qemu-aarch64 ] || cat /usr/lib/binfmt.d/qemu-aarch64.conf > $B/register

install_wheels() {  # $1: rootfs; the device wheels (cp311 aarch64) into $1/opt/site, once per list
  local root=$1
  [ "$(cat "$root/opt/site/.wheels" 2>/dev/null)" = "$WHEEL_KEY" ] && return 0
  log "device wheels (cp311 aarch64): $(tr '\n' ' ' < "$HERE/device-wheels.txt")"
  local plat=(--only-binary=:all: --python-version 3.11 --implementation cp --abi cp311)
  for t in manylinux2014_aarch64 manylinux_2_17_aarch64 manylinux_2_27_aarch64 manylinux_2_28_aarch64 \
           manylinux_2_31_aarch64 manylinux_2_34_aarch64 manylinux_2_35_aarch64 manylinux_2_36_aarch64; do
    plat+=(--platform "$t")
  done
  local wheels="$CACHE/wheels-aarch64-$WHEEL_KEY" pip="${PIP:-python3 -m pip}"
  mkdir -p "$wheels"
  $pip download -q "${plat[@]}" -d "$wheels" -r "$HERE/device-wheels.txt" >&2
  rm -rf "$root/opt/site"
  $pip install -q "${plat[@]}" --no-index --find-links "$wheels" --target "$root/opt/site" -r "$HERE/device-wheels.txt" >&2
  chroot "$root" /usr/bin/env PYTHONPATH=/opt/site python3 -c \
    "import platform, numpy, onnxruntime; from ai_edge_litert.interpreter import Interpreter; print('arm64 test bed:', platform.machine(), 'numpy', numpy.__version__, 'onnxruntime', onnxruntime.__version__)" >&2
  echo "$WHEEL_KEY" > "$root/opt/site/.wheels"
}

if [ -f "$ROOTFS/.ready" ]; then install_wheels "$ROOTFS"; echo "$ROOTFS"; exit 0; fi
mkdir -p "$CACHE"
if [ -f "$ROOTFS.tar" ]; then
  log "unpacking cached $ROOTFS.tar"
  rm -rf "$ROOTFS"; mkdir -p "$ROOTFS"; tar -C "$ROOTFS" -xf "$ROOTFS.tar"
  install_wheels "$ROOTFS"; echo "$ROOTFS"; exit 0
fi

MIRROR="${EDGEWISE_DEBIAN_MIRROR:-}"
if [ -z "$MIRROR" ]; then  # the mirror apt already uses (deb822 or one-line sources)
  MIRROR=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
           | grep -v security | head -1 | sed -E 's/^URIs:[[:space:]]*//; s/^deb (\[[^]]*\] )?//; s/[[:space:]].*$//' || true)
fi
[ -n "$MIRROR" ] || { log "no Debian mirror found in apt's sources; set EDGEWISE_DEBIAN_MIRROR"; exit 2; }

TMP="$ROOTFS.partial"
rm -rf "$TMP"
log "debootstrap bookworm arm64 (first stage)"
debootstrap --arch=arm64 --foreign --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates,openssh-server,procps \
  bookworm "$TMP" "$MIRROR" >&2
log "second stage (emulated, ~2-3 min)"
chroot "$TMP" /debootstrap/debootstrap --second-stage >&2

# a Raspberry Pi 4's CPU description as plain files (QEMU_CPU picks the emulated core)
mkdir -p "$TMP/sys/devices/system/cpu"
for f in possible present online; do echo 0-3 > "$TMP/sys/devices/system/cpu/$f"; done
{
  for i in 0 1 2 3; do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
    printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
  done
  printf 'Hardware\t: BCM2835\nModel\t\t: edgewise test bed (qemu-user, Cortex-A72 description)\n'
} > "$TMP/proc/cpuinfo"
touch "$TMP/.ready"
tar -C "$TMP" -cf "$ROOTFS.tar.partial" . && mv "$ROOTFS.tar.partial" "$ROOTFS.tar"
rm -rf "$ROOTFS" && mv "$TMP" "$ROOTFS"
install_wheels "$ROOTFS"
log "ready: $ROOTFS"
echo "$ROOTFS"
