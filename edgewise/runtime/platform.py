"""What processor this process runs on, as the runtimes see it: architecture, model, cores, ISA features.

The int8 kernels of onnxruntime (MLAS) and LiteRT (XNNPACK) are chosen by the processor's features at
run time, so an int8 result or a latency is a fact about one ISA. The features come from the CPUID /
HWCAP bits that numpy's own dispatcher reads (``numpy.core._multiarray_umath.__cpu_features__``), not
from ``/proc/cpuinfo``: under qemu-user the file is the host's, while CPUID/HWCAP are the emulated CPU's
(what the kernels really dispatch on). ``/proc/cpuinfo`` is read for the model name only.
"""
from __future__ import annotations

import os
import platform as _platform
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CpuInfo", "cpu_info", "isa_label", "u8s8_pairs_saturate"]

# numpy's feature names -> the names people know (Linux /proc/cpuinfo spelling)
_X86 = {"SSE42": "sse4_2", "AVX": "avx", "F16C": "f16c", "FMA3": "fma", "AVX2": "avx2", "AVX512F": "avx512f",
        "AVX512BW": "avx512bw", "AVX512VL": "avx512vl", "AVX512VNNI": "avx512_vnni",
        "AVX512_BF16": "avx512_bf16"}
_ARM = {"NEON": "neon", "ASIMD": "asimd", "ASIMDHP": "asimdhp", "ASIMDDP": "asimddp", "ASIMDFHM": "asimdfhm"}
# int8 features numpy 1.x does not report; taken from /proc/cpuinfo only when the file describes the same
# CPU as CPUID/HWCAP (it does not under qemu-user, where the file is the host's)
_EXTRA = {"avx_vnni", "amx_int8", "avx512_bf16", "i8mm", "sve", "sve2", "bf16"}


@dataclass(frozen=True)
class CpuInfo:
    """The processor as this process sees it.

    Attributes:
        arch: ``platform.machine()`` (``x86_64``, ``aarch64`` ...).
        model: the model name from ``/proc/cpuinfo`` (``""`` when there is none).
        cores: logical processors this process may use.
        features: ISA features that decide the int8/fp32 kernels, lower case (``avx2``, ``avx512_vnni``,
            ``asimd``, ``asimddp`` ...), sorted.
        isa: one short label for the kernel family (see ``isa_label``).
    """

    arch: str
    model: str
    cores: int
    features: tuple[str, ...] = field(default_factory=tuple)
    isa: str = ""

    def as_dict(self) -> dict:
        return {"arch": self.arch, "model": self.model, "cores": self.cores, "features": list(self.features),
                "isa": self.isa}


def _numpy_features() -> dict[str, bool]:
    try:
        from numpy.core._multiarray_umath import __cpu_features__  # numpy 1.x
    except ImportError:  # pragma: no cover (numpy 2 moved it)
        try:
            from numpy._core._multiarray_umath import __cpu_features__  # type: ignore[no-redef]
        except ImportError:
            return {}
    return dict(__cpu_features__)


def _cpuinfo_text() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


def _cpuinfo_flags(text: str) -> set[str]:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


def _model_name(text: str) -> str:
    if not text:
        return _platform.processor()
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        found.setdefault(key.strip().lower(), value.strip())
    # x86: "model name" ("model" is a number there); arm64: "Model"/"Hardware", else the core's part number
    for key in ("model name", "cpu model", "model", "hardware"):
        if found.get(key) and not found[key].isdigit():
            return found[key]
    part = found.get("cpu part")
    return f"ARM part {part}" if part else _platform.processor()


def isa_label(arch: str, features: tuple[str, ...] | list[str]) -> str:
    """The int8 kernel family a CPU gets: ``x86_64-avx512vnni``, ``x86_64-avx512``, ``x86_64-avx2``,
    ``x86_64-sse``, ``aarch64-dotprod``, ``aarch64-neon`` (or the bare architecture)."""
    f = set(features)
    if arch in ("x86_64", "AMD64", "amd64"):
        if "avx512_vnni" in f:
            return "x86_64-avx512vnni"
        if "avx_vnni" in f:
            return "x86_64-avxvnni"
        if "avx512bw" in f:
            return "x86_64-avx512"
        if "avx2" in f:
            return "x86_64-avx2"
        return "x86_64-sse"
    if arch in ("aarch64", "arm64"):
        if "i8mm" in f:
            return "aarch64-i8mm"
        return "aarch64-dotprod" if "asimddp" in f else "aarch64-neon"
    return arch


def cpu_info() -> CpuInfo:
    """Architecture, model name, usable cores and ISA features of the processor this process runs on."""
    arch = _platform.machine()
    names = _X86 if arch in ("x86_64", "AMD64", "amd64") else _ARM
    raw = _numpy_features()
    feats = {v for k, v in names.items() if raw.get(k)}
    text = _cpuinfo_text()
    flags = _cpuinfo_flags(text)
    # arm64's /proc/cpuinfo spells NEON "asimd" and never "neon"
    comparable = {v for k, v in names.items() if k in raw and v not in ("neon",)}
    if flags and all((name in flags) == (name in feats) for name in comparable):
        feats |= flags & _EXTRA
    feats = tuple(sorted(feats))
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover (not Linux)
        cores = os.cpu_count() or 1
    return CpuInfo(arch=arch, model=_model_name(text), cores=cores, features=feats, isa=isa_label(arch, feats))


def u8s8_pairs_saturate(info: CpuInfo | None = None) -> bool:
    """True where onnxruntime's u8s8 int8 kernels add two uint8 x int8 products into a saturating int16
    (``vpmaddubsw``): x86 without VNNI (AVX2, AVX-512 without VNNI). VNNI (``vpdpbusd``) and arm64
    accumulate in int32. An int8 ONNX with full-range (8-bit) weights can then give other numbers on
    such a CPU; 7-bit weights (onnxruntime's ``reduce_range``) cannot overflow."""
    info = info or cpu_info()
    return info.arch in ("x86_64", "AMD64", "amd64") and not ({"avx512_vnni", "avx_vnni"} & set(info.features))
