"""Hydra ECG student: shared body + heads, built from a one-head U-Net, distilled, saved and exported."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.models.ecg.hydra import ECG_HYDRA_SPEC, HydraUNet1d
from edgewise.models.ecg.unet import UNet1d, count_macs

TINY = dict(widths=(4, 6, 8), kernel=5)


def _unet(seed=0, **kw):
    torch.manual_seed(seed)
    return UNet1d(1, 4, **(kw or TINY)).eval()


@pytest.mark.parametrize("head_blocks", [1, 2], ids=["last-level", "last-two-levels"])
def test_from_unet_gives_identical_heads_equal_to_the_unet(head_blocks):
    u = _unet(context=(2,), widths=(4, 6, 8, 10), kernel=5)
    with torch.no_grad():  # non-trivial batch-norm statistics, so the copy must carry them too
        for m in u.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
    h = HydraUNet1d.from_unet(u, heads=3, head_blocks=head_blocks).eval()
    x = torch.randn(2, 1, 256)
    with torch.no_grad():
        ref, out = u(x), h(x)
    assert out.shape == (2, 3, 4, 256)
    for k in range(3):
        np.testing.assert_allclose(out[:, k].numpy(), ref.numpy(), atol=1e-5)
        np.testing.assert_allclose(h.head_as_unet(k)(x).detach().numpy(), ref.numpy(), atol=1e-5)


def test_five_heads_cost_at_most_1_3_members():
    u = UNet1d(1, 4, widths=(8, 16, 24, 32, 48), kernel=9, context=(2, 4, 8))
    h = HydraUNet1d(1, 4, widths=(8, 16, 24, 32, 48), kernel=9, context=(2, 4, 8), heads=5)
    ratio = count_macs(h, 2048) / count_macs(u, 2048)
    assert 1.0 < ratio <= 1.3, ratio
    one = HydraUNet1d(1, 4, widths=(8, 16, 24, 32, 48), kernel=9, context=(2, 4, 8), heads=1)
    assert count_macs(one, 2048) == count_macs(u, 2048)  # one head is exactly the U-Net


@pytest.mark.parametrize("kw, match", [(dict(heads=0), "heads must be >= 1"),
                                       (dict(head_blocks=3), r"head_blocks must be in \[1, 2\]")],
                         ids=["no-heads", "too-deep"])
def test_bad_shapes_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        HydraUNet1d(1, 4, **TINY, **kw)


def test_checkpoint_round_trip_and_onnx_keeps_every_head(tmp_path):
    from edgewise.export.onnx import export_onnx
    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
    from edgewise.runtime.backends import load_model

    torch.manual_seed(1)
    h = HydraUNet1d(1, 4, **TINY, heads=3).eval()
    save_checkpoint(tmp_path / "h.pt", spec=ECG_HYDRA_SPEC, model=h,
                    model_kwargs={"widths": [4, 6, 8], "kernel": 5, "heads": 3, "head_blocks": 1})
    back = load_checkpoint(tmp_path / "h.pt").model
    x = torch.randn(2, 1, 2048)
    with torch.no_grad():
        ref = h(x).numpy()
    np.testing.assert_array_equal(back(x).detach().numpy(), ref)
    path = export_onnx(h, tmp_path / "h.onnx", input_shape=(1, 2048), opset=17,
                       metadata={**ECG_HYDRA_SPEC.to_metadata(), "heads": 3})
    out = np.asarray(load_model(path, threads=1).run(x.numpy()))
    assert out.shape == (2, 3, 4, 2048)
    np.testing.assert_allclose(out, ref, atol=1e-4)  # the spec's export tolerance


def test_distillation_phases_fit_their_teachers():
    """Plain KD moves towards the ensemble mean; Hydra phase 2 pulls the (initially identical) heads
    apart towards their own members."""
    from edgewise.compress.distill import DistillConfig, _kl, distill_hydra, distill_plain, teacher_logits
    from edgewise.models.ecg.train import TrainConfig
    from tests.models.hydra_ddp_common import tiny_setup

    _, examples, _, _ = tiny_setup(False)
    teachers = [_unet(s) for s in (10, 11)]
    tc = TrainConfig(epochs=3, batch=4, crop=256, lr=1e-2, widths=(4, 6, 8), kernel=5, threads=1)
    cfg = DistillConfig(phase1=tc, phase2=tc)
    x = torch.from_numpy(np.stack([e.signal[None, :256] for e in examples]))
    x = (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True)
    t = teacher_logits(teachers, x)
    before = _unet(0)
    kd, hist = distill_plain(teachers, examples, config=cfg, student=_unet(0))
    assert hist[-1]["loss"] < hist[0]["loss"]
    hydra, h = distill_hydra(teachers, examples, config=cfg, phase1=kd)
    with torch.no_grad():
        out = hydra(x)
        own = float(sum(_kl(t[:, k], out[:, k], 1.0).mean() for k in range(2)))
        swapped = float(sum(_kl(t[:, 1 - k], out[:, k], 1.0).mean() for k in range(2)))
        start = float(sum(_kl(t[:, k], before(x), 1.0).mean() for k in range(2)))
    assert own < swapped and own < start  # each head is closer to its own member than to the other
    assert not torch.allclose(out[:, 0], out[:, 1])


def test_hard_label_term_is_the_cross_entropy_of_the_heads_mean():
    """One head: F.cross_entropy on the span; identical heads: the same; outside the span: nothing."""
    import torch.nn.functional as F

    from edgewise.compress.distill import DistillConfig, _hard

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 50, generator=g)
    y = torch.randint(0, 4, (2, 50), generator=g)
    span = torch.zeros(2, 50)
    span[:, 10:40] = 1
    ref = F.cross_entropy(logits, y, reduction="none") * span
    torch.testing.assert_close(_hard(logits, y, span, heads=False), ref)
    torch.testing.assert_close(_hard(logits[:, None].expand(2, 3, 4, 50), y, span, heads=True), ref)
    assert float(_hard(logits, y, span, heads=False)[:, :10].abs().sum()) == 0.0
    with pytest.raises(ValueError, match="hard_weight"):
        DistillConfig(hard_weight=-1)
    with pytest.raises(ValueError, match="phase2_temperature"):
        DistillConfig(phase2_temperature=0)


def test_tflite_export_keeps_every_head(tmp_path):
    """onnx2tf moves a Hydra output's class axis last ([b, heads, samples, classes]): the artifact's io
    mapping puts it back, so the device runtime returns [b, heads, 4, samples] equal to torch."""
    from edgewise.export import export_checkpoint
    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
    from edgewise.runtime.backends import load_model

    torch.manual_seed(2)
    h = HydraUNet1d(1, 4, **TINY, heads=3).eval()
    save_checkpoint(tmp_path / "h.pt", spec=ECG_HYDRA_SPEC, model=h,
                    model_kwargs={"widths": [4, 6, 8], "kernel": 5, "heads": 3, "head_blocks": 1})
    x = torch.randn(2, 1, 2048)
    arts = {a.format: a.path for a in export_checkpoint(load_checkpoint(tmp_path / "h.pt"), to=("onnx", "tflite"),
                                                        out=tmp_path / "out", inputs=x.numpy())}
    with torch.no_grad():
        ref = h(x).numpy()
    out = np.asarray(load_model(arts["tflite"], threads=1).run(x.numpy()))
    assert out.shape == (2, 3, 4, 2048)
    from edgewise.runtime.artifact import read_metadata

    assert read_metadata(arts["tflite"])["heads"] == read_metadata(arts["onnx"])["heads"] == 3
    np.testing.assert_allclose(out, ref, atol=1e-4)
