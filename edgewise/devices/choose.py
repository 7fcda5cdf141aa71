"""Which deployed artifact a task uses by default on a device: the fastest within the task's accuracy budget.

The rule (issue 25, "the right artifact per device"):

1. Accuracy comes from each artifact's own metadata (the held-out metrics export and
   ``scripts/refresh_ecg_metrics.py`` write), read by the task's ``Budget``:
   - ECG delineation: wave F1 of P, QRS and T on the held-out test records, lead II (``test_lead_ii_wave_f1``
     in a compressed file, ``test_lead_ii.wave_f1`` in an fp32 one); every wave within 0.2 points of the
     fp32 reference.
   - Mosquito detection: window and clip ROC-AUC on the held-out recordings (``window_roc_auc``,
     ``clip_roc_auc``: the shipped files record no F1); both within 0.5 points of the fp32 reference.
   A point is 0.01 on these 0..1 metrics, as in the compression recipes' budget (0.005 = 0.5 points).
2. The reference is the best fp32 artifact of the task among those deployed (per metric); with no fp32
   file deployed, the uncompressed model's metrics a compressed file records beside its own; failing
   that, the most accurate deployed artifact.
3. Among the artifacts within budget, the fastest p50 of the task's unit of work at 1 thread (what
   ``edgewise bench`` measures: 10 s of ECG end to end, one 2-s audio window) wins. Timings within 2 % of
   the fastest are a tie (below what 50 runs resolve), settled by the smaller worst accuracy drop, then
   the smaller file, then the name.
4. An artifact without recorded accuracy is never chosen over one with it; if no artifact of the task
   records accuracy, the fastest is chosen and the reason says accuracy was not checked. If every
   artifact with accuracy misses the budget (fp32 references that disagree), the closest one is chosen.

Every choice carries one human line, e.g. ``chose ecg-unet-int8.tflite: 10.1 ms vs 41.0 ms fp32
ONNX (measured: 50 runs on pi5), P/QRS/T wave F1 within 0.2 points of fp32``.

Pure functions over plain data: the timings come from ``edgewise.devices.autoselect`` (the results store,
a measurement during deploy, or the host's roofline estimate).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from edgewise.runtime.artifact import read_metadata, sha256_file
from edgewise.runtime.errors import ArtifactError

__all__ = ["Budget", "Candidate", "Choice", "Timing", "TIE", "budget_for", "choose", "known_budgets",
           "read_candidates", "register_budget"]

TIE = 0.02  # relative p50 difference below which two artifacts count as equally fast
_EPS = 1e-12

Reader = Callable[[Mapping[str, Any]], "dict[str, float] | None"]


@dataclass(frozen=True)
class Budget:
    """A task's accuracy budget and how to read the metric from an artifact's ``metrics``.

    Attributes:
        task: the metadata ``task``.
        metric: what the numbers are, for people (``"wave F1 (held-out test records, lead II)"``).
        keys: the metric's parts; every one must stay within budget (``("P", "QRS", "T")``).
        summary: the parts and metric in a reason line (``"P/QRS/T wave F1"``).
        points: the largest allowed drop against the reference, in points (0.01 on a 0..1 metric).
        read: ``metrics -> {key: value}`` of the artifact itself, or None when it records none.
        read_reference: ``metrics -> {key: value}`` of the uncompressed model a compressed file records.
    """

    task: str
    metric: str
    keys: tuple[str, ...]
    summary: str
    points: float
    read: Reader
    read_reference: Reader

    def __post_init__(self) -> None:
        if not 0 <= self.points <= 100:
            raise ValueError(f"budget of {self.task}: points must be in [0, 100], got {self.points}")
        if not self.keys:
            raise ValueError(f"budget of {self.task}: name at least one metric key")

    @property
    def max_drop(self) -> float:
        return self.points / 100.0


_BUDGETS: dict[str, Budget] = {}


def register_budget(budget: Budget) -> Budget:
    """Add a task's budget to the registry (a task has one budget)."""
    if budget.task in _BUDGETS:
        raise ValueError(f"a budget for task {budget.task!r} is already registered")
    _BUDGETS[budget.task] = budget
    return budget


def budget_for(task: str) -> Budget | None:
    """The registered budget of ``task`` (None: no accuracy rule known for it; see ``known_budgets``)."""
    return _BUDGETS.get(task)


def known_budgets() -> list[str]:
    return sorted(_BUDGETS)


