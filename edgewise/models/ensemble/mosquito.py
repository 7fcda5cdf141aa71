"""``edgewise train mosquito --members M``: a deep ensemble of mosquito detectors on the fixed by-source split.

Each member is the shipped recipe (``edgewise.models.mosquito.train.train_model``: class-balanced batches,
mixing/synthetic augmentation, hard-negative mining, best state on validation, temperature scaling) with
seed ``base + k`` (initial weights, batch draws, augmentation: data order), trained on the same windows (unless
source bagging, below, takes some away).

The split (issue 21's fixed by-source split, ``edgewise.models.mosquito.sources.fixed_split``): members train on
the training sources, keep their best state, fit their temperature and choose their operating threshold
(<= ``max_false_alarms_per_hour`` on validation negatives, ``evaluate.choose_threshold``) on the validation
sources, and are measured on the test sources. One more part, the *in-distribution hold-out*: a seeded
``holdout`` share of the training sources' recordings (by recording, per source and class) that no member
trains on. It is what "familiar" audio looks like for out-of-distribution figures: recordings of sources the
members learnt from, but not the recordings themselves (the test sources' negative-only sources are the
unfamiliar ones, ``ood_sources``).

*Source bagging* (``leave_sources_out=True``, ``--leave-sources-out``): the training part's negative-only sources
are dealt, in a seeded order, into M groups and member k does not train on group k (positive sources stay with
every member: there are too few). Each member has then met sounds the others have not, so the members disagree
more on kinds of sound one of them never heard: the ensemble's epistemic uncertainty then says something about
unfamiliar sources, which the members of one shared training set (seed and data order only) do not (issue 23).

Each member is a normal ``mosquito-dscnn`` checkpoint (``member-K.pt`` + JSON sidecar with the split, config,
threshold); ``ensemble.json`` lists them. A member whose checkpoint exists with the same config and split is
loaded, not retrained (the left-out sources are part of that key), so an interrupted run resumes (``only``
trains a subset, e.g. one job per member).
"""
from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgewise.data.mosquito import ClipLabel, Recording, WindowConfig
from edgewise.models.ensemble.cache import config_matches
from edgewise.models.mosquito.train import TrainConfig, recipe

__all__ = ["HOLDOUT", "SPLIT_KEYS", "EnsembleSplit", "ensemble_split", "ood_sources", "member_config", "split_audio",
           "left_out_sources", "train_mosquito_members", "load_split_facts", "members_arch"]

MANIFEST = "ensemble.json"  # the file name edgewise.models.ensemble.members reads
HOLDOUT = 0.1
# the training facts that describe the data (students distilled from the members carry them too)
SPLIT_KEYS = ("data", "split", "fold", "test_sources", "val_sources", "train_sources", "split_recordings",
              "split_fingerprint", "holdout", "ood_sources")
MEMBER_DEFAULTS = recipe()  # the shipped detector's recipe (dscnn-robust, decoy tones, 1500 steps, validation every 250)


class EnsembleSplit(dict):
    """Recordings by part: ``"train"``, ``"val"``, ``"test"``, ``"id_holdout"`` (lists of ``Recording``),
    plus the fold (``.fold``) they came from."""

    fold: Any = None

    def facts(self) -> dict[str, Any]:
        """What a checkpoint stores: the sources of each part and the recordings of each part (by path)."""
        f = self.fold
        return {"fold": f.name, "test_sources": list(f.test), "val_sources": list(f.val),
                "train_sources": list(f.train), "split_recordings": {k: [r.rel for r in v] for k, v in self.items()}}

    def fingerprint(self) -> str:
        """12 hex digits naming the exact recordings of every part."""
        blob = json.dumps({k: sorted(r.rel for r in v) for k, v in sorted(self.items())})
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


def ensemble_split(recs: list[Recording], *, holdout: float = HOLDOUT, seed: int = 0) -> EnsembleSplit:
    """The fixed by-source split with ``holdout`` of the training sources' recordings set aside (see module doc).

    The hold-out is drawn per (source, mosquito or not), ``round(holdout * n)`` recordings of each group,
    seeded by ``seed`` and the group's name, so it does not move when other sources change.
    """
    from edgewise.models.mosquito.sources import fixed_split

    if not 0 <= holdout < 1:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    fold = fixed_split(recs)
    parts = fold.split(recs)
    groups: dict[tuple[str, bool], list[Recording]] = {}
    for r in parts["train"]:
        groups.setdefault((r.set_name, r.mosquito), []).append(r)
    held: set[str] = set()
    for (src, pos), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r.rel)
        k = int(round(holdout * len(rs)))
        if k:
            rng = np.random.default_rng([seed, zlib.crc32(f"{src}/{pos}".encode())])
            held.update(rs[i].rel for i in rng.choice(len(rs), size=k, replace=False))
    out = EnsembleSplit(train=[r for r in parts["train"] if r.rel not in held], val=parts["val"], test=parts["test"],
                        id_holdout=[r for r in parts["train"] if r.rel in held])
    out.fold = fold
    return out


