"""ECG delineation of a stream: samples in (any block sizes), final waves out about a second later.

    stream = EcgStream(model_fn, source_fs=250)
    for block in blocks:                 # float32 [n] or [leads, n] at 250 Hz
        for wave in stream.feed(block):  # Wave, sample indices from the stream's start at 250 Hz
            ...
    stream.flush()                       # end of stream: the tail

Pipeline per continuous segment: resample to the model rate (``stream_resample``), score windows every
``hop`` samples and stitch them (``stitch``; the windows one feed completes go to the model as one batch,
at most ``StreamConfig.max_batch``), turn final scores into final waves (``stream_waves``), map wave
indices back to the source rate. A multi-head model (a Hydra: scores ``[heads, 4, window]``)
is delineated on its heads' mean probabilities, and each wave gets a ``confidence`` (the mean
probability of its class over its samples) and an ``epistemic`` uncertainty (the mean mutual
information over its samples, ``edgewise.runtime.uncertainty``) in ``wave_info``; ``uncertainty()``
gives the means over everything scored. ``gap(n)`` ends the segment (samples lost: a cable pulled);
the next one starts ``n`` samples later. ``edgewise.runtime.ecg.delineate`` is this class fed a whole
signal at once, so offline and live results are the same by construction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewise.runtime.ecg.postprocess import PostprocessConfig
from edgewise.runtime.ecg.stitch import ModelFn, WindowStitcher
from edgewise.runtime.ecg.stream_resample import StreamResampler
from edgewise.runtime.ecg.stream_waves import WaveTracker
from edgewise.runtime.ecg.waves import WAVE_KINDS, Wave

__all__ = ["StreamConfig", "EcgStream", "STREAM_HOP", "STREAM_RIGHT", "STREAM_MAX_BATCH"]

# Windows every 128 samples (0.26 s at 500 Hz); each sample is scored by the earliest window that shows
# 256 samples (0.51 s) after it. On the 32 held-out LUDB records (all 12 leads) this scored P/QRS/T F1
# 0.982/0.9995/0.996 with the int8 model, vs 0.979/0.9995/0.995 for the former centre-of-window stitching
# at hop 1536, whose samples waited up to 3.6 s for their window (/tmp experiment, see CHANGELOG 0.1.0).
STREAM_HOP = 128
STREAM_RIGHT = 256
# Windows per model call: every window ready in one feed goes to the model in one batch (10 s offline at
# 500 Hz = 25 windows = one call); the cap bounds the memory of a long offline signal (32 windows of the
# shipped U-Net: 256 KB of input, ~20 MB of fp32 activations in onnxruntime).
STREAM_MAX_BATCH = 32


@dataclass(frozen=True)
class StreamConfig:
    """Windowing and decision rules, in model-rate samples and seconds."""

    window: int = 2048
    hop: int = STREAM_HOP
    right: int = STREAM_RIGHT
    context_s: float = 10.0
    warmup_s: float = 10.0
    post: PostprocessConfig = PostprocessConfig()
    max_batch: int = STREAM_MAX_BATCH  # windows per model call (the scores do not depend on it)

    def stitching(self) -> tuple[int, int]:
        """(hop, right) for this window: a window shorter than 2048 samples (tiny test models) keeps
        at most an eighth of itself as right context."""
        right = min(self.right, self.window // 8)
        return max(1, min(self.hop, self.window - right)), right


class EcgStream:
    """Stateful delineation of one stream (see module docstring)."""

    def __init__(self, model_fn: ModelFn, source_fs: float, *, model_fs: int = 500, in_channels: int = 1,
                 config: StreamConfig = StreamConfig(), keep_scores: bool = False):
        if source_fs <= 0:
            raise ValueError(f"sampling rate must be positive, got {source_fs}")
        self.model_fn, self.source_fs, self.model_fs = model_fn, float(source_fs), int(model_fs)
        self.in_channels, self.cfg, self.keep_scores = in_channels, config, keep_scores
        self.r = self.source_fs / self.model_fs
        self.scores: list[np.ndarray] = []   # per segment, when keep_scores
        self.padded = False
        self._seg_start = 0   # stream index (source rate) where the current segment began
        self._seg_n = 0       # source samples in the current segment
        self._n = 0           # source samples (and gaps) so far
        self._windows_before = 0
        self._stitch = None
        self.wave_info: dict[Wave, dict[str, float]] = {}  # multi-head models: per emitted wave
        self._u_sum = np.zeros(3)  # total, aleatoric, epistemic summed over scored samples
        self._u_n = 0
        self._new_segment()

    def _new_segment(self) -> None:
        c = self.cfg
        self._open = True  # False after flush: the next sample opens a new segment (offline never needs one)
        self._res = StreamResampler(self.source_fs, self.model_fs, leads=self.in_channels)
        hop, right = c.stitching()
        if self._stitch is not None:
            self._windows_before += self._stitch.windows_scored
        self._stitch = WindowStitcher(self.model_fn, window=c.window, hop=hop, right=right, leads=self.in_channels,
                                      max_batch=c.max_batch)
        self._waves = WaveTracker(self.model_fs, c.post, context_s=c.context_s, warmup_s=c.warmup_s)
        self._model_x = np.zeros((self.in_channels, 0), np.float32)  # model-rate samples awaiting their scores
        self._seg_scores: list[np.ndarray] = []
        self._mean_p = np.zeros((4, 0), np.float32)  # multi-head: mean probabilities from self._mean_p0 on
        self._epi = np.zeros(0, np.float32)
        self._mean_p0 = 0

    @property
    def samples_seen(self) -> int:
        """Stream index of the next sample (source rate), gaps included."""
        return self._n

    @property
    def windows_scored(self) -> int:
        return self._windows_before + self._stitch.windows_scored

    def _to_source(self, w: Wave, final: bool) -> Wave:
        if self.r == 1.0:  # round(i * 1.0) is i
            on, off = w.onset, w.offset
        else:
            on, off = int(round(w.onset * self.r)), int(round(w.offset * self.r))
        if final:
            on, off = min(on, self._seg_n - 1), min(off, self._seg_n - 1)
        if self._seg_start == 0 and on == w.onset and off == w.offset and w.peak == -1:
            return w  # the same wave (frozen, compared by value): no need for a new object
        return Wave(w.kind, self._seg_start + on, self._seg_start + off)

    def _heads(self, scores: np.ndarray) -> np.ndarray:
        """[heads, 4, m] logits -> [4, m] log mean probabilities; keeps the per-sample facts waves need."""
        from edgewise.runtime.uncertainty import decompose, softmax

        probs = softmax(scores, axis=1)
        mean = probs.mean(axis=0)
        u = decompose(probs)
        self._u_sum += [float(u.total.sum()), float(u.aleatoric.sum()), float(u.epistemic.sum())]
        self._u_n += mean.shape[1]
        self._mean_p = np.concatenate([self._mean_p, mean], axis=1)
        self._epi = np.concatenate([self._epi, u.epistemic])
        return np.log(mean + 1e-12).astype(np.float32)

    def _info(self, w: Wave) -> dict[str, float]:
        a, b = w.onset - self._mean_p0, w.offset + 1 - self._mean_p0
        k = WAVE_KINDS.index(w.kind) + 1
        return {"confidence": round(float(self._mean_p[k, a:b].mean()), 4),
                "epistemic": round(float(self._epi[a:b].mean()), 5)}

    def _consume(self, scores: np.ndarray, final: bool) -> list[Wave]:
        waves: list[Wave] = []
        heads = scores.ndim == 3
        if scores.size:
            m = scores.shape[-1]
            lead = self._model_x[0, :m] if self.in_channels == 1 else None
            self._model_x = self._model_x[:, m:]
            if heads:
                scores = self._heads(scores)
            if self.keep_scores:
                self._seg_scores.append(scores)
            waves = self._waves.push(scores, lead)
        if final:
            waves += self._waves.flush()
        out = []
        for w in waves:
            mapped = self._to_source(w, final)
            if self._mean_p.shape[1]:
                self.wave_info[mapped] = self._info(w)
            out.append(mapped)
        cut = self._waves.oldest_needed() - self._mean_p0
        if cut > 0 and self._mean_p.shape[1]:
            self._mean_p, self._epi = self._mean_p[:, cut:], self._epi[cut:]
            self._mean_p0 += cut
        return out

    def uncertainty(self) -> dict[str, float] | None:
        """Means over every scored sample (nats): total, aleatoric, epistemic; None for a one-head model."""
        if not self._u_n:
            return None
        return {k: round(float(v / self._u_n), 5) for k, v in zip(("total", "aleatoric", "epistemic"), self._u_sum)}

    def _take_in(self, x: np.ndarray) -> np.ndarray | None:
        """Checks source-rate samples, counts them and returns them at the model rate (``[leads, m]``);
        None for an empty block."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        if x.shape[0] != self.in_channels:
            raise ValueError(f"model expects {self.in_channels} lead(s), got {x.shape[0]}")
        if x.shape[1] == 0:
            return None
        if not self._open:
            self._new_segment()
        self._n += x.shape[1]
        self._seg_n += x.shape[1]
        y = self._res.push(x)
        self._model_x = np.concatenate([self._model_x, y], axis=1)
        return y

    def feed(self, x: np.ndarray) -> list[Wave]:
        """Source-rate samples ``[n]`` or ``[leads, n]`` (finite); returns the waves now final."""
        y = self._take_in(x)
        if y is None:
            return []
        return self._consume(self._stitch.push(y), final=False)

    def _end_segment(self, y0: np.ndarray | None = None) -> list[Wave]:
        if self._seg_n == 0:
            return []
        y = self._res.flush()
        if y.size:
            self._model_x = np.concatenate([self._model_x, y], axis=1)
        if y0 is not None and y0.size:
            y = np.concatenate([y0, y], axis=1) if y.size else y0
        scores = self._stitch.finish(y)  # the last grid windows and the end-aligned one in one batch
        self.padded |= self._stitch.padded
        waves = self._consume(scores, final=True)
        if self.keep_scores and self._seg_scores:
            self.scores.append(np.concatenate(self._seg_scores, axis=1))
        return waves

    def gap(self, missing: int) -> list[Wave]:
        """``missing`` samples never arrived: finish the segment; the next starts after the gap."""
        waves = self._end_segment()
        self._n += max(int(missing), 0)
        self._seg_start, self._seg_n = self._n, 0
        self._new_segment()
        return waves

    def flush(self, x: np.ndarray | None = None) -> list[Wave]:
        """End of stream (or shutdown): everything not yet final, decided as at a segment's end.

        ``flush(x)`` is ``feed(x) + flush()`` with every window left in one model batch (offline: a whole
        signal in one call of up to ``max_batch`` windows); the waves are the same.
        """
        y0 = None if x is None else self._take_in(x)
        waves = self._end_segment(y0)
        self._seg_start, self._seg_n = self._n, 0
        self._open = False
        return waves
