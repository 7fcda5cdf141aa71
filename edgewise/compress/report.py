"""Measurements and tables of a compression run, one row per artifact.

Each row: parameters, MACs per 10 s, file size, held-out wave F1 (validation records, all 12 leads
pooled, gate the budget — lead II alone saturates at F1 = 1 there; test records, lead II, are reported), single-thread latency on onnxruntime or LiteRT, and fidelity to the
uncompressed model (per-sample argmax agreement and mean KL divergence between the per-sample class
distributions). Per runtime the fastest artifact within budget is kept; when int8 is slower than fp32
on a runtime the report says so (small models are overhead-bound; Paupamah, James & Klein measured
speed-ups, we measure ours).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

WAVES = ("P", "QRS", "T")
RUNTIME_OF_FORMAT = {"onnx": "onnxruntime", "tflite": "litert", "torch": "torch"}


@dataclass
class ArtifactRow:
    """One compressed (or reference) artifact and what was measured on it."""

    variant: str
    format: str
    precision: str
    path: str
    step: str
    params: int
    macs_10s: int
    size_bytes: int
    f1_val: dict[str, float] = field(default_factory=dict)
    f1_test: dict[str, float] = field(default_factory=dict)
    latency_ms: float = float("nan")
    agreement: float = float("nan")
    mean_kl: float = float("nan")
    within_budget: bool = True
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _mean_kl(p: np.ndarray, q: np.ndarray) -> float:
    try:
        from edgewise.analysis.divergences import mean_kl
    except ImportError:  # the divergences package is optional here; same formula
        q = np.clip(q, 1e-12, None)
        q = q / q.sum(-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.mean(np.sum(np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0), -1)))
    return mean_kl(p, q, axis=-1)


def _log_mean_heads(z: np.ndarray) -> np.ndarray:
    """[b, heads, classes, w] logits -> [b, classes, w] log of the heads' mean probability."""
    return np.log(np.maximum(softmax(z, axis=2).mean(axis=1), 1e-300))


def fidelity(ref_logits: np.ndarray, logits: np.ndarray) -> tuple[float, float]:
    """Argmax agreement and mean KL(ref || compressed) of per-sample class distributions.

    Args:
        ref_logits, logits: float32 [batch, classes, samples] of the uncompressed and compressed model, or
            [batch, heads, classes, samples] of a multi-head one (every head compared with its own); a
            per-window classifier's [batch, classes] as [batch, classes, 1].
    """
    ref_logits, logits = np.asarray(ref_logits, np.float64), np.asarray(logits, np.float64)
    if ref_logits.ndim != logits.ndim:  # heads against one head (e.g. an ensemble's mean): the heads' mean
        ref_logits, logits = (_log_mean_heads(z) if z.ndim == 4 else z for z in (ref_logits, logits))
    if ref_logits.shape != logits.shape:
        raise ValueError(f"outputs differ in shape: {ref_logits.shape} vs {logits.shape}")
    if ref_logits.ndim == 4:  # heads: one distribution per head and sample
        ref_logits, logits = (z.reshape(-1, *z.shape[2:]) for z in (ref_logits, logits))
    p = softmax(ref_logits).transpose(0, 2, 1).reshape(-1, ref_logits.shape[1])
    q = softmax(logits).transpose(0, 2, 1).reshape(-1, logits.shape[1])
    agree = float(np.mean(p.argmax(-1) == q.argmax(-1)))
    return agree, _mean_kl(p, q)


ALL_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")


def wave_f1(model_fn: Callable[[np.ndarray], np.ndarray], records: Sequence[Any], *, window: int = 2048,
            hop: int | None = None, leads: Sequence[str] = ("ii",), post: Any = None) -> dict[str, float]:
    """Wave F1 (P, QRS, T) on ``leads`` (pooled) of ``records`` (LUDB ``EcgRecord``s) or synthetic triples;
    ``post``: the model's ``PostprocessConfig`` (default: the defaults)."""
    from edgewise.models.ecg.evaluate import evaluate_records
    from edgewise.runtime.ecg.postprocess import PostprocessConfig

    post = post or PostprocessConfig()

    if records and isinstance(records[0], tuple):  # SYNTHETIC (x, fs, waves)
        from edgewise.runtime.ecg.delineate import delineate
        from edgewise.runtime.ecg.metrics import DelineationScore, score_waves

        total = DelineationScore()
        for x, fs, waves in records:
            total.add(score_waves(waves, delineate(x, fs, model_fn, window=window, hop=hop, post=post).waves, fs))
        return {k: float(total.wave_f1(k)) for k in WAVES}
    scores = evaluate_records(records, model_fn, leads=tuple(leads), window=window, hop=hop, post=post)
    s = scores["all"] if len(leads) > 1 else scores[leads[0]]
    return {k: float(s.wave_f1(k)) for k in WAVES}


