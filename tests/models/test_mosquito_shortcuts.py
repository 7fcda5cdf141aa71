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


def test_sample_rate_and_recording_level_leave_the_scores_alone(held_out):
    from edgewise.models.mosquito.api import PRETRAINED
    from edgewise.models.mosquito.shortcuts import shortcut_scores, shortcut_table
    from edgewise.runtime.mosquito import MosquitoDetector

    y, audio = held_out
    variants = ("16k", "44.1k", "-20 dB", "+20 dB")  # the 8-kHz reference is always scored
    det = MosquitoDetector.open(PRETRAINED.parent / "model.onnx")
    rows = {r["variant"]: r for r in shortcut_table(shortcut_scores(det, audio, variants=variants), y)}
    for v, r in rows.items():
        print(v, {k: round(x, 4) for k, x in r.items() if k != "variant"})
    for v in ("16k", "44.1k", "+20 dB"):  # only the band edge near 4 kHz differs, which the model never sees;
        assert rows[v]["max_abs_dp"] <= 0.05 and rows[v]["p90_abs_dp"] <= 0.01  # level: removed in the graph
    # 20 dB quieter in int16: quantisation noise and the log floor move near-silent clips a little
    assert rows["-20 dB"]["median_abs_dp"] <= 0.02 and rows["-20 dB"]["p90_abs_dp"] <= 0.1
    assert all(abs(r["clip_roc_auc"] - rows["8k"]["clip_roc_auc"]) <= 0.02 for r in rows.values())


def test_window_level_is_removed_in_the_graph():
    import torch

    from edgewise.models.mosquito.api import load_detector

    net = load_detector().model.eval()  # the shipped detector
    assert net.window_norm
    x = torch.randn(3, 1, 64, 63) * 12 - 45
    with torch.no_grad():
        assert torch.allclose(net(x), net(x - 20.0), atol=1e-5)
        assert not torch.allclose(net(x), net(x * 1.5), atol=1e-3)  # a level shift, not any change, is removed


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