def ood_sources(split: EnsembleSplit) -> list[str]:
    """The test part's sources without any mosquito recording: real sound the members never trained on."""
    pos = {r.set_name for r in split["test"] if r.mosquito}
    return sorted({r.set_name for r in split["test"]} - pos)


def left_out_sources(split: EnsembleSplit, members: int, *, seed: int = 0) -> list[list[str]]:
    """Source bagging: for each member, the training part's negative-only sources it does not train on.

    The negative-only sources (no mosquito recording in the training part) are shuffled by ``seed`` and dealt
    round-robin into ``members`` groups; member k leaves out group k (empty when there are fewer such sources than
    members). An ensemble of one member leaves out nothing.
    """
    if members < 1:
        raise ValueError(f"members must be >= 1, got {members}")
    pos = {r.set_name for r in split["train"] if r.mosquito}
    neg = sorted({r.set_name for r in split["train"]} - pos)
    if members == 1 or not neg:
        return [[] for _ in range(members)]
    order = [neg[i] for i in np.random.default_rng([seed, 23]).permutation(len(neg))]
    return [sorted(order[k::members]) for k in range(members)]


def member_config(config: TrainConfig, k: int) -> TrainConfig:
    """Member ``k``'s recipe: ``config`` with seed ``config.seed + k``."""
    return replace(config, seed=config.seed + k)


def _config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(cfg)))


def split_audio(data_dir: str | Path, *, holdout: float = HOLDOUT, seed: int = 0,
                cache_dir: str | Path | None = None) -> tuple[EnsembleSplit, dict[str, np.ndarray]]:
    """Read the dataset, split it (``ensemble_split``) and decode every usable recording at 8 kHz.

    Returns:
        The split (undecodable recordings dropped from it, with a warning) and ``{rel: float32 samples}``.
    """
    from edgewise.data.mosquito import read_recordings
    from edgewise.models.mosquito.api import DEFAULT_CACHE, decode_recordings
    from edgewise.models.mosquito.specs import SAMPLE_RATE

    recs = [r for r in read_recordings(data_dir) if r.label is not ClipLabel.UNKNOWN]
    split = ensemble_split(recs, holdout=holdout, seed=seed)
    kept, audio = decode_recordings([r for part in split.values() for r in part], sample_rate=SAMPLE_RATE,
                                    cache_dir=DEFAULT_CACHE if cache_dir is None else cache_dir)
    by_rel = {r.rel: y for r, y in zip(kept, audio)}
    for k in list(split):
        split[k] = [r for r in split[k] if r.rel in by_rel]
    return split, by_rel


def _cached(path: Path, cfg: TrainConfig, fingerprint: str, left_out: list[str]) -> bool:
    side = path.with_suffix(".json")
    if not (path.is_file() and side.is_file()):
        return False
    t = json.loads(side.read_text()).get("training", {})
    return (config_matches(t.get("config"), _config_dict(cfg), _config_dict(TrainConfig()))
            and t.get("split_fingerprint") == fingerprint and t.get("left_out_sources", []) == left_out)


def _window_set(recs: list[Recording], audio: dict[str, np.ndarray], cfg: TrainConfig, hop_s: float):
    from edgewise.models.mosquito.train import build_window_set

    spec = cfg.spec
    return build_window_set(recs, [audio[r.rel] for r in recs],
                            WindowConfig(sample_rate=spec.sample_rate, window_s=spec.window / spec.sample_rate,
                                         hop_s=hop_s))


