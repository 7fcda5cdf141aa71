"""The held-out part of the mosquito report (issue 21 parts 4 and 6): by source, curves, calibration, worst clips.

Given the scored held-out clips (``edgewise.models.mosquito.evaluate.score_clips``):

- a per-source table (``metrics_by_source``: each source's clips ranked against the other class of the
  held-out set; recall at the operating threshold; false alarms per hour on the source's own negatives);
- curves: clip ROC and PR, and false alarms per hour of negative audio against clip recall as the operating
  threshold moves (events re-merged at every threshold, as ``detect`` raises them), the operating point marked;
- a reliability diagram of the window probabilities (labelled windows, 10 equal-width bins) with the expected
  calibration error (Guo et al. 2017);
- the worst false alarms (negative clips by events, then score) and the worst misses (mosquito clips by lowest
  score), each with its source.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["held_out_analysis", "alarm_curve", "reliability"]

CURVE_THRESHOLDS = tuple(np.round(np.arange(0.05, 0.96, 0.05), 2)) + (0.98, 0.99, 0.995, 0.999)


def alarm_curve(clips: list, thresholds: tuple[float, ...] = CURVE_THRESHOLDS) -> list[dict[str, float]]:
    """Clip recall and false alarms per hour of negative audio at each operating threshold."""
    from edgewise.models.mosquito.evaluate import metrics_from_clips, rethreshold

    rows = []
    for t in thresholds:
        m = metrics_from_clips(rethreshold(clips, t), threshold=t)
        rows.append({"threshold": float(t), "clip_recall": m["clip_recall_at_threshold"],
                     "false_alarms_per_hour": m["false_alarms_per_hour"]})
    return rows


def reliability(p: np.ndarray, y: np.ndarray, *, bins: int = 10) -> dict[str, Any]:
    """Per-bin mean probability, observed mosquito share and count (labelled windows), and the ECE."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        sel = idx == b
        if not sel.any():
            continue
        conf, freq = float(p[sel].mean()), float(y[sel].mean())
        rows.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "mean_p": conf, "observed": freq, "n": int(sel.sum())})
        ece += sel.mean() * abs(conf - freq)
    return {"bins": rows, "ece": float(ece), "n": int(p.size)}


def _plots(out: Path, clips: list, curve: list[dict[str, float]], rel: dict[str, Any], threshold: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    y = np.array([c.mosquito for c in clips], int)
    s = np.array([c.score for c in clips])
    fig, ax = plt.subplots(1, 4, figsize=(16, 3.8))
    fpr, tpr, _ = roc_curve(y, s)
    ax[0].plot(fpr, tpr, color="k")
    ax[0].plot([0, 1], [0, 1], ":", color="grey")
    ax[0].set(xlabel="false positive rate (clips)", ylabel="true positive rate", title="clip ROC")
    prec, rec, _ = precision_recall_curve(y, s)
    ax[1].plot(rec, prec, color="k")
    ax[1].axhline(y.mean(), ls=":", color="grey")
    ax[1].set(xlabel="recall (clips)", ylabel="precision", title="clip precision-recall")
    r = np.array([c["clip_recall"] for c in curve])
    fa = np.array([c["false_alarms_per_hour"] for c in curve])
    ax[2].plot(r, np.maximum(fa, 0.1), "o-", color="k", ms=3)
    op = min(curve, key=lambda c: abs(c["threshold"] - threshold))
    ax[2].plot([op["clip_recall"]], [max(op["false_alarms_per_hour"], 0.1)], "o", color="r", ms=8,
               label=f"operating threshold {threshold:g}")
    ax[2].axhline(5, ls=":", color="grey", label="5 / h")
    ax[2].set_yscale("log")
    ax[2].set(xlabel="clip recall", ylabel="false alarms per hour", title="alarms vs recall (threshold sweep)")
    ax[2].legend(fontsize=7)
    mp = [b["mean_p"] for b in rel["bins"]]
    ob = [b["observed"] for b in rel["bins"]]
    ax[3].plot([0, 1], [0, 1], ":", color="grey")
    ax[3].plot(mp, ob, "o-", color="k", ms=4)
    ax[3].set(xlabel="mean predicted p (window)", ylabel="observed mosquito share", xlim=(0, 1), ylim=(0, 1),
              title=f"reliability (ECE {rel['ece']:.3f})")
    fig.tight_layout()
    path = out / "held_out_curves.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def held_out_analysis(rep: Any, clips: list, out: Path, *, threshold: float, top: int = 10) -> dict[str, Any]:
    """Append the by-source table, curves, reliability diagram and worst clips to ``rep``; return the figures."""
    from edgewise.models.mosquito.evaluate import false_alarm_offenders, metrics_by_source

    scored = [c for c in clips if "too-short" not in c.flags]
    if not scored or len({c.mosquito for c in scored}) < 2:
        rep.text("No by-source analysis: the held-out clips hold no scorable clips of both classes.")
        return {}
    by_src = metrics_by_source(scored)
    rep.table(["source", "mosquito clips", "other clips", "clip ROC-AUC", "clip PR-AUC", "recall", "false alarms / h",
               "negative hours"],
              [[s, r["n_clips"]["mosquito"], r["n_clips"]["other"], r["clip_roc_auc"], r["clip_pr_auc"],
                r["clip_recall_at_threshold"], r["false_alarms_per_hour"], round(r["negative_hours"], 3)]
               for s, r in by_src.items()],
              caption=f"by recording source (held-out clips; a source's clips ranked against the other class of all "
                      f"held-out clips; recall and false alarms at p >= {threshold:g})")
    curve = alarm_curve(scored, tuple(sorted(set(CURVE_THRESHOLDS) | {round(float(threshold), 6)})))
    lab = np.concatenate([c.labels for c in scored])
    p = np.concatenate([c.p for c in scored])
    keep = np.isfinite(lab)
    rel = reliability(p[keep], lab[keep])
    png = _plots(out, scored, curve, rel, threshold)
    rep.image(png, caption="held-out clips: ROC, precision-recall, false alarms per hour against recall as the "
                           "threshold moves (red: the operating threshold), reliability of the window probabilities")
    rep.table(["threshold", "clip recall", "false alarms / h"],
              [[c["threshold"], c["clip_recall"], c["false_alarms_per_hour"]] for c in curve],
              caption="threshold sweep (events re-merged at each threshold, as detect raises them)")
    off = false_alarm_offenders(scored, top=top)
    rep.table(["negative clip", "source", "false alarms", "clip score", "seconds"],
              [[r["name"], r["source"], r["false_alarms"], r["score"], round(r["duration_s"], 1)] for r in off["by_clip"]],
              caption=f"worst false alarms (top {top})")
    misses = sorted((c for c in scored if c.mosquito), key=lambda c: (c.score, c.name))[:top]
    rep.table(["mosquito clip", "source", "clip score", "detected", "seconds"],
              [[c.name, c.source, c.score, "yes" if c.peak >= threshold else "NO", round(c.duration_s, 1)] for c in misses],
              caption=f"worst misses (lowest-scoring mosquito clips, top {top})")
    return {"by_source": by_src, "alarm_curve": curve, "reliability": rel, "false_alarms": off,
            "misses": [{"name": c.name, "source": c.source, "score": c.score} for c in misses]}
