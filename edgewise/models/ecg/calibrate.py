"""Decision calibration of the ECG segmenter: a logit offset for the P class, chosen on validation records.

Cross-entropy training leaves the P wave (the rarest and faintest class) under-called: on LUDB
validation records the shipped networks' P sensitivity sits below their P PPV. A constant added to the
P logit before the argmax moves the decision threshold. It is chosen on the validation records over all
12 leads (never on the test records) as the offset with the best mean wave F1 (the one nearest zero on ties),
and folded into the head's bias, so every exported or compressed artifact carries it and the device
post-processing stays unchanged.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

__all__ = ["P_BIAS_GRID", "sweep_p_bias", "fold_p_bias", "calibrate_p_bias", "p_edge_postprocess", "ecg_post"]

P_BIAS_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
_P = 1  # class index of P in (background, P, QRS, T)


def _biased_fn(model, bias: float):
    import torch

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
        out[..., _P, :] += bias  # [b, 4, w], or [b, heads, 4, w] for a multi-head model
        return out

    return fn


def sweep_p_bias(model, records: Iterable, *, leads: Iterable[str], grid: Iterable[float] = P_BIAS_GRID,
                 in_channels: int = 1, window: int = 2048, prior: float = 0.0) -> list[dict[str, Any]]:
    """Score each P-logit offset on ``records``: [{"bias", "P", "QRS", "T", "mean"}] (pooled over leads).

    Each offset is scored as it would ship: P edges drawn without the model's whole offset, ``prior`` (what its
    head already carries) plus the candidate (``p_edge_postprocess``)."""
    from edgewise.models.ecg.evaluate import evaluate_records
    from edgewise.runtime.ecg.postprocess import PostprocessConfig

    records, leads = list(records), list(leads)
    model.eval()
    rows = []
    for b in grid:
        s = evaluate_records(records, _biased_fn(model, float(b)), leads=leads, in_channels=in_channels, window=window,
                             post=PostprocessConfig(p_edge_offset=float(prior) + float(b)))
        s = s["all"] if "all" in s else s[leads[0]]
        f1 = {k: float(s.wave_f1(k)) for k in ("P", "QRS", "T")}
        rows.append({"bias": float(b), **f1, "mean": float(np.mean(list(f1.values())))})
    return rows


def fold_p_bias(model, bias: float) -> None:
    """Add ``bias`` to the P logit of a UNet1d, in place (its 1x1 head's bias); of every head of a
    HydraUNet1d."""
    import torch

    heads = [h.head for h in model.heads] if hasattr(model, "n_heads") else [getattr(model, "head", None)]
    for head in heads:
        if head is None or getattr(head, "bias", None) is None or head.bias.shape[0] <= _P:
            raise ValueError("model has no classification head with a bias to calibrate (expected UNet1d.head)")
    with torch.no_grad():
        for head in heads:
            head.bias[_P] += float(bias)


def calibrate_p_bias(model, records: Iterable, *, leads: Iterable[str], grid: Iterable[float] = P_BIAS_GRID,
                     in_channels: int = 1, window: int = 2048, prior: float = 0.0) -> dict[str, Any]:
    """Choose the P-logit offset on validation ``records`` and fold it into ``model``; returns the facts.
    ``window``: the model's input window (its spec's)."""
    rows = sweep_p_bias(model, records, leads=leads, grid=grid, in_channels=in_channels, window=window, prior=prior)
    best = max(rows, key=lambda r: (round(r["mean"], 6), -abs(r["bias"])))
    fold_p_bias(model, best["bias"])
    return {"p_logit_bias": best["bias"], "chosen_on": "validation records, all leads pooled, best mean wave F1",
            "sweep": rows}


def p_edge_postprocess(training: dict[str, Any], recalibration: float = 0.0) -> dict[str, Any]:
    """The ``postprocess`` facts of a model whose head carries a P-logit offset: ``{"p_edge_offset": total}``, so
    delineation finds P waves with the offset and draws their edges without it
    (``edgewise.runtime.ecg.postprocess.PostprocessConfig``). Folding the offset in widened every P wave (0.3 on
    the held-out lead II: P on -7.2 ms, P off +11.3 ms against the annotators); taking the edges from the
    offset-free scores puts both within 1.2 ms, at the same P F1 within 0.25 points.

    The total is what the head carries: ``training["postprocess"]`` when a step already wrote it, else the
    training calibration (``training["calibration"]``), plus ``recalibration`` (the offset a pruning step's
    fine-tuned model was just re-calibrated by). ``{}`` for a model with no offset at all.
    """
    post = training.get("postprocess") or {}
    if "p_edge_offset" in post:
        base = float(post["p_edge_offset"])
    else:
        base = float((training.get("calibration") or {}).get("p_logit_bias") or 0.0)
    total = base + float(recalibration)
    return {"p_edge_offset": total} if total or "p_edge_offset" in post else {}


def ecg_post(training: dict[str, Any] | None) -> Any:
    """The ``PostprocessConfig`` a checkpoint's model delineates with: its ``postprocess`` facts, or for a checkpoint
    written before they existed, the ones its calibration implies (``p_edge_postprocess``)."""
    from edgewise.runtime.ecg.postprocess import post_config

    return post_config({"postprocess": p_edge_postprocess(training or {})})
