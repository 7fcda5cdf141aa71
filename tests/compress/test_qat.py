"""Quantisation-aware fine-tuning: the fake quantisation simulates onnxruntime's int8 model, stripping it
leaves weights the quantiser stores exactly, and the recipe falls back to QAT and then mixed precision
when post-training quantisation misses the budget."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from edgewise.compress.calibration import synthetic_windows  # noqa: E402


@pytest.fixture(scope="module")
def ckpt():
    import edgewise.models.ecg  # noqa: F401
    from edgewise.models.checkpoint import Checkpoint
    from edgewise.models.spec import build_model, get_spec

    torch.manual_seed(0)
    model = build_model("ecg-unet", widths=(4, 8, 8, 8, 8)).eval()
    with torch.no_grad():
        model.head.bias.zero_()  # a random model otherwise predicts one class everywhere
        for m in model.modules():  # trained-like batch norms: folding them into the convs is not the identity
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 1.5), m.weight.uniform_(0.5, 1.5)
    return Checkpoint(spec=get_spec("ecg-unet"), model=model, model_kwargs={"widths": [4, 8, 8, 8, 8], "kernel": 9})


@pytest.fixture(scope="module")
def int8(ckpt, tmp_path_factory):
    """(fp32 ONNX, QOperator int8 ONNX, calibration windows) of the fixture model."""
    from edgewise.compress.quantize_onnx import quantize_onnx
    from edgewise.export import export_checkpoint

    out = tmp_path_factory.mktemp("qat")
    calib = synthetic_windows(16, seed=1)
    [art] = export_checkpoint(ckpt, to="onnx", out=out, inputs=calib[:4])
    return art.path, quantize_onnx(art.path, out / "q.onnx", calib, fmt="qoperator"), calib


def test_fake_quantisation_simulates_the_onnxruntime_int8_model(ckpt, int8):
    from edgewise.compress.qat import prepare_qat
    from edgewise.models.ecg.evaluate import torch_model_fn
    from edgewise.runtime.backends import load_model

    _, q8, calib = int8
    x = synthetic_windows(4, seed=7)
    y_float = torch_model_fn(ckpt.model, 1)(x)
    y_fake = torch_model_fn(prepare_qat(ckpt.model, calib), 1)(x)
    y_int8 = np.asarray(load_model(q8).run(x))
    err_float, err_fake = np.abs(y_float - y_int8).mean(), np.abs(y_fake - y_int8).mean()
    # the fake-quantised torch model carries int8's rounding error (what QAT trains against), up to
    # rounding ties and fixed-point requantisation. Measured: mean error 15x smaller than the float
    # model's, worst element 4x smaller, argmax agreement with int8 99.98 % vs 99.5 %.
    assert err_fake < 0.25 * err_float, (err_fake, err_float)
    np.testing.assert_allclose(y_fake, y_int8, atol=0.5 * float(np.abs(y_float - y_int8).max()))
    agree = [float(np.mean(y.argmax(1) == y_int8.argmax(1))) for y in (y_fake, y_float)]
    assert agree[0] > agree[1], agree


def test_strip_leaves_weights_the_quantiser_stores_exactly(ckpt, tmp_path):
    from onnx import numpy_helper

    from edgewise.compress.qat import prepare_qat, strip_qat
    from edgewise.compress.quantize_onnx import quantize_onnx
    from edgewise.export import export_checkpoint
    from edgewise.models.checkpoint import Checkpoint

    calib = synthetic_windows(16, seed=1)
    net = strip_qat(prepare_qat(ckpt.model, calib))
    assert not any(hasattr(m, "qat_input") for m in net.modules()) and not hasattr(net, "qat_output")
    conv, bn = net.get_submodule("down.0.0"), net.get_submodule("down.0.1")
    w = conv.weight.detach().numpy()
    scale = np.abs(w).max(axis=(1, 2), keepdims=True) / 64  # the 7-bit grid quantize_onnx uses (reduce_range)
    np.testing.assert_allclose(w / scale, np.rint(w / scale), atol=1e-3)
    # the exported graph folds the batch norm in: a per-channel factor, so the folded weight is on its grid too
    folded = w * (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy().reshape(-1, 1, 1)
    ck = Checkpoint(spec=ckpt.spec, model=net, model_kwargs=ckpt.model_kwargs)
    [art] = export_checkpoint(ck, to="onnx", out=tmp_path, inputs=calib[:4])
    q = quantize_onnx(art.path, tmp_path / "q.onnx", calib, fmt="qoperator")
    g = onnx.load(str(q)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    node = next(n for n in g.node if n.op_type == "QLinearConv" and n.name == "/down.0/down.0.0/Conv")
    stored = inits[node.input[3]].astype(np.float32) * inits[node.input[4]].reshape(-1, 1, 1)
    np.testing.assert_allclose(stored, folded, rtol=1e-5, atol=1e-7)  # re-quantising loses nothing more


def test_prepare_qat_refuses_a_model_without_convs():
    from edgewise.compress.qat import QatConfig, prepare_qat

    with pytest.raises(ValueError, match="no Conv/ConvTranspose layer"):
        prepare_qat(torch.nn.Sequential(torch.nn.Linear(3, 2)), np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="qat epochs"):
        QatConfig(epochs=0)


def test_missed_ptq_falls_back_to_qat_then_mixed_precision(ckpt, tmp_path):
    from edgewise.compress import compress_checkpoint
    from edgewise.compress.recipe import parse_recipe
    from edgewise.runtime.artifact import read_metadata
    from edgewise.runtime.errors import BudgetError

    recipe = parse_recipe({"name": "tight", "budget": {"max_f1_drop": 0.0, "min_agreement": 1.0},  # int8 never agrees
                           "step": [{"kind": "quantize", "formats": ["onnx"], "calibration_windows": 16,
                                     "qat_epochs": 1, "auto_mixed_precision": 2}]})
    with pytest.raises(BudgetError, match="quantize step missed its budget"):
        compress_checkpoint(ckpt, recipe, tmp_path, data_dir=None, calibration=synthetic_windows(16, seed=4),
                            log=lambda s: None)
    rows = {r["variant"]: r for r in json.loads((tmp_path / "compression.json").read_text())["rows"]}
    # fine-tuned after PTQ missed (distillation, then labels + distillation), each quantised again
    assert "quantisation-aware fine-tuned (1 epochs, distillation)" in rows["ecg-unet-qat-int8-qoperator"]["notes"]
    assert "labels + distillation" in rows["ecg-unet-qat-labels-int8-qoperator"]["notes"]
    mixed = [v for v in rows if "-mixed" in v]
    assert mixed and all(v.startswith("ecg-unet-qat-labels-mixed") for v in mixed)  # on the last fine-tuned model
    kept = read_metadata(Path(rows[mixed[-1]]["path"]))["quantization"]["kept_fp32"]
    assert len(kept) == len(mixed) and all(k.endswith("Conv") for k in kept)  # one more layer per try
    report = (tmp_path / "report.md").read_text()
    assert all(k in report for k in kept)  # the report names the layers kept in float
    assert (tmp_path / "ecg-unet-qat" / "ecg-unet-qat.pt").is_file()


@pytest.mark.parametrize("freeze_bn", [True, False], ids=["frozen-bn", "training-bn"])
def test_qat_keeps_batch_norm_statistics_when_frozen(ckpt, freeze_bn):
    from edgewise.compress.qat import QatConfig, quantization_aware_finetune
    from edgewise.compress.tasks.ecg import synthetic_examples

    before = {n: b.clone() for n, b in ckpt.model.named_buffers() if n.endswith("running_mean")}
    cfg = QatConfig(epochs=1, labels=False, freeze_bn=freeze_bn)
    net, _ = quantization_aware_finetune(ckpt.model, synthetic_examples()[:4], synthetic_windows(8, seed=3),
                                         config=cfg, log=lambda s: None)
    after = {n: b for n, b in net.named_buffers() if n in before}
    assert after.keys() == before.keys()  # a plain model again: no fake-quant buffers left
    moved = max(float((after[n] - before[n]).abs().max()) for n in before)
    assert (moved == 0.0) if freeze_bn else (moved > 0.0)
    assert all(not m.training for m in net.modules())  # strip_qat returns an eval-mode model
    assert not any("train" in m.__dict__ for m in net.modules())  # the frozen-BN override is gone
    with pytest.raises(ValueError, match="> 0 without labels"):
        QatConfig(labels=False, distill_weight=0.0)
