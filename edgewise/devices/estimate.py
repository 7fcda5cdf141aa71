"""Roofline latency estimates of an artifact on a device profile, calibrated on measured runs.

The roofline model (Williams, Waterman & Patterson, "Roofline: an insightful visual performance model for
multicore architectures", CACM 2009) bounds each layer by its compute and its memory traffic:

    t_layer = max(MACs / peak MAC rate at the layer's precision,  bytes / DRAM bandwidth)

where the memory term applies only to layers whose tensors (weights + input + output) do not fit in the
core's last-level cache: the shipped models are small enough that their activations stay in cache, so a
DRAM roof would be a wrong bound for them. Per-layer MACs and bytes are read from the artifact
(``edgewise.devices._graph``); the unit of work is ``edgewise bench``'s (10 s of ECG = 3 windows of 2048
samples, one 2-s mosquito window), and the estimate is of the model call alone (``model_p50_ms``).

Real kernels do not reach the roof, by a factor that depends on the kernel family (ISA), the precision and
the runtime. That factor is calibrated on measured runs: ``factor = measured / roofline``, a geometric mean
over artifacts (each artifact's runs averaged first) of non-emulated results, looked up from the most to
the least specific group:

1. same ISA, precision, runtime and thread count;
2. same ISA, precision, runtime (any thread count);
3. same ISA and precision, another runtime;
4. same precision and runtime measured on another ISA (transferred: a different chip);
5. the built-in defaults (``DEFAULT_FACTORS``, measured on the development machine, see there).

Every result is an ``Estimate`` labelled ``"estimate"`` with the calibration it used, never a measurement.

How good it is (measured on the development machine in five sessions, tests/devices/test_estimate.py):
calibrated on the six shipped artifacts, every estimate is within 10 % of the measured model time; leaving
each artifact out of its own calibration, the fp32 ones stay within 3-18 %, while each int8 artifact, the only
one of its runtime, must borrow the other runtime's factor and misses by about -30 % (onnxruntime) and +45 %
(LiteRT). Across ISAs a factor
is only transferred: the issue's AVX2-only EPYC ran the int8 TFLite 5x slower than this VNNI machine where
the peak rates alone say 2x. Estimates for the Pi and phone profiles are therefore guides to the order of
magnitude until a run on a real board is stored.
"""
from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from edgewise.devices._graph import GraphCost, graph_cost
from edgewise.devices.profiles import Profile, get_profile, this_machine
from edgewise.runtime.artifact import read_metadata, sha256_file

__all__ = ["ArtifactCost", "Calibration", "Calibrations", "Estimate", "DEFAULT_FACTORS", "artifact_cost",
           "roofline_ms", "calibrate", "estimate", "validate", "measured_here", "RUNTIME_OF_FORMAT"]

RUNTIME_OF_FORMAT = {"onnx": "onnxruntime", "tflite": "litert"}

# measured / roofline of the model call, 1 thread, on the development machine: AMD EPYC (Zen 4, KVM, 2 vCPU,
# x86_64-avx512vnni), onnxruntime 1.32.0, ai-edge-litert 2.3.0, the shipped ECG and mosquito artifacts,
# 2026-12-06: median thread CPU time of the model call (as tests/devices/test_estimate.py measures it), three
# sessions, geometric mean over the artifacts of each group. Used only when no measured run of the same
# precision and runtime is available; the label then says "default".
DEFAULT_FACTORS: dict[tuple[str, str], float] = {
    ("fp32", "onnxruntime"): 1.31, ("fp32", "litert"): 1.22,
    ("int8", "onnxruntime"): 3.83, ("int8", "litert"): 2.67,
}
DEFAULT_SOURCE = ("default factors measured on x86_64-avx512vnni (AMD EPYC Zen 4), onnxruntime 1.32 / "
                  "ai-edge-litert 2.3, 1 thread, 2026-12-06")
_FALLBACK_FACTOR = 2.0  # precision/runtime pairs never measured anywhere: half the roof, a round guess


@dataclass(frozen=True)
class ArtifactCost:
    """What the estimate knows about an artifact: its layers and the unit of work.

    Attributes:
        calls: model invocations per unit of work (a fixed-batch TFLite file runs the 25 ECG windows of 10 s as 25 calls).
        rows: input rows per unit of work (ECG windows, audio windows).
        graph: per-layer costs of one call.
    """

    path: str
    name: str
    sha256: str
    format: str
    runtime: str
    precision: str
    task: str
    unit: str
    rows: int
    calls: int
    graph: GraphCost

    @property
    def macs(self) -> int:
        return self.graph.macs * self.calls

    @property
    def bytes(self) -> int:
        return self.graph.bytes * self.calls


