"""Scoring multi-head (and one-head) mosquito detectors window by window: calibration, uncertainty, alarms.

Used by ``benchmarks/hydra_mosquito.py`` and ``scripts/ship_mosquito_hydra.py`` (issue 23), on the parts of an
ensemble's split (``edgewise.models.ensemble.mosquito``). A *part* is a list of recordings cut into the
detector's windows (2 s, hop 1 s, short clips tiled: ``edgewise.runtime.mosquito.detector_windows``), with
weak-label-policy labels per window (NaN: unlabelled). A model is any function from log-Mel features
[n, 1, mels, frames] to logits [n, classes] or [n, heads, classes]; each is scored on the same features.

- window and clip ROC-AUC (a clip scored by ``edgewise.runtime.mosquito.clip_score``, its top-3 windows' mean);
- NLL and ECE (15 equal-width bins of the confidence max(p, 1 - p), Guo et al. 2017) over labelled windows, of
  the heads' mean probability;
- epistemic uncertainty: mutual information between prediction and head (``edgewise.runtime.uncertainty``);
- alarms: events (``edgewise.runtime.events.merge_events``, ``hysteresis_for``) per clip at an operating
  threshold; recall = share of mosquito clips raising an event, false alarms per hour of negative audio, as
  ``edgewise.models.mosquito.evaluate`` counts them. With an uncertainty threshold tau, windows above it are
  suppressed first (``edgewise.runtime.mosquito.heads``: they raise no event).
- ``choose_uncertainty_threshold``: tau on VALIDATION windows only: the lowest candidate (quantiles of the
  validation windows' epistemic uncertainty) that keeps at least ``keep`` of the validation mosquito windows
  detected at the operating threshold, so suppression costs at most 1 - keep of the detections the model
  makes on audio it was tuned on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from edgewise.data.mosquito import Recording, WindowConfig, window_labels
from edgewise.runtime.events import merge_events, window_times
from edgewise.runtime.mosquito import ClipTooShortError, clip_score, detector_windows, hysteresis_for
from edgewise.runtime.uncertainty import decompose, softmax

__all__ = ["Part", "part_windows", "head_probabilities", "uncertainty", "nll", "ece", "alarms",
           "choose_uncertainty_threshold", "fa_at_recall", "clip_scores", "auroc", "measure", "operating_threshold",
           "alarm_comparison"]

LogitsFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class Part:
    """Windows of a list of recordings. ``x`` float32 [N, 1, mels, frames]; ``labels`` [N] (NaN unlabelled);
    ``times`` [N, 2] s; ``clip`` [N] clip index; per clip: ``names``, ``sources``, ``mosquito``, ``duration_s``."""

    x: np.ndarray
    labels: np.ndarray
    times: np.ndarray
    clip: np.ndarray
    names: list[str]
    sources: list[str]
    mosquito: np.ndarray
    duration_s: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.size)


def part_windows(recs: list[Recording], audio: list[np.ndarray], spec: Any) -> Part:
    """Cut ``recs`` (audio at the model rate) into detector windows with features and labels; clips under
    0.05 s are left out (as the held-out evaluation leaves them out)."""
    from edgewise.models.mosquito.specs import frontend
    from edgewise.runtime.features.logmel import log_mel

    wcfg = WindowConfig(sample_rate=spec.sample_rate, window_s=spec.window / spec.sample_rate,
                        hop_s=spec.hop / spec.sample_rate)
    xs, labs, times, clip, names, sources, pos, dur = [], [], [], [], [], [], [], []
    fe = frontend(spec)
    for r, y in zip(recs, audio):
        try:
            w, _ = detector_windows(y, spec.window, spec.hop, sample_rate=spec.sample_rate)
        except ClipTooShortError:
            continue
        t = window_times(len(w.x), spec.window / spec.sample_rate, spec.hop / spec.sample_rate,
                         duration_s=max(y.size, 1) / spec.sample_rate)
        xs.append(log_mel(w.x, fe)[:, None])
        labs.append(window_labels(r, t[:, 0], wcfg))
        times.append(t)
        clip.append(np.full(len(t), len(names)))
        names.append(r.rel)
        sources.append(r.set_name)
        pos.append(r.mosquito)
        dur.append(y.size / spec.sample_rate)
    cat = (lambda a, shape: np.concatenate(a) if a else np.zeros(shape))
    return Part(x=cat(xs, (0, 1, *spec.input_shape[1:])).astype(np.float32), labels=cat(labs, (0,)),
                times=cat(times, (0, 2)), clip=cat(clip, (0,)).astype(int), names=names, sources=sources,
                mosquito=np.array(pos, bool), duration_s=np.array(dur, float))


def head_probabilities(fn: LogitsFn, x: np.ndarray, *, batch: int = 256, positive: int = 1) -> np.ndarray:
    """Per-head mosquito probability float64 [N, heads] (one head: [N, 1]) of ``fn`` on features ``x``."""
    outs = []
    for i in range(0, len(x), batch):
        z = np.asarray(fn(x[i : i + batch]), dtype=np.float64)
        z = z[:, None] if z.ndim == 2 else z
        outs.append(softmax(z, axis=-1)[..., positive].astype(np.float64))
    return np.concatenate(outs) if outs else np.zeros((0, 1))


def uncertainty(ph: np.ndarray) -> dict[str, np.ndarray]:
    """``{"p", "total", "aleatoric", "epistemic"}`` per window from per-head probabilities [N, heads] (nats)."""
    ph = np.clip(np.asarray(ph, np.float64), 0.0, 1.0)
    u = decompose(np.stack([1 - ph, ph], axis=-1), head_axis=1, class_axis=2)
    return {"p": ph.mean(axis=1), "total": u.total.astype(np.float64), "aleatoric": u.aleatoric.astype(np.float64),
            "epistemic": u.epistemic.astype(np.float64)}


def _labelled(p: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(labels)
    return np.asarray(p, np.float64)[keep], labels[keep].astype(int)


def nll(p: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood (nats) of labelled windows under p(mosquito) (clipped to 1e-7)."""
    q, y = _labelled(p, labels)
    q = np.clip(q, 1e-7, 1 - 1e-7)
    return float(-np.mean(np.where(y == 1, np.log(q), np.log(1 - q))))


