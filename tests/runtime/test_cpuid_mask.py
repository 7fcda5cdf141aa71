"""scripts/testbed/cpuid-mask.sh: an AVX2-only view of an AVX-512 x86 CPU at native speed (CPUID faulting),
what ``benchmarks/runtime_stages.py --isa avx2`` times. Needs x86_64 Linux with the ``cpuid_fault`` flag and
gcc; elsewhere skipped (the qemu view of scripts/test-isa.sh covers exactness on any CPU)."""
from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgewise.runtime.platform import _cpuinfo_flags, _cpuinfo_text

REPO = Path(__file__).resolve().parents[2]
SHIM = REPO / "scripts" / "testbed" / "cpuid-mask.sh"


pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64" or "cpuid_fault" not in _cpuinfo_flags(_cpuinfo_text()) or shutil.which("gcc") is None,
    reason="needs x86_64 with CPUID faulting (cpuid_fault) and gcc")


def _masked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SHIM), sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_the_masked_process_sees_an_avx2_cpu_without_avx512_or_vnni():
    code = ("from edgewise.runtime.platform import cpu_info, u8s8_pairs_saturate\n"
            "import numpy as np\n"
            "from numpy.core._multiarray_umath import __cpu_features__ as f\n"
            "print(cpu_info().isa, f['AVX2'], f['FMA3'], f['AVX512F'], u8s8_pairs_saturate())")
    p = _masked(code)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["x86_64-avx2", "True", "True", "False", "True"]


def test_a_real_segfault_still_kills_the_masked_process():
    """The SIGSEGV handler emulates CPUID only; any other fault ends the process as it would have."""
    p = _masked("import ctypes; ctypes.string_at(0)")
    assert p.returncode == -11, (p.returncode, p.stderr)


def test_children_of_the_masked_process_are_masked_too():
    """execve resets CPUID faulting; LD_PRELOAD sets it again in every child (a runtime's worker processes)."""
    code = ("import subprocess, sys\n"
            "print(subprocess.run([sys.executable, '-c', 'from edgewise.runtime.platform import cpu_info; "
            "print(cpu_info().isa)'], capture_output=True, text=True).stdout.strip())")
    p = _masked(code)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "x86_64-avx2"
