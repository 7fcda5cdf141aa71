"""The default-artifact rule: fastest within the task's accuracy budget (edgewise.devices.choose)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from edgewise.devices.choose import Candidate, Timing, budget_for, choose, read_candidates

ART = Path(__file__).resolve().parents[2] / "edgewise" / "models" / "pretrained"
ECG = "ecg-delineation"
FP32 = {"P": 1.0, "QRS": 1.0, "T": 0.998198}


def cand(name: str, precision: str = "int8", accuracy=FP32, *, size: int = 1000, reference=None,
         task: str = ECG) -> Candidate:
    fmt = "tflite" if name.endswith(".tflite") else "onnx"
    return Candidate(model=f"models/{name}", sha256=name, task=task, format=fmt, precision=precision,
                     size_bytes=size, accuracy=accuracy, reference=reference)


def ms(by_name: dict[str, float]) -> dict[str, Timing]:
    """Timings by file name (``cand`` uses the name as the sha256)."""
    return {k: Timing(v, "measured", "50 runs") for k, v in by_name.items()}


FP32_ONNX, FP32_TFL = cand("ecg-unet.onnx", "fp32"), cand("ecg-unet.tflite", "fp32")


def test_fastest_within_budget_wins_and_says_why():
    int8 = cand("q.tflite", accuracy={"P": 0.999, "QRS": 1.0, "T": 0.997})  # worst drop 0.12 points
    c = choose(ECG, [FP32_ONNX, FP32_TFL, int8], ms({"ecg-unet.onnx": 41.0, "ecg-unet.tflite": 37.5, "q.tflite": 10.1}))
    assert (c.name, c.timing, c.p50_ms, c.within_budget) == ("q.tflite", "measured", 10.1, True)
    assert c.reason == ("chose q.tflite: 10.1 ms vs 41.0 ms fp32 ONNX (measured during deploy: 50 runs), "
                        "P/QRS/T wave F1 within 0.2 points of fp32")
    assert c.entry() == {"model": "models/q.tflite", "sha256": "q.tflite", "timing": "measured", "p50_ms": 10.1,
                         "reason": c.reason}


def test_a_faster_file_outside_the_budget_is_not_chosen():
    # the shipped int8 ONNX's own numbers: P 0.997773 against fp32's 1.0 is 0.2227 points, over 0.2
    bad = cand("q.onnx", accuracy={"P": 0.997773, "QRS": 1.0, "T": 0.998198})
    good = cand("q.tflite")
    c = choose(ECG, [FP32_ONNX, bad, good], ms({"ecg-unet.onnx": 40.0, "q.onnx": 8.0, "q.tflite": 12.0}))
    assert c.name == "q.tflite"
    assert "q.onnx is faster (8.00 ms) but its P is 0.22 points below" in c.reason
    rows = {r["model"]: r for r in c.rows}
    assert rows["q.onnx"]["within_budget"] is False and rows["q.onnx"]["drop_points"]["P"] == pytest.approx(0.2227)
    assert rows["q.tflite"]["within_budget"] is True


def test_budget_edge_is_inclusive():
    edge = cand("q.onnx", accuracy={"P": 0.998, "QRS": 1.0, "T": 0.998198})  # exactly 0.2 points
    c = choose(ECG, [FP32_ONNX, edge], ms({"ecg-unet.onnx": 40.0, "q.onnx": 8.0}))
    assert c.name == "q.onnx" and c.within_budget


@pytest.mark.parametrize("other_ms, expect", [(10.15, "b.tflite"), (10.0, "b.tflite"), (10.5, "a.onnx")],
                         ids=["within-2%", "equal", "5%-apart"])
def test_ties_go_to_the_more_accurate(other_ms, expect):
    a = cand("a.onnx", accuracy={"P": 0.999, "QRS": 1.0, "T": 0.998198})  # 0.1 points below
    b = cand("b.tflite")                                                # equal to fp32
    c = choose(ECG, [FP32_ONNX, a, b], ms({"ecg-unet.onnx": 40.0, "a.onnx": 10.0, "b.tflite": other_ms}))
    assert c.name == expect


def test_full_ties_go_to_the_smaller_file_then_the_name():
    a, b = cand("a.onnx", size=2000), cand("b.onnx", size=1000)
    assert choose(ECG, [FP32_ONNX, a, b], ms({"ecg-unet.onnx": 40.0, "a.onnx": 5.0, "b.onnx": 5.0})).name == "b.onnx"
    a, b = cand("a.onnx"), cand("b.onnx")
    assert choose(ECG, [FP32_ONNX, a, b], ms({"ecg-unet.onnx": 40.0, "a.onnx": 5.0, "b.onnx": 5.0})).name == "a.onnx"


def test_no_recorded_accuracy_never_beats_recorded_accuracy():
    blind = cand("blind.onnx", accuracy=None)
    c = choose(ECG, [FP32_ONNX, blind], ms({"ecg-unet.onnx": 40.0, "blind.onnx": 1.0}))
    assert c.name == "ecg-unet.onnx" and "blind.onnx is faster (1.00 ms) but records no accuracy" in c.reason


def test_without_any_recorded_accuracy_the_fastest_is_chosen_and_it_says_so():
    a, b = cand("a.onnx", "fp32", None), cand("b.tflite", "int8", None)
    c = choose(ECG, [a, b], ms({"a.onnx": 40.0, "b.tflite": 9.0}))
    assert c.name == "b.tflite" and c.within_budget is None
    assert "accuracy not checked (no artifact records its wave F1" in c.reason


def test_unknown_task_has_no_budget():
    a = cand("a.onnx", "fp32", None, task="heart-sounds")
    b = cand("b.onnx", "int8", None, task="heart-sounds")
    c = choose("heart-sounds", [a, b], ms({"a.onnx": 3.0, "b.onnx": 2.0}))
    assert c.name == "b.onnx" and "no budget is known for heart-sounds" in c.reason


def test_reference_from_the_uncompressed_metrics_when_no_fp32_is_deployed():
    a = cand("a.onnx", accuracy={"P": 0.99, "QRS": 1.0, "T": 0.998198}, reference=FP32)   # 1 point below
    b = cand("b.tflite", accuracy={"P": 0.999, "QRS": 1.0, "T": 0.998198}, reference=FP32)
    c = choose(ECG, [a, b], ms({"a.onnx": 5.0, "b.tflite": 9.0}))
    assert c.name == "b.tflite" and "within 0.2 points of the uncompressed model" in c.reason


def test_when_nothing_is_within_budget_the_closest_is_chosen():
    # two fp32 references that disagree: each misses the other's best wave by more than the budget
    a = cand("a.onnx", "fp32", {"P": 1.0, "QRS": 0.99, "T": 0.99})
    b = cand("b.onnx", "fp32", {"P": 0.98, "QRS": 1.0, "T": 1.0})
    c = choose(ECG, [a, b], ms({"a.onnx": 5.0, "b.onnx": 1.0}))
    assert c.name == "a.onnx" and c.within_budget is False and "no artifact is within 0.2 points" in c.reason


def test_a_single_artifact_is_the_default_without_timing():
    c = choose(ECG, [FP32_ONNX], {})
    assert (c.name, c.timing, c.p50_ms) == ("ecg-unet.onnx", "only", None)
    assert c.reason == "chose ecg-unet.onnx: the only ecg-delineation artifact deployed"


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="no deployed artifact of task"):
        choose(ECG, [], {})
    with pytest.raises(ValueError, match="belong to other tasks"):
        choose(ECG, [FP32_ONNX, cand("m.onnx", task="mosquito-detection")], {})
    with pytest.raises(ValueError, match="timing source"):
        Timing(1.0, "guessed")
    with pytest.raises(ValueError, match="non-negative"):
        Timing(math.nan, "measured")


@pytest.mark.parametrize("metrics", [{}, {"test_lead_ii_wave_f1": {"P": 1.0, "QRS": 1.0}},
                                     {"test_lead_ii_wave_f1": {"P": float("nan"), "QRS": 1, "T": 1}},
                                     {"test_lead_ii_wave_f1": {"P": True, "QRS": 1, "T": 1}},
                                     {"test_lead_ii": {"wave_f1": {"P": 97, "QRS": 1, "T": 1}}},
                                     {"test_lead_ii": [1, 2, 3]}],
                         ids=["none", "a-wave-missing", "nan", "bool", "percent-not-fraction", "not-an-object"])
def test_unusable_metrics_read_as_no_accuracy(metrics):
    assert budget_for(ECG).read(metrics) is None


def test_the_shipped_files_are_read_from_their_metadata(tmp_path):
    """The numbers come from each file's metadata, in both layouts (compressed / fp32), not from this test."""
    models = []
    (tmp_path / "models").mkdir()
    for p in [*sorted((ART / "ecg").glob("ecg-unet*.*")), *sorted((ART / "mosquito").glob("model.*"))]:
        if p.suffix in (".onnx", ".tflite"):
            (tmp_path / "models" / p.name).symlink_to(p)
            models.append(f"models/{p.name}")
    by = {c.name: c for c in read_candidates(tmp_path, models)}
    from edgewise.runtime.artifact import read_metadata

    for name, c in by.items():
        m = read_metadata(ART / ("mosquito" if c.task == "mosquito-detection" else "ecg") / name)["metrics"]
        if c.task == ECG:
            want = m.get("test_lead_ii_wave_f1") or m["test_lead_ii"]["wave_f1"]
            assert dict(c.accuracy) == want
        else:
            assert dict(c.accuracy) == {"window ROC-AUC": m["window_roc_auc"], "clip ROC-AUC": m["clip_roc_auc"]}
    assert by["ecg-unet-int8.onnx"].reference == read_metadata(ART / "ecg" / "ecg-unet-int8.onnx")[
        "metrics"]["uncompressed_model"]["test_lead_ii"]["wave_f1"]
    assert by["ecg-unet.onnx"].precision == "fp32" and by["ecg-unet-int8.tflite"].precision == "int8"
