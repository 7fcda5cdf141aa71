"""The mosquito detection task of a compression run: held-out recordings, window and clip ROC-AUC.

Parts are recordings of the mosquito dataset (``labels.csv`` layout, ``edgewise.data.mosquito``) cut into the
detector's windows (2 s, hop 1 s; clips shorter than a window tiled, under 0.05 s left out) with their log-Mel
features computed once by the runtime's own front end (``heads_eval.part_windows``), so every artifact is
scored on the same model inputs:

- train: the checkpoint's training recordings (``training.split_recordings.train``): calibration windows only,
  half drawn from mosquito recordings and half from the others (the two classes the activation ranges must
  cover);
- val: its validation recordings (the budget; ``eval_records`` caps them);
- test: every other labelled recording: the checkpoint's own test recordings and every recording added to the
  dataset since it was trained (none of them ever seen by the model). The source line says how many.
  A checkpoint without a recorded split is split by recording as ``edgewise train mosquito`` splits
  (``edgewise.models.mosquito.api.load_split``, the checkpoint's seed).

The metric: window ROC-AUC (labelled windows) and clip ROC-AUC (clip score = mean of the top-3 window
probabilities, ``edgewise.runtime.mosquito.clip_score``), the figures ``edgewise evaluate mosquito`` reports
and the deploy chooser reads (``window_roc_auc``, ``clip_roc_auc``). The budget is ``budget.max_auc_drop`` on
both, on the validation recordings. Latency: one 2-s window's model call. Only quantize steps: pruning and QAT
need a mosquito fine-tuning loop in the recipe engine, which is not built; a recipe asking for them fails
before anything runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgewise.compress.tasks import EvalData

__all__ = ["MosquitoTask", "load_parts"]

METRICS = ("window_roc_auc", "clip_roc_auc")
FIDELITY_WINDOWS = 64


class MosquitoTask:
    """Mosquito detection (``spec.task`` = ``mosquito-detection``): see the module docstring."""

    name = "mosquito-detection"
    dataset = "mosquito"
    metric_keys = METRICS
    metric_columns = ("window AUC", "clip AUC")
    test_caption = "ROC-AUC on held-out recordings (windows, clips)"
    unit = "one 2-s window"
    macs_label = "MACs/window"
    trainable = False

    def load(self, ck: Any, data_dir: Path | None, *, n_calibration: int, eval_records: int = 0,
             seed: int = 0) -> EvalData:
        if data_dir is None:
            raise FileNotFoundError("compressing a mosquito model needs the mosquito dataset (labels.csv layout): "
                                    "pass --data DIR; there is no synthetic stand-in for its held-out metrics")
        return load_parts(ck, Path(data_dir), n_calibration=n_calibration, eval_records=eval_records, seed=seed)

    @staticmethod
    def postprocess_facts(before: dict[str, Any], recal: dict[str, Any]) -> dict[str, Any]:
        """Nothing: a detector's post-processing (events) does not depend on its training."""
        return {}

    @staticmethod
    def torch_fn(model: Any) -> Callable[[np.ndarray], np.ndarray]:
        import torch

        def fn(x: np.ndarray) -> np.ndarray:
            model.eval()
            with torch.inference_mode():
                return np.concatenate([model(torch.from_numpy(np.ascontiguousarray(x[i : i + 256], np.float32))).numpy()
                                       for i in range(0, len(x), 256)])

        return fn

    @staticmethod
    def fidelity_view(z: np.ndarray) -> np.ndarray:
        """Logits [n, 2] (or a Hydra's [n, heads, 2]) as the one-sample-long outputs ``report.fidelity`` compares."""
        return np.asarray(z)[..., None]

    @staticmethod
    def score(fn: Callable, data: EvalData, part: str, ck: Any = None) -> dict[str, float]:
        """Window and clip ROC-AUC of ``fn`` (features -> logits) on the ``"val"`` or ``"test"`` part."""
        from edgewise.models.mosquito.heads_eval import auroc, clip_scores, head_probabilities

        p = getattr(data, part)
        prob = head_probabilities(fn, p.x).mean(axis=1)
        lab = np.isfinite(p.labels)
        return {"window_roc_auc": auroc(p.labels[lab].astype(int), prob[lab]),
                "clip_roc_auc": auroc(p.mosquito, clip_scores(p, prob))}

    @staticmethod
    def max_drop(budget: Any) -> float:
        return float(budget.max_auc_drop)

    @staticmethod
    def macs(model: Any) -> int:
        from edgewise.models.mosquito.hydra import count_macs

        return count_macs(model)

    @staticmethod
    def check_calibration(x: np.ndarray, ck: Any, *, min_windows: int, model_fn: Callable, source: str) -> dict:
        """Refuse calibration windows that are not the model's log-Mel input or hold only one class.

        Raises:
            CalibrationError: wrong shape, non-finite, too few (distinct) windows, values outside the log-Mel dB
                range the front end produces, or the float model calling (almost) none or all of them mosquito.
        """
        from edgewise.compress.calibration import CalibrationError

        x = np.asarray(x, np.float32)
        shape = tuple(int(d) for d in ck.spec.input_shape)
        if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            raise CalibrationError(f"calibration windows must be log-Mel features [n, {', '.join(map(str, shape))}], "
                                   f"got {x.shape}; compute them with edgewise.runtime.features.logmel.log_mel")
        if not np.all(np.isfinite(x)):
            raise CalibrationError(f"calibration windows contain {int(np.sum(~np.isfinite(x)))} NaN/inf values")
        n = len(x)
        distinct = len(np.unique(np.round(x.reshape(n, -1)[:, ::64], 2), axis=0))
        if n < min_windows or distinct < min_windows:
            raise CalibrationError(f"too little calibration data: {n} window(s), {distinct} distinct; need at least "
                                   f"{min_windows} from many recordings")
        lo, hi = float(np.percentile(x, 1)), float(np.percentile(x, 99))
        if lo < -150 or hi > 150 or hi - lo < 10:
            raise CalibrationError(f"calibration windows span {lo:.3g}..{hi:.3g} (1st-99th percentile), not the log-Mel dB "
                                   "range of real audio; pass the front end's output, not raw or normalised features")
        from edgewise.runtime.uncertainty import softmax

        z = np.asarray(model_fn(x), np.float64)
        share = float(np.mean(softmax(z.reshape(len(z), -1, z.shape[-1]), axis=-1)[..., 1].mean(axis=1) >= 0.5))
        if not 0.05 <= share <= 0.95:
            raise CalibrationError(f"the float model calls {share:.0%} of the calibration windows mosquito: calibrate on "
                                   "windows of both mosquito and other recordings, or int8 ranges miss one of them")
        return {"n_windows": n, "n_distinct": distinct, "db_p01": lo, "db_p99": hi, "mosquito_share": share,
                "source": source}

    @staticmethod
    def stamp(row: Any, old: dict[str, Any], reference: Any = None) -> dict[str, Any]:
        """The metadata ``metrics``: this run's held-out ROC-AUCs (what the deploy chooser reads) and, for a
        compressed file, the uncompressed fp32 file's figures measured on the same recordings. What the file
        carried before (its training split's figures) stays under ``at_training``."""
        out = {"window_roc_auc": row.f1_test["window_roc_auc"], "clip_roc_auc": row.f1_test["clip_roc_auc"],
               "val_window_roc_auc": row.f1_val["window_roc_auc"], "val_clip_roc_auc": row.f1_val["clip_roc_auc"],
               "agreement_with_uncompressed": row.agreement, "mean_kl_to_uncompressed": row.mean_kl,
               "latency_ms_window_1thread_host": row.latency_ms}
        if reference is not None and reference is not row:
            out["uncompressed_model"] = {k: reference.f1_test[k] for k in METRICS}
        if "latency_ms_window_1thread_host" in old:  # stamped before: keep its record of the training figures
            prior = old.get("at_training") or {}
        else:
            prior = {k: v for k, v in old.items() if k != "uncompressed_model"}
        return {**out, "at_training": prior} if prior else out


