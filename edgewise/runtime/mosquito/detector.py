"""A mosquito detector artifact on the device: metadata -> front end -> model -> probabilities -> events.

``MosquitoDetector.open("model.onnx")`` (or ``.tflite``) reads everything it needs from the artifact's
own metadata (``edgewise.runtime.artifact``): the model rate, window and hop, the log-Mel front end
(``preprocessing``), the class names and the operating threshold chosen in training
(``training.threshold``). Scoring a signal is, in order:

1. windows (``edgewise.runtime.mosquito.windows``): 2-s windows every 1 s, a padded tail, a clip shorter
   than a window tiled into one;
2. log-Mel features of each window (``edgewise.runtime.features.logmel``, the one front end training used);
3. the model: logits ``[n, 2]``; softmax; p = probability of the ``mosquito`` class;
4. events (``edgewise.runtime.events.merge_events`` with ``hysteresis_for``: open at the threshold, close
   0.2 below it, gaps under 1 s merged);
5. one score for the whole signal, ``p_clip`` (``edgewise.runtime.mosquito.clip_score``: the mean of the
   top-3 window probabilities) to rank recordings by; detection itself is the events.

Uncertainty: an artifact whose output holds several heads (logits ``[n, heads, 2]``, or one ``[n, 2]``
output per head: a Hydra student, an ensemble exported as one graph) is scored as the mean of the heads'
probabilities; their standard deviation is ``p_std`` and their mutual information the per-window
``epistemic`` uncertainty (nats, ``edgewise.runtime.mosquito.heads``). An artifact that carries an
``uncertainty_threshold`` marks windows above it ``unfamiliar``; ``detect(..., suppress=True)`` keeps those
from raising events. A single-head model has none of these.

``edgewise detect --model X.onnx`` and the live engine (``edgewise.runtime.live.mosquito_stream``) both
run this class, so they give the same numbers by construction; only numpy + onnxruntime/LiteRT are needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgewise.runtime.errors import ArtifactError, InputError
from edgewise.runtime.events import HysteresisConfig, merge_events, window_times
from edgewise.runtime.features.logmel import LogMelConfig, log_mel
from edgewise.runtime.features.resample import resample_to
from edgewise.runtime.mosquito.clip_score import clip_score
from edgewise.runtime.mosquito.heads import heads_epistemic, report_windows, uncertainty_threshold
from edgewise.runtime.mosquito.windows import detector_windows

__all__ = ["TASK", "MosquitoDetector", "hysteresis_for", "load_detector", "mosquito_probability", "windows_and_events"]

TASK = "mosquito-detection"
CLIP_LEVEL = 0.999       # |x| at or beyond this is clipped (edgewise.data.audio.clip_fraction)
CLIPPED_FRACTION = 1e-3  # a recording is flagged "clipped" above this share of clipped samples
SILENT_LEVEL = 1e-6      # no sample above this: "silent"
_BATCH = 32              # windows per model call (bounds memory on long recordings)


def hysteresis_for(threshold: float) -> HysteresisConfig:
    """The event merger used at an operating threshold (closes 0.2 below it; merges gaps < 1 s)."""
    return HysteresisConfig(on=threshold, off=max(0.0, threshold - 0.2), min_gap_s=1.0)


def mosquito_probability(logits: np.ndarray, *, positive: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """Softmax probability of the positive class, per window; mean and spread over heads.

    Args:
        logits: float ``[n, classes]`` (one head) or ``[n, heads, classes]``.
        positive: index of the mosquito class.

    Returns:
        ``(p [n], p_std [n] or None)``: float64; ``p_std`` (population std over heads) only with several heads.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim not in (2, 3):
        raise ArtifactError(f"expected logits [n, classes] or [n, heads, classes], got shape {z.shape}")
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z[..., positive]) / np.exp(z).sum(axis=-1)
    if z.ndim == 2:
        return p, None
    return p.mean(axis=1), (p.std(axis=1) if z.shape[1] > 1 else None)


