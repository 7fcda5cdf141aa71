"""A multi-head mosquito detector's uncertainty on the device: epistemic per window, unfamiliar windows, suppression."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.runtime.errors import ArtifactError
from edgewise.runtime.mosquito import hysteresis_for
from edgewise.runtime.mosquito.heads import heads_epistemic, report_windows, uncertainty_threshold
from edgewise.runtime.uncertainty import decompose, softmax


def _times(n: int) -> np.ndarray:
    return np.stack([np.arange(n, dtype=float), np.arange(n, dtype=float) + 2.0], axis=1)


def test_epistemic_is_the_mutual_information_of_the_heads():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(7, 5, 2)) * 3
    want = decompose(softmax(z, axis=-1), head_axis=1, class_axis=2).epistemic
    np.testing.assert_allclose(heads_epistemic(z), want, atol=1e-7)
    # closed form for two heads that disagree completely: H[mean] - mean H = ln 2 - 0
    sure = np.array([[[30.0, -30.0], [-30.0, 30.0]]])
    np.testing.assert_allclose(heads_epistemic(sure), [np.log(2)], atol=1e-6)


@pytest.mark.parametrize("logits", [np.zeros((3, 2)), np.zeros((3, 1, 2))], ids=["two-d", "one-head"])
def test_one_head_has_no_epistemic(logits):
    assert heads_epistemic(logits) is None


def test_suppression_drops_events_of_unfamiliar_windows_and_keeps_their_p():
    p = np.array([0.1, 0.95, 0.97, 0.2, 0.1, 0.9, 0.1])
    epi = np.array([0.0, 0.5, 0.5, 0.0, 0.0, 0.01, 0.0])   # the first alarm: heads disagree
    cfg = hysteresis_for(0.8)
    plain = report_windows(p, _times(7), cfg, epistemic=epi, threshold=0.1)
    supp = report_windows(p, _times(7), cfg, epistemic=epi, threshold=0.1, suppress=True)
    assert len(plain["events"]) == 2 and len(supp["events"]) == 1
    assert supp["events"][0]["start_s"] == 5.0
    assert [w["p"] for w in supp["windows"]] == [w["p"] for w in plain["windows"]]
    assert [w["unfamiliar"] for w in supp["windows"]] == [False, True, True, False, False, False, False]
    assert supp["uncertainty"] == {"threshold": 0.1, "suppress": True, "unfamiliar_windows": 2}
    assert plain["uncertainty"]["suppress"] is False


def test_without_a_threshold_windows_carry_epistemic_only():
    rep = report_windows(np.array([0.9]), _times(1), hysteresis_for(0.5), epistemic=np.array([0.123456]), suppress=True)
    assert rep["windows"] == [{"start_s": 0.0, "end_s": 2.0, "p": 0.9, "epistemic": 0.1235}]
    assert rep["uncertainty"] == {"threshold": None, "suppress": False, "unfamiliar_windows": 0}
    assert len(rep["events"]) == 1  # nothing is unfamiliar without a threshold, so nothing is suppressed


def test_one_head_report_is_the_plain_one():
    from edgewise.runtime.mosquito import windows_and_events

    p = np.array([0.2, 0.9, 0.3])
    assert report_windows(p, _times(3), hysteresis_for(0.5)) == windows_and_events(p, _times(3), hysteresis_for(0.5))


@pytest.mark.parametrize("value,ok", [(None, None), (0.05, 0.05), (0, 0.0), (-1, "error"), ("x", "error"),
                                      (True, "error"), (1e9, "error")], ids=str)
def test_uncertainty_threshold_metadata(value, ok):
    meta = {} if value is None else {"uncertainty_threshold": value}
    if ok == "error":
        with pytest.raises(ArtifactError, match="uncertainty_threshold"):
            uncertainty_threshold(meta, "m.onnx")
    else:
        assert uncertainty_threshold(meta, "m.onnx") == ok
