"""The ``distill`` compression step for the ECG task: an ensemble folder in, plain-KD and Hydra students
out (checkpoints ``plain-kd.pt`` and ``hydra.pt``), cached so each is trained once.

The students train on the members' own training examples (the train records the members' checkpoints
name, else the shipped LUDB split's, ``edgewise.models.ensemble.ecg.ecg_train_examples``); Hydra's phase 1 *is* the plain-KD student
(same loss, same seed), so it is reused rather than trained twice.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from edgewise.compress.distill import DistillConfig, cached_student as _cached, distill_hydra, distill_plain


def _cfg_facts(config: DistillConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(config), default=list))


def _kwargs(cfg, **extra) -> dict[str, Any]:
    kw: dict[str, Any] = {"widths": list(cfg.widths), "kernel": cfg.kernel, **extra}
    if cfg.context:
        kw["context"] = list(cfg.context)
    return kw


def distill_ecg_ensemble(members_dir: str | Path, out: str | Path, *, data_dir: str | Path,
                         config: DistillConfig = DistillConfig(), progress: bool = True,
                         log: Callable[[str], None] | None = print, with_hydra: bool = True) -> dict[str, Path]:
    """Distil the ensemble in ``members_dir`` (``ensemble.json``) into ``out``; returns
    {"plain-kd": path, "hydra": path} (without "hydra" when ``with_hydra`` is False: plain KD only). Existing
    students with the same settings are kept."""
    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
    from edgewise.models.ecg.hydra import ECG_HYDRA_SPEC
    from edgewise.models.ecg.spec import ecg_spec_for_window
    from edgewise.models.ecg.train import TrainConfig
    from edgewise.models.ensemble.ecg import ecg_train_examples
    from edgewise.models.ensemble.members import first_member_training, load_members

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    teachers = load_members(members_dir)
    facts = {**_cfg_facts(config), "teachers": str(members_dir), "members": len(teachers)}
    # the plain-KD student (= Hydra's phase 1) depends on phase-1 settings only: Hydra variants share it
    kd_facts = {k: facts[k] for k in ("phase1", "temperature", "hard_weight", "init_member", "teachers", "members")}
    kd_path, hy_path = out / "plain-kd.pt", out / "hydra.pt"
    examples = None
    member_split = first_member_training(members_dir) or None
    defaults = _cfg_facts(TrainConfig())  # a config field added later reads as its default in older students
    if _cached(kd_path, kd_facts, phase_defaults=defaults):
        kd = load_checkpoint(kd_path).model
        if log:
            log(f"plain KD: cached at {kd_path}")
    else:
        examples, split = ecg_train_examples(data_dir, progress=progress, split=member_split)
        kd, hist = distill_plain(teachers, examples, config=config, progress=progress, log=log)
        save_checkpoint(kd_path, spec=ecg_spec_for_window(config.phase1.crop), model=kd, model_kwargs=_kwargs(config.phase1),
                        training={**split, "distill": kd_facts, "kind": "plain knowledge distillation",
                                  "history": hist})
    if not with_hydra:
        return {"plain-kd": kd_path}
    if _cached(hy_path, facts, phase_defaults=defaults):
        if log:
            log(f"Hydra: cached at {hy_path}")
    else:
        if examples is None:
            examples, split = ecg_train_examples(data_dir, progress=progress, split=member_split)
        hydra, hist = distill_hydra(teachers, examples, config=config, phase1=kd, progress=progress, log=log)
        save_checkpoint(hy_path, spec=ECG_HYDRA_SPEC, model=hydra,
                        model_kwargs=_kwargs(config.phase1, heads=hydra.n_heads, head_blocks=hydra.head_blocks),
                        training={**split, "distill": facts, "kind": "Hydra (phase 1 = plain KD)",
                                  "history": hist["phase2"]})
    return {"plain-kd": kd_path, "hydra": hy_path}
