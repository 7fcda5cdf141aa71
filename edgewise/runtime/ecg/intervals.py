"""Beats and ECG intervals (RR, PR, QRS, QT, QTc) from a wave list (numpy only; runs on the device).

Beats are built around each QRS complex, in time order:

- the beat's **P wave** is the last P that starts before its QRS onset, ends by its QRS offset and
  starts at or after the previous QRS's offset (any P before the first QRS qualifies), with P onset to
  QRS onset at most ``max_pr_ms``. In one lead's waves a P never overlaps a QRS, so this is "ends
  before the QRS onset"; in a multi-lead consensus the global P offset (latest over the leads) may
  pass the global QRS onset (earliest over the leads) by a few ms and still belongs to that beat. A P
  that no QRS follows (a blocked P) belongs to no beat; with several candidates (2:1 block) the one
  closest to the QRS, the conducted one, is taken. Missing P (atrial fibrillation, junctional
  rhythm) leaves the beat's P and PR null.
- its **T wave** is the first T that starts at or after its QRS onset and before the next QRS onset,
  and ends after its QRS offset (any T after the last QRS qualifies; the same overlap allowance as
  for P), with QRS onset to T offset at most ``max_qt_ms``.
- the caps are ``PostprocessConfig``'s physiological limits (P onset to QRS onset 400 ms, QRS onset
  to T offset 700 ms), which also guard the first and last beat, where no neighbouring QRS bounds the
  search.

Intervals, in ms: RR = this QRS onset − the previous QRS onset (null for the first beat: its
predecessor is not in the signal; QRS onsets stand in for R peaks since delineation gives boundaries);
PR = QRS onset − P onset; QRS = QRS offset − QRS onset; QT = T offset − QRS onset; QTc with the
preceding RR in seconds: Bazett QT / RR^(1/2) (Bazett, Heart 1920), Fridericia QT / RR^(1/3)
(Fridericia, Acta Med Scand 1920). With the signal length ``n`` given, a wave touching sample 0 or
``n − 1`` is cut by the signal's edge: every interval that uses its cut boundary is null (the first
and last partial beats), and an RR is null when either QRS onset is cut.

``summarize`` gives the heart rate (60 000 / median RR: a median, so one missed QRS does not halve
it) and, per interval, median, quartiles, min, max and count over the beats where it is defined.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewise.runtime.ecg.waves import Wave

__all__ = ["IntervalConfig", "Beat", "INTERVALS", "build_beats", "summarize", "beats_to_json"]

# Interval keys of a beat (and of a summary), all in ms.
INTERVALS: tuple[str, ...] = ("rr_ms", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms")


@dataclass(frozen=True)
class IntervalConfig:
    """Caps on which P and T waves can belong to a beat (ms); defaults = ``PostprocessConfig``'s."""

    max_pr_ms: float = 400.0
    max_qt_ms: float = 700.0

    def __post_init__(self) -> None:
        if self.max_pr_ms <= 0 or self.max_qt_ms <= 0:
            raise ValueError(f"max_pr_ms and max_qt_ms must be positive, got {self.max_pr_ms}, {self.max_qt_ms}")


