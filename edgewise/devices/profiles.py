"""Device profiles: what a board's CPU can do at most, and where every figure comes from.

A profile holds the facts a roofline estimate needs (``edgewise.devices.estimate``): cores, core type,
clock, ISA features, memory, the peak int8 and fp32 multiply-accumulates per cycle per core, the last-level
cache and the DRAM bandwidth. Each figure names its source in ``sources``; "nominal" means a data-sheet or
architecture figure that nobody measured here.

Peak MACs per cycle per core come from the SIMD units (Arm Software Optimization Guides: throughput of the
Q-form ``FMLA`` (fp32) and ``SDOT`` (int8 dot product, Armv8.2) per cycle times their lanes; cores without
``SDOT`` multiply int8 through 16-bit widening ``SMLAL``). For x86 (``this-machine``) they are derived from the
ISA: ``2 FMA ports x vector width / 32`` fp32 MACs, ``x 4`` with VNNI (``vpdpbusd``: four u8 x s8 products
per 32-bit lane) or ``x 2`` without it (``vpmaddubsw`` + ``vpmaddwd``). Zen 4 (AMD family 25) runs 512-bit
ops on 256-bit units, so its width is 256 bits even with AVX-512.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from edgewise.devices.errors import UnknownProfileError
from edgewise.runtime.platform import CpuInfo, cpu_info, isa_label

__all__ = ["Profile", "register", "get_profile", "known_profiles", "this_machine", "PRECISIONS"]

PRECISIONS = ("fp32", "int8")
_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]*$")


@dataclass(frozen=True)
class Profile:
    """A device class: the CPU facts a roofline estimate needs.

    Attributes:
        name: registry name (``pi4b``).
        title: human name (``Raspberry Pi 4 Model B``).
        arch: ``aarch64`` or ``x86_64``.
        cores: CPU cores a model may use.
        core: core type (``cortex-a72``; for this machine the CPU model name).
        clock_ghz: sustained clock of one core.
        features: ISA features that decide the kernels (``asimd``, ``asimddp``, ``avx512_vnni`` ...).
        memory_gb: RAM.
        int8_macs_per_cycle_per_core: peak int8 multiply-accumulates per cycle of one core.
        fp32_macs_per_cycle_per_core: peak fp32 multiply-accumulates per cycle of one core.
        mem_bw_gbs: DRAM bandwidth in GB/s.
        cache_kb: the largest cache one core can use (a layer whose tensors fit stays compute-bound).
        sources: field name -> where its value comes from.
        notes: caveats (emulation, guessed clock ...).
    """

    name: str
    title: str
    arch: str
    cores: int
    core: str
    clock_ghz: float
    features: tuple[str, ...]
    memory_gb: float
    int8_macs_per_cycle_per_core: float
    fp32_macs_per_cycle_per_core: float
    mem_bw_gbs: float
    cache_kb: int
    sources: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    notes: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"profile name {self.name!r} must match {_NAME.pattern}")
        for attr in ("cores", "clock_ghz", "memory_gb", "int8_macs_per_cycle_per_core",
                     "fp32_macs_per_cycle_per_core", "mem_bw_gbs", "cache_kb"):
            value = getattr(self, attr)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"profile {self.name!r}: {attr} must be a positive number, got {value!r}")
        object.__setattr__(self, "features", tuple(self.features))

    @property
    def isa(self) -> str:
        """The int8 kernel family (``aarch64-dotprod``, ``x86_64-avx512vnni`` ...), as ``cpu_info`` labels it."""
        return isa_label(self.arch, self.features)

    def macs_per_cycle(self, precision: str) -> float:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        return self.int8_macs_per_cycle_per_core if precision == "int8" else self.fp32_macs_per_cycle_per_core

    def peak_gmacs(self, precision: str, threads: int = 1) -> float:
        """Peak GMAC/s of ``min(threads, cores)`` cores at ``precision``."""
        return self.macs_per_cycle(precision) * self.clock_ghz * min(max(int(threads), 1), self.cores)

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "arch": self.arch, "isa": self.isa, "cores": self.cores,
                "core": self.core, "clock_ghz": self.clock_ghz, "features": list(self.features),
                "memory_gb": self.memory_gb, "int8_macs_per_cycle_per_core": self.int8_macs_per_cycle_per_core,
                "fp32_macs_per_cycle_per_core": self.fp32_macs_per_cycle_per_core,
                "peak_int8_gmacs": round(self.peak_gmacs("int8", self.cores), 1),
                "peak_fp32_gmacs": round(self.peak_gmacs("fp32", self.cores), 1),
                "mem_bw_gbs": self.mem_bw_gbs, "cache_kb": self.cache_kb, "sources": dict(self.sources),
                "notes": self.notes}


# ----------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------
_REGISTRY: dict[str, Callable[[], Profile]] = {}


def register(name: str) -> Callable[[Callable[[], Profile]], Callable[[], Profile]]:
    """Decorator: register a function returning a ``Profile`` under ``name``; raises on a duplicate."""

    def deco(fn: Callable[[], Profile]) -> Callable[[], Profile]:
        if name in _REGISTRY:
            raise ValueError(f"profile {name!r} is already registered")
        cached = lru_cache(maxsize=1)(fn)
        _REGISTRY[name] = cached
        return cached

    return deco


def known_profiles() -> list[str]:
    """Names of the built-in profiles, in registration order."""
    return list(_REGISTRY)


def get_profile(name: str, *, extra: dict[str, Profile] | None = None) -> Profile:
    """A built-in profile, or one of ``extra`` (user profiles from the devices config).

    Raises:
        UnknownProfileError: no such profile; the message lists the known ones.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]()
    if extra and name in extra:
        return extra[name]
    known = known_profiles() + sorted(extra or {})
    raise UnknownProfileError(f"unknown device profile {name!r}; known profiles: {', '.join(known)}")