def train_mosquito_members(data_dir: str | Path, out: str | Path, *, members: int = 5,
                           config: TrainConfig = MEMBER_DEFAULTS, holdout: float = HOLDOUT,
                           max_false_alarms_per_hour: float = 5.0, only: Sequence[int] | None = None,
                           leave_sources_out: bool = False, cache_dir: str | Path | None = None,
                           progress: Callable[[int, int, float, float], None] | None = None,
                           log: Callable[[str], None] | None = print) -> list[Path]:
    """Train (or load from ``out``) ``members`` DS-CNN detectors; returns their checkpoint paths.

    Args:
        data_dir: the mosquito dataset (``labels.csv``, ``segments.csv``).
        out: folder for ``member-K.pt`` (+ ``.json``) and ``ensemble.json``.
        members: M >= 1; member k uses ``config`` with seed ``config.seed + k``.
        config: the recipe (default: the shipped one).
        holdout: share of the training sources' recordings kept aside as in-distribution hold-out.
        max_false_alarms_per_hour: validation false-alarm budget of each member's operating threshold.
        only: train just these member indices; ``ensemble.json`` is written only when every member exists with
            this call's settings (recipe, split, left-out sources), and removed when a member no longer does.
        leave_sources_out: source bagging (module doc): member k does not train on its group of the training
            part's negative-only sources (``left_out_sources``; validation and threshold as usual).
        progress: ``(member, step, loss, val window AUC)`` every ``config.eval_every`` steps.
    """
    import torch

    from edgewise.models.checkpoint import save_checkpoint
    from edgewise.models.mosquito.evaluate import choose_threshold, score_clips
    from edgewise.models.mosquito.train import train_model

    if members < 1:
        raise ValueError(f"members must be >= 1, got {members}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    split, audio = split_audio(data_dir, holdout=holdout, seed=config.seed, cache_dir=cache_dir)
    fp = split.fingerprint()
    dropped = (left_out_sources(split, members, seed=config.seed) if leave_sources_out
               else [[] for _ in range(members)])
    train_sets: dict[tuple[str, ...], Any] = {}
    val_set = None
    paths = []
    for k in range(members):
        cfg = member_config(config, k)
        path = out / f"member-{k}.pt"
        paths.append(path)
        cached = _cached(path, cfg, fp, dropped[k])
        if cached or (only is not None and k not in only):
            if log and cached:
                log(f"member {k}: cached at {path}")
            continue
        key = tuple(dropped[k])
        if key not in train_sets:
            train_sets[key] = _window_set([r for r in split["train"] if r.set_name not in key], audio, config,
                                          config.train_hop_s)
        if val_set is None:
            val_set = _window_set(split["val"], audio, config, config.spec.hop / config.spec.sample_rate)
        if log and key:
            log(f"member {k}: leaves out {', '.join(key)}")
        torch.manual_seed(cfg.seed)
        cb = None if progress is None else (lambda s, loss, auc, k=k: progress(k, s, loss, auc))
        model, tlog = train_model(cfg, train_sets[key], val_set, progress=cb)
        val = split["val"]
        thr = choose_threshold(score_clips(model, cfg.spec, val, [audio[r.rel] for r in val]),
                               max_false_alarms_per_hour=max_false_alarms_per_hour)
        facts = {"data": f"{Path(data_dir).name}: labels.csv + segments.csv (weak-label policy of "
                         "edgewise.data.mosquito)",
                 "split": f"fixed by-source split (edgewise.models.mosquito.sources.fixed_split); {holdout:.0%} of the "
                          f"training sources' recordings held out as in-distribution (seed {config.seed})",
                 **split.facts(), "split_fingerprint": fp, "holdout": holdout, "ood_sources": ood_sources(split),
                 "left_out_sources": dropped[k],
                 "config": _config_dict(cfg), "seed": cfg.seed, "member": k, "members": members,
                 "threshold": thr["threshold"], "threshold_choice": thr, **tlog}
        save_checkpoint(path, spec=cfg.spec, model=model, model_kwargs=dict(cfg.model_kwargs), training=facts)
        if log:
            log(f"member {k}: val window AUC {tlog['val_window_roc_auc']:.4f} (step {tlog['best_step']}), "
                f"T {tlog['temperature']:.3f}, threshold {thr['threshold']} ({tlog['train_seconds']:.0f} s) -> {path}")
    stale = [k for k, p in enumerate(paths) if not _cached(p, member_config(config, k), fp, dropped[k])]
    if not stale:
        (out / MANIFEST).write_text(json.dumps({"task": "mosquito-detection", "members": [p.name for p in paths],
                                                "config": _config_dict(config), "split_fingerprint": fp,
                                                "holdout": holdout, "leave_sources_out": leave_sources_out},
                                               indent=1))
    elif (out / MANIFEST).is_file():  # the folder no longer holds one recipe's ensemble: it must not claim to
        (out / MANIFEST).unlink()
        if log:
            log(f"members {', '.join(map(str, stale))} are missing or were trained with other settings: "
                f"{out / MANIFEST} removed until every member matches (train them without --only)")
    return paths


def load_split_facts(folder: str | Path) -> dict[str, Any]:
    """The first member's ``training`` facts (split, config, threshold) of the ensemble in ``folder``."""
    from edgewise.models.ensemble.members import first_member_training

    facts = first_member_training(folder)
    if "split_recordings" not in facts:
        raise ValueError(f"{folder} is not a mosquito ensemble (its first member names no split_recordings); "
                         "train one with `edgewise train mosquito --members M --out DIR`")
    return facts


def members_arch(facts: dict[str, Any]) -> str:
    """The ``TrainConfig.arch`` the members in ``load_split_facts``' facts were trained with (ensembles made before
    the robust recipe record none: ``"dscnn"``); students and every figure use this arch's front end."""
    return facts["config"].get("arch", "dscnn")
