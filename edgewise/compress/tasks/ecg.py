"""The ECG delineation task of a compression run: LUDB records, wave F1, the P-offset recalibration.

Parts are LUDB records of the checkpoint's own split (``training.train_records`` / ``val_records`` /
``test_records``; the unstratified split for checkpoints without one), or SYNTHETIC ECG when no LUDB folder is
given (said in the result). The budget is checked on every wave's F1 (P, QRS, T) on the validation records,
all 12 leads pooled (lead II alone saturates at F1 = 1 there); the test records' lead II is reported.
Latency: the model windows of 10 s of ECG. Prune and QAT steps fine-tune on the training records
(``edgewise.models.ecg.train``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgewise.compress.report import ALL_LEADS, WAVES, wave_f1
from edgewise.compress.tasks import EvalData

__all__ = ["EcgTask", "RECALIBRATION_GRID", "finetuner", "load_eval_data", "recalibrate", "split_ids",
           "stream_hop", "synthetic_examples", "ten_seconds", "uncompressed_metrics"]


class EcgTask:
    """ECG delineation (``spec.task`` = ``ecg-delineation``): see the module docstring."""

    name = "ecg-delineation"
    dataset = "ludb"
    metric_keys = WAVES
    metric_columns = ("P F1", "QRS F1", "T F1")
    test_caption = "F1 on held-out test records (lead II)"
    unit = "10 s of ECG"
    macs_label = "MACs/10 s"
    trainable = True

    def load(self, ck: Any, data_dir: Path | None, *, n_calibration: int, eval_records: int = 0,
             seed: int = 0) -> EvalData:
        return load_eval_data(ck, data_dir, n_calibration=n_calibration, eval_records=eval_records, seed=seed)

    def torch_fn(self, model: Any) -> Callable[[np.ndarray], np.ndarray]:
        from edgewise.models.ecg.evaluate import torch_model_fn

        return torch_model_fn(model, 1)

    def score(self, fn: Callable, data: EvalData, part: str, ck: Any) -> dict[str, float]:
        """Wave F1 on the validation records (all leads; lead II for SYNTHETIC data) or the test records (lead II)."""
        from edgewise.models.ecg.calibrate import ecg_post

        post = ecg_post(ck.training)  # the checkpoint's; its exports carry the same (export.metadata)
        if part == "val":
            return wave_f1(fn, data.val, leads=self.val_leads(data), window=ck.spec.window, post=post)
        return wave_f1(fn, data.test, window=ck.spec.window, post=post)

    @staticmethod
    def val_leads(data: EvalData) -> tuple[str, ...]:
        return ("ii",) if data.synthetic else ALL_LEADS

    @staticmethod
    def max_drop(budget: Any) -> float:
        return float(budget.max_f1_drop)

    @staticmethod
    def macs(model: Any) -> int:
        from edgewise.models.ecg.unet import count_macs

        return count_macs(model, 5000)

    @staticmethod
    def check_calibration(x: np.ndarray, ck: Any, *, min_windows: int, model_fn: Callable, source: str) -> dict:
        from edgewise.compress.calibration import check_calibration

        return check_calibration(x, input_shape=ck.spec.input_shape, min_windows=min_windows, fs=ck.spec.sample_rate,
                                 model_fn=model_fn, source=source).as_dict()

    @staticmethod
    def examples(data: EvalData, *, records: int | None = None) -> list:
        """Training examples (of the first ``records`` training records) for fine-tuning, QAT and Hessian
        sensitivity; SYNTHETIC ones without records."""
        from edgewise.models.ecg.dataset import lead_examples

        return lead_examples(data.train[:records]) if data.train else synthetic_examples()

    @staticmethod
    def finetuner(data: EvalData, step: Any, kwargs: dict, log: Callable, teacher: Any = None,
                  progress: Any = None) -> Callable | None:
        """``finetune(net, epochs)`` on the training records (None without them): ``finetuner`` below."""
        return finetuner(data, step, kwargs, log, teacher=teacher, progress=progress)

    @staticmethod
    def recalibrate(model: Any, m: Any, log: Callable, *, before: dict[str, Any] | None = None) -> dict[str, Any]:
        return recalibrate(model, m, log, before=before)

    @staticmethod
    def postprocess_facts(before: dict[str, Any], recal: dict[str, Any]) -> dict[str, Any]:
        """``{"postprocess": ...}`` of a pruned model made from a model with training facts ``before`` and then
        re-calibrated (``recal``, ``recalibrate``'s result): P edges drawn without every offset its head now
        carries (``calibrate.p_edge_postprocess``)."""
        from edgewise.models.ecg.calibrate import p_edge_postprocess

        extra = float((recal.get("recalibration") or {}).get("p_logit_bias") or 0.0)
        return {"postprocess": p_edge_postprocess(before, extra)}

    @staticmethod
    def stamp(row: Any, old: dict[str, Any], reference: Any = None) -> dict[str, Any]:
        """The metadata ``metrics`` of a kept artifact: its measured figures over what the file carried (a
        compressed file's checkpoint figures move under ``uncompressed_model``: the chooser's reference)."""
        if row.step != "original":
            old = uncompressed_metrics(old)
        stale = ("note",)  # "this model's own held-out metrics are in compression.json": now they are here
        return {**{k: v for k, v in old.items() if k not in stale}, "test_lead_ii_wave_f1": row.f1_test,
                "val_all_leads_wave_f1": row.f1_val, "agreement_with_uncompressed": row.agreement,
                "mean_kl_to_uncompressed": row.mean_kl, "latency_ms_10s_1thread_host": row.latency_ms}


def uncompressed_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """A compressed file's metrics with the model it was made from under ``uncompressed_model``.

    A pruned model's checkpoint already says so; a file quantised straight from the trained checkpoint
    carries that checkpoint's own held-out figures, which would read as the file's (the device chooser
    takes ``uncompressed_model`` as its accuracy reference)."""
    if "uncompressed_model" in metrics or not any(isinstance(v, dict) and "wave_f1" in v for v in metrics.values()):
        return dict(metrics)
    up = {k: ({"wave_f1": v["wave_f1"]} if isinstance(v, dict) and "wave_f1" in v else v)
          for k, v in metrics.items() if k != "test_records"}  # per-boundary tables stay in the checkpoint
    return {**({"test_records": metrics["test_records"]} if "test_records" in metrics else {}), "uncompressed_model": up}


def split_ids(ck: Any, data_dir: Path) -> tuple[list[int], list[int], list[int]]:
    from edgewise.data.ludb import list_records
    from edgewise.models.ecg.dataset import split_records

    t = ck.training or {}
    if t.get("test_records"):
        return list(t.get("train_records", [])), list(t.get("val_records", [])), list(t["test_records"])
    s = split_records(list_records(data_dir))  # checkpoints without a recorded split use the unstratified one
    return list(s.train), list(s.val), list(s.test)


def load_eval_data(ck: Any, data_dir: Path | None, *, n_calibration: int, eval_records: int = 0,
                   seed: int = 0) -> EvalData:
    """Training/validation/test records of a checkpoint and the fixed windows measured on."""
    from edgewise.compress.calibration import synthetic_windows, windows_from_records

    w = ck.spec.window
    if data_dir is None:
        from edgewise.data.synthetic_ecg import SYNTHETIC_LABEL, synthetic_ecg

        def recs(seeds):
            return [(x, 500, waves) for x, _, waves in (synthetic_ecg(s) for s in seeds)]

        test = recs(range(100, 110))
        return EvalData([], recs(range(200, 210)), test, synthetic_windows(n_calibration, window=w, seed=seed),
                        synthetic_windows(16, window=w, seed=seed + 1), ten_seconds(test[0][0], w, stream_hop(w)),
                        f"{SYNTHETIC_LABEL}: calibration, validation and test windows are synthetic", True)
    from edgewise.models.ecg.dataset import load_records

    tr, va, te = split_ids(ck, Path(data_dir))
    if eval_records:
        va = va[:eval_records]
    train, val, test = (load_records(data_dir, ids) for ids in (tr, va, te))
    return EvalData(train, val, test, windows_from_records(train, n_calibration, window=w, seed=seed),
                    windows_from_records(test, 32, window=w, seed=seed + 1),
                    ten_seconds(test[0].lead("ii"), w, stream_hop(w)),
                    f"LUDB {data_dir}: {len(train)} train records (fine-tuning, calibration), {len(val)} validation "
                    f"(budget), {len(test)} test (reported, lead II)")


def stream_hop(window: int) -> int:
    from edgewise.runtime.ecg.stream import StreamConfig

    return StreamConfig(window=window).stitching()[0]


def ten_seconds(x: np.ndarray, window: int, hop: int, fs: int = 500) -> np.ndarray:
    """float32 [n, 1, window]: the model windows delineation scores for 10 s of ``x`` (stream hop), standardised."""
    from edgewise.runtime.ecg.preprocess import standardized_window
    from edgewise.runtime.ecg.stitch import window_starts

    n = min(len(x), 10 * fs)
    return np.stack([standardized_window(np.asarray(x, np.float32)[None, s : s + window], window)
                     for s in window_starts(n, window, hop)]).astype(np.float32)


def finetuner(data: EvalData, step: Any, kwargs: dict, log: Callable, teacher: Any = None,
              progress: Any = None) -> Callable | None:
    if data.synthetic or not data.train:
        return None
    from edgewise.compress.prune import is_multi_head

    if teacher is not None and is_multi_head(teacher):  # a Hydra: each head follows its unpruned self
        from edgewise.compress.distill import finetune_heads
        from edgewise.models.ecg.dataset import lead_examples as hydra_examples
        from edgewise.models.ecg.train import TrainConfig as Cfg

        ex = hydra_examples(data.train)
        return lambda net, epochs: finetune_heads(net, teacher, ex, config=Cfg(epochs=epochs, lr=step.finetune_lr,
                                                                                 threads=1), log=log)
    from edgewise.compress.qat import distill_hook
    from edgewise.models.ecg.dataset import lead_examples
    from edgewise.models.ecg.train import TrainConfig, train_unet

    from edgewise.models.ecg.train import crop_config

    examples = lead_examples(data.train)
    window = int(data.calibration.shape[-1])
    calls: list[int] = []

    def finetune(net, epochs: int):
        from edgewise.compress.report import wave_f1 as f1

        def val_fn(m) -> float:
            from edgewise.models.ecg.evaluate import torch_model_fn

            return float(np.mean(list(f1(torch_model_fn(m), data.val, leads=ALL_LEADS, window=window).values())))

        cfg = TrainConfig(epochs=epochs, lr=step.finetune_lr, threads=1, val_every=max(1, epochs // 3), **crop_config(window),
                          widths=tuple(kwargs.get("widths", (8, 16, 24, 32, 48))), kernel=kwargs.get("kernel", 9))
        hook = distill_hook(teacher, step.distill_weight) if teacher is not None else None
        if progress is None:
            return train_unet(examples, val_fn, config=cfg, model=net, progress=False, log=log, loss_hook=hook)
        per_epoch = -(-len(examples) * cfg.crops_per_example // cfg.batch)  # train_unet's batches per epoch
        calls.append(epochs)  # finetune runs once per prune iteration
        return progress.epochs(epochs, per_epoch, lambda h: train_unet(examples, val_fn, config=cfg, model=net,
                                                                       progress=False, log=log, loss_hook=h), hook,
                               label=f"prune iteration {len(calls)}/{step.iterations}")

    return finetune


# a fine-tuned model's P offset is re-chosen like a trained one's; it may now over-call P, so the grid
# reaches below zero
RECALIBRATION_GRID = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def recalibrate(model: Any, m: Any, log: Callable, *, before: dict[str, Any] | None = None,
                leads: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Re-choose the P-logit offset of a pruned and fine-tuned model on the validation records
    (``edgewise.models.ecg.calibrate``): fine-tuning on the labels moves the offset the uncompressed
    model was calibrated with. ``before``: the training facts of the model it was pruned from (the offset its
    head already carries, so each candidate is scored with the P edges it would ship with). ``leads``: the
    validation leads (default: the task's, ``EcgTask.val_leads``)."""
    from edgewise.models.ecg.calibrate import calibrate_p_bias, p_edge_postprocess

    prior = p_edge_postprocess(before or {}).get("p_edge_offset", 0.0)
    facts = calibrate_p_bias(model, m.data.val, leads=leads or EcgTask.val_leads(m.data), grid=RECALIBRATION_GRID,
                             window=m.window, prior=prior)
    log(f"P-logit offset re-chosen on the validation records after fine-tuning: {facts['p_logit_bias']:+.2f}")
    return {"recalibration": facts}


def synthetic_examples() -> list:
    from edgewise.data.synthetic_ecg import synthetic_ecg
    from edgewise.models.ecg.dataset import LeadExample

    out = []
    for s in range(8):
        x, mask, _ = synthetic_ecg(s)
        out.append(LeadExample(-s, "synthetic", x.astype(np.float32), mask.astype(np.int64),
                               np.ones(len(x), np.float32), np.zeros((0, len(x)), np.float32)))
    return out