def _unit_rows(meta: dict[str, Any]) -> tuple[int, str]:
    """Input rows per unit of work, as ``edgewise.runtime.bench.unit_of_work`` defines the unit."""
    task = str(meta.get("task", ""))
    if task == "ecg-delineation":
        from edgewise.runtime.bench import ecg_unit

        _, _, _, starts, unit = ecg_unit(meta, tuple(meta.get("input_shape") or (1, 2048)))
        return len(starts), unit
    if task == "mosquito-detection":
        sr = float(meta.get("sample_rate") or 8000)
        return 1, f"{float(meta.get('window') or 2 * sr) / sr:g} s of audio (1 window)"
    return 1, "one model call"


def artifact_cost(path: str | Path) -> ArtifactCost:
    """Layers, precision, runtime and unit of work of an artifact (cached per file version).

    Raises:
        ArtifactError: unreadable file.
    """
    path = Path(path).resolve()
    st = path.stat()
    return _artifact_cost(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=64)
def _artifact_cost(path: str, mtime_ns: int, size: int) -> ArtifactCost:
    meta = read_metadata(path) or {}
    rows, unit = _unit_rows(meta)
    probe = graph_cost(path, batch=rows)
    if probe.format == "onnx":
        graph, calls = probe, 1
    else:  # the file's batch is fixed: RuntimeModel runs the rows in calls of that batch
        graph, calls = probe, math.ceil(rows / max(probe.batch, 1))
    by_prec = graph.macs_by_precision()
    precision = str(meta.get("precision") or ("int8" if by_prec.get("int8", 0) > by_prec.get("fp32", 0) else "fp32"))
    return ArtifactCost(path=path, name=Path(path).name, sha256=sha256_file(path), format=graph.format,
                        runtime=RUNTIME_OF_FORMAT[graph.format], precision=precision, task=str(meta.get("task", "")),
                        unit=unit, rows=rows, calls=calls, graph=graph)


def roofline_ms(cost: ArtifactCost, profile: Profile, *, threads: int = 1) -> tuple[float, str]:
    """The unit of work's model time at 100 % of the profile's roof, and what bounds most of it.

    Returns:
        ``(milliseconds, "compute" | "memory")``.
    """
    bw = profile.mem_bw_gbs * 1e9
    cache = profile.cache_kb * 1024
    compute = memory = 0.0
    for layer in cost.graph.layers:
        prec = layer.precision if layer.precision in ("int8", "fp32") else "fp32"
        t_c = layer.macs / (profile.peak_gmacs(prec, threads) * 1e9)
        t_m = layer.bytes / bw if layer.bytes > cache else 0.0
        if t_m > t_c:
            memory += t_m
        else:
            compute += t_c
    total = (compute + memory) * cost.calls * 1e3
    return total, "memory" if memory > compute else "compute"


@dataclass(frozen=True)
class Calibration:
    """The efficiency factor an estimate used: ``estimate = factor x roofline``.

    Attributes:
        factor: measured / roofline (1 = the roof; 2 = half the peak).
        level: ``"isa+precision+runtime+threads"``, ``"isa+precision+runtime"``, ``"isa+precision"``,
            ``"precision+runtime, other ISA"``, ``"default"`` or ``"uncalibrated"``.
        source: a sentence naming what the factor came from.
        artifacts: how many artifacts' runs it averages (0 for a default).
        runs: how many results.
    """

    factor: float
    level: str
    source: str
    artifacts: int = 0
    runs: int = 0


@dataclass(frozen=True)
class _Sample:
    isa: str
    precision: str
    runtime: str
    threads: int
    sha256: str
    name: str
    ratio: float


def _geomean(xs: Iterable[float]) -> float:
    xs = list(xs)
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


