"""``edgewise detect`` with a multi-head (Hydra) checkpoint: per-window epistemic uncertainty, as the device reports it.

``edgewise.models.mosquito.api.detect_file`` scores a checkpoint's windows and reports the heads' mean
probability; this adds what the runtime's ``MosquitoDetector.detect`` reports for a multi-head artifact
(``epistemic`` per window, ``unfamiliar`` above the model's ``uncertainty_threshold``, optional suppression),
from the same windows, front end and report function (``edgewise.runtime.mosquito.heads.report_windows``),
so a ``.pt`` and its exported artifacts give the same report.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgewise.runtime.errors import InputError

__all__ = ["is_multi_head", "detect_file_heads"]


def is_multi_head(ckpt: Any) -> bool:
    """True for a checkpoint whose model has several heads (``model_kwargs["heads"] > 1``)."""
    heads = (getattr(ckpt, "model_kwargs", None) or {}).get("heads")
    return isinstance(heads, int) and heads > 1


def detect_file_heads(path: str | Path, ckpt: Any, *, threshold: float | None = None, suppress: bool = False,
                      uncertainty_threshold: float | None = None) -> dict[str, Any]:
    """Detect mosquito flight tones in one file with a multi-head checkpoint.

    Args:
        path: an audio file (any rate and channels; ``edgewise.data.audio.load_audio``).
        ckpt: a checkpoint (``load_detector``) whose model returns logits [n, heads, 2].
        threshold: operating threshold (default: the checkpoint's ``training.threshold``).
        suppress: unfamiliar windows raise no event.
        uncertainty_threshold: nats (default: the checkpoint's ``training.uncertainty_threshold``).

    Returns:
        ``detect_file``'s report; windows also carry ``epistemic`` (and ``unfamiliar``), plus ``uncertainty``.
    """
    from edgewise.data.audio import load_audio
    from edgewise.models.mosquito.evaluate import hysteresis_for
    from edgewise.models.mosquito.train import predict_logits
    from edgewise.runtime.events import window_times
    from edgewise.runtime.mosquito import ClipTooShortError, clip_score, detector_windows, mosquito_probability
    from edgewise.runtime.mosquito.heads import heads_epistemic, report_windows

    spec = ckpt.spec
    threshold = float(ckpt.training.get("threshold", 0.5)) if threshold is None else threshold
    tau = ckpt.training.get("uncertainty_threshold") if uncertainty_threshold is None else uncertainty_threshold
    if suppress and tau is None:
        raise InputError(f"{ckpt.path} carries no uncertainty_threshold; pass one (nats) to suppress unfamiliar windows")
    try:
        audio = load_audio(path, spec.sample_rate, min_samples=spec.window)
        w, _ = detector_windows(audio.samples, spec.window, spec.hop, sample_rate=spec.sample_rate)
    except ClipTooShortError as e:
        raise ClipTooShortError(f"{path}: {e}") from e
    z = predict_logits(ckpt.model, spec, w.x)
    p, _ = mosquito_probability(z)
    times = window_times(len(p), spec.window / spec.sample_rate, spec.hop / spec.sample_rate,
                         duration_s=max(audio.samples.size, 1) / spec.sample_rate)
    body = report_windows(p, times, hysteresis_for(threshold), epistemic=heads_epistemic(z),
                          threshold=None if tau is None else float(tau), suppress=suppress)
    return {"input": str(path), "sample_rate": int(audio.source_rate), "p_clip": round(clip_score(p), 4), **body,
            "flags": list(audio.flags)}