def _numbers(value: Any, keys: Sequence[str], names: Sequence[str] | None = None) -> dict[str, float] | None:
    """``{name: value[key]}`` when every key holds a finite number in [0, 1], else None (untrusted metadata)."""
    if not isinstance(value, Mapping):
        return None
    out = {}
    for key, name in zip(keys, names or keys):
        v = value.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 1:
            return None
        out[name] = float(v)
    return out


def _ecg_f1(metrics: Mapping[str, Any]) -> dict[str, float] | None:
    flat = metrics.get("test_lead_ii_wave_f1")  # a compressed file, measured with itself
    if flat is None:
        nested = metrics.get("test_lead_ii")  # an fp32 export: the checkpoint's metrics
        flat = nested.get("wave_f1") if isinstance(nested, Mapping) else None
    return _numbers(flat, ("P", "QRS", "T"))


def _ecg_reference(metrics: Mapping[str, Any]) -> dict[str, float] | None:
    up = metrics.get("uncompressed_model")
    return _ecg_f1(up) if isinstance(up, Mapping) else None


_AUC_KEYS, _AUC_NAMES = ("window_roc_auc", "clip_roc_auc"), ("window ROC-AUC", "clip ROC-AUC")


def _mosquito_auc(metrics: Mapping[str, Any]) -> dict[str, float] | None:
    return _numbers(metrics, _AUC_KEYS, _AUC_NAMES)


def _mosquito_reference(metrics: Mapping[str, Any]) -> dict[str, float] | None:
    up = metrics.get("uncompressed_model")
    return _numbers(up, _AUC_KEYS, _AUC_NAMES) if isinstance(up, Mapping) else None


register_budget(Budget("ecg-delineation", "wave F1 (held-out test records, lead II)", ("P", "QRS", "T"),
                       "P/QRS/T wave F1", 0.2, _ecg_f1, _ecg_reference))
register_budget(Budget("mosquito-detection", "ROC-AUC (held-out recordings)", _AUC_NAMES,
                       "window and clip ROC-AUC", 0.5, _mosquito_auc, _mosquito_reference))


@dataclass(frozen=True)
class Candidate:
    """One deployed artifact of a task.

    Attributes:
        model: its path in the release (``models/<file>``).
        accuracy: the task's metric as this file records it (None: none recorded).
        reference: the uncompressed model's metric this (compressed) file records, if any.
    """

    model: str
    sha256: str
    task: str
    format: str
    precision: str
    size_bytes: int = 0
    accuracy: Mapping[str, float] | None = None
    reference: Mapping[str, float] | None = None

    @property
    def name(self) -> str:
        return Path(self.model).name

    @property
    def label(self) -> str:
        """``fp32 ONNX``, ``int8 TFLite``."""
        return f"{self.precision} {'TFLite' if self.format == 'tflite' else self.format.upper()}"


@dataclass(frozen=True)
class Timing:
    """How fast one artifact runs its task's unit of work on the device (1 thread).

    Attributes:
        ms: p50 of the unit of work end to end (an estimate: of the model call).
        source: ``"stored"`` (the results database), ``"measured"`` (during this deploy) or ``"estimate"``.
        detail: where exactly, for people (``"50 runs during deploy"``).
        emulated: measured on an emulated device (not representative of the real board).
    """

    ms: float
    source: str
    detail: str = ""
    emulated: bool = False

    def __post_init__(self) -> None:
        if self.source not in ("stored", "measured", "estimate"):
            raise ValueError(f"timing source must be stored, measured or estimate, got {self.source!r}")
        if not (isinstance(self.ms, (int, float)) and math.isfinite(self.ms) and self.ms >= 0):
            raise ValueError(f"timing must be a non-negative number of milliseconds, got {self.ms!r}")


@dataclass(frozen=True)
class Choice:
    """The default of one task on one device, and why.

    Attributes:
        timing: where the chosen artifact's timing came from: ``stored``, ``measured``, ``estimate``;
            ``override`` (``--default``), ``only`` (the task's single artifact) or ``none`` (nothing timed).
        rows: every candidate with its p50, accuracy drop and whether it is within budget.
    """

    task: str
    model: str
    sha256: str
    timing: str
    p50_ms: float | None
    reason: str
    within_budget: bool | None = None
    rows: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return Path(self.model).name

    def entry(self) -> dict[str, Any]:
        """The task's entry in the release's defaults.json (``edgewise.runtime.defaults``)."""
        return {"model": self.model, "sha256": self.sha256, "timing": self.timing,
                "p50_ms": None if self.p50_ms is None else round(self.p50_ms, 4), "reason": self.reason}

    def as_dict(self) -> dict[str, Any]:
        return {**self.entry(), "task": self.task, "within_budget": self.within_budget, "candidates": list(self.rows)}