class Calibrations:
    """Measured / roofline ratios of non-emulated runs, looked up from the most specific group down."""

    def __init__(self, samples: Iterable[_Sample] = (), *, defaults: bool = True):
        self.samples = list(samples)
        self.defaults = defaults

    def _group(self, keep: Callable[[_Sample], bool], exclude: str | None) -> tuple[float, int, int, set[str]] | None:
        per_artifact: dict[str, list[float]] = {}
        isas = set()
        for s in self.samples:
            if s.sha256 != exclude and keep(s):
                per_artifact.setdefault(s.sha256, []).append(s.ratio)
                isas.add(s.isa)
        if not per_artifact:
            return None
        factor = _geomean(_geomean(v) for v in per_artifact.values())
        return factor, len(per_artifact), sum(len(v) for v in per_artifact.values()), isas

    def lookup(self, isa: str, precision: str, runtime: str, threads: int = 1, *,
               exclude_sha256: str | None = None) -> Calibration:
        """The factor for a kernel family; ``exclude_sha256`` leaves one artifact's runs out (validation)."""
        levels: list[tuple[str, Callable[[_Sample], bool]]] = [
            ("isa+precision+runtime+threads", lambda s: (s.isa, s.precision, s.runtime, s.threads)
             == (isa, precision, runtime, threads)),
            ("isa+precision+runtime", lambda s: (s.isa, s.precision, s.runtime) == (isa, precision, runtime)),
            ("isa+precision", lambda s: (s.isa, s.precision) == (isa, precision)),
            ("precision+runtime, other ISA", lambda s: (s.precision, s.runtime) == (precision, runtime)),
        ]
        for level, keep in levels:
            found = self._group(keep, exclude_sha256)
            if found:
                factor, n_art, n_runs, isas = found
                if level == "isa+precision":
                    what = f"{precision} on {isa} with other runtimes"
                elif level.startswith("precision+runtime"):
                    what = f"{runtime} {precision} measured on {', '.join(sorted(isas))} (transferred to {isa})"
                else:
                    what = f"{runtime} {precision} on {isa}"
                    what += f", {threads} thread(s)" if level.endswith("threads") else ""
                return Calibration(round(factor, 3), level,
                                   f"calibrated on {n_runs} run(s) of {n_art} artifact(s): {what}", n_art, n_runs)
        if self.defaults and (precision, runtime) in DEFAULT_FACTORS:
            return Calibration(DEFAULT_FACTORS[(precision, runtime)], "default", DEFAULT_SOURCE)
        return Calibration(_FALLBACK_FACTOR, "uncalibrated",
                           f"no measured run of {runtime} {precision} anywhere: a round guess of half the roof")


@lru_cache(maxsize=1)
def _this_fingerprint() -> str:
    from edgewise.devices.store import fingerprint
    from edgewise.runtime.platform import cpu_info

    return fingerprint({"hostname": socket.gethostname(), "cpu": cpu_info().as_dict()})


def measured_here(result: dict[str, Any]) -> bool:
    """Whether a result was measured on this machine: its hostname and CPU (recomputed from the result's own
    fields, whoever computed its stored fingerprint), else its stored fingerprint, else assumed."""
    from edgewise.devices.store import fingerprint

    if result.get("cpu") or result.get("hostname"):
        return fingerprint(result) == _this_fingerprint()
    return result.get("fingerprint") in (None, _this_fingerprint())


def _measured_ms(result: dict[str, Any]) -> float | None:
    value = result.get("model_p50_ms")
    if value is None:
        value = result.get("p50_ms")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _default_artifact(result: dict[str, Any]) -> Path | None:
    path = result.get("path")
    if path and os.path.isfile(path):
        return Path(path)
    return None


def _default_profile(result: dict[str, Any]) -> Profile | None:
    name = result.get("profile") or "this-machine"
    if name == "this-machine":
        # measured on another machine (a shared database): its peak rates are unknown here
        return this_machine() if measured_here(result) else None
    try:
        return get_profile(name)
    except ValueError:
        return None


def calibrate(measurements: Iterable[dict[str, Any]], *,
              artifact_for: Callable[[dict[str, Any]], Path | None] = _default_artifact,
              profile_for: Callable[[dict[str, Any]], Profile | None] = _default_profile,
              defaults: bool = True) -> Calibrations:
    """Calibrate efficiency factors on measured runs (bench results or store rows, plain dicts).

    Each usable result needs ``model_p50_ms`` (or ``p50_ms``), ``threads``, and an artifact file
    (``artifact_for``, default: its ``path`` when that file exists). Emulated runs are skipped: their timing
    says nothing about any real chip. A result whose file's sha256 differs from the result's is skipped.
    """
    samples = []
    for r in measurements:
        if r.get("emulated") or r.get("error"):
            continue
        ms = _measured_ms(r)
        path = artifact_for(r)
        profile = profile_for(r)
        if ms is None or path is None or profile is None:
            continue
        cost = artifact_cost(path)
        if r.get("sha256") and r["sha256"] != cost.sha256:
            continue
        threads = int(r.get("threads") or 1)
        roof, _ = roofline_ms(cost, profile, threads=threads)
        if roof <= 0:
            continue
        samples.append(_Sample(isa=str(r.get("isa") or profile.isa), precision=str(r.get("precision") or cost.precision),
                               runtime=str(r.get("runtime") or cost.runtime), threads=threads, sha256=cost.sha256,
                               name=cost.name, ratio=ms / roof))
    return Calibrations(samples, defaults=defaults)


