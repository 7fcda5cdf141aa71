"""A short training run learns to delineate SYNTHETIC ECG; checkpoints round-trip."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.data.synthetic_ecg import synthetic_ecg
from edgewise.models.ecg.evaluate import torch_model_fn
from edgewise.models.ecg.train import TrainConfig, train_unet
from edgewise.runtime.ecg.delineate import delineate
from edgewise.runtime.ecg.metrics import DelineationScore, score_waves


def _score(model, seeds) -> DelineationScore:
    fn = torch_model_fn(model)
    total = DelineationScore()
    for s in seeds:
        x, _, waves = synthetic_ecg(1000 + s)
        total.add(score_waves(waves, delineate(x, 500, fn, window=512).waves, 500))
    return total


@pytest.mark.slow
def test_short_training_learns_synthetic_ecg():
    cfg = TrainConfig(epochs=6, batch=16, crop=512, synthetic_fraction=1.0, synthetic_per_epoch=192,
                      widths=(8, 12, 16, 24, 32), lr=5e-3, threads=1)
    model, hist = train_unet([], None, config=cfg, progress=False)
    losses = [h["loss"] for h in hist]
    assert losses[-1] < 0.6 * losses[0]
    s = _score(model, range(5))
    # after a minute of CPU the net finds QRS and T on SYNTHETIC ECG (P is the hardest wave)
    assert s.wave_f1("QRS") > 0.9 and s.wave_f1("T") > 0.8, s.summary()["wave_f1"]


def test_checkpoint_round_trip(tmp_path):
    import torch

    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
    from edgewise.models.ecg.spec import ECG_SPEC
    from edgewise.models.ecg.unet import UNet1d

    m = UNet1d(widths=(4, 4, 4, 4, 4)).eval()
    sha = save_checkpoint(tmp_path / "m.pt", spec=ECG_SPEC, model=m, model_kwargs={"widths": [4, 4, 4, 4, 4]},
                          training={"n": np.int64(3)}, metrics={"f1": np.float32(0.5)})
    ck = load_checkpoint(tmp_path / "m.pt")
    assert ck.sha256 == sha and ck.training == {"n": 3} and ck.spec is ECG_SPEC
    x = torch.randn(1, 1, 256)
    torch.testing.assert_close(ck.model(x), m(x))
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable edgewise checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")


def test_rhythm_context_widens_the_receptive_field(tmp_path):
    """The dilated context layers let an output sample see the whole 2048-sample window, and the
    checkpoint rebuilds them."""
    import torch

    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
    from edgewise.models.ecg.spec import ECG_SPEC
    from edgewise.models.ecg.unet import UNet1d

    def reach(m) -> int:
        x = torch.randn(1, 1, 2048, requires_grad=True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(m(x)[0, :, 1024].sum(), x)
        nz = torch.nonzero(g[0, 0]).flatten()
        return int(nz.max() - nz.min())

    torch.manual_seed(0)
    plain = UNet1d(widths=(8, 8, 8, 8, 8)).eval()
    ctx = UNet1d(widths=(8, 8, 8, 8, 8), context=(2, 4, 8)).eval()
    assert reach(plain) < 1024 < reach(ctx), (reach(plain), reach(ctx))
    with pytest.raises(ValueError, match="dilations"):
        UNet1d(context=(0,))
    save_checkpoint(tmp_path / "c.pt", spec=ECG_SPEC, model=ctx,
                    model_kwargs={"widths": [8, 8, 8, 8, 8], "context": [2, 4, 8]}, training={}, metrics={})
    x = torch.randn(1, 1, 512)
    torch.testing.assert_close(load_checkpoint(tmp_path / "c.pt").model(x), ctx(x))


def test_p_bias_calibration_picks_the_best_offset_and_folds_it_into_the_head(monkeypatch):
    """The sweep keeps the offset with the best mean wave F1 (smallest on ties) and the folded model
    equals the unfolded one plus that offset on the P logit only."""
    import torch

    import edgewise.models.ecg.calibrate as cal
    from edgewise.models.ecg.unet import UNet1d

    scores = {0.0: 0.90, 0.5: 0.95, 1.0: 0.95, 1.5: 0.93}
    monkeypatch.setattr(cal, "sweep_p_bias", lambda model, records, **kw: [
        {"bias": b, "P": m, "QRS": m, "T": m, "mean": m} for b, m in scores.items()])
    torch.manual_seed(0)
    m = UNet1d(widths=(4, 4, 4, 4, 4)).eval()
    x = torch.randn(1, 1, 256)
    before = m(x).detach().clone()
    facts = cal.calibrate_p_bias(m, [], leads=("ii",))
    assert facts["p_logit_bias"] == 0.5
    delta = m(x).detach() - before
    np.testing.assert_allclose(delta[0, 1].numpy(), 0.5, atol=1e-6)
    np.testing.assert_allclose(delta[0, [0, 2, 3]].numpy(), 0.0, atol=1e-6)


def test_p_bias_sweep_scores_real_offsets_on_synthetic_ecg():
    """sweep_p_bias runs the real delineation for each offset: a huge P offset calls P everywhere and
    wrecks the scores, offset 0 does not."""
    from edgewise.models.ecg.calibrate import sweep_p_bias
    from edgewise.models.ecg.unet import UNet1d

    class Rec:  # the three fields evaluate_records reads
        def __init__(self, seed):
            x, _, waves = synthetic_ecg(2000 + seed)
            self.signal, self.fs, self.waves, self.spans = x[None], 500, {"ii": waves}, {"ii": (0, x.size - 1)}

        def lead(self, name):
            return self.signal[0]

    m = UNet1d(widths=(4, 4, 4, 4, 4))
    rows = sweep_p_bias(m, [Rec(0)], leads=("ii",), grid=(0.0, 50.0))
    assert [r["bias"] for r in rows] == [0.0, 50.0]
    assert rows[1]["QRS"] == 0.0 and rows[1]["T"] == 0.0


def test_whole_strip_crops_are_padded_like_the_runtime_pads():
    """min_crop > 0: every crop is `crop` long; the signal part is standardised on its own and the padding is
    zeros with zero loss weight; half of the crops are the whole example."""
    from edgewise.models.ecg.augment import AugmentConfig
    from edgewise.models.ecg.dataset import LeadExample
    from edgewise.models.ecg.train import _crop, crop_config

    assert crop_config(5008) == {"crop": 2048, "min_crop": 0}
    assert crop_config(1024) == {"crop": 1024, "min_crop": 0}
    rng = np.random.default_rng(0)
    n = 5000
    ex = LeadExample(1, "ii", rng.standard_normal(n).astype(np.float32), np.ones(n, np.int64),
                     np.ones(n, np.float32), np.zeros((0, n), np.float32))
    lengths = []
    for _ in range(40):
        x, m, w = _crop(ex, rng, 5008, 500, AugmentConfig(), 2048)
        assert x.shape == (1, 5008) and m.shape == (5008,) and w.shape == (5008,)
        k = int(w.sum())
        lengths.append(k)
        assert 2048 <= k <= n and np.all(x[0, k:] == 0) and np.all(m[k:] == 0)
        assert abs(float(x[0, :k].std()) - 1) < 1e-3
    assert 10 <= sum(k == n for k in lengths) <= 30 and len(set(lengths)) > 10


def test_distillation_hook_pulls_a_student_towards_its_teacher():
    """Hinton's term: zero when the student computes what the teacher computes, positive otherwise, and its
    gradient alone moves a half-rate student towards a full-rate teacher; the teacher stays frozen."""
    import torch

    from edgewise.models.ecg.train import distillation_hook
    from edgewise.models.ecg.unet import UNet1d

    torch.manual_seed(0)
    teacher = UNet1d(widths=(4, 4, 4), kernel=9).eval()
    x = torch.randn(4, 1, 256)
    same = distillation_hook(teacher, temperature=2.0)
    assert same(teacher, x, teacher(x)).item() == pytest.approx(0.0, abs=1e-6)
    student = UNet1d(widths=(4, 4, 4), kernel=5, decimate=2)
    hook = distillation_hook(teacher, temperature=2.0, weight=1.0)
    opt = torch.optim.Adam(student.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = hook(student, x, student(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 0 and losses[-1] < 0.5 * losses[0]
    assert not any(p.requires_grad for p in teacher.parameters())
    with pytest.raises(ValueError, match="temperature"):
        distillation_hook(teacher, temperature=0.0)