def read_candidates(folder: str | Path, models: Sequence[str], *,
                    unreadable: list[str] | None = None) -> list[Candidate]:
    """The artifacts ``models`` (paths relative to ``folder``, e.g. a bundle's ``models/<file>``) with their
    task, precision and recorded accuracy. Files without a task in their metadata are left out.

    Args:
        unreadable: when given, a file whose metadata cannot be read (corrupt, tampered) is left out and its
            error appended here instead of raised (deploy lets the device's checksum check report it).
    """
    out = []
    for rel in models:
        path = Path(folder) / rel
        try:
            meta = read_metadata(path) or {}
        except (ArtifactError, OSError, ValueError) as e:
            if unreadable is None:
                raise
            unreadable.append(str(e))
            continue
        task = meta.get("task")
        if not isinstance(task, str) or not task:
            continue
        metrics = meta.get("metrics") if isinstance(meta.get("metrics"), Mapping) else {}
        budget = budget_for(task)
        fmt = "tflite" if path.suffix.lower() == ".tflite" else "onnx"
        out.append(Candidate(model=rel, sha256=sha256_file(path), task=task, format=fmt,
                             precision=str(meta.get("precision") or "fp32"), size_bytes=path.stat().st_size,
                             accuracy=budget.read(metrics) if budget else None,
                             reference=budget.read_reference(metrics) if budget else None))
    return out


def _ms(x: float) -> str:
    return f"{x:.0f} ms" if x >= 100 else f"{x:.1f} ms" if x >= 10 else f"{x:.2f} ms"


def _reference(cands: Sequence[Candidate], keys: Sequence[str]) -> tuple[dict[str, float] | None, str]:
    fp32 = [c for c in cands if c.precision == "fp32" and c.accuracy]
    if fp32:
        return {k: max(c.accuracy[k] for c in fp32) for k in keys}, "fp32"
    recorded = [c.reference for c in cands if c.reference]
    if recorded:
        return {k: max(r[k] for r in recorded) for k in keys}, "the uncompressed model (recorded in the files)"
    scored = [c.accuracy for c in cands if c.accuracy]
    if scored:
        return {k: max(a[k] for a in scored) for k in keys}, "the most accurate deployed artifact"
    return None, ""


def _worst(drops: Mapping[str, float] | None) -> float:
    return max(drops.values()) if drops else math.inf


def choose(task: str, candidates: Sequence[Candidate], timings: Mapping[str, Timing], *,
           budget: Budget | None = None, tie: float = TIE) -> Choice:
    """Pick ``task``'s default among ``candidates`` (see the module docstring for the rule).

    Args:
        task: the task every candidate belongs to.
        candidates: its deployed artifacts.
        timings: by artifact sha256 (artifacts without one are chosen only if nothing is timed).
        budget: the accuracy budget (default: the task's registered one; none known: accuracy unchecked).
        tie: relative p50 difference that counts as equally fast.
    """
    if not candidates:
        raise ValueError(f"no deployed artifact of task {task!r} to choose from")
    wrong = [c.name for c in candidates if c.task != task]
    if wrong:
        raise ValueError(f"choosing for task {task!r}, but {', '.join(wrong)} belong to other tasks")
    budget = budget if budget is not None else budget_for(task)
    keys = budget.keys if budget else ()
    ref, ref_label = _reference(candidates, keys) if budget else (None, "")
    drops: dict[str, dict[str, float] | None] = {}
    within: dict[str, bool | None] = {}
    for c in candidates:
        d = {k: ref[k] - c.accuracy[k] for k in keys} if (ref and c.accuracy) else None
        drops[c.model] = d
        within[c.model] = None if d is None else _worst(d) <= budget.max_drop + _EPS
    in_budget = [c for c in candidates if within[c.model]]
    scored = [c for c in candidates if drops[c.model] is not None]
    if in_budget:
        pool, mode = in_budget, "budget"
    elif scored:
        best = min(_worst(drops[c.model]) for c in scored)
        pool, mode = [c for c in scored if _worst(drops[c.model]) <= best + _EPS], "closest"
    else:
        pool, mode = list(candidates), "unchecked"
    timed = [c for c in pool if c.sha256 in timings]
    if timed:
        fastest = min(timings[c.sha256].ms for c in timed)
        tied = [c for c in timed if timings[c.sha256].ms <= fastest * (1 + tie) + _EPS]
    else:
        tied = pool
    pick = min(tied, key=lambda c: (_worst(drops[c.model]), c.size_bytes, c.name))
    t = timings.get(pick.sha256)
    rows = tuple(_row(c, timings.get(c.sha256), drops[c.model], within[c.model]) for c in candidates)
    reason = _reason(pick, candidates, timings, drops, mode, budget, ref_label, single=len(candidates) == 1)
    if len(candidates) == 1:
        source = "only"
    else:
        source = t.source if t else "none"
    return Choice(task=task, model=pick.model, sha256=pick.sha256, timing=source, p50_ms=t.ms if t else None,
                  reason=reason, within_budget=within[pick.model], rows=rows)


