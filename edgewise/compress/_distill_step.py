"""The ``distill`` step of a compression recipe: an ensemble folder in, the distilled network's checkpoint
out (``edgewise.compress.distill_ecg``), then measured against the ensemble it came from.

The distilled network is the "original" the later steps (prune, quantize) are budgeted against; the
distill step itself is budgeted against the ensemble (the same ``max_f1_drop`` on the validation records).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgewise.compress.recipe import DistillStep, Student


def members_dir(source: str | Path) -> Path:
    """The ensemble folder named by ``source`` (the folder or its ``ensemble.json``)."""
    from edgewise.models.ensemble.members import MANIFEST

    p = Path(source)
    folder = p.parent if p.name == MANIFEST else p
    if not (folder / MANIFEST).is_file():
        raise ValueError(f"a recipe with a distill step compresses an ensemble: {source} is not a folder with "
                         f"{MANIFEST} (train one with `edgewise train ecg --members 5 --out DIR`)")
    return folder


def member_config(folder: Path) -> Any:
    """The first member's ``TrainConfig`` (the students train like their teachers)."""
    from edgewise.models.ecg.train import TrainConfig
    from edgewise.models.ensemble.members import first_member_training

    cfg = first_member_training(folder)["config"]
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})


def distill_step(step: DistillStep, source: str | Path, out: Path, *, data_dir: str | Path | None,
                 progress: bool, log: Callable[[str], None]) -> tuple[Path, Path]:
    """Run ``step`` on the ensemble ``source``; returns (student checkpoint, ensemble folder)."""
    from edgewise.compress.distill_ecg import distill_ecg_ensemble

    folder = members_dir(source)
    if data_dir is None:
        raise ValueError("a distill step trains on the members' LUDB training records: pass --data "
                         "(there is no synthetic fallback for distillation)")
    hydra = step.student is Student.HYDRA
    paths = distill_ecg_ensemble(folder, out, data_dir=data_dir, config=step.config(member_config(folder)),
                                 progress=progress, log=log, with_hydra=hydra)
    return paths["hydra" if hydra else "plain-kd"], folder


def ensemble_fn(folder: Path) -> tuple[Callable[[np.ndarray], np.ndarray], int, int]:
    """The ensemble's model function (log of the members' mean probability, [n, 4, w]), its parameters and
    its MACs per 10 s."""
    import torch

    from edgewise.models.ecg.unet import count_macs
    from edgewise.models.ensemble.members import load_members

    members = load_members(folder)

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            xt = torch.from_numpy(np.ascontiguousarray(x, np.float32))
            p = torch.stack([torch.softmax(m(xt), dim=1) for m in members]).mean(0)
            return torch.log(p.clamp_min(1e-12)).numpy()

    params = sum(p.numel() for m in members for p in m.parameters())
    return fn, params, sum(count_macs(m, 5000) for m in members)