def ece(p: np.ndarray, labels: np.ndarray, *, bins: int = 15) -> float:
    """Expected calibration error of labelled windows: confidence max(p, 1 - p) in ``bins`` equal bins."""
    q, y = _labelled(p, labels)
    conf = np.maximum(q, 1 - q)
    correct = ((q >= 0.5).astype(int) == y).astype(float)
    idx = np.minimum(((conf - 0.5) / 0.5 * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(err)


def alarms(part: Part, p: np.ndarray, threshold: float, *, epistemic: np.ndarray | None = None,
           tau: float | None = None) -> dict[str, Any]:
    """Events per clip at ``threshold`` (windows with epistemic > ``tau`` suppressed when both are given).

    Returns:
        ``{"clip_recall", "window_recall", "false_alarms", "negative_hours", "false_alarms_per_hour",
        "suppressed_windows"}``; window recall: labelled mosquito windows with p >= threshold, not suppressed.
    """
    p = np.asarray(p, np.float64)
    sup = np.zeros(p.size, bool) if tau is None or epistemic is None else np.asarray(epistemic) > tau
    pe = np.where(sup, 0.0, p)
    cfg = hysteresis_for(threshold)
    n_fa, hit = 0, []
    for c in range(len(part.names)):
        m = part.clip == c
        ev = merge_events(pe[m], part.times[m], cfg)
        if part.mosquito[c]:
            hit.append(bool(ev))
        else:
            n_fa += len(ev)
    hours = float(part.duration_s[~part.mosquito].sum() / 3600)
    pos = part.labels == 1
    return {"clip_recall": float(np.mean(hit)) if hit else float("nan"),
            "window_recall": float(np.mean(pe[pos] >= threshold)) if pos.any() else float("nan"),
            "false_alarms": n_fa, "negative_hours": round(hours, 4),
            "false_alarms_per_hour": n_fa / hours if hours > 0 else float("nan"), "suppressed_windows": int(sup.sum())}


def choose_uncertainty_threshold(val: Part, p: np.ndarray, epistemic: np.ndarray, threshold: float, *,
                                 keep: float = 0.98, quantiles: np.ndarray | None = None) -> dict[str, Any]:
    """The suppression threshold tau, on validation windows only (rule in the module docstring).

    Returns:
        ``{"tau", "keep", "val_window_recall_kept", "val_false_alarms_per_hour" (without, with), "quantile"}``;
        tau is ``inf`` (nothing suppressed) when no candidate keeps enough detections.
    """
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    p, epistemic = np.asarray(p, np.float64), np.asarray(epistemic, np.float64)
    qs = np.asarray(quantiles if quantiles is not None else
                    np.concatenate([np.arange(0.50, 0.99, 0.01), [0.99, 0.995, 0.999]]), float)
    detected = (val.labels == 1) & (p >= threshold)
    base = alarms(val, p, threshold)
    best: dict[str, Any] = {"tau": float("inf"), "quantile": None, "val_window_recall_kept": 1.0}
    for q in qs:  # ascending quantile = ascending tau: the first that keeps enough is the lowest
        tau = float(np.quantile(epistemic, q))
        kept = float(np.mean(epistemic[detected] <= tau)) if detected.any() else 1.0
        if kept >= keep:
            best = {"tau": tau, "quantile": float(q), "val_window_recall_kept": kept}
            break
    with_ = alarms(val, p, threshold, epistemic=epistemic, tau=best["tau"])
    return {**best, "keep": keep, "val_false_alarms_per_hour": [base["false_alarms_per_hour"],
                                                                with_["false_alarms_per_hour"]],
            "val_clip_recall": [base["clip_recall"], with_["clip_recall"]]}


def fa_at_recall(part: Part, p: np.ndarray, recall: float, *, epistemic: np.ndarray | None = None,
                 tau: float | None = None, grid: tuple[float, ...] | None = None) -> dict[str, Any]:
    """False alarms per hour at the highest operating threshold whose clip recall is at least ``recall``.

    A measurement on ``part`` (not a choice of operating point): what each variant pays in false alarms to keep a
    given share of the mosquito clips. The highest such threshold, not the one with the fewest events: event
    counts are not monotone in the threshold (hysteresis closes 0.2 below it, so a very low threshold merges a
    clip's alarms into one long event), and the fewest-events threshold would reward that.
    Returns ``{"threshold", "clip_recall", "false_alarms_per_hour"}`` (None threshold when no grid value reaches
    the recall).
    """
    from edgewise.models.mosquito.evaluate import THRESHOLD_GRID

    for t in sorted(grid or THRESHOLD_GRID, reverse=True):
        a = alarms(part, p, t, epistemic=epistemic, tau=tau)
        if a["clip_recall"] >= recall - 1e-12:
            return {"threshold": float(t), "clip_recall": a["clip_recall"],
                    "false_alarms_per_hour": a["false_alarms_per_hour"]}
    return {"threshold": None, "clip_recall": float("nan"), "false_alarms_per_hour": float("nan")}


def clip_scores(part: Part, p: np.ndarray) -> np.ndarray:
    """Per clip of ``part``, the score of its windows' probabilities ``p`` [N] (``clip_score``: top-3 mean): [n_clips]."""
    return np.array([clip_score(p[part.clip == c]) for c in range(len(part.names))])


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC-AUC of scores ``s`` for binary labels ``y`` (NaN with one class)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else float("nan")


def measure(fn: LogitsFn, parts: dict[str, Part]) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """One model's figures on an ensemble split's parts (``"test"``, ``"id_holdout"``, ``"ood"``, ...).

    Returns:
        ``(row, u)``: row = ``{"heads", "window_roc_auc", "clip_roc_auc", "nll", "ece", "ood_auroc_epistemic",
        "ood_auroc_total", "mi_mean_test"}`` (test: labelled windows / clips of the test part; OOD: the
        ``id_holdout`` windows against the ``ood`` windows); u = ``uncertainty(...)`` per part.
    """
    u, heads = {}, 1
    for k, part in parts.items():
        ph = head_probabilities(fn, part.x)
        heads = ph.shape[1]
        u[k] = uncertainty(ph)
    test = parts["test"]
    lab = np.isfinite(test.labels)
    ind, ood = u["id_holdout"], u["ood"]
    y_ood = np.r_[np.zeros(len(ind["p"])), np.ones(len(ood["p"]))]
    row = {"heads": int(heads), "window_roc_auc": auroc(test.labels[lab], u["test"]["p"][lab]),
           "clip_roc_auc": auroc(test.mosquito, clip_scores(test, u["test"]["p"])), "nll": nll(u["test"]["p"], test.labels),
           "ece": ece(u["test"]["p"], test.labels),
           "ood_auroc_epistemic": auroc(y_ood, np.r_[ind["epistemic"], ood["epistemic"]]),
           "ood_auroc_total": auroc(y_ood, np.r_[ind["total"], ood["total"]]),
           "mi_mean_test": float(u["test"]["epistemic"].mean())}
    return row, u


def operating_threshold(val: Part, p: np.ndarray, *, max_false_alarms_per_hour: float = 5.0) -> float:
    """``evaluate.choose_threshold``'s rule on a part's windows: scanning the grid downwards, the lowest threshold
    before the validation negatives first exceed the false-alarm budget (the grid's top when even it fails)."""
    from edgewise.models.mosquito.evaluate import THRESHOLD_GRID

    ts = sorted(THRESHOLD_GRID, reverse=True)
    chosen = ts[0]
    for t in ts:
        if alarms(val, p, t)["false_alarms_per_hour"] > max_false_alarms_per_hour:
            break
        chosen = t
    return float(chosen)


def alarm_comparison(u: dict[str, dict[str, np.ndarray]], parts: dict[str, Part], *, threshold: float | None = None,
                     max_false_alarms_per_hour: float = 5.0, keep: float = 0.98,
                     recalls: tuple[float, ...] = (), tau_quantile: float | None = None) -> dict[str, Any]:
    """False alarms on the test part without and with suppression; every choice made on the ``"val"`` part.

    The operating threshold (``threshold``, else ``operating_threshold`` on validation) and tau
    (``choose_uncertainty_threshold`` on validation) are applied to the test part; then, at the unsuppressed
    operating point's clip recall R, ``fa_at_recall`` of both variants on the test part, and at each of ``recalls``
    (fixed targets, so nothing is chosen on the test part): ``"at_recalls": [{"recall", "without", "with"}]``.
    ``tau_quantile``: tau is that quantile of the validation windows' epistemic uncertainty instead (the ECG
    Hydra's rule, e.g. 0.99), whatever it costs in validation detections.
    """
    val, test = parts["val"], parts["test"]
    thr = operating_threshold(val, u["val"]["p"], max_false_alarms_per_hour=max_false_alarms_per_hour) \
        if threshold is None else float(threshold)
    if tau_quantile is None:
        choice = choose_uncertainty_threshold(val, u["val"]["p"], u["val"]["epistemic"], thr, keep=keep)
    else:
        choice = choose_uncertainty_threshold(val, u["val"]["p"], u["val"]["epistemic"], thr, keep=1e-9,
                                              quantiles=np.array([tau_quantile]))
    tau, p, epi = choice["tau"], u["test"]["p"], u["test"]["epistemic"]
    plain = alarms(test, p, thr)
    r = plain["clip_recall"]
    return {"threshold": thr, "tau": choice, "test_without": plain,
            "test_with": alarms(test, p, thr, epistemic=epi, tau=tau), "matched_recall": r,
            "fa_at_recall_without": fa_at_recall(test, p, r),
            "fa_at_recall_with": fa_at_recall(test, p, r, epistemic=epi, tau=tau),
            "max_clip_recall_with": alarms(test, p, 0.05, epistemic=epi, tau=tau)["clip_recall"],
            "at_recalls": [{"recall": float(q), "without": fa_at_recall(test, p, q),
                            "with": fa_at_recall(test, p, q, epistemic=epi, tau=tau)} for q in recalls]}
