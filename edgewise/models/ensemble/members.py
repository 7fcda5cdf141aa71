"""Deep ensembles of ECG U-Nets: M members differing only in seed (initial weights, data order, crops,
augmentation), trained one after the other in one process or each data parallel across torchrun ranks.

Member ``k`` uses seed ``base_seed + k``, so the ensemble a 2-process ``torchrun`` run trains is
the one process's ensemble up to floating-point order (batch norm covers the global batch on every rank, see
``edgewise.models.ensemble.loop``). Each member is a normal ``ecg-unet`` checkpoint (``member-K.pt``);
``ensemble.json`` lists them. A member whose checkpoint exists with the same training config is loaded,
not retrained, so an interrupted run resumes.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

from edgewise.models.ecg.dataset import LeadExample
from edgewise.models.ecg.train import TrainConfig, config_dict
from edgewise.models.ensemble.cache import config_matches
from edgewise.models.ensemble.distributed import DistContext, barrier
from edgewise.models.ensemble.loop import span_weights, train_loop

MANIFEST = "ensemble.json"


def member_config(config: TrainConfig, k: int) -> TrainConfig:
    """Member ``k``'s config: the base config with seed ``config.seed + k``."""
    return replace(config, seed=config.seed + k)


def _model_kwargs(config: TrainConfig) -> dict[str, Any]:
    kw: dict[str, Any] = {"widths": list(config.widths), "kernel": config.kernel}
    if config.context:
        kw["context"] = list(config.context)
    return kw


def _cached(path: Path, config: TrainConfig) -> bool:
    side = path.with_suffix(".json")
    if not (path.is_file() and side.is_file()):
        return False
    stored = json.loads(side.read_text()).get("training", {}).get("config")
    return config_matches(stored, config_dict(config), config_dict(TrainConfig()))


def _ce(net, x, y, span):
    import torch.nn.functional as F

    return F.cross_entropy(net(x), y, reduction="none")


def train_members(examples: list[LeadExample], out: str | Path, *, members: int = 5,
                  config: TrainConfig = TrainConfig(), ctx: DistContext = DistContext(),
                  training: dict[str, Any] | None = None, only: Sequence[int] | None = None,
                  progress: bool = True, log: Callable[[str], None] | None = print) -> list[Path]:
    """Train (or load from ``out``) ``members`` single-lead U-Nets; returns their checkpoint paths.

    ``training``: facts stored in every member's checkpoint (data, split); rank 0 writes the files.
    ``only``: train just these member indices (e.g. one job per member on several machines; a later
    full run finds them cached); ``ensemble.json`` is written only by a run that covers every member, and an
    ``only`` run with other settings than the manifest's removes it.
    """
    import torch

    from edgewise.models.checkpoint import save_checkpoint
    from edgewise.models.ecg.spec import ecg_spec_for_window
    from edgewise.models.ecg.unet import UNet1d

    if members < 1:
        raise ValueError(f"members must be >= 1, got {members}")
    if only is not None and any(not 0 <= k < members for k in only):
        raise ValueError(f"only: member indices must lie in 0..{members - 1}, got {sorted(only)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(members):
        cfg = member_config(config, k)
        path = out / f"member-{k}.pt"
        paths.append(path)
        if only is not None and k not in only:
            continue
        if _cached(path, cfg):
            if log and ctx.is_main:
                log(f"member {k}: cached at {path}")
            continue
        torch.manual_seed(cfg.seed)
        model = UNet1d(1, 4, widths=cfg.widths, kernel=cfg.kernel, context=cfg.context)
        hist = train_loop(model, examples, _ce, config=cfg, weight_fn=span_weights, ctx=ctx, progress=progress,
                          desc=f"member {k + 1}/{members}", log=log)
        if ctx.is_main:
            facts = dict(training or {})
            facts.update(config=config_dict(cfg), history=hist, member=k, members=members,
                         processes=ctx.world, backend=ctx.backend or "single process",
                         epoch_selection="none: last epoch")
            save_checkpoint(path, spec=ecg_spec_for_window(cfg.crop), model=model, model_kwargs=_model_kwargs(cfg), training=facts)
        barrier(ctx)
    man = out / MANIFEST
    if ctx.is_main and only is None:
        man.write_text(json.dumps({"members": [p.name for p in paths], "processes": ctx.world,
                                   "config": config_dict(config)}, indent=1))
    elif ctx.is_main and man.is_file() and not config_matches(_manifest_config(man), config_dict(config),
                                                              config_dict(TrainConfig())):
        man.unlink()  # members of another recipe now sit beside the manifest's: no one ensemble
        if log:
            log(f"{man} removed: members {sorted(only)} are of settings other than its own; a run without --only "
                "writes it again")
    return paths


def _manifest_config(man: Path) -> Any:
    """The training config an ensemble manifest names (None when the file is unreadable: it then counts as stale)."""
    try:
        return json.loads(man.read_text()).get("config")
    except (ValueError, AttributeError):
        return None


def load_members(out: str | Path) -> list:
    """The member models (torch, eval mode) listed in ``out/ensemble.json``."""
    from edgewise.models.checkpoint import load_checkpoint

    out = Path(out)
    man = out / MANIFEST
    if not man.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {out}: train an ensemble with `edgewise train ecg --members M`")
    return [load_checkpoint(out / name).model for name in json.loads(man.read_text())["members"]]


def first_member_training(out: str | Path) -> dict[str, Any]:
    """The ``training`` facts of the first member listed in ``out/ensemble.json`` (config, split, data):
    students train like, and on the records of, their teachers. {} when its sidecar is missing."""
    out = Path(out)
    man = out / MANIFEST
    if not man.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {out}: train an ensemble with `edgewise train ecg --members M`")
    side = out / Path(json.loads(man.read_text())["members"][0]).with_suffix(".json").name
    return json.loads(side.read_text()).get("training") or {} if side.is_file() else {}
