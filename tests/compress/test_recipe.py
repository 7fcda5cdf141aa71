"""Recipe validation: the default recipe loads, every bad key or value is named with the allowed set."""
from __future__ import annotations

import pytest

from edgewise.compress.recipe import (
    DEFAULT_RECIPES,
    Importance,
    PruneStep,
    QuantizeStep,
    default_recipe,
    load_recipe,
    parse_recipe,
)


def test_default_ecg_recipe_loads():
    r = load_recipe(default_recipe("ecg-delineation"))
    assert [s.kind.value for s in r.steps] == ["prune", "quantize"]
    assert isinstance(r.steps[0], PruneStep) and r.steps[0].importance is Importance.TAYLOR
    assert isinstance(r.steps[1], QuantizeStep) and r.steps[1].formats == ("onnx", "tflite")
    assert r.budget.max_f1_drop == pytest.approx(0.005)


@pytest.mark.parametrize("data, match", [
    ({"step": [{"kind": "prune", "ratoi": 0.5}]}, r"unknown key\(s\) \['ratoi'\].*allowed: .*'ratio'"),
    ({"step": [{"kind": "prune"}], "budjet": {}}, r"unknown key\(s\) \['budjet'\]"),
    ({"step": [{"kind": "prune"}], "budget": {"max_drop": 1}}, r"\[budget\]: unknown key\(s\) \['max_drop'\]|unknown key\(s\) \['max_drop'\] in \[budget\]"),
    ({"step": [{"kind": "shrink"}]}, r"kind must be one of \['prune', 'quantize', 'distill'\]"),
    ({"step": [{"kind": "distill"}]}, r"not available yet"),
    ({"step": [{"kind": "prune", "importance": "random"}]}, r"prune.importance must be one of \['magnitude', 'taylor'\]"),
    ({"step": [{"kind": "prune", "ratio": 1.0}]}, r"prune.ratio must be in \(0, 1\)"),
    ({"step": [{"kind": "quantize", "formats": ["onnx", "coreml"]}]}, r"subset of \['onnx', 'tflite'\]"),
    ({"step": [{"kind": "quantize", "calibration_windows": 4}]}, r"calibration_windows \(4\) must be >="),
    ({"step": [{"kind": "quantize"}, {"kind": "prune"}]}, r"prune before quantize"),
    ({"step": []}, r"at least one \[\[step\]\]"),
    ({"step": [{"kind": "prune"}], "budget": {"max_f1_drop": 5}}, r"max_f1_drop must be in \[0, 1\]"),
], ids=["misspelt-param", "misspelt-table", "budget-key", "unknown-kind", "distill-later", "bad-importance",
        "ratio-1", "bad-format", "too-few-calib", "order", "no-steps", "budget-range"])
def test_bad_recipes_are_rejected_with_the_allowed_set(data, match):
    with pytest.raises(ValueError, match=match):
        parse_recipe(data)


def test_recipe_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="default ECG recipe is"):
        load_recipe(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[step]\nkind = 'prune'")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_recipe(bad)
    with pytest.raises(ValueError, match="no default compression recipe for task 'speech'.*ecg-delineation"):
        default_recipe("speech")
    assert set(DEFAULT_RECIPES) == {"ecg-delineation"}
