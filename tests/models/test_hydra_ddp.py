"""The data-parallel path: 2 gloo processes under a real torchrun train the same network as one process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgewise.models.ensemble.distributed import DistContext
from tests.models.hydra_ddp_common import tiny_setup

ROOT = Path(__file__).resolve().parents[2]


def _torchrun(tmp_path: Path, with_bn: bool) -> dict:
    import torch

    out = tmp_path / "rank0.pt"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(ROOT / "tests/models/hydra_ddp_worker.py"), str(out), "bn" if with_bn else "plain"]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    blob = torch.load(out, weights_only=True)
    blob["rank1"] = torch.load(str(out) + ".rank1", weights_only=True)["state"]
    return blob


def test_shards_cover_the_batch_once():
    for n in (1, 5, 32):
        for world in (1, 2, 3):
            idx = [i for r in range(world) for i in range(n)[DistContext(r, world).shard(n)]]
            assert idx == list(range(n))


def test_two_gloo_processes_equal_one_process(tmp_path):
    """Same data, gradients averaged by DDP: the weights after 2 epochs match the 1-process run."""
    from edgewise.models.ensemble.loop import train_loop

    blob = _torchrun(tmp_path, with_bn=False)
    assert blob["world"] == 2 and blob["backend"] == "gloo"
    model, examples, cfg, loss = tiny_setup(False)
    hist = train_loop(model, examples, loss, config=cfg)
    for k, v in model.state_dict().items():
        # float32 sums in another order (two half-batch gradients averaged): agreement to ~1e-6
        np.testing.assert_allclose(blob["state"][k].numpy(), v.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
        np.testing.assert_array_equal(blob["rank1"][k].numpy(), blob["state"][k].numpy())
    np.testing.assert_allclose(blob["loss"], [h["loss"] for h in hist], rtol=1e-4)


def test_two_gloo_processes_train_the_same_batchnorm_unet(tmp_path):
    """Batch norm over the global batch on CPU (CrossRankBatchNorm): the 2-process U-Net, running
    statistics included, is the 1-process one."""
    from torch import nn

    from edgewise.models.ensemble.loop import train_loop

    blob = _torchrun(tmp_path, with_bn=True)
    model, examples, cfg, loss = tiny_setup(True)
    hist = train_loop(model, examples, loss, config=cfg)
    assert any(type(m) is nn.BatchNorm1d for m in model.modules())
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(blob["state"][k].numpy(), v.numpy(), rtol=1e-3, atol=1e-4, err_msg=k)
        np.testing.assert_array_equal(blob["rank1"][k].numpy(), blob["state"][k].numpy(), err_msg=k)
    np.testing.assert_allclose(blob["loss"], [h["loss"] for h in hist], rtol=1e-4)
    assert blob["bn_classes"] == ["BatchNorm1d"]  # restored after training: checkpoints are plain U-Nets


def test_cli_members_rejects_options_it_cannot_honour(tmp_path):
    res = subprocess.run([sys.executable, "-m", "edgewise", "train", "ecg", "--members", "2", "--twelve-lead",
                          "--data", "/work/shared/data/ludb", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "--members trains single-lead members on LUDB" in res.stderr
    assert not list(tmp_path.iterdir())


def test_members_split_across_runs_equal_one_run(tmp_path):
    """``only`` (``train ecg --members M --only K ...``): members trained by separate runs are the members
    one run trains, and the run that finds them all cached writes the ensemble's manifest."""
    import torch
    from dataclasses import replace

    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.ensemble.members import MANIFEST, train_members

    _, examples, cfg, _ = tiny_setup(True)
    cfg = replace(cfg, widths=(4, 6, 8), kernel=5, context=(), epochs=1)
    split, whole = tmp_path / "split", tmp_path / "whole"
    with pytest.raises(ValueError, match="0..1"):
        train_members(examples, split, members=2, config=cfg, only=[2], progress=False, log=None)
    train_members(examples, split, members=2, config=cfg, only=[1], progress=False, log=None)
    assert (split / "member-1.pt").is_file() and not (split / "member-0.pt").exists()
    assert not (split / MANIFEST).exists()
    train_members(examples, split, members=2, config=cfg, only=[0], progress=False, log=None)
    lines = []
    train_members(examples, split, members=2, config=cfg, progress=False, log=lines.append)
    assert (split / MANIFEST).is_file() and sum("cached" in m for m in lines) == 2
    other = tmp_path / "other"  # a member of another recipe beside the manifest: the manifest goes
    train_members(examples, other, members=2, config=cfg, progress=False, log=None)
    train_members(examples, other, members=2, config=cfg, only=[0], progress=False, log=None)
    assert (other / MANIFEST).is_file()  # the same settings: it stays
    msgs = []
    train_members(examples, other, members=2, config=replace(cfg, lr=cfg.lr / 2), only=[0], progress=False,
                  log=msgs.append)
    assert not (other / MANIFEST).exists() and any("removed" in m for m in msgs)
    (other / MANIFEST).write_text("not json")  # an unreadable manifest is stale too, after the members are saved
    train_members(examples, other, members=2, config=cfg, only=[1], progress=False, log=None)
    assert not (other / MANIFEST).exists()
    train_members(examples, whole, members=2, config=cfg, progress=False, log=None)
    for k in range(2):
        a = load_checkpoint(split / f"member-{k}.pt").model.state_dict()
        b = load_checkpoint(whole / f"member-{k}.pt").model.state_dict()
        for name in a:
            torch.testing.assert_close(a[name], b[name], msg=name)


def test_cli_only_needs_members(tmp_path):
    res = subprocess.run([sys.executable, "-m", "edgewise", "train", "ecg", "--only", "1",
                          "--data", "/work/shared/data/ludb", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "--only picks members of an ensemble" in res.stderr
    assert not list(tmp_path.iterdir())