def windows_and_events(p: np.ndarray, times: np.ndarray, cfg: HysteresisConfig, *,
                       decimals: int | None = 4) -> dict[str, list[dict[str, float]]]:
    """The ``windows`` and ``events`` of a detection report (``edgewise detect --json``).

    Args:
        p: float ``[n_windows]`` probabilities; times: float ``[n_windows, 2]`` seconds; cfg: the event merger.
        decimals: window p rounded to this many decimals (None: full precision). Times and events are always
            rounded to 4 (``Event.to_dict``).
    """
    return {"windows": [{"start_s": round(float(a), 4), "end_s": round(float(b), 4),
                         "p": float(q) if decimals is None else round(float(q), decimals)} for (a, b), q in zip(times, p)],
            "events": [e.to_dict() for e in merge_events(p, times, cfg)]}


def _rounded(x: float, decimals: int | None) -> float:
    return float(x) if decimals is None else round(float(x), decimals)


def _int(meta: dict[str, Any], key: str, path: Path) -> int:
    v = meta.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 or int(v) != v:
        raise ArtifactError(f"{path}: metadata {key}={v!r} is not a positive integer; re-export the model with edgewise")
    return int(v)


class MosquitoDetector:
    """A mosquito detector artifact opened through ``edgewise.runtime.backends``.

    Attributes:
        model: the ``RuntimeModel``.
        path: the artifact file.
        name: model name from the metadata.
        sample_rate: Hz the model expects (8000 for the shipped detectors).
        window, hop: window and hop in samples at ``sample_rate``.
        frontend: the log-Mel parameters.
        threshold: operating threshold (``training.threshold`` of the artifact unless overridden).
        training: the artifact's training record (dict).
        heads: the number of heads the metadata declares (1 for a plain detector).
        uncertainty_threshold: epistemic (nats) above which a window is unfamiliar, or None.
    """

    def __init__(self, model: Any, *, threshold: float | None = None):
        self.model = model
        self.path = Path(model.path)
        meta = dict(model.metadata or {})
        self.metadata = meta
        if meta.get("task") != TASK:
            raise ArtifactError(f"{self.path} is a {meta.get('task') or 'unknown-task'} model, not a mosquito detector "
                                f"(metadata task must be {TASK!r})")
        self.name = str(meta.get("name", self.path.stem))
        self.sample_rate = _int(meta, "sample_rate", self.path)
        self.window = _int(meta, "window", self.path)
        self.hop = _int(meta, "hop", self.path)
        pre = dict(meta.get("preprocessing") or {})
        if pre.get("kind") != "logmel":
            raise ArtifactError(f"{self.path}: preprocessing kind {pre.get('kind')!r} is not 'logmel'; this detector "
                                "runs log-Mel models only")
        try:
            self.frontend = LogMelConfig.from_dict({k: v for k, v in pre.items() if k in LogMelConfig.__dataclass_fields__})
        except (TypeError, ValueError) as e:
            raise ArtifactError(f"{self.path}: unusable log-Mel parameters in its metadata ({e})") from e
        if self.frontend.sample_rate != self.sample_rate:
            raise ArtifactError(f"{self.path}: front end at {self.frontend.sample_rate} Hz but model at "
                                f"{self.sample_rate} Hz")
        classes = list(meta.get("classes") or [])
        self.positive = classes.index("mosquito") if "mosquito" in classes else 1
        self.channels_last = str(meta.get("input_layout", "NCHW")).upper() == "NHWC"
        self.training = dict(meta.get("training") or {})
        thr = float(self.training.get("threshold", 0.5)) if threshold is None else float(threshold)
        if not 0.0 < thr <= 1.0:
            raise InputError(f"threshold must lie in (0, 1], got {thr}")
        self.threshold = thr
        heads = meta.get("heads", 1)
        self.heads = heads if isinstance(heads, int) and not isinstance(heads, bool) and heads >= 1 else 1
        self.uncertainty_threshold = uncertainty_threshold(meta, self.path)

    @classmethod
    def open(cls, path: str | Path, *, backend: str | None = None, threads: int = 1,
             threshold: float | None = None) -> MosquitoDetector:
        """Open an ``.onnx``/``.tflite`` mosquito artifact (format from the file's content)."""
        from edgewise.runtime.backends import load_model

        return cls(load_model(path, backend=backend, threads=threads), threshold=threshold)

    # -- properties ---------------------------------------------------------------------------------
    @property
    def window_s(self) -> float:
        return self.window / self.sample_rate

    @property
    def hop_s(self) -> float:
        return self.hop / self.sample_rate

    def hysteresis(self, threshold: float | None = None) -> HysteresisConfig:
        """The event merger at ``threshold`` (default: the detector's)."""
        return hysteresis_for(self.threshold if threshold is None else float(threshold))

    # -- scoring ------------------------------------------------------------------------------------
    def features(self, x: np.ndarray) -> np.ndarray:
        """Windows float32 ``[n, window]`` -> model input float32 ``[n, 1, n_mels, frames]`` (NCHW) or NHWC."""
        f = log_mel(np.asarray(x, dtype=np.float32), self.frontend)
        return f[..., None] if self.channels_last else f[:, None]

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """The model alone: features -> logits ``[n, 2]`` (``[n, heads, 2]`` for a multi-head artifact)."""
        out = self.model.run(np.ascontiguousarray(features, dtype=np.float32))
        if isinstance(out, dict):  # one output per head
            heads = [np.asarray(v) for v in out.values()]
            if any(h.ndim != 2 or h.shape != heads[0].shape for h in heads):
                raise ArtifactError(f"{self.path}: outputs {[h.shape for h in heads]} are not heads of equal shape "
                                    "[n, classes]")
            return np.stack(heads, axis=1)
        return np.asarray(out)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Logits of windows float32 ``[n, window]``: ``[n, classes]`` or ``[n, heads, classes]``, in batches."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.window:
            raise InputError(f"expected windows [n, {self.window}] at {self.sample_rate} Hz, got shape {x.shape}")
        return np.concatenate([np.asarray(self(self.features(x[i:i + _BATCH]))) for i in range(0, x.shape[0], _BATCH)]) \
            if x.shape[0] else np.zeros((0, 2), np.float32)

    def score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities of windows float32 ``[n, window]``: ``(p [n], p_std [n] or None)`` (float64)."""
        z = self.logits(x)
        if z.shape[0] == 0:
            return np.zeros(0), None
        return mosquito_probability(z, positive=self.positive)

    def score_heads(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Windows float32 ``[n, window]`` -> ``(p [n], epistemic [n] nats or None for one head)`` (float64)."""
        z = self.logits(x)
        if z.shape[0] == 0:
            return np.zeros(0), None
        p, _ = mosquito_probability(z, positive=self.positive)
        return p, heads_epistemic(z)

    def window_scores(self, y: np.ndarray, *, hop: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, tuple[str, ...]]:
        """Like ``window_probabilities``, also returning ``p_std`` (or None) and the flags (``"tiled"``)."""
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        hop = self.hop if hop is None else int(hop)
        w, flags = detector_windows(y, self.window, hop, sample_rate=self.sample_rate)
        p, p_std = self.score(w.x)
        times = window_times(len(p), self.window_s, hop / self.sample_rate,
                             duration_s=max(y.size, 1) / self.sample_rate)
        return p, p_std, times, flags

    def window_uncertainty(self, y: np.ndarray, *, hop: int | None = None
                           ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, tuple[str, ...]]:
        """Like ``window_scores``, with the per-window epistemic uncertainty (nats; None for one head) for ``p_std``."""
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        hop = self.hop if hop is None else int(hop)
        w, flags = detector_windows(y, self.window, hop, sample_rate=self.sample_rate)
        p, epistemic = self.score_heads(w.x)
        times = window_times(len(p), self.window_s, hop / self.sample_rate,
                             duration_s=max(y.size, 1) / self.sample_rate)
        return p, epistemic, times, flags

    def window_probabilities(self, y: np.ndarray, *, hop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mosquito probability per window of ``y`` (mono float32 at ``sample_rate``).

        Returns:
            ``p`` float64 ``[n_windows]`` and ``times`` float64 ``[n_windows, 2]`` (start, end seconds).

        Raises:
            ClipTooShortError: ``y`` is shorter than 0.05 s; shorter than a window, ``y`` is tiled into one.
        """
        p, _, times, _ = self.window_scores(y, hop=hop)
        return p, times

    def detect(self, y: np.ndarray, fs: int, *, threshold: float | None = None, decimals: int | None = 4,
               suppress: bool = False, uncertainty_threshold: float | None = None) -> dict[str, Any]:
        """Detect mosquito flight tones in a signal, as ``edgewise detect`` does for a file.

        Args:
            y: float ``[samples]`` or ``[samples, channels]`` (channels are averaged) in [-1, 1].
            fs: Hz of ``y``; resampled to the model rate (polyphase, ``edgewise.runtime.features.resample``).
            threshold: operating threshold (default: the detector's).
            decimals: window p rounded to this many decimals (None: full precision).
            suppress: a multi-head model's unfamiliar windows (epistemic above the threshold) raise no event.
            uncertainty_threshold: that threshold in nats (default: the artifact's ``uncertainty_threshold``).

        Returns:
            ``{"sample_rate": fs, "p_clip", "windows": [{start_s, end_s, p}], "events": [{start_s, end_s, p}],
            "flags": [...]}`` with times and event p rounded to 4 decimals; ``p_clip`` is the whole signal's
            score (``clip_score``: mean of the top-3 windows, rounded like the windows); flags name ``short`` (tiled),
            ``silent`` or ``clipped`` inputs. A multi-head model's windows also carry ``epistemic`` (and
            ``unfamiliar`` when a threshold is known), and the report an ``uncertainty`` summary
            (``edgewise.runtime.mosquito.heads.report_windows``).

        Raises:
            InputError: a non-finite sample or a bad shape/rate. ClipTooShortError: under 0.05 s of audio.
        """
        x = np.asarray(y, dtype=np.float32)
        if x.ndim not in (1, 2) or x.shape[0] == 0:
            raise InputError(f"expected samples [n] or [n, channels] with n > 0, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise InputError("the signal holds NaN or inf samples; clean it first")
        if isinstance(fs, bool) or int(fs) != fs or fs <= 0:
            raise InputError(f"fs must be a positive integer rate in Hz, got {fs!r}")
        level = np.abs(x)
        flags = ["clipped"] if np.count_nonzero(level >= CLIP_LEVEL) > CLIPPED_FRACTION * x.size else []
        mono = x.mean(axis=1) if x.ndim == 2 else x
        if int(fs) != self.sample_rate:
            mono = resample_to(mono, int(fs), self.sample_rate).astype(np.float32)
        if mono.size < self.window:
            flags.append("short")
        if (level if mono is x else np.abs(mono)).max() <= SILENT_LEVEL:
            flags.append("silent")
        p, epistemic, times, _ = self.window_uncertainty(mono)
        if epistemic is None:
            if suppress:
                raise InputError(f"{self.path.name} has one head: it reports no epistemic uncertainty to suppress "
                                 "windows by; use a multi-head (Hydra) model")
            body = windows_and_events(p, times, self.hysteresis(threshold), decimals=decimals)
        else:
            tau = self.uncertainty_threshold if uncertainty_threshold is None else float(uncertainty_threshold)
            if suppress and tau is None:
                raise InputError(f"{self.path.name} carries no uncertainty_threshold; pass one (nats) to suppress "
                                 "unfamiliar windows")
            body = report_windows(p, times, self.hysteresis(threshold), epistemic=epistemic, threshold=tau,
                                  suppress=suppress, decimals=decimals)
        return {"sample_rate": int(fs), "p_clip": _rounded(clip_score(p), decimals), **body, "flags": flags}

    def __repr__(self) -> str:
        return (f"MosquitoDetector({self.path.name!r}, {self.name}, {self.sample_rate} Hz, window {self.window_s:g} s, "
                f"hop {self.hop_s:g} s, threshold {self.threshold})")


def load_detector(path: str | Path, *, backend: str | None = None, threads: int = 1,
                  threshold: float | None = None) -> MosquitoDetector:
    """Open a mosquito artifact (``MosquitoDetector.open``): what ``edgewise run mosquito`` calls."""
    return MosquitoDetector.open(path, backend=backend, threads=threads, threshold=threshold)
