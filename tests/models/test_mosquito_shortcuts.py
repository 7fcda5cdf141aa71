"""The shipped mosquito detector scores the sound, not the recorder (issue 21 part 3, "no shortcuts").

The same held-out clips as a recorder at 16 or 44.1 kHz would store them, and 20 dB quieter (int16) or louder,
through the device runtime (``edgewise.models.mosquito.shortcuts``). The shipped DS-CNN of 0.1 failed this:
16 kHz moved a clip's score by up to 0.77, a 20 dB level change by up to 0.999.
"""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.data.paths import default_dataset_dir

DATA = default_dataset_dir("mosquito")
pytestmark = pytest.mark.skipif(DATA is None, reason="needs ../shared/data/mosquito")


@pytest.fixture(scope="module")
def held_out():
    """20 mosquito and 20 other recordings the shipped detector never trained or validated on, first 10 s."""
    from edgewise.data.mosquito import ClipLabel, read_recordings
    from edgewise.models.mosquito.api import decode_recordings, load_detector

    ck = load_detector()
    split = ck.training["split_recordings"]
    seen = set(split["train"]) | set(split["val"])
    recs = [r for r in read_recordings(DATA) if r.label is not ClipLabel.UNKNOWN and r.rel not in seen
            and r.duration_s >= 1.0]
    rng = np.random.default_rng(0)
    pick = [r for want in (True, False) for r in rng.permutation([r for r in recs if r.mosquito == want])[:20]]
    kept, audio = decode_recordings(pick, sample_rate=8000)
    return np.array([r.mosquito for r in kept]), [y[: 10 * 8000] for y in audio]


def _shipped(name: str):
    from edgewise.models.mosquito.api import PRETRAINED

    return PRETRAINED.parent / name.replace("STEM", PRETRAINED.stem)


@pytest.mark.parametrize("name", ["model.onnx", "STEM-int8.tflite", "STEM-int8.onnx"])
def test_sample_rate_and_recording_level_leave_the_scores_alone(held_out, name):
    """The fp32 file and the INT8 files deploy picks from: a louder recorder changes nothing (the front end reads dB
    below each window's peak, the graph removes each window's level), a 16/44.1-kHz recorder only the band edge."""
    from edgewise.models.mosquito.shortcuts import shortcut_scores, shortcut_table
    from edgewise.runtime.mosquito import MosquitoDetector

    y, audio = held_out
    variants = ("16k", "44.1k", "-20 dB", "+20 dB")  # the 8-kHz reference is always scored
    det = MosquitoDetector.open(_shipped(name))
    rows_scores = shortcut_scores(det, audio, variants=variants)
    rows = {r["variant"]: r for r in shortcut_table(rows_scores, y)}
    for v, r in rows.items():
        print(name, v, {k: round(x, 4) for k, x in r.items() if k != "variant"})
    assert rows["+20 dB"]["max_abs_dp"] <= 0.005  # level: the same features, so the same int8 input too
    # resampled 16/44.1-kHz audio differs near 4 kHz (above the mel bands) and by float rounding; an int8 file
    # rounds those tiny input differences to whole steps, so its bound is the fp32 one (0.01) widened by the file's
    # own int8 rounding: how far its scores lie from the fp32 file's on the same 8-kHz clips (90th percentile),
    # measured here, on this CPU's kernels. (A fixed 0.02 held the first INT8 files, rounding 0.011; the files
    # retrained with decoy tones round by 0.025 and move by 0.021 at 44.1 kHz.)
    p90 = 0.01
    if "int8" in name:
        ref = shortcut_scores(MosquitoDetector.open(_shipped("model.onnx")), audio, variants=())["8k"]
        rounding = float(np.percentile(np.abs(np.asarray(rows_scores["8k"]) - np.asarray(ref)), 90))
        assert rounding <= 0.03, f"the INT8 file's scores lie {rounding:.3f} from fp32's (90th percentile)"
        p90 += rounding
    for v in ("16k", "44.1k"):
        assert rows[v]["max_abs_dp"] <= 0.05 and rows[v]["p90_abs_dp"] <= p90, (v, p90)
    # 20 dB quieter in int16: quantisation noise and the log floor move near-silent clips a little
    assert rows["-20 dB"]["median_abs_dp"] <= 0.02 and rows["-20 dB"]["p90_abs_dp"] <= 0.1
    assert all(abs(r["clip_roc_auc"] - rows["8k"]["clip_roc_auc"]) <= 0.02 for r in rows.values())


def test_variants_are_named_and_the_reference_is_always_there():
    from edgewise.models.mosquito.shortcuts import shortcut_scores, shortcut_table

    class Const:  # a detector that ignores its input: every variant scores alike
        def detect(self, x, rate, threshold):
            return {"windows": [{"p": 0.3 + 0.1 * (len(x) > 9000)}]}

    audio = [np.zeros(8000, np.float32), np.zeros(12000, np.float32)]
    scores = shortcut_scores(Const(), audio, variants=("+20 dB",))
    assert list(scores) == ["8k", "+20 dB"]
    rows = shortcut_table(scores, np.array([False, True]))
    assert [r["variant"] for r in rows] == ["8k", "+20 dB"] and rows[1]["max_abs_dp"] == 0
    with pytest.raises(ValueError, match="unknown variants"):
        shortcut_scores(Const(), audio, variants=("22k",))
    with pytest.raises(ValueError, match="reference"):
        shortcut_table({"+20 dB": scores["+20 dB"]}, np.array([False, True]))
