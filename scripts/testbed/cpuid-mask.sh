#!/usr/bin/env bash
# Run a command on an AVX2-only view of this x86 CPU, natively (scripts/testbed/cpuid-mask.c: CPUID
# faulting hides AVX-512 and VNNI, so onnxruntime, XNNPACK, oneDNN and numpy take their AVX2 kernels).
#
#   bash scripts/testbed/cpuid-mask.sh CMD [ARGS...]     # e.g. .venv/bin/python benchmarks/runtime_stages.py
#   bash scripts/testbed/cpuid-mask.sh --lib             # build if needed, print the library's path
#
# Builds the library with gcc into ${XDG_CACHE_HOME:-~/.cache}/edgewise/ (rebuilt when the source
# changes). Exits 3 when the CPU or kernel has no CPUID faulting (the "cpuid_fault" flag). For timing
# only: use scripts/test-isa.sh (qemu) for exactness tests, it needs no CPU support.
set -euo pipefail
SRC="$(cd "$(dirname "$0")" && pwd)/cpuid-mask.c"
[ "$(uname -m)" = x86_64 ] || { echo "cpuid-mask: x86_64 only (this is $(uname -m))" >&2; exit 2; }
grep -qw cpuid_fault /proc/cpuinfo || { echo "cpuid-mask: no cpuid_fault flag in /proc/cpuinfo: no AVX2-only view here" >&2; exit 3; }
command -v gcc >/dev/null || { echo "cpuid-mask: needs gcc (apt-get install gcc)" >&2; exit 2; }
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/edgewise"
LIB="$CACHE/cpuid-mask-$(sha256sum "$SRC" | cut -c1-12).so"
if [ ! -f "$LIB" ]; then
  mkdir -p "$CACHE"
  gcc -O2 -Wall -shared -fPIC -o "$LIB.tmp" "$SRC"
  mv "$LIB.tmp" "$LIB"
fi
if [ "${1:-}" = --lib ]; then echo "$LIB"; exit 0; fi
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...] | --lib" >&2; exit 2; }
export LD_PRELOAD="$LIB${LD_PRELOAD:+:$LD_PRELOAD}"
exec "$@"
