"""Distilling a mosquito ensemble (issue 23): the detector-axis KL, plain KD and Hydra's two phases on SYNTHETIC clips.

The teachers are two small DS-CNNs that disagree on purpose (one leans to "mosquito", one to "background"), so a
Hydra head matched to its own member must end up closer to it than to the other member.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.compress.distill import DistillConfig, _kl, _mean_kl
from edgewise.models.mosquito.train import TrainConfig, WindowSet

WIDTHS = (4, 8, 8)


def test_detector_axis_kl_matches_its_definition():
    g = torch.Generator().manual_seed(0)
    t, s = torch.randn(5, 3, 2, generator=g), torch.randn(5, 3, 2, generator=g)
    T = 2.0
    pt, ps = torch.softmax(t / T, -1), torch.softmax(s / T, -1)
    want = (pt * (pt.log() - ps.log())).sum(-1) * T**2
    torch.testing.assert_close(_kl(t, s, T, dim=-1), want)
    mean = pt.mean(1)
    torch.testing.assert_close(_mean_kl(t, s[:, 0], T, dim=-1), (mean * (mean.log() - ps[:, 0].log())).sum(-1) * T**2)


def test_ecg_axis_is_still_the_default():
    g = torch.Generator().manual_seed(1)
    t, s = torch.randn(2, 3, 4, 7, generator=g), torch.randn(2, 3, 4, 7, generator=g)
    torch.testing.assert_close(_kl(t, s, 1.5), _kl(t, s, 1.5, dim=-2))
    torch.testing.assert_close(_mean_kl(t, s[:, 0], 1.5), _mean_kl(t, s[:, 0], 1.5, dim=-2))
    assert _kl(t, s, 1.5).shape == (2, 3, 7)


def _windows(n_clips: int, seed: int) -> WindowSet:
    from edgewise.data.mosquito import synthetic_recordings

    clips = synthetic_recordings(n_clips, duration_s=4.0, seed=seed)
    rec, start, y = [], [], []
    for i, (_, _, present, segs) in enumerate(clips):
        for s in (0, 8000, 16000):
            a, b = s / 8000, s / 8000 + 2
            hit = present and any(min(b, e) - max(a, s0) >= 0.5 for s0, e in segs)
            rec.append(i), start.append(s), y.append(float(hit))
    return WindowSet(audio=[c[1] for c in clips], rec=np.array(rec), start=np.array(start), y=np.array(y), window=16000)


def _teachers():
    from edgewise.models.mosquito.nets import DSCNN

    out = []
    for k, bias in enumerate((2.5, -2.5)):
        torch.manual_seed(k)
        net = DSCNN(widths=WIDTHS).eval()
        with torch.no_grad():
            net.fc.bias.copy_(torch.tensor([0.0, bias]))
        net.in_mean.fill_(-60.0), net.in_std.fill_(20.0)
        out.append(net)
    return out


@pytest.fixture(scope="module")
def data():
    train, val = _windows(12, 0), _windows(6, 1)
    assert set(np.unique(train.y)) == {0.0, 1.0} and set(np.unique(val.y)) == {0.0, 1.0}
    return train, val


def _config(**kw) -> DistillConfig:
    step = TrainConfig(steps=30, batch_size=8, eval_every=10, lr=3e-3, model_kwargs={"widths": WIDTHS}, seed=3)
    return DistillConfig(phase1=step, phase2=step, temperature=2.0, **kw)


def _kl_to(model, teacher, x) -> float:
    with torch.no_grad():
        z = model(x)
        return float(_kl(teacher(x), z, 1.0, dim=-1).mean())


def test_plain_kd_then_hydra_heads_follow_their_own_members(data):
    from edgewise.compress.distill_mosquito import distill_hydra_mosquito, distill_plain_mosquito
    from edgewise.models.mosquito.hydra import HydraDSCNN
    from edgewise.models.mosquito.loop import window_features
    from edgewise.models.mosquito.specs import DSCNN_SPEC

    train, val = data
    teachers = _teachers()
    kd, log = distill_plain_mosquito(teachers, train, val, config=_config())
    assert not kd.training and [s for s, _ in log["scores"]] == [10, 20, 30] and log["temperature"] > 0
    assert log["best_score"] == max(v for _, v in log["scores"])
    hydra, logs = distill_hydra_mosquito(teachers, train, val, config=_config(hard_weight=0.5), phase1=kd)
    assert isinstance(hydra, HydraDSCNN) and hydra.n_heads == 2 and logs["phase1"] == {}
    x = window_features(DSCNN_SPEC, val)
    own = [_kl_to(hydra.head_as_dscnn(k), teachers[k], x) for k in (0, 1)]
    other = [_kl_to(hydra.head_as_dscnn(k), teachers[1 - k], x) for k in (0, 1)]
    assert own[0] < other[0] and own[1] < other[1], (own, other)
    with torch.no_grad():
        p = torch.softmax(hydra(x), -1)[..., 1].mean(0)
    assert p[0] > p[1]  # head 0 learnt its member's lean towards "mosquito"


def test_students_take_their_members_front_end(data):
    from edgewise.compress.distill_mosquito import MOSQUITO_DISTILL, distill_plain_mosquito, for_members
    from edgewise.models.mosquito.nets import DSCNN

    cfg = for_members(MOSQUITO_DISTILL, "dscnn-robust")
    assert cfg.phase1.spec.name == cfg.phase2.spec.name == "mosquito-dscnn-robust"
    assert (cfg.phase1.steps, cfg.phase2.steps) == (MOSQUITO_DISTILL.phase1.steps, MOSQUITO_DISTILL.phase2.steps)
    teachers = []
    for k, bias in enumerate((2.5, -2.5)):
        torch.manual_seed(k)
        net = DSCNN(widths=WIDTHS, window_norm=True).eval()
        with torch.no_grad():
            net.fc.bias.copy_(torch.tensor([0.0, bias]))
        net.in_std.fill_(20.0)
        teachers.append(net)
    kd, _ = distill_plain_mosquito(teachers, *data, config=for_members(_config(), "dscnn-robust"))
    assert kd.window_norm  # a fresh robust student, not the 0.1 DS-CNN's input


def test_init_member_out_of_range(data):
    from edgewise.compress.distill_mosquito import distill_plain_mosquito

    with pytest.raises(ValueError, match="init_member 5 but only 2 teachers"):
        distill_plain_mosquito(_teachers(), *data, config=_config(init_member=5))