@dataclass(frozen=True)
class Beat:
    """One beat: wave boundaries (sample indices at the input rate; None when absent) and intervals (ms)."""

    qrs_onset: int
    qrs_offset: int
    p_onset: int | None = None
    p_offset: int | None = None
    t_onset: int | None = None
    t_offset: int | None = None
    rr_ms: float | None = None
    pr_ms: float | None = None
    qrs_ms: float | None = None
    qt_ms: float | None = None
    qtc_bazett_ms: float | None = None
    qtc_fridericia_ms: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready: indices as ints, intervals rounded to 0.1 ms, absent values as None."""
        out = {}
        for k, v in self.__dict__.items():
            out[k] = None if v is None else (round(float(v), 1) if k.endswith("_ms") else int(v))
        return out


def _ms(a: int, b: int, fs: float) -> float:
    return (b - a) * 1000.0 / fs


def build_beats(waves: list[Wave], fs: float, *, n: int | None = None,
                config: IntervalConfig = IntervalConfig()) -> list[Beat]:
    """Beats of a wave list (one lead's, or a multi-lead consensus) at ``fs`` Hz; see the module docstring.

    Args:
        waves: P/QRS/T waves in any order (sample indices at ``fs``).
        fs: sampling rate of the indices, Hz.
        n: signal length in samples, if known: waves touching its edges are treated as cut.
    """
    if fs <= 0:
        raise ValueError(f"sampling rate must be positive, got {fs} Hz")
    by_kind = {k: sorted((w for w in waves if w.kind == k), key=lambda w: (w.onset, w.offset))
               for k in ("P", "QRS", "T")}
    qrs, ps, ts = by_kind["QRS"], by_kind["P"], by_kind["T"]
    cut_on = (lambda w: w.onset <= 0) if n is not None else (lambda w: False)
    cut_off = (lambda w: w.offset >= n - 1) if n is not None else (lambda w: False)
    max_pr, max_qt = config.max_pr_ms * fs / 1000, config.max_qt_ms * fs / 1000
    beats = []
    for i, q in enumerate(qrs):
        prev = qrs[i - 1] if i > 0 else None
        nxt = qrs[i + 1] if i + 1 < len(qrs) else None
        p = next((w for w in reversed(ps) if w.onset < q.onset and w.offset <= q.offset
                  and q.onset - w.onset <= max_pr and (prev is None or w.onset >= prev.offset)), None)
        t = next((w for w in ts if w.onset >= q.onset and w.offset > q.offset and w.offset - q.onset <= max_qt
                  and (nxt is None or w.onset < nxt.onset)), None)
        q_on_ok, q_off_ok = not cut_on(q), not cut_off(q)
        rr = _ms(prev.onset, q.onset, fs) if prev is not None and q_on_ok and not cut_on(prev) else None
        pr = _ms(p.onset, q.onset, fs) if p is not None and q_on_ok and not cut_on(p) else None
        qt = _ms(q.onset, t.offset, fs) if t is not None and q_on_ok and not cut_off(t) else None
        qtc_b = qt / np.sqrt(rr / 1000) if qt is not None and rr else None
        qtc_f = qt / np.cbrt(rr / 1000) if qt is not None and rr else None
        beats.append(Beat(
            qrs_onset=q.onset, qrs_offset=q.offset,
            p_onset=p.onset if p else None, p_offset=p.offset if p else None,
            t_onset=t.onset if t else None, t_offset=t.offset if t else None,
            rr_ms=rr, pr_ms=pr, qrs_ms=_ms(q.onset, q.offset, fs) if q_on_ok and q_off_ok else None,
            qt_ms=qt, qtc_bazett_ms=None if qtc_b is None else float(qtc_b),
            qtc_fridericia_ms=None if qtc_f is None else float(qtc_f)))
    return beats


def _stats(values: list[float]) -> dict:
    if not values:
        return {"median": None, "q1": None, "q3": None, "min": None, "max": None, "n": 0}
    v = np.asarray(values, dtype=np.float64)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": round(float(med), 1), "q1": round(float(q1), 1), "q3": round(float(q3), 1),
            "min": round(float(v.min()), 1), "max": round(float(v.max()), 1), "n": int(v.size)}


def summarize(beats: list[Beat]) -> dict:
    """Heart rate (bpm, from the median RR), beat count and per-interval statistics (ms)."""
    out: dict = {"n_beats": len(beats)}
    rr = [b.rr_ms for b in beats if b.rr_ms]
    out["heart_rate_bpm"] = round(60000.0 / float(np.median(rr)), 1) if rr else None
    for key in INTERVALS:
        out[key] = _stats([getattr(b, key) for b in beats if getattr(b, key) is not None])
    return out


def beats_to_json(waves: list[Wave], fs: float, *, n: int | None = None,
                  config: IntervalConfig = IntervalConfig()) -> tuple[list[dict], dict]:
    """``(beats, summary)`` as JSON-ready objects: what ``edgewise delineate --json`` prints. The summary
    carries the strip's rhythm flag (``edgewise.runtime.ecg.rhythm``: ``{"rhythm", "p_af", "features"}``)."""
    from edgewise.runtime.ecg.rhythm import classify_rhythm

    beats = build_beats(waves, fs, n=n, config=config)
    summary = summarize(beats)
    summary["rhythm"] = classify_rhythm(beats)
    return [b.to_dict() for b in beats], summary
