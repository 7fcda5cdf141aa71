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