def _names(ck: Any) -> dict[str, list[str]] | None:
    from edgewise.models.mosquito.api import split_names

    names = split_names(ck)
    return names if names is not None and names.get("train") and names.get("val") else None


def load_parts(ck: Any, data_dir: Path, *, n_calibration: int, eval_records: int = 0, seed: int = 0) -> EvalData:
    """The checkpoint's training / validation recordings and every other labelled recording as test, windowed."""
    from edgewise.data.mosquito import ClipLabel, read_recordings
    from edgewise.models.mosquito.api import DEFAULT_CACHE, decode_recordings, load_split
    from edgewise.models.mosquito.heads_eval import part_windows

    spec = ck.spec
    recs = [r for r in read_recordings(data_dir) if r.label is not ClipLabel.UNKNOWN]
    names = _names(ck)
    if names is not None:
        known = {k: set(v) for k, v in names.items()}
        train = [r for r in recs if r.rel in known["train"]]
        val = [r for r in recs if r.rel in known["val"]]
        test = [r for r in recs if r.rel not in known["train"] and r.rel not in known["val"]]
        own_test = sum(r.rel in known.get("test", set()) for r in test)
        how = (f"the checkpoint's own split: {len(train)} training recordings (calibration), {len(val)} validation "
               f"(budget), {len(test)} test = its {own_test} test recordings + {len(test) - own_test} recordings it never "
               "saw (added to the dataset since)")
        decoded = {k: decode_recordings(v, sample_rate=spec.sample_rate, cache_dir=DEFAULT_CACHE)
                   for k, v in (("train", train), ("val", val), ("test", test))}
    else:
        s = int((ck.training or {}).get("seed", seed))
        decoded = load_split(data_dir, sample_rate=spec.sample_rate, seed=s)
        how = f"split by recording (seed {s}; the checkpoint records no split)"
    if eval_records:
        decoded["val"] = tuple(v[:eval_records] for v in decoded["val"])
    parts = {k: part_windows(list(v[0]), list(v[1]), spec) for k, v in decoded.items()}
    for k in ("val", "test"):
        p = parts[k]
        labelled = p.labels[np.isfinite(p.labels)]
        if p.mosquito.all() or not p.mosquito.any() or len(np.unique(labelled)) < 2:
            raise ValueError(f"the {k} recordings of {data_dir} hold only one class ({int(p.mosquito.sum())} of "
                             f"{len(p.names)} clips mosquito, {int((labelled == 1).sum())} of {labelled.size} labelled "
                             "windows): no window and clip ROC-AUC to budget or report on")
    rng = np.random.default_rng(seed)
    calib = _balanced(parts["train"], n_calibration, rng)
    fid = parts["test"].x[rng.choice(len(parts["test"]), min(FIDELITY_WINDOWS, len(parts["test"])), replace=False)]
    source = (f"mosquito {data_dir}: {how}; {len(parts['val'])} validation and {len(parts['test'])} test windows "
              "(2 s, hop 1 s)")
    return EvalData(parts["train"], parts["val"], parts["test"], calib, fid, parts["test"].x[:1].copy(), source)


def _balanced(part: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` windows of ``part``: half from mosquito recordings, half from the others (as far as they go)."""
    pos = np.flatnonzero(part.mosquito[part.clip])
    neg = np.flatnonzero(~part.mosquito[part.clip])
    k = min(n // 2, len(pos))
    pick = np.r_[rng.choice(pos, k, replace=False) if k else np.zeros(0, int),
                 rng.choice(neg, min(n - k, len(neg)), replace=False) if len(neg) else np.zeros(0, int)]
    return part.x[np.sort(pick).astype(int)].astype(np.float32)
