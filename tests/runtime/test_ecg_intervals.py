"""Beats and intervals (edgewise.runtime.ecg.intervals): hand-made wave lists with known answers, and the
shipped model against LUDB annotations on two held-out records."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgewise.runtime.ecg.intervals import INTERVALS, IntervalConfig, beats_to_json, build_beats, summarize
from edgewise.runtime.ecg.waves import Wave

FS = 500.0  # 2 ms per sample


def beat(q_on: int, *, p: bool = True, t: bool = True, pr: int = 80, qrs: int = 50, qt: int = 200) -> list[Wave]:
    """One P-QRS-T beat with its QRS onset at ``q_on`` (samples; PR 80 = 160 ms, QRS 50 = 100 ms, QT 200 = 400 ms)."""
    out = [Wave("QRS", q_on, q_on + qrs)]
    if p:
        out.append(Wave("P", q_on - pr, q_on - pr + 50))
    if t:
        out.append(Wave("T", q_on + qrs + 60, q_on + qt))
    return out


def test_sinus_rhythm_intervals_and_qtc_against_hand_values():
    waves = [w for q in (500, 900, 1300, 1700) for w in beat(q)]  # RR 400 samples = 800 ms
    beats = build_beats(waves, FS, n=2500)
    assert [b.qrs_onset for b in beats] == [500, 900, 1300, 1700]
    first, second = beats[0], beats[1]
    assert first.rr_ms is None and first.qtc_bazett_ms is None and first.qtc_fridericia_ms is None
    assert (second.rr_ms, second.pr_ms, second.qrs_ms, second.qt_ms) == (800.0, 160.0, 100.0, 400.0)
    # Bazett 400 / sqrt(0.8) = 447.2136; Fridericia 400 / 0.8^(1/3) = 430.8869
    np.testing.assert_allclose(second.qtc_bazett_ms, 447.2136, atol=1e-3)
    np.testing.assert_allclose(second.qtc_fridericia_ms, 430.8869, atol=1e-3)
    assert (second.p_onset, second.p_offset, second.t_onset, second.t_offset) == (820, 870, 1010, 1100)
    s = summarize(beats)
    assert s["n_beats"] == 4 and s["heart_rate_bpm"] == 75.0
    assert s["pr_ms"] == {"median": 160.0, "q1": 160.0, "q3": 160.0, "min": 160.0, "max": 160.0, "n": 4}
    assert s["rr_ms"]["n"] == 3 and s["qtc_bazett_ms"]["median"] == 447.2


def test_missing_p_leaves_only_that_beats_pr_null():
    waves = beat(500) + beat(900, p=False) + beat(1300)
    beats = build_beats(waves, FS)
    assert [b.pr_ms for b in beats] == [160.0, None, 160.0]
    assert beats[1].p_onset is None and beats[1].p_offset is None
    assert beats[1].qt_ms == 400.0 and beats[1].rr_ms == 800.0


def test_atrial_fibrillation_like_beats_without_p():
    rng = np.random.default_rng(0)
    onsets = np.cumsum(rng.integers(250, 500, size=8)) + 300  # irregular RR 500-1000 ms
    waves = [w for q in onsets for w in beat(int(q), p=False, qt=180)]
    beats = build_beats(waves, FS)
    s = summarize(beats)
    assert all(b.pr_ms is None for b in beats)
    assert s["pr_ms"] == {"median": None, "q1": None, "q3": None, "min": None, "max": None, "n": 0}
    rr = np.diff(onsets) * 2.0
    assert s["rr_ms"]["min"] == rr.min() and s["rr_ms"]["max"] == rr.max() and s["rr_ms"]["n"] == 7
    assert s["heart_rate_bpm"] == round(60000 / np.median(rr), 1)
    assert s["qt_ms"]["median"] == 360.0


def test_partial_first_and_last_beats_at_the_signal_edges():
    n = 1600
    waves = [Wave("QRS", 0, 30), Wave("T", 90, 180)]        # cut QRS at the start, and its T
    waves += beat(500) + beat(900)
    waves += [Wave("P", 1220, 1270), Wave("QRS", 1300, 1350), Wave("T", 1410, n - 1)]  # T cut at the end
    beats = build_beats(waves, FS, n=n)
    assert [b.qrs_onset for b in beats] == [0, 500, 900, 1300]
    cut = beats[0]
    assert cut.qrs_ms is None and cut.qt_ms is None and cut.rr_ms is None and cut.t_offset == 180
    assert beats[1].rr_ms is None  # its predecessor's onset is the signal's edge, not a QRS onset
    assert beats[2].rr_ms == 800.0
    last = beats[3]
    assert last.pr_ms == 160.0 and last.qrs_ms == 100.0 and last.t_offset == n - 1 and last.qt_ms is None
    # without n the same lists are taken at face value
    assert build_beats(waves, FS)[0].qrs_ms == 60.0


def test_which_p_and_t_belong_to_a_beat():
    waves = beat(500, p=False, t=False) + beat(1000, p=False, t=False)
    waves += [Wave("P", 520, 540)]     # starts before the previous QRS offset (550): not this beat's
    waves += [Wave("P", 800, 840), Wave("P", 880, 930)]  # blocked P then the conducted one: take the closest
    waves += [Wave("T", 1000 + 40, 1200)]                # starts inside the QRS (ends after it): overlap allowed
    beats = build_beats(waves, FS)
    assert beats[0].p_onset is None and beats[0].t_onset is None
    assert beats[1].p_onset == 880 and beats[1].pr_ms == 240.0 and beats[1].t_onset == 1040
    # a P further than max_pr_ms from the QRS, or a T whose QT exceeds max_qt_ms, belongs to no beat
    far = build_beats([Wave("P", 100, 150), Wave("QRS", 400, 450), Wave("T", 500, 800)], FS)[0]
    assert far.p_onset is None and far.t_onset is None and far.qt_ms is None
    loose = build_beats([Wave("P", 100, 150), Wave("QRS", 400, 450), Wave("T", 500, 800)], FS,
                        config=IntervalConfig(max_pr_ms=700, max_qt_ms=900))[0]
    assert loose.pr_ms == 600.0 and loose.qt_ms == 800.0
    # a T that starts after the next QRS onset is that beat's business, not this one's
    assert build_beats([Wave("QRS", 0 + 10, 60), Wave("QRS", 400, 450), Wave("T", 460, 600)], FS)[0].t_onset is None


def test_consensus_style_overlap_of_p_offset_and_qrs_onset():
    """A global P offset (latest lead) may pass the global QRS onset (earliest lead) and still belong."""
    b = build_beats([Wave("P", 400, 455), Wave("QRS", 450, 500), Wave("T", 495, 650)], FS)[0]
    assert b.pr_ms == 100.0 and b.qt_ms == 400.0


def test_json_form_and_bad_rate():
    beats, summary = beats_to_json(beat(500) + beat(900), 360.0)
    text = json.dumps({"beats": beats, "summary": summary})
    assert set(beats[0]) == {"qrs_onset", "qrs_offset", "p_onset", "p_offset", "t_onset", "t_offset", *INTERVALS}
    assert beats[1]["rr_ms"] == 1111.1 and isinstance(beats[1]["qrs_onset"], int)
    assert set(summary) == {"n_beats", "heart_rate_bpm", "rhythm", *INTERVALS} and "NaN" not in text
    assert summarize([]) == {"n_beats": 0, "heart_rate_bpm": None,
                             **{k: {"median": None, "q1": None, "q3": None, "min": None, "max": None, "n": 0}
                                for k in INTERVALS}}
    with pytest.raises(ValueError, match="sampling rate must be positive"):
        build_beats([], 0)
    with pytest.raises(ValueError, match="must be positive"):
        IntervalConfig(max_pr_ms=0)


def test_model_intervals_against_ludb_annotations(ludb_dir):
    """The shipped fp32 ONNX on lead II of the 32 held-out test records: median |error| <= 10 ms.

    On two records QT sat exactly at the bound (10 ms), where one sample (2 ms) on another CPU's kernels
    could cross it; all 32 (8, 6 and 8 ms when written) keep the medians off the edge.
    benchmarks/ecg_intervals.py gives the figures over all 32 held-out records.
    """
    pytest.importorskip("wfdb")  # LUDB's reader (host install; not in the device venvs)
    from edgewise.data.ludb import read_record
    from edgewise.models.pretrained import PRETRAINED_DIR
    from edgewise.runtime.ecg.delineate import delineate
    from edgewise.runtime.ecg.metrics import match_boundaries
    from edgewise.runtime.ecg.model import load_artifact_fn
    from edgewise.runtime.artifact import read_metadata

    path = PRETRAINED_DIR / "ecg" / "ecg-unet.onnx"
    fn, info = load_artifact_fn(path)
    records = read_metadata(path)["training"]["test_records"]
    err: dict[str, list[float]] = {"pr_ms": [], "qrs_ms": [], "qt_ms": []}
    for rid in records:
        rec = read_record(ludb_dir, rid)
        n = rec.signal.shape[1]
        ref = build_beats(rec.waves["ii"], rec.fs, n=n)
        res = delineate(rec.lead("ii"), rec.fs, fn, model_fs=info.sample_rate, window=info.window, hop=info.hop,
                        post=info.post)
        got = build_beats(res.waves, rec.fs, n=n)
        pairs, missed, _ = match_boundaries(np.array([b.qrs_onset for b in ref]),
                                            np.array([b.qrs_onset for b in got]), 75)
        assert missed == 0
        by_ref, by_got = {b.qrs_onset: b for b in ref}, {b.qrs_onset: b for b in got}
        for t, p in pairs:
            for k in err:
                a, b = getattr(by_ref[t], k), getattr(by_got[p], k)
                if a is not None and b is not None:
                    err[k].append(b - a)
    med = {k: float(np.median(np.abs(v))) for k, v in err.items()}
    assert all(len(v) >= 10 for v in err.values()), {k: len(v) for k, v in err.items()}
    assert all(m <= 10.0 for m in med.values()), med
