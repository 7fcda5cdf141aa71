#!/usr/bin/env bash
# Tests whose truth depends on the instruction set, run on the ISAs the artifacts meet:
#   1. an AVX2-only x86: the bare device venv under `qemu-x86_64-static -cpu max` (qemu's TCG implements
#      AVX2/FMA but no AVX-512, so CPUID reports an AVX2 x86 without VNNI and onnxruntime/XNNPACK take
#      their AVX2 kernels) -- the whole runtime suite, plus the host's QAT-vs-onnxruntime test;
#   2. arm64: the runtime's int8 and self-check/bench tests inside the arm64 test bed (scripts/testbed/arm64-rootfs.sh,
#      qemu-aarch64 as a Cortex-A72 and a Cortex-A76).
# Natively the same tests already ran in `make test`'s first two steps.
# Needs root (binfmt_misc, chroot) and apt for qemu-user-static; the rootfs is cached after its first
# build (~5 min). EDGEWISE_SKIP_ARM64=1 skips step 2 (say so in any result you report).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
V=.venv-bare
[ -x $V/bin/python ] || { echo "test-isa: run scripts/test-bare.sh first (it builds $V)" >&2; exit 2; }

skip() {  # a skipped ISA is said loudly; in CI it is a failure
  echo "== $1: SKIPPED ($2)"
  if [ -n "${CI:-}" ]; then echo "test-isa: CI must run every ISA" >&2; exit 1; fi
}
if ! command -v qemu-x86_64-static >/dev/null; then
  if [ "$(id -u)" != 0 ]; then skip "emulated ISAs" "qemu-user-static is not installed and apt needs root"; exit 0; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static
fi
QUIET='TCG doesn.t support requested feature'

echo "== AVX2-only x86 (qemu-x86_64 -cpu max): $(qemu-x86_64-static -cpu max $V/bin/python -c \
  'from edgewise.runtime.platform import cpu_info; print(cpu_info().isa)' 2>/dev/null)"
(cd tests && qemu-x86_64-static -cpu max ../$V/bin/python -m pytest -q -p no:cacheprovider -m "not device and not slow" \
   --import-mode=importlib --rootdir=. -c /dev/null runtime --ignore=runtime/live 2> >(grep -v "$QUIET" >&2))
# (runtime/live: real-time, pty, microphone and browser tests -- no ISA-dependent arithmetic of their own,
#  and their timing means nothing under ~10x emulation; "slow": whole real recordings, which the native runs
#  cover; the int8 arithmetic that does depend on the ISA is runtime/test_int8_isa.py)
qemu-x86_64-static -cpu max .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/compress/test_qat.py -k "simulates or strip" 2> >(grep -v "$QUIET" >&2)

if [ "${EDGEWISE_SKIP_ARM64:-0}" = 1 ]; then skip arm64 "EDGEWISE_SKIP_ARM64=1"; exit 0; fi
if [ "$(id -u)" != 0 ]; then skip arm64 "the test bed needs root: chroot, binfmt_misc"; exit 0; fi
ROOTFS=$(bash scripts/testbed/arm64-rootfs.sh)
WORK=$(mktemp -d "$ROOTFS/tmp/edgewise-test-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cp -r edgewise "$WORK/edgewise"
rm -rf "$WORK/edgewise/models" "$WORK/edgewise/analysis" "$WORK/edgewise/compress"
mkdir -p "$WORK/tests/runtime"
cp tests/runtime/test_int8_isa.py tests/runtime/test_bench.py "$WORK/tests/runtime/"
cp -r tests/runtime/fixtures "$WORK/tests/runtime/fixtures"
IN="/${WORK#"$ROOTFS"/}"
for cpu in cortex-a72 cortex-a76; do
  echo "== arm64 ($cpu, emulated)"
  env -i PATH=/usr/bin:/bin HOME=/root QEMU_CPU=$cpu PYTHONPATH="/opt/site:$IN" \
    "$(command -v chroot || echo /usr/sbin/chroot)" "$ROOTFS" \
    python3 -m pytest -q -p no:cacheprovider --rootdir="$IN/tests" -c /dev/null \
      "$IN/tests/runtime/test_int8_isa.py" "$IN/tests/runtime/test_bench.py"
done