# ----------------------------------------------------------------------------------------------
# cores: per-core SIMD peak (MACs per cycle) and where the figure comes from
# ----------------------------------------------------------------------------------------------
_SOG = "Arm Cortex-{} Software Optimization Guide"
_CORES: dict[str, tuple[float, float, str, str]] = {
    # core: (fp32, int8 MACs/cycle, fp32 source, int8 source)
    "cortex-a53": (4, 8, "nominal: one 128-bit FMLA (4 lanes) per cycle, as A53-tuned kernels issue it "
                         "(ncnn NEON guide; Arm publishes no A53 optimization guide)",
                   "nominal: no SDOT (Armv8.0); 8 int8 MACs/cycle through 16-bit widening SMLAL"),
    "cortex-a72": (8, 8, "nominal: " + _SOG.format("A72") + ", Q-form FMLA on both FP pipes (2 x 4 lanes)",
                   "nominal: no SDOT (Armv8.0); SMLAL 8 x 16-bit lanes on the one ASIMD integer-multiply pipe"),
    "cortex-a55": (4, 16, "nominal: " + _SOG.format("A55") + ", Q-form FMLA throughput 1/cycle (4 lanes)",
                   "nominal: " + _SOG.format("A55") + ", Q-form SDOT 1/cycle x 16 MACs"),
    "cortex-a76": (8, 32, "nominal: " + _SOG.format("A76") + ", Q-form FMLA 2/cycle (V0, V1) x 4 lanes",
                   "nominal: " + _SOG.format("A76") + ", Q-form SDOT 2/cycle x 16 MACs"),
    "neoverse-n1": (8, 32, "nominal: Arm Neoverse N1 Software Optimization Guide (A76-class pipes)",
                    "nominal: Arm Neoverse N1 Software Optimization Guide, SDOT 2/cycle x 16 MACs"),
}
_ARM_PARTS = {"0xd03": "cortex-a53", "0xd05": "cortex-a55", "0xd08": "cortex-a72", "0xd0b": "cortex-a76",
              "0xd0c": "neoverse-n1"}
_NEON = ("asimd", "fp", "neon")
_DOTPROD = ("asimd", "asimddp", "asimdhp", "fp", "fphp", "neon")