@dataclass(frozen=True)
class Estimate:
    """A roofline estimate of the model time for one unit of work. Never a measurement.

    Attributes:
        ms: the estimate (``factor x roofline_ms``).
        roofline_ms: the same at 100 % of the profile's peak.
        bound: ``"compute"`` or ``"memory"`` (what bounds most of the roofline time).
        calibration: the factor used and where it came from.
    """

    artifact: str
    sha256: str
    task: str
    profile: str
    isa: str
    runtime: str
    precision: str
    threads: int
    unit: str
    macs: int
    bytes: int
    roofline_ms: float
    bound: str
    calibration: Calibration
    ms: float
    kind: str = "estimate"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "artifact": self.artifact, "sha256": self.sha256, "task": self.task,
                "profile": self.profile,
                "isa": self.isa, "runtime": self.runtime, "precision": self.precision, "threads": self.threads,
                "unit": self.unit, "macs": self.macs, "bytes": self.bytes, "roofline_ms": round(self.roofline_ms, 4),
                "bound": self.bound, "estimate_ms": round(self.ms, 4), "factor": self.calibration.factor,
                "calibration": self.calibration.level, "calibration_source": self.calibration.source}


def estimate(artifact: str | Path | ArtifactCost, profile: Profile | str, *, threads: int = 1,
             calibrations: Calibrations | None = None, runtime: str | None = None,
             exclude_sha256: str | None = None) -> Estimate:
    """Estimate the model time of an artifact's unit of work on a profile.

    Args:
        artifact: a file or an ``ArtifactCost``.
        profile: a ``Profile`` or a built-in profile name.
        threads: runtime threads (the roof scales with ``min(threads, cores)``).
        calibrations: from ``calibrate`` (default: none measured, so the documented defaults).
        runtime: the runtime (default: onnxruntime for .onnx, litert for .tflite).
        exclude_sha256: leave this artifact's runs out of the calibration (leave-one-out validation).
    """
    cost = artifact if isinstance(artifact, ArtifactCost) else artifact_cost(artifact)
    prof = get_profile(profile) if isinstance(profile, str) else profile
    runtime = runtime or cost.runtime
    roof, bound = roofline_ms(cost, prof, threads=threads)
    cal = (calibrations or Calibrations()).lookup(prof.isa, cost.precision, runtime, threads,
                                                  exclude_sha256=exclude_sha256)
    return Estimate(artifact=cost.name, sha256=cost.sha256, task=cost.task, profile=prof.name, isa=prof.isa,
                    runtime=runtime, precision=cost.precision, threads=threads, unit=cost.unit, macs=cost.macs,
                    bytes=cost.bytes, roofline_ms=roof, bound=bound, calibration=cal, ms=roof * cal.factor)


def validate(measurements: Iterable[dict[str, Any]], *,
             artifact_for: Callable[[dict[str, Any]], Path | None] = _default_artifact,
             profile_for: Callable[[dict[str, Any]], Profile | None] = _default_profile) -> list[dict[str, Any]]:
    """Estimate every measured run twice — calibrated on all runs (in-sample) and with its own artifact's
    runs left out (leave-one-out, without the built-in defaults, which were fitted on the shipped
    artifacts) — and report both relative errors against the measured model time.
    """
    measurements = [r for r in measurements if not r.get("emulated") and not r.get("error")]
    full = calibrate(measurements, artifact_for=artifact_for, profile_for=profile_for)
    loo = Calibrations(full.samples, defaults=False)
    rows = []
    for r in measurements:
        path, profile, ms = artifact_for(r), profile_for(r), _measured_ms(r)
        if path is None or profile is None or ms is None:
            continue
        cost = artifact_cost(path)
        threads = int(r.get("threads") or 1)
        runtime = str(r.get("runtime") or cost.runtime)
        a = estimate(cost, profile, threads=threads, calibrations=full, runtime=runtime)
        b = estimate(cost, profile, threads=threads, calibrations=loo, runtime=runtime, exclude_sha256=cost.sha256)
        rows.append({"artifact": cost.name, "runtime": runtime, "precision": cost.precision, "threads": threads,
                     "measured_ms": ms, "roofline_ms": a.roofline_ms,
                     "in_sample_ms": a.ms, "in_sample_err": a.ms / ms - 1, "in_sample_calibration": a.calibration,
                     "loo_ms": b.ms, "loo_err": b.ms / ms - 1, "loo_calibration": b.calibration})
    return rows
