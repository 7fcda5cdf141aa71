"""ECG jobs on the host: load any model format, train the shipped model, evaluate on LUDB."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgewise.data.ludb import list_records
from edgewise.models.ecg.calibrate import ecg_post
from edgewise.models.ecg.dataset import SPLIT_SEED, Split, has_p_wave, load_records, rhythm_strata, split_records
from edgewise.runtime.ecg.metrics import DelineationScore
from edgewise.runtime.ecg.model import EcgModelInfo, load_artifact_fn
from edgewise.runtime.errors import InputError

ALL_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")


def load_model_fn(path: str | Path, *, threads: int = 1) -> tuple[Callable[[np.ndarray], np.ndarray], EcgModelInfo, dict]:
    """Any ECG model file -> (model fn, info, training facts). ``.pt`` runs in torch, others on a runtime."""
    path = Path(path)
    if path.suffix == ".pt":
        from edgewise.models.checkpoint import load_checkpoint
        from edgewise.models.ecg.evaluate import torch_model_fn
        from edgewise.runtime.ecg.model import offline_hop

        ck = load_checkpoint(path)
        s = ck.spec
        info = EcgModelInfo(s.name, s.sample_rate, s.window, offline_hop(s.window, s.hop), s.input_shape[0], "torch",
                            "fp32", str(path), post=ecg_post(ck.training))
        return torch_model_fn(ck.model, threads), info, ck.training
    fn, info = load_artifact_fn(path, threads=threads)
    from edgewise.runtime.backends import load_model

    meta = load_model(path, warmup=0).metadata
    return fn, info, dict(meta.get("training") or {})


def heldout_records(data_dir: Path, training: dict, records_file: Path | None = None) -> list[int]:
    """Records to evaluate: those in ``records_file``, else every record in ``data_dir`` the model never
    trained or validated on (its checkpoint lists them)."""
    present = list_records(data_dir)
    if records_file is not None:
        try:
            ids = [int(t) for t in Path(records_file).read_text().replace(",", " ").split()
                   if t.strip() and not t.startswith("#")]
        except ValueError as e:
            raise InputError(f"{records_file}: expected record ids separated by spaces, commas or lines ({e})") from e
        missing = sorted(set(ids) - set(present))
        if missing:
            raise InputError(f"records {missing[:10]} are not in {data_dir}")
        return ids
    seen = set(training.get("train_records", [])) | set(training.get("val_records", []))
    ids = [i for i in present if i not in seen]
    if not ids:
        raise InputError(f"every record in {data_dir} was used to train this model; pass --records FILE")
    return ids


def score_to_json(scores: dict[str, DelineationScore]) -> dict[str, Any]:
    return {lead: s.summary() for lead, s in scores.items()}


def evaluate_ecg(model: str | Path, data_dir: str | Path, *, leads: tuple[str, ...] = ("ii",),
                 records_file: Path | None = None, threads: int = 1, progress: bool = True) -> dict[str, Any]:
    """Evaluate a model on held-out LUDB records; returns a JSON-able dict."""
    from edgewise.models.ecg.evaluate import evaluate_records

    fn, info, training = load_model_fn(model, threads=threads)
    ids = heldout_records(Path(data_dir), training, records_file)
    recs = load_records(data_dir, ids, progress=progress)
    t0 = time.time()
    scores = evaluate_records(recs, fn, leads=leads, window=info.window, hop=info.hop, progress=progress,
                              in_channels=info.in_channels, post=info.post)
    return {"model": str(model), "format": info.format, "precision": info.precision, "data": str(data_dir),
            "records": ids, "leads": list(leads), "seconds": round(time.time() - t0, 2),
            "scores": score_to_json(scores)}


def train_ecg(out: str | Path, *, data_dir: str | Path | None, epochs: int = 60, synthetic_fraction: float = 0.0,
              seed: int = 0, threads: int = 1, widths: tuple[int, ...] = (8, 16, 24, 32, 48), progress: bool = True,
              twelve_lead: bool = False, fold_val: bool = False, context: tuple[int, ...] = (2, 4, 8),
              split: Split | None = None, kernel: int = 9, decimate: int = 1, teacher: str | Path | None = None,
              kd_temperature: float = 2.0, kd_weight: float = 1.0, oversample_unannotated: bool = False,
              log=print) -> Path:
    """Train the single-lead U-Net on LUDB (or on SYNTHETIC ECG when ``data_dir`` is None).

    Split by record (``split_records``: 70 % train, 10 % validation for epoch selection, 20 % test).
    Writes ``ecg-unet.pt`` (+ ``.json`` facts) and ``MODEL_CARD.md`` into ``out``; returns the checkpoint path.
    ``twelve_lead``: the 12-lead option — all leads in, lead II's annotation as target (``ecg-unet-12lead``).
    ``fold_val``: train on train + validation records for a fixed number of epochs (no epoch selection).
    ``context``: dilations of the U-Net's rhythm-context layers (``UNet1d``; the shipped model's by default),
    empty for none.
    ``split``: train/validation/test records to use instead of the shipped split (cross-validation).
    ``kernel``: the U-Net's convolution kernel (odd; the shipped model's 9 by default).
    ``decimate``: 2 runs the U-Net at 250 Hz (``UNet1d``: half the MACs; kernel 5 there spans what 9 spans at 500 Hz).
    ``teacher``: a single-lead ECG checkpoint whose softened outputs are added to the loss (``distillation_hook``,
    ``kd_temperature``, ``kd_weight``): a small or half-rate student learning from a larger network.
    ``oversample_unannotated``: also oversample 3x the records without any annotated P wave (in LUDB the 6
    ventricular-paced records in sinus rhythm; AF and flutter records are oversampled anyway). Measured by
    cross-validation on 2026-12-07 and not adopted (README).
    """
    from edgewise.models.checkpoint import save_checkpoint
    from edgewise.models.ecg.dataset import lead_examples
    from edgewise.models.ecg.evaluate import evaluate_records, torch_model_fn
    from edgewise.models.ecg.model_card import write_model_card
    from edgewise.models.ecg.dataset import multilead_examples
    from edgewise.models.ecg.spec import ECG_12_SPEC, ECG_SPEC
    from edgewise.models.ecg.train import TrainConfig, config_dict, crop_config, train_unet

    out = Path(out)
    spec, chans = (ECG_12_SPEC, 12) if twelve_lead else (ECG_SPEC, 1)
    window = spec.window
    cfg = TrainConfig(epochs=epochs, seed=seed, threads=threads, widths=tuple(widths), context=tuple(context),
                      kernel=kernel, decimate=decimate, synthetic_fraction=1.0 if data_dir is None else synthetic_fraction,
                      val_every=max(1, min(5, epochs // 4)),
                      **crop_config(window))
    training: dict[str, Any] = {"config": config_dict(cfg)}
    eval_leads = ("ii",) if twelve_lead else ALL_LEADS
    if data_dir is None and teacher is not None:
        raise InputError("a teacher distils on LUDB records: pass data_dir (the synthetic demo trains without one)")
    if data_dir is None and twelve_lead:
        raise InputError("the 12-lead option trains on LUDB only (the synthetic generator is single-lead)")
    if data_dir is None:
        log("no LUDB folder given: training on SYNTHETIC ECG only (a demo model, not for real use)")
        model, hist = train_unet([], None, config=cfg, progress=progress, log=log)
        training.update(data="SYNTHETIC ECG (edgewise.data.synthetic_ecg)", split="none")
        metrics: dict[str, Any] = {}
    else:
        how = "given by the caller" if split else f"stratified by rhythm (ludb.csv), seed {SPLIT_SEED}"
        split = split or split_records(list_records(data_dir), strata=rhythm_strata(data_dir))
        train_recs = load_records(data_dir, split.train, progress=progress)
        val_recs = load_records(data_dir, split.val, progress=progress)
        if fold_val:
            train_recs, val_recs = train_recs + val_recs, []

        def val_fn(m) -> float:
            s = evaluate_records(val_recs, torch_model_fn(m), leads=eval_leads, in_channels=chans, window=window)
            s = s["all"] if "all" in s else s["ii"]
            return float(np.mean([s.wave_f1(k) for k in ("P", "QRS", "T")]))

        strata = rhythm_strata(data_dir)
        examples = multilead_examples(train_recs) if twelve_lead else lead_examples(train_recs)
        # rare rhythms (AF, flutter: no P waves annotated) are oversampled 3x so the model learns them; with
        # oversample_unannotated also the records whose annotation has no P wave at all (LUDB's paced records)
        rare = {r.record_id for r in train_recs if strata.get(r.record_id, "sinus") != "sinus"
                or (oversample_unannotated and not has_p_wave(r))}
        examples += [e for e in examples if e.record_id in rare] * 2
        hook = None
        if teacher is not None:
            from edgewise.models.checkpoint import load_checkpoint
            from edgewise.models.ecg.train import distillation_hook

            t_ck = load_checkpoint(teacher)
            if t_ck.spec.input_shape[0] != chans:
                raise InputError(f"teacher {teacher} takes {t_ck.spec.input_shape[0]} lead(s), the student {chans}")
            hook = distillation_hook(t_ck.model, temperature=kd_temperature, weight=kd_weight)
            training["distillation"] = {"teacher": str(teacher), "teacher_sha256": t_ck.sha256,
                                        "temperature": kd_temperature, "weight": kd_weight}
        model, hist = train_unet(examples, val_fn if val_recs else None, config=cfg, progress=progress, log=log,
                                 loss_hook=hook)
        if val_recs:
            from edgewise.models.ecg.calibrate import calibrate_p_bias, p_edge_postprocess

            training["calibration"] = calibrate_p_bias(model, val_recs, leads=eval_leads, in_channels=chans,
                                                       window=window)
            log(f"P-logit offset chosen on the validation records: {training['calibration']['p_logit_bias']:+.2f}")
            training["postprocess"] = p_edge_postprocess(training)
        test_recs = load_records(data_dir, split.test, progress=progress)
        scores = evaluate_records(test_recs, torch_model_fn(model), leads=eval_leads, progress=progress,
                                  in_channels=chans, window=window, post=ecg_post(training))
        metrics = {"test_lead_ii": scores["ii"].summary(), "test_records": list(split.test)}
        if "all" in scores:
            metrics["test_all_leads"] = scores["all"].summary()
        training.update(data=f"LUDB 1.0.1 ({len(split.train) + len(split.val) + len(split.test)} records in {Path(data_dir).name}/)",
                        split=f"by record (= subject), {how}: "
                              f"{len(split.train)} train / {len(split.val)} val / {len(split.test)} test",
                        oversampled="records with atrial fibrillation/flutter/other rhythms"
                                    + (" or no annotated P wave" if oversample_unannotated else "") + " x3",
                        epoch_selection="none: train + validation records, last epoch" if fold_val
                        else "best mean wave F1 on the validation records",
                        train_records=list(split.train), val_records=list(split.val), test_records=list(split.test),
                        licence="LUDB: ODC-By 1.0 (Kalyakulina et al., PhysioNet doi:10.13026/eegm-h675)")
    training["history"] = hist
    ckpt = out / f"{spec.name}.pt"
    kwargs: dict[str, Any] = {"widths": list(cfg.widths), "kernel": cfg.kernel}
    if cfg.context:
        kwargs["context"] = list(cfg.context)
    if cfg.decimate != 1:
        kwargs["decimate"] = cfg.decimate
    save_checkpoint(ckpt, spec=spec, model=model, model_kwargs=kwargs, training=training, metrics=metrics)
    write_model_card(out / "MODEL_CARD.md", ckpt)
    return ckpt


def facts(path: Path) -> dict:
    side = Path(path).with_suffix(".json")
    return json.loads(side.read_text()) if side.is_file() else {}
