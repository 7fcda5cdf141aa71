"""The recipe runner: a missed budget raises BudgetError and keeps the last good artifact; bad
calibration data stops the run before anything is quantised."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from edgewise.compress.calibration import CalibrationError, synthetic_windows  # noqa: E402
from edgewise.compress.recipe import parse_recipe  # noqa: E402
from edgewise.runtime.errors import BudgetError  # noqa: E402


@pytest.fixture(scope="module")
def ckpt():
    import edgewise.models.ecg  # noqa: F401
    from edgewise.models.checkpoint import Checkpoint
    from edgewise.models.spec import build_model, get_spec

    torch.manual_seed(0)
    model = build_model("ecg-unet", widths=(4, 8, 8, 8, 8)).eval()
    with torch.no_grad():
        model.head.bias.zero_()  # a random model otherwise predicts one class everywhere
    return Checkpoint(spec=get_spec("ecg-unet"), model=model, model_kwargs={"widths": [4, 8, 8, 8, 8], "kernel": 9})


def _onnx_only(**budget):
    return parse_recipe({"name": "test", "budget": budget,
                         "step": [{"kind": "quantize", "formats": ["onnx"], "calibration_windows": 16,
                                   "auto_mixed_precision": 0}]})


def test_missed_budget_keeps_last_good_artifact(ckpt, tmp_path):
    from edgewise.compress import compress_checkpoint

    recipe = _onnx_only(max_f1_drop=0.0, min_agreement=1.0)  # int8 can never agree on every sample
    with pytest.raises(BudgetError, match=r"quantize step missed its budget.*Kept the last good artifacts: "
                                          r"onnxruntime: model.onnx") as info:
        compress_checkpoint(ckpt, recipe, tmp_path, data_dir=None, calibration=synthetic_windows(16, seed=4))
    res = info.value.result
    kept = res.kept["onnxruntime"]
    assert kept.precision == "fp32" and Path(kept.path) == tmp_path / "fp32" / "model.onnx"
    assert (tmp_path / "kept-onnxruntime.onnx").read_bytes() == Path(kept.path).read_bytes()
    int8 = [r for r in res.rows if r.precision == "int8"]
    assert {r.variant for r in int8} == {"ecg-unet-int8-qoperator", "ecg-unet-int8-qdq"}
    assert all(not r.within_budget and r.agreement < 1.0 for r in int8)
    assert all(Path(r.path).is_file() for r in int8)  # written and measured, just not kept
    assert "SYNTHETIC" in res.data
    assert (tmp_path / "compression.json").is_file()
    report = (tmp_path / "report.md").read_text()
    assert "BUDGET MISSED: the quantize step" in report and "| ecg-unet-int8-qdq | onnx | int8 |" in report


def test_bad_calibration_stops_before_quantising(ckpt, tmp_path):
    from edgewise.compress import compress_checkpoint

    raw = synthetic_windows(16, seed=5) * 0.2  # millivolts, not standardised windows
    with pytest.raises(CalibrationError, match="standardize"):
        compress_checkpoint(ckpt, _onnx_only(), tmp_path, data_dir=None, calibration=raw)
    assert not list(tmp_path.rglob("*.onnx"))
    with pytest.raises(CalibrationError, match="too little calibration data: 3 window"):
        compress_checkpoint(ckpt, _onnx_only(), tmp_path, data_dir=None, calibration=synthetic_windows(3))


def test_cli_reports_a_bad_recipe_on_one_line(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "r.toml"
    bad.write_text("[[step]]\nkind = 'prune'\nratoi = 0.3\n")
    ck = tmp_path / "ck.pt"
    ck.write_bytes(b"never read: the recipe is checked first")
    p = subprocess.run([sys.executable, "-m", "edgewise", "compress", str(ck), "--recipe", str(bad),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert p.returncode == 2
    assert "unknown key(s) ['ratoi']" in p.stderr and "allowed:" in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_pipeline_stage_reports_synthetic_calibration(ckpt, tmp_path):
    from edgewise.pipelines.ecg_compress import compress_stage
    from edgewise.reporting import Report

    recipe = tmp_path / "q.toml"
    recipe.write_text("[[step]]\nkind = 'quantize'\nformats = ['onnx']\ncalibration_windows = 16\n"
                      "auto_mixed_precision = 0\n[budget]\nmax_f1_drop = 1.0\n")
    rep = Report("t", tmp_path / "rep")
    res = compress_stage(ckpt, rep, tmp_path / "c", data_dir=None, recipe=recipe)
    text = rep.write().read_text()
    assert "## 4. Compression" in text and "SYNTHETIC ECG" in text
    assert "fastest artifact within the accuracy budget" in text
    assert res.kept["onnxruntime"].path in {r.path for r in res.rows}
    assert rep.data["compression"]["calibration"]["n_windows"] == 16


def test_pruned_model_p_offset_is_rechosen_on_validation(ludb_dir):
    """Fine-tuning moves the P offset a model was calibrated with; it is re-chosen on validation records
    (grid reaching below zero) and folded into the head, as after training."""
    from types import SimpleNamespace

    from edgewise.compress.tasks.ecg import RECALIBRATION_GRID, recalibrate
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.ecg.dataset import load_records
    from edgewise.models.pretrained import PRETRAINED_DIR

    ck = load_checkpoint(PRETRAINED_DIR / "ecg" / "ecg-unet.pt")
    val = load_records(ludb_dir, ck.training["val_records"][:3])
    model = ck.model
    with torch.no_grad():
        model.head.bias[1] -= 4.0  # as if fine-tuning had pulled the P logit down
    before = model.head.bias.detach().clone()
    facts = recalibrate(model, SimpleNamespace(data=SimpleNamespace(val=val), window=ck.spec.window),
                        log=lambda s: None, leads=("i", "ii", "v2"))
    rec = facts["recalibration"]
    assert [r["bias"] for r in rec["sweep"]] == list(RECALIBRATION_GRID) and min(RECALIBRATION_GRID) < 0
    best = max(r["mean"] for r in rec["sweep"])
    chosen = next(r for r in rec["sweep"] if r["bias"] == rec["p_logit_bias"])
    assert chosen["mean"] == pytest.approx(best, abs=1e-6) and rec["p_logit_bias"] > 0
    delta = (model.head.bias.detach() - before).numpy()
    np.testing.assert_allclose(delta, [0.0, rec["p_logit_bias"], 0.0, 0.0], atol=1e-6)  # P logit only


def test_a_file_quantised_from_the_checkpoint_keeps_its_figures_as_the_reference():
    """The trained checkpoint's held-out figures move under uncompressed_model (the device chooser's
    reference); a pruned checkpoint's metrics, which already say so, stay as they are."""
    from edgewise.compress.run import uncompressed_metrics

    ck = {"test_lead_ii": {"wave_f1": {"P": 1.0}, "boundaries": {"P on": {"sd": 14.4}}},
          "test_all_leads": {"wave_f1": {"P": 0.98}}, "test_records": [16, 26]}
    assert uncompressed_metrics(ck) == {"test_records": [16, 26], "uncompressed_model": {
        "test_lead_ii": {"wave_f1": {"P": 1.0}}, "test_all_leads": {"wave_f1": {"P": 0.98}}}}
    pruned = {"uncompressed_model": {"test_lead_ii": {"wave_f1": {"P": 1.0}}}, "note": "x"}
    assert uncompressed_metrics(pruned) == pruned
    assert uncompressed_metrics({"window_roc_auc": 0.9}) == {"window_roc_auc": 0.9}  # no wave F1: untouched
