"""``edgewise train ecg --members M``: an ensemble of single-lead U-Nets on the shipped LUDB split."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from edgewise.models.ecg.dataset import LeadExample


def _data_fact(n_records: int, data_dir: str | Path) -> str:
    """The ``data`` fact of a checkpoint: the dataset and its folder's name, never this machine's path (the
    facts travel into shipped files)."""
    return f"LUDB 1.0.1 ({n_records} records in {Path(data_dir).name}/)"


def ecg_train_examples(data_dir: str | Path, *, progress: bool = False, split: dict[str, Any] | None = None
                       ) -> tuple[list[LeadExample], dict[str, Any]]:
    """The shipped model's training examples (all 12 leads of the train records, rare rhythms x3) and the
    split facts a checkpoint stores; ``split``: those facts of another model (e.g. an ensemble member's
    ``training``), whose ``train_records`` are used instead of the shipped split's."""
    from edgewise.data.ludb import list_records
    from edgewise.models.ecg.dataset import SPLIT_SEED, lead_examples, load_records, rhythm_strata, split_records

    strata = rhythm_strata(data_dir)
    if split is not None and split.get("train_records"):
        facts = {k: split[k] for k in ("split", "oversampled", "train_records", "val_records", "test_records",
                                       "licence") if k in split}
        n = sum(len(split.get(k) or ()) for k in ("train_records", "val_records", "test_records"))
        facts["data"] = _data_fact(n, data_dir)  # members stored before 2026-12-07 named this machine's path
        examples = lead_examples(load_records(data_dir, list(split["train_records"]), progress=progress))
        examples += [e for e in examples if strata.get(e.record_id, "sinus") != "sinus"] * 2
        return examples, facts
    split = split_records(list_records(data_dir), strata=strata)
    examples = lead_examples(load_records(data_dir, split.train, progress=progress))
    examples += [e for e in examples if strata.get(e.record_id, "sinus") != "sinus"] * 2
    facts = {"data": _data_fact(len(split.train) + len(split.val) + len(split.test), data_dir),
             "split": f"by record, stratified by rhythm, seed {SPLIT_SEED}: {len(split.train)} train / "
                      f"{len(split.val)} val (unused) / {len(split.test)} test",
             "oversampled": "records with atrial fibrillation/flutter/other rhythms x3",
             "train_records": list(split.train), "val_records": list(split.val), "test_records": list(split.test),
             "licence": "LUDB: ODC-By 1.0 (Kalyakulina et al., PhysioNet doi:10.13026/eegm-h675)"}
    return examples, facts


def train_ecg_ensemble(out: str | Path, *, data_dir: str | Path, members: int = 5, epochs: int = 60, seed: int = 0,
                       threads: int = 1, widths: tuple[int, ...] = (8, 16, 24, 32, 48),
                       context: tuple[int, ...] = (2, 4, 8), only: Sequence[int] | None = None,
                       progress: bool = True, log: Callable[[str], None] | None = print) -> list[Path]:
    """Train ``members`` U-Nets (seeds ``seed`` .. ``seed + members - 1``) into ``out``; under ``torchrun``
    each member is trained data parallel across the ranks. ``only``: train just these member indices (the
    others are left to other runs). Returns the member checkpoints."""
    from edgewise.models.ecg.train import TrainConfig
    from edgewise.models.ensemble.distributed import from_env, shutdown
    from edgewise.models.ensemble.members import train_members

    ctx = from_env()
    try:
        examples, facts = ecg_train_examples(data_dir, progress=progress and ctx.is_main)
        cfg = TrainConfig(epochs=epochs, seed=seed, threads=threads, widths=tuple(widths), context=tuple(context))
        return train_members(examples, out, members=members, config=cfg, ctx=ctx, training=facts,
                             only=only, progress=progress, log=log)
    finally:
        shutdown(ctx)
