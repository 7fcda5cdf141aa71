"""The LiteRT backend falls back to tf.lite when neither ai_edge_litert nor tflite_runtime is installed.

Lives with the host tests because it needs TensorFlow (tests/runtime must run without it).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.slow  # importing TensorFlow takes 10-40 s on a shared 2-core host

from edgewise.runtime.backends import interpreter_class, load_model  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "runtime" / "fixtures"


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")  # the very fallback under test
@pytest.mark.parametrize("name", ["tiny.tflite", "tiny_int8.tflite"])
def test_tf_lite_fallback_runs_the_fixture(monkeypatch, name):
    for mod in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime", "tflite_runtime.interpreter"):
        monkeypatch.setitem(sys.modules, mod, None)
    assert interpreter_class()[1] == "tf.lite"
    model = load_model(FIX / name)
    assert model.implementation == "tf.lite"
    data = np.load(FIX / "tiny_io.npz")
    # fp32: same kernels family, float rounding only; int8: a few output quantisation steps
    atol = 1e-5 if name == "tiny.tflite" else 0.02
    np.testing.assert_allclose(model.run(data["inputs"]), data["logits"], atol=atol, rtol=0)