def _row(c: Candidate, t: Timing | None, drop: Mapping[str, float] | None, ok: bool | None) -> dict[str, Any]:
    return {"model": c.name, "precision": c.precision, "format": c.format,
            "p50_ms": None if t is None else round(t.ms, 4),
            "timing": None if t is None else t.source, "accuracy": dict(c.accuracy) if c.accuracy else None,
            "drop_points": None if drop is None else {k: round(100 * v, 4) for k, v in drop.items()},
            "within_budget": ok}


def _baseline(cands: Sequence[Candidate], timings: Mapping[str, Timing], pick: Candidate) -> Candidate | None:
    """What the choice is compared with: the fp32 ONNX file (the default before defaults), else any fp32."""
    for want in (lambda c: c.precision == "fp32" and c.format == "onnx", lambda c: c.precision == "fp32"):
        hits = [c for c in cands if want(c) and c.sha256 in timings and c is not pick]
        if hits:
            return hits[0]
    return None


def _reason(pick: Candidate, cands: Sequence[Candidate], timings: Mapping[str, Timing],
            drops: Mapping[str, Mapping[str, float] | None], mode: str, budget: Budget | None, ref_label: str,
            *, single: bool) -> str:
    if single:
        return f"chose {pick.name}: the only {pick.task} artifact deployed"
    t = timings.get(pick.sha256)
    text = f"chose {pick.name}"
    if t is None:
        text += ": no timing for any artifact within budget"
    else:
        base = _baseline(cands, timings, pick)
        text += f": {_ms(t.ms)}" + (f" vs {_ms(timings[base.sha256].ms)} {base.label}" if base else "")
        text += f" ({_source_text(t)})"
    if budget is not None and mode == "budget":
        text += f", {budget.summary} within {budget.points:g} points of {ref_label}"
    elif budget is not None and mode == "closest":
        worst = max(drops[pick.model].items(), key=lambda kv: kv[1])
        text += (f"; no artifact is within {budget.points:g} points of {ref_label}: the closest ({worst[0]} "
                 f"{100 * worst[1]:.2f} points below)")
    else:
        why = f"no budget is known for {pick.task}" if budget is None else f"no artifact records its {budget.metric}"
        text += f"; accuracy not checked ({why})"
    faster = [c for c in cands if c.sha256 in timings and t is not None and timings[c.sha256].ms < t.ms and c is not pick]
    if faster:
        f = min(faster, key=lambda c: timings[c.sha256].ms)
        d = drops[f.model]
        if d is None:
            text += f"; {f.name} is faster ({_ms(timings[f.sha256].ms)}) but records no accuracy"
        elif budget is not None and _worst(d) > budget.max_drop + _EPS:
            k, v = max(d.items(), key=lambda kv: kv[1])
            text += f"; {f.name} is faster ({_ms(timings[f.sha256].ms)}) but its {k} is {100 * v:.2f} points below"
        else:
            text += f"; {f.name} is within {100 * TIE:g} % ({_ms(timings[f.sha256].ms)}): a tie, settled by accuracy and size"
    return text


def _source_text(t: Timing) -> str:
    text = {"stored": "stored bench results", "measured": "measured during deploy", "estimate": "host estimate"}[t.source]
    if t.detail:
        text += f" {t.detail}" if t.source == "estimate" else f": {t.detail}"
    if t.emulated and t.source != "estimate":
        text += "; emulated device, not representative"
    return text
