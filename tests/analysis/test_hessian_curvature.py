"""Curvature split along the gradient, training tracking, the width experiment and its CLI."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from torch import nn

from edgewise.analysis.hessian import (
    TrackConfig,
    WidthConfig,
    curvature_along,
    dense_curvature,
    digits_data,
    gradient_and_loss,
    make_mlp,
    run_width_experiment,
    summarise,
    track_training,
    verdicts,
    write_width_report,
)


def _setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(30, 5, generator=g).double(), torch.randint(0, 3, (30,), generator=g)
    return model, nn.CrossEntropyLoss(), [(x, y)]


def test_curvature_split_matches_dense():
    model, loss_fn, data = _setup()
    hess, ggn = dense_curvature(model, loss_fn, data)
    grad, loss = gradient_and_loss(model, loss_fn, data)
    d = grad / grad.norm()
    rec = curvature_along(model, loss_fn, data)
    np.testing.assert_allclose([rec.total, rec.ggn, rec.residual],
                               [float(d @ hess @ d), float(d @ ggn @ d), float(d @ (hess - ggn) @ d)], rtol=1e-10)
    np.testing.assert_allclose(rec.grad_norm, float(grad.norm()), rtol=1e-12)
    np.testing.assert_allclose(rec.loss, float(loss_fn(model(data[0][0]), data[0][1]).detach()), rtol=1e-12)
    assert rec.ggn >= 0
    # any direction, e.g. the top eigenvector of H: curvature there is H's top eigenvalue plus G's part
    ev, vecs = torch.linalg.eigh(hess - ggn)
    rec2 = curvature_along(model, loss_fn, data, direction=vecs[:, 0] * 3.0)
    np.testing.assert_allclose(rec2.residual, float(ev[0]), rtol=1e-10)
    with pytest.raises(ValueError, match="direction must have shape"):
        curvature_along(model, loss_fn, data, direction=torch.ones(3))


def test_track_training_measures_on_schedule_and_learns():
    model, loss_fn, data = _setup()
    x, y = data[0]
    recs = track_training(model, loss_fn, (x, y), data, TrackConfig(steps=30, lr=0.5, batch_size=10, every=10))
    assert [r.step for r in recs] == [0, 10, 20, 30]
    assert recs[-1].loss < recs[0].loss
    for r in recs:
        np.testing.assert_allclose(r.total, r.ggn + r.residual, rtol=1e-12)


@pytest.mark.parametrize("kw, msg", [({"steps": 0}, "steps"), ({"lr": -1.0}, "lr"), ({"momentum": 1.0}, "momentum")],
                         ids=["steps", "lr", "momentum"])
def test_track_config_rejects_bad_values(kw, msg):
    with pytest.raises(ValueError, match=msg):
        TrackConfig(**kw)


def test_digits_data_is_the_real_dataset():
    (xtr, ytr), (xte, yte) = digits_data()
    assert xtr.shape == (1347, 64) and xte.shape == (450, 64)
    assert float(xtr.max()) == 1.0 and float(xtr.min()) == 0.0
    assert set(ytr.tolist()) == set(range(10))
    assert sum(p.numel() for p in make_mlp(64, 1024, 10).parameters()) == 1_126_410


def test_width_experiment_writes_report(tmp_path):
    cfg = WidthConfig(widths=(8, 32), n_probe=128, track=TrackConfig(steps=20, lr=0.1, every=10))
    runs = run_width_experiment(cfg)
    assert [r.width for r in runs] == [8, 32] and all(len(r.records) == 3 for r in runs)
    res = write_width_report(runs, tmp_path, cfg)
    for name in ("report.md", "report.html", "report.json", "curvature.png", "ratio.png", "trajectories.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    s = summarise(runs[0])
    assert s["init"] == runs[0].records[0].total
    assert set(res["verdicts"]) == {"gradient_orthogonal_to_H_grows_with_width", "curvature_along_gradient_positive",
                                    "near_zero_between_start_and_end"}


def test_verdicts_follow_the_numbers():
    base = {"frac_positive": 1.0, "init": 1.0, "start": 1.0, "middle": 0.01, "end": 1.0, "middle_over_edges": 0.01}
    agree = verdicts([{**base, "width": 16, "mean_abs_ratio": 0.5}, {**base, "width": 1024, "mean_abs_ratio": 0.01}])
    assert all(v["agree"] for v in agree.values())
    bad = {**base, "middle": 2.0, "middle_over_edges": 2.0, "frac_positive": 0.5}
    disagree = verdicts([{**bad, "width": 16, "mean_abs_ratio": 0.01}, {**bad, "width": 1024, "mean_abs_ratio": 0.5}])
    assert not any(v["agree"] for v in disagree.values())


def test_cli_hessian_json(tmp_path, capsys):
    from edgewise._cli.analyze_hessian import hessian, hessian_args

    parser = argparse.ArgumentParser()
    hessian_args(parser)
    args = parser.parse_args(["--widths", "8,16", "--steps", "10", "--every", "5", "--n-probe", "64",
                              "--out", str(tmp_path), "--json"])
    assert hessian(args) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [d["width"] for d in out["summaries"]] == [8, 16]
    assert (tmp_path / "report.md").exists()
    with pytest.raises(SystemExit):
        parser.parse_args(["--widths", "8,x", "--out", str(tmp_path)])