def latency_p50(fn: Callable[[np.ndarray], Any], x: np.ndarray, *, repeats: int = 30, warmup: int = 3) -> float:
    """Median thread CPU time in ms of ``fn(x)`` (x: the windows covering 10 s of ECG).

    At 1 thread every runtime computes on the calling thread, so its CPU time is the latency on an idle
    core; wall time on a shared machine inflates long calls (preempted mid-call) more than short ones.
    """
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(repeats):
        t0 = time.thread_time()
        fn(x)
        times.append((time.thread_time() - t0) * 1e3)
    return float(np.median(times))


def f1_drop(row: ArtifactRow, ref: dict[str, float], which: str = "val") -> dict[str, float]:
    """Drop of each of the task's metrics (the keys of ``ref``: wave F1s, ROC-AUCs) from ``ref`` to ``row``."""
    got = row.f1_val if which == "val" else row.f1_test
    return {k: float(ref[k] - got.get(k, float("nan"))) for k in ref}


def choose_per_runtime(rows: Sequence[ArtifactRow]) -> dict[str, ArtifactRow]:
    """Fastest artifact within budget per runtime (``onnxruntime``, ``litert``)."""
    best: dict[str, ArtifactRow] = {}
    for r in rows:
        rt = RUNTIME_OF_FORMAT[r.format]
        if rt == "torch" or not r.within_budget or not np.isfinite(r.latency_ms):
            continue
        if rt not in best or r.latency_ms < best[rt].latency_ms:
            best[rt] = r
    return best


def slower_int8_notes(rows: Sequence[ArtifactRow]) -> list[str]:
    """Sentences naming every int8 artifact slower than the fp32 artifact of the same model on its runtime."""
    notes = []
    for r in rows:
        if r.precision != "int8":
            continue
        base = [b for b in rows if b.format == r.format and b.precision == "fp32" and b.params == r.params]
        if base and r.latency_ms > base[0].latency_ms:
            notes.append(f"{r.variant} ({r.format}) is SLOWER than fp32 on {RUNTIME_OF_FORMAT[r.format]}: "
                         f"{r.latency_ms:.2f} ms vs {base[0].latency_ms:.2f} ms; the fp32 file is kept for that runtime "
                         "unless another artifact is faster.")
    return notes


def add_tables(rep: Any, rows: Sequence[ArtifactRow], *, ref: ArtifactRow, kept: dict[str, ArtifactRow],
               notes: Sequence[str] = (), task: Any = None) -> None:
    """Append the per-artifact table and the kept-artifact table to an ``edgewise.reporting.Report``.

    ``task``: the compression task (``edgewise.compress.tasks``) naming the metric columns; default ECG."""
    keys = tuple(getattr(task, "metric_keys", WAVES))
    header = ["variant", "format", "precision", "params", getattr(task, "macs_label", "MACs/10 s"), "KiB", "size ×",
              *getattr(task, "metric_columns", ("P F1", "QRS F1", "T F1")),
              "max val drop", "latency ms", "speed ×", "agree", "mean KL", "budget"]
    out = []
    for r in rows:
        drop = max(f1_drop(r, ref.f1_val).values()) if r.f1_val else float("nan")
        out.append([r.variant, r.format, r.precision, r.params, r.macs_10s, round(r.size_bytes / 1024, 1),
                    round(ref.size_bytes / r.size_bytes, 2) if r.size_bytes else "—",
                    *[r.f1_test.get(k, float("nan")) for k in keys], drop, r.latency_ms,
                    round(ref.latency_ms / r.latency_ms, 2) if r.latency_ms == r.latency_ms else "—",
                    r.agreement, r.mean_kl, "ok" if r.within_budget else "MISSED"])
    rep.table(header, out, caption=f"{getattr(task, 'test_caption', 'F1 on held-out test records (lead II)')}; size and "
                                   f"speed ratios against {ref.variant} ({ref.format}); latency: "
                                   f"{getattr(task, 'unit', '10 s of ECG')}, 1 thread, median")
    rep.table(["runtime", "kept artifact", "precision", "latency ms", "KiB"],
              [[rt, Path(r.path).name, r.precision, r.latency_ms, round(r.size_bytes / 1024, 1)] for rt, r in kept.items()],
              caption="fastest artifact within the accuracy budget, per runtime")
    for n in notes:
        rep.text(n)
