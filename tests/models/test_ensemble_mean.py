"""The ensemble as one module (edgewise.models.ensemble.mean) and the protocol's trainer hook that KD students use."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgewise.data.mosquito import ClipLabel, Recording
from edgewise.models.ensemble.mean import MeanOfMembers
from edgewise.models.mosquito.protocol import run_fold
from edgewise.models.mosquito.sources import Fold
from edgewise.models.mosquito.train import TrainConfig


def test_softmax_of_output_is_the_members_mean_probability():
    torch.manual_seed(0)
    members = [torch.nn.Sequential(torch.nn.Linear(6, 2), torch.nn.Dropout(0.5)) for _ in range(3)]
    ens = MeanOfMembers(members)
    ens.train()  # must not switch dropout/batch norm of the members on
    assert not any(m.training for m in ens.modules())
    assert not any(p.requires_grad for p in ens.parameters())
    x = torch.randn(5, 6)
    want = torch.stack([torch.softmax(m(x), -1) for m in members]).mean(0)
    torch.testing.assert_close(torch.softmax(ens(x), -1), want, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ens(x).exp().sum(-1), torch.ones(5), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="at least one member"):
        MeanOfMembers([])


class _Loudness(torch.nn.Module):
    """logit margin = mean log-Mel feature: enough to score windows through the protocol."""

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = f.mean(dim=tuple(range(1, f.dim())))
        return torch.stack([-m, m], dim=-1)


def test_trainer_hook_trains_on_training_sources_only():
    rng = np.random.default_rng(0)
    recs, audio = [], {}
    for src, pos in (("a", True), ("b", True), ("c", True), ("n1", False), ("n2", False), ("n3", False)):
        for i in range(2):
            r = Recording(path=Path(f"{src}/{i}.wav"), rel=f"{src}/{i}.wav", set_name=src, species="", licence="",
                          label=ClipLabel.POSITIVE if pos else ClipLabel.NEGATIVE, duration_s=4.0)
            recs.append(r)
            audio[r.rel] = (0.3 if pos else 0.01) * rng.standard_normal(32000).astype(np.float32)
    fold = Fold(name="a", test=("a", "n1"), val=("b", "n3"), train=("c", "n2"))
    seen = {}

    def trainer(cfg, tr, va, progress=None):
        seen["train_n"], seen["val_n"] = len(tr.audio), len(va.audio)
        seen["train_ids"] = {id(y) for y in tr.audio}
        return _Loudness(), {"steps": 0}

    _, res = run_fold(fold, recs, audio, TrainConfig(arch="dscnn-robust", steps=1), trainer=trainer)
    train_ids = {id(audio[r.rel]) for r in recs if r.set_name in fold.train}
    assert seen["train_ids"] <= train_ids and seen["train_n"] == 4 and seen["val_n"] == 4
    assert {c.source for c in res.clips} == {"a", "n1"} and res.training == {"steps": 0}
