"""Metric plumbing for multi-head models: batched strip scoring equals the device stitcher; NLL, ECE, AUROC."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.models.ecg.heads_eval import (CachedHeads, ProbStats, auroc, mean_model_fn, strip_head_probs,
                                            torch_heads_fn)
from edgewise.models.ecg.unet import UNet1d
from edgewise.runtime.ecg.stitch import WindowStitcher
from edgewise.runtime.ecg.stream import StreamConfig


@pytest.mark.parametrize("n", [2048, 2100, 4224, 5000], ids=lambda n: f"n{n}")
def test_batched_strip_scores_equal_the_stream_stitcher(n):
    torch.manual_seed(0)
    heads = CachedHeads(torch_heads_fn([UNet1d(widths=(4, 6, 8), kernel=5) for _ in range(2)]))
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    p = strip_head_probs(x, heads)
    assert p.shape == (2, 4, n)
    runs = heads.runs
    hop, right = StreamConfig().stitching()
    st = WindowStitcher(mean_model_fn(heads), window=2048, hop=hop, right=right)
    ref = np.concatenate([st.push(x[None]), st.flush()], axis=1)
    np.testing.assert_allclose(np.log(p.mean(axis=0) + 1e-12), ref, atol=1e-6)
    assert heads.runs == runs  # the stitcher's windows were all served from the cache


def test_short_strip_rejected():
    with pytest.raises(ValueError, match="shorter than one window"):
        strip_head_probs(np.zeros(100, np.float32), lambda x: x)


def test_nll_ece_accuracy_on_known_values():
    probs = np.array([[0.9, 0.6], [0.1, 0.4], [0.0, 0.0], [0.0, 0.0]])  # [4 classes, 2 samples]
    st = ProbStats([np.array([0, 1])], [probs], [np.zeros(2)])
    np.testing.assert_allclose(st.nll(), -(np.log(0.9) + np.log(0.4)) / 2)
    assert st.accuracy() == 0.5
    # confidences 0.9 (right) and 0.6 (wrong) fall in different bins: |0.9 - 1| / 2 + |0.6 - 0| / 2
    np.testing.assert_allclose(st.ece(), 0.35)


def test_auroc():
    assert auroc([0, 1], [2, 3]) == 1.0 and auroc([2, 3], [0, 1]) == 0.0
    assert auroc([1, 1], [1, 1]) == 0.5  # a constant score (a one-head model's MI) cannot rank
    np.testing.assert_allclose(auroc([0, 2], [1, 3]), 0.75)
