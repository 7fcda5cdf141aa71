"""LiteRT outputs are the caller's own arrays: a later run never overwrites an earlier result (the backend
relies on ``get_tensor`` returning a copy and does not copy again; a fixed-batch file runs a batch window by
window and concatenates the results)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

MODEL = Path(__file__).resolve().parents[2] / "edgewise" / "models" / "pretrained" / "mosquito" / "model.tflite"


def test_each_run_returns_its_own_arrays():
    from edgewise.runtime.backends import load_model
    from edgewise.runtime.errors import BackendMissingError

    try:
        m = load_model(MODEL, threads=1)
    except BackendMissingError as e:
        pytest.skip(str(e))
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((1, 1, 64, 63)).astype(np.float32) * 20 for _ in range(2))
    ya = np.asarray(m.run(a))
    keep = ya.copy()
    yb = np.asarray(m.run(b))
    assert not np.array_equal(keep, yb)
    assert np.array_equal(ya, keep)  # not overwritten by the second run
    both = np.asarray(m.run(np.concatenate([a, b])))  # a batch of 2 through a batch-1 file: run per window
    assert np.array_equal(both, np.concatenate([keep, yb]))