def _board(name: str, title: str, *, cores: int, core: str, clock_ghz: float, clock_src: str, features: tuple,
           memory_gb: float, memory_src: str, mem_bw_gbs: float, bw_src: str, cache_kb: int, cache_src: str,
           notes: str = "") -> Profile:
    fp32, int8, fp32_src, int8_src = _CORES[core]
    return Profile(name=name, title=title, arch="aarch64", cores=cores, core=core, clock_ghz=clock_ghz,
                   features=features, memory_gb=memory_gb, int8_macs_per_cycle_per_core=int8,
                   fp32_macs_per_cycle_per_core=fp32, mem_bw_gbs=mem_bw_gbs, cache_kb=cache_kb,
                   sources={"cores": clock_src, "core": clock_src, "clock_ghz": clock_src,
                            "features": f"Arm architecture of the {core} (Armv8.0: asimd; Armv8.2: + asimddp)",
                            "memory_gb": memory_src, "fp32_macs_per_cycle_per_core": fp32_src,
                            "int8_macs_per_cycle_per_core": int8_src, "mem_bw_gbs": bw_src, "cache_kb": cache_src},
                   notes=notes)


@register("pi-zero-2w")
def _pi_zero_2w() -> Profile:
    return _board("pi-zero-2w", "Raspberry Pi Zero 2 W", cores=4, core="cortex-a53", clock_ghz=1.0,
                  clock_src="vendor product brief (Raspberry Pi Zero 2 W: RP3A0, quad Cortex-A53 @ 1 GHz)",
                  features=_NEON, memory_gb=0.5, memory_src="vendor product brief (512 MB LPDDR2)",
                  mem_bw_gbs=3.2, bw_src="nominal: 32-bit LPDDR2 at 800 MT/s (not measured)",
                  cache_kb=512, cache_src="BCM2710 family: 512 KB shared L2 (nominal)",
                  notes="512 MB RAM: the bare install fits, large batches may not")


@register("pi3b+")
def _pi3bplus() -> Profile:
    return _board("pi3b+", "Raspberry Pi 3 Model B+", cores=4, core="cortex-a53", clock_ghz=1.4,
                  clock_src="vendor product brief (BCM2837B0, quad Cortex-A53 @ 1.4 GHz)",
                  features=_NEON, memory_gb=1.0, memory_src="vendor product brief (1 GB LPDDR2)",
                  mem_bw_gbs=3.6, bw_src="nominal: 32-bit LPDDR2 at 900 MT/s (not measured)",
                  cache_kb=512, cache_src="BCM2837: 512 KB shared L2 (nominal)")


@register("pi4b")
def _pi4b() -> Profile:
    return _board("pi4b", "Raspberry Pi 4 Model B", cores=4, core="cortex-a72", clock_ghz=1.5,
                  clock_src="vendor product brief (BCM2711, quad Cortex-A72 @ 1.5 GHz; 1.8 GHz on boards "
                            "from 2022 with current firmware)",
                  features=_NEON, memory_gb=4.0, memory_src="vendor product brief (1/2/4/8 GB LPDDR4-3200; 4 GB here)",
                  mem_bw_gbs=12.8, bw_src="nominal: 32-bit LPDDR4 at 3200 MT/s (not measured; sustained copy "
                                          "bandwidth is well below this)",
                  cache_kb=1024, cache_src="BCM2711: 1 MB shared L2 (nominal)")


@register("pi5")
def _pi5() -> Profile:
    return _board("pi5", "Raspberry Pi 5", cores=4, core="cortex-a76", clock_ghz=2.4,
                  clock_src="vendor product brief (BCM2712, quad Cortex-A76 @ 2.4 GHz)",
                  features=_DOTPROD, memory_gb=8.0,
                  memory_src="vendor product brief (2/4/8/16 GB LPDDR4X-4267; 8 GB here)",
                  mem_bw_gbs=17.1, bw_src="nominal: 32-bit LPDDR4X at 4267 MT/s (not measured)",
                  cache_kb=2048, cache_src="BCM2712: 512 KB L2 per core + 2 MB shared L3 (nominal)")


@register("phone-a76")
def _phone_a76() -> Profile:
    return _board("phone-a76", "Phone big core (Cortex-A76 class)", cores=4, core="cortex-a76", clock_ghz=2.6,
                  clock_src="nominal: a 2019-2021 phone SoC big cluster (e.g. Kirin 980 / Dimensity 800-class "
                            "A76 cores at 2.0-2.8 GHz; 2.6 GHz taken)",
                  features=_DOTPROD, memory_gb=6.0, memory_src="nominal: a mid/high-end phone of that class",
                  mem_bw_gbs=34.1, bw_src="nominal: 4 x 16-bit LPDDR4X at 4266 MT/s (not measured)",
                  cache_kb=2048, cache_src="nominal: 256-512 KB L2 per core + 2-4 MB shared L3 (DynamIQ)",
                  notes="a phone throttles under sustained load; figures are for a cool device")


