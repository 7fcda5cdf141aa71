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
        total.add(score_waves(waves, delineate(x, 500, fn, window=512, hop=384).waves, 500))
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
