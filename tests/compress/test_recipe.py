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
    assert [s.kind.value for s in r.steps] == ["quantize"]  # INT8 alone: chosen on CV folds (ecg_compress_cv)
    assert isinstance(r.steps[0], QuantizeStep) and r.steps[0].formats == ("onnx", "tflite")
    assert r.budget.max_f1_drop == pytest.approx(0.005)


def test_pruned_ecg_recipe_loads():
    from edgewise.compress.recipe import PRUNED_RECIPE

    r = load_recipe(PRUNED_RECIPE)
    assert [s.kind.value for s in r.steps] == ["prune", "quantize"]
    assert isinstance(r.steps[0], PruneStep) and r.steps[0].importance is Importance.TAYLOR
    assert r.steps[0].round_to == 8 and r.steps[0].ratio == pytest.approx(0.35)
    assert isinstance(r.steps[1], QuantizeStep) and r.steps[1].formats == ("onnx", "tflite")


@pytest.mark.parametrize("data, match", [
    ({"step": [{"kind": "prune", "ratoi": 0.5}]}, r"unknown key\(s\) \['ratoi'\].*allowed: .*'ratio'"),
    ({"step": [{"kind": "prune"}], "budjet": {}}, r"unknown key\(s\) \['budjet'\]"),
    ({"step": [{"kind": "prune"}], "budget": {"max_drop": 1}}, r"\[budget\]: unknown key\(s\) \['max_drop'\]|unknown key\(s\) \['max_drop'\] in \[budget\]"),
    ({"step": [{"kind": "shrink"}]}, r"kind must be one of \['prune', 'quantize', 'distill'\]"),
    ({"step": [{"kind": "prune"}, {"kind": "distill"}]}, r"distill comes first"),
    ({"step": [{"kind": "distill", "student": "owl"}]}, r"key 'student' is \"owl\": expected one of \"hydra\", \"plain\""),
    ({"step": [{"kind": "prune", "importance": "random"}]},
     r"\(prune\): key 'importance' is \"random\": expected one of \"magnitude\", \"taylor\""),
    ({"step": [{"kind": "prune", "ratio": 1.0}]}, r"\(prune\): key 'ratio' is 1.0: expected a finite number in \(0, 1\)"),
    ({"step": [{"kind": "prune", "ratio": "half"}]}, r"key 'ratio' is \"half\": expected a finite number in \(0, 1\)"),
    ({"step": [{"kind": "prune", "iterations": 2.5}]}, r"key 'iterations' is 2.5: expected an integer in 1..100"),
    ({"step": [{"kind": "quantize", "per_channel": "yes"}]}, r"key 'per_channel' is \"yes\": expected true or false"),
    ({"step": [{"kind": "quantize", "formats": ["onnx", "coreml"]}]}, r"key 'formats\[1\]' is \"coreml\": expected one of"),
    ({"step": [{"kind": "prune"}], "name": 7}, r"key 'name' is 7: expected a string"),
    ({"step": {"kind": "prune"}}, r"key 'step' is .*: expected a list"),
    ({"step": [{"kind": "quantize", "calibration_windows": 4}]}, r"calibration_windows \(4\) must be >="),
    ({"step": [{"kind": "quantize"}, {"kind": "prune"}]}, r"prune before quantize"),
    ({"step": []}, r"at least one \[\[step\]\]"),
    ({"step": [{"kind": "prune"}], "budget": {"max_f1_drop": 5}}, r"\[budget\]: key 'max_f1_drop' is 5: expected a "
                                                                  r"finite number in \[0, 1\]"),
], ids=["misspelt-param", "misspelt-table", "budget-key", "unknown-kind", "distill-first", "distill-student", "bad-importance",
        "ratio-1", "ratio-type", "iterations-float", "bool-type", "bad-format", "name-type", "step-not-list",
        "too-few-calib", "order", "no-steps", "budget-range"])
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
    assert set(DEFAULT_RECIPES) == {"ecg-delineation", "mosquito-detection"}


def test_every_dataclass_field_has_a_rule():
    """The validator's tables and the dataclasses name the same keys (a new field needs its type and range)."""
    from dataclasses import fields

    from edgewise.compress.recipe import BUDGET, STEP_RULES, STEP_TYPES, Budget

    assert set(BUDGET.keys) == {f.name for f in fields(Budget)}
    for kind, cls in STEP_TYPES.items():
        assert set(STEP_RULES[kind].keys) == {f.name for f in fields(cls)}, kind


def test_oversized_recipe_file_is_refused_before_parsing(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text("name = 'x'\n" + "# padding\n" * 120_000)
    with pytest.raises(ValueError, match=r"big.toml is \d+ bytes; a recipe is at most 1 MB"):
        load_recipe(big)


def test_deeply_nested_recipe_is_refused_before_parsing(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("name = 'x'\nbad = " + "[" * 50_000 + "]" * 50_000 + "\n# [[[[ in a comment\n")
    with pytest.raises(ValueError, match=r"deep.toml nests arrays or tables deeper than 32 levels"):
        load_recipe(deep)
    ok = tmp_path / "ok.toml"
    ok.write_text(f"name = '{'[' * 40}'  # brackets in strings do not count\n[[step]]\nkind = 'prune'\n")
    assert load_recipe(ok).name == "[" * 40


def test_distill_step_builds_the_distillation_config():
    from edgewise.compress.recipe import DistillStep, Student
    from edgewise.models.ecg.train import TrainConfig

    r = parse_recipe({"step": [{"kind": "distill", "phase1_epochs": 3, "phase2_epochs": 2, "phase2_temperature": 1.0,
                                "init_member": 0}, {"kind": "quantize"}]})
    d = r.steps[0]
    assert isinstance(d, DistillStep) and d.student is Student.HYDRA
    cfg = d.config(TrainConfig(epochs=60, seed=4))
    assert (cfg.phase1.epochs, cfg.phase2.epochs, cfg.phase1.seed) == (3, 2, 4)
    assert cfg.phase2_temperature == 1.0 and cfg.init_member == 0 and cfg.hard_weight == 0.5
    assert DistillStep(init_member=-1).config(TrainConfig()).init_member is None
    assert DistillStep().config(TrainConfig()).init_member == 0  # the default: the setting measured best


def test_shipped_hydra_recipe_parses():
    from edgewise.compress.recipe import HYDRA_RECIPE, DistillStep, QuantizeStep

    r = load_recipe(HYDRA_RECIPE)
    assert isinstance(r.steps[0], DistillStep) and isinstance(r.steps[1], QuantizeStep)