@register("phone-a55")
def _phone_a55() -> Profile:
    return _board("phone-a55", "Phone little core (Cortex-A55)", cores=4, core="cortex-a55", clock_ghz=1.8,
                  clock_src="nominal: the little cluster of the same SoCs (A55 at 1.8-2.0 GHz; 1.8 GHz taken)",
                  features=_DOTPROD, memory_gb=6.0, memory_src="nominal: shared with the big cores",
                  mem_bw_gbs=34.1, bw_src="nominal: the SoC's DRAM (a little core reaches far less of it)",
                  cache_kb=2048, cache_src="nominal: 64-128 KB L2 per core + the shared L3 (DynamIQ)",
                  notes="the core a background service usually lands on")


# ----------------------------------------------------------------------------------------------
# this machine
# ----------------------------------------------------------------------------------------------
def _cpuinfo_fields() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        found.setdefault(key.strip().lower(), value.strip())
    return found


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _clock(fields: dict[str, str], model: str) -> tuple[float, str]:
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if khz and khz.isdigit() and int(khz) > 0:
        return int(khz) / 1e6, "measured here: /sys cpufreq cpuinfo_max_freq (the highest clock the kernel sets)"
    mhz = fields.get("cpu mhz")
    try:
        if mhz and float(mhz) > 0:
            return round(float(mhz) / 1e3, 3), ("guess: /proc/cpuinfo 'cpu MHz' (the clock the kernel or hypervisor "
                                                "reports; boost clocks may be higher; no cpufreq here)")
    except ValueError:
        pass
    m = re.search(r"@\s*([0-9.]+)\s*GHz", model)
    if m:
        return float(m.group(1)), "guess: the base clock in the CPU model name"
    return 2.0, "guess: no clock reported (no cpufreq, no 'cpu MHz'); 2.0 GHz assumed"


def _cache_kb() -> tuple[int, str]:
    best, level = 0, 0
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(base.glob("index*")) if base.is_dir() else []:
        size, lvl = _read(str(index / "size")), _read(str(index / "level"))
        kind = _read(str(index / "type")) or ""
        m = re.match(r"(\d+)([KM]?)", size or "")
        if not m or kind == "Instruction":
            continue
        kb = int(m.group(1)) * (1024 if m.group(2) == "M" else 1)
        if kb > best:
            best, level = kb, int(lvl or 0)
    if best:
        return best, f"measured here: sysfs cache topology (L{level}, {best} KB)"
    return 512, "guess: no cache topology in sysfs; 512 KB assumed"


def _memory_gb() -> tuple[float, str]:
    text = _read("/proc/meminfo") or ""
    m = re.search(r"MemTotal:\s+(\d+)\s+kB", text)
    if m:
        return round(int(m.group(1)) / 1024 ** 2, 1), "measured here: /proc/meminfo MemTotal"
    return 1.0, "guess: no /proc/meminfo; 1 GB assumed"


def _available_mb() -> float:
    m = re.search(r"MemAvailable:\s+(\d+)\s+kB", _read("/proc/meminfo") or "")
    return int(m.group(1)) / 1024 if m else 256.0


@lru_cache(maxsize=1)
def _copy_bandwidth(cache_kb: int) -> tuple[float, str]:
    """DRAM bandwidth from a numpy copy larger than the last-level cache (read + write bytes), best of 3."""
    import numpy as np

    mib = int(min(max(2 * cache_kb / 1024, 16), 64, _available_mb() / 8))
    a = np.ones((mib << 20) // 4, dtype=np.float32)
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    gbs = 2 * a.nbytes / best / 1e9
    return round(gbs, 1), f"measured here: numpy copy of {mib} MiB (read + write), best of 3 (a lower bound)"


def _x86_rates(features: set[str], fields: dict[str, str]) -> tuple[float, float, str, str]:
    """``(fp32, int8 MACs/cycle/core, fp32 source, int8 source)`` derived from the ISA features."""
    amd_zen4 = fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family") == "25"
    if "avx512f" in features and not amd_zen4:
        width = 512
    elif "avx2" in features or "avx" in features:
        width = 256
    else:
        width = 128
    ports = 2 if "fma" in features or width == 512 else 1
    fp32 = ports * width / 32
    vnni = bool({"avx512_vnni", "avx_vnni"} & features)
    int8 = fp32 * (4 if vnni else 2)
    zen = " (AMD family 25 = Zen 3/4 runs AVX-512 on 256-bit units)" if amd_zen4 and "avx512f" in features else ""
    why_fp32 = (f"derived from the ISA (nominal): {width}-bit vectors{zen} x {ports} FMA port(s) / 32-bit lanes "
                f"= {fp32:g} fp32 MACs/cycle")
    why_int8 = (f"derived from the ISA (nominal): {fp32:g} x {4 if vnni else 2} = {int8:g} int8 MACs/cycle "
                + ("(VNNI vpdpbusd: 4 u8 x s8 products per 32-bit lane)" if vnni
                   else "(vpmaddubsw + vpmaddwd, no VNNI)"))
    return fp32, int8, why_fp32, why_int8


def _arm_rates(features: set[str], fields: dict[str, str]) -> tuple[str | None, float, float, str, str]:
    """``(core, fp32, int8 MACs/cycle/core, fp32 source, int8 source)`` from the CPU part, else the features."""
    core = _ARM_PARTS.get(fields.get("cpu part", "").lower()) if fields.get("cpu implementer") == "0x41" else None
    if core:
        fp32, int8, fp32_src, int8_src = _CORES[core]
        return core, fp32, int8, f"{core} (/proc/cpuinfo CPU part): {fp32_src}", f"{core}: {int8_src}"
    int8 = 16 if "asimddp" in features else 8
    return None, 4, int8, "derived from the ISA (nominal, core unknown): one 128-bit FMLA per cycle", (
        "derived from the ISA (nominal, core unknown): "
        + ("SDOT 16 MACs/cycle" if int8 == 16 else "no SDOT: widening SMLAL, 8 MACs/cycle"))


def _detect(info: CpuInfo) -> Profile:
    fields = _cpuinfo_fields()
    features = set(info.features)
    x86 = info.arch in ("x86_64", "AMD64", "amd64")
    host_x86 = "vendor_id" in fields or "flags" in fields
    emulated = bool(fields) and (x86 != host_x86)
    notes = []
    if emulated:
        notes.append("emulated (qemu-user): the ISA is the emulated CPU's, /proc/cpuinfo is the host's; "
                     "clock and rates below do not describe the emulated speed")
        fields = {}
    if x86:
        fp32, int8, why_fp32, why_int8 = _x86_rates(features, fields)
        core = info.model or "x86_64"
    else:
        arm_core, fp32, int8, why_fp32, why_int8 = _arm_rates(features, fields)
        core = arm_core or info.model or info.arch
    clock, clock_src = _clock(fields, info.model)
    if "guess" in clock_src:
        notes.append("clock is a guess (see sources)")
    memory, memory_src = _memory_gb()
    cache, cache_src = _cache_kb()
    bw, bw_src = _copy_bandwidth(cache)
    cores_src = "measured here: CPUs this process may run on (sched_getaffinity)"
    return Profile(name="this-machine", title=f"this machine ({info.model or info.arch})", arch=info.arch,
                   cores=info.cores, core=core, clock_ghz=clock, features=info.features, memory_gb=memory,
                   int8_macs_per_cycle_per_core=int8, fp32_macs_per_cycle_per_core=fp32, mem_bw_gbs=bw,
                   cache_kb=cache,
                   sources={"cores": cores_src, "core": "measured here: /proc/cpuinfo model name / CPU part",
                            "clock_ghz": clock_src, "features": "measured here: CPUID/HWCAP via numpy (runtime.platform)",
                            "memory_gb": memory_src, "fp32_macs_per_cycle_per_core": why_fp32,
                            "int8_macs_per_cycle_per_core": why_int8, "mem_bw_gbs": bw_src, "cache_kb": cache_src},
                   notes="; ".join(notes))


@register("this-machine")
def this_machine() -> Profile:
    """The profile of the processor this process runs on (detected; peak rates derived, see ``sources``)."""
    return _detect(cpu_info())
