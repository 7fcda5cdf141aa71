"""Run a compression recipe on a checkpoint: prune -> quantise, measure every artifact, keep the best.

Every step's artifacts are exported and measured (``edgewise.compress.report``). A step whose model
drops any wave's F1 on the validation records by more than the recipe's budget is recorded as missed;
later steps continue from the last good model and the last good artifacts are kept. At the end a
missed budget raises ``BudgetError`` (its ``.result`` holds everything measured). After Paupamah,
James & Klein, "Quantisation and Pruning for Neural Network Compression and Regularisation".
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgewise.compress.recipe import DistillStep, PruneMode, PruneStep, QuantizeStep, Recipe, load_recipe
from edgewise.compress.report import (
    ALL_LEADS,
    ArtifactRow,
    choose_per_runtime,
    f1_drop,
    fidelity,
    latency_p50,
    slower_int8_notes,
    wave_f1,
)
from edgewise.runtime.errors import BudgetError


@dataclass
class EvalData:
    """Records for fine-tuning (train), budget checks (val) and reporting (test), plus fixed windows."""

    train: list
    val: list
    test: list
    calibration: np.ndarray
    fidelity_windows: np.ndarray
    latency_windows: np.ndarray
    source: str
    synthetic: bool = False


@dataclass
class CompressionResult:
    """What a recipe produced: every measured artifact, the kept one per runtime, missed budgets."""

    out: Path
    recipe: str
    rows: list[ArtifactRow]
    kept: dict[str, ArtifactRow]
    missed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)
    data: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "recipe": self.recipe, "data": self.data, "missed": self.missed,
                "notes": self.notes, "calibration": self.calibration, "rows": [r.as_dict() for r in self.rows],
                "kept": {k: v.path for k, v in self.kept.items()}}


def _split_ids(ck: Any, data_dir: Path) -> tuple[list[int], list[int], list[int]]:
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
                        synthetic_windows(16, window=w, seed=seed + 1), _ten_seconds(test[0][0], w, _stream_hop(w)),
                        f"{SYNTHETIC_LABEL}: calibration, validation and test windows are synthetic", True)
    from edgewise.models.ecg.dataset import load_records

    tr, va, te = _split_ids(ck, Path(data_dir))
    if eval_records:
        va = va[:eval_records]
    train, val, test = (load_records(data_dir, ids) for ids in (tr, va, te))
    return EvalData(train, val, test, windows_from_records(train, n_calibration, window=w, seed=seed),
                    windows_from_records(test, 32, window=w, seed=seed + 1),
                    _ten_seconds(test[0].lead("ii"), w, _stream_hop(w)),
                    f"LUDB {data_dir}: {len(train)} train records (fine-tuning, calibration), {len(val)} validation "
                    f"(budget), {len(test)} test (reported, lead II)")


def _stream_hop(window: int) -> int:
    from edgewise.runtime.ecg.stream import StreamConfig

    return StreamConfig(window=window).stitching()[0]


def _ten_seconds(x: np.ndarray, window: int, hop: int, fs: int = 500) -> np.ndarray:
    """float32 [n, 1, window]: the model windows delineation scores for 10 s of ``x`` (stream hop), standardised."""
    from edgewise.runtime.ecg.preprocess import standardized_window
    from edgewise.runtime.ecg.stitch import window_starts

    n = min(len(x), 10 * fs)
    return np.stack([standardized_window(np.asarray(x, np.float32)[None, s : s + window], window)
                     for s in window_starts(n, window, hop)]).astype(np.float32)


class _Measurer:
    """Measures artifacts against the uncompressed torch model on fixed data."""

    def __init__(self, ck: Any, data: EvalData, recipe: Recipe):
        from edgewise.models.ecg.evaluate import torch_model_fn

        self.ck, self.data, self.recipe = ck, data, recipe
        self.val_leads = ("ii",) if data.synthetic else ALL_LEADS
        self.ref_fn = torch_model_fn(ck.model, 1)
        self.ref_logits = self.ref_fn(data.fidelity_windows)
        self.window = ck.spec.window
        self.ref_val = wave_f1(self.ref_fn, data.val, leads=self.val_leads, window=self.window)

    def row(self, variant: str, fmt: str, path: Path | None, *, fn: Callable | None = None, precision: str = "fp32",
            step: str, params: int, macs: int, notes: str = "") -> ArtifactRow:
        from edgewise.runtime.backends import load_model

        if fn is None:
            m = load_model(path, threads=1, warmup=2)
            fn = lambda x: np.asarray(m.run(x))  # noqa: E731
        size = path.stat().st_size if path is not None else 0
        r = ArtifactRow(variant, fmt, precision, str(path or ""), step, params, macs, size, notes=notes)
        r.f1_val = wave_f1(fn, self.data.val, leads=self.val_leads, window=self.window)
        r.f1_test = wave_f1(fn, self.data.test, window=self.window)
        r.latency_ms = latency_p50(fn, self.data.latency_windows)
        r.agreement, r.mean_kl = fidelity(self.ref_logits, fn(self.data.fidelity_windows))
        drops = f1_drop(r, self.ref_val)
        r.within_budget = (max(drops.values()) <= self.recipe.budget.max_f1_drop + 1e-12
                           and r.agreement >= self.recipe.budget.min_agreement)
        return r


def _export(ck: Any, out: Path, x: np.ndarray, formats=("onnx", "tflite")) -> dict[str, Path]:
    from edgewise.export import export_checkpoint

    return {a.format: a.path for a in export_checkpoint(ck, to=formats, out=out, inputs=x[:8])}


def _finetuner(data: EvalData, step: PruneStep, kwargs: dict, log: Callable, teacher: Any = None,
               progress: _Progress | None = None) -> Callable | None:
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


class _Progress:
    """One tqdm bar over a recipe run, with an ETA: a unit per fine-tuning epoch of every prune iteration
    (they dominate the run) and one per export-and-measure phase (the original model, each step's
    artifacts). A quantize step counts 1 + ``qat_epochs`` units and completes at once: its QAT fallback
    (one round, as the default recipe's TFLite file needs on LUDB) runs inside ``quantize_step``, which
    reports no epochs; without QAT the bar jumps, with a second QAT round it waits at the step."""

    def __init__(self, recipe: Recipe, data: EvalData, *, enabled: bool, steps: tuple | None = None):
        from tqdm import tqdm

        tune = not data.synthetic and bool(data.train)
        self.weights = [1 + (s.iterations * s.finetune_epochs if tune else 0) if isinstance(s, PruneStep)
                        else 1 + (s.qat_epochs if tune else 0) for s in (recipe.steps if steps is None else steps)]
        self.bar = tqdm(total=1 + sum(self.weights), desc=f"compress {recipe.name}", unit="step", disable=not enabled)

    def phase(self, text: str) -> None:
        self.bar.set_postfix_str(text)

    def done(self, n: int = 1) -> None:
        self.bar.update(n)

    def wrap_log(self, log: Callable[[str], None]) -> Callable[[str], None]:
        """``log`` with the bar cleared while a line is written (lines do not tear the bar)."""
        if self.bar.disable:
            return log

        def write(msg: str) -> None:
            with self.bar.external_write_mode():
                log(msg)

        return write

    def epochs(self, n: int, per_epoch: int, train: Callable[[Callable | None], Any], hook: Callable | None, *,
               label: str = "") -> Any:
        """Run ``train(loss_hook)`` ticking one unit per ``per_epoch`` batches: train_unet has no epoch
        callback, but it calls its loss hook once per batch (the wrapper adds 0 to the loss when there is
        no hook to wrap)."""
        start, count, prefix = self.bar.n, [0], f"{label}, " if label else ""

        def counting(model, x, logits):
            count[0] += 1
            if count[0] % per_epoch == 0 and self.bar.n < start + n:
                self.done()
                self.phase(f"{prefix}fine-tune epoch {min(n, count[0] // per_epoch + 1)}/{n}")
            return hook(model, x, logits) if hook is not None else 0.0

        self.phase(f"{prefix}fine-tune epoch 1/{n}")
        out = train(counting)
        self.done(start + n - self.bar.n)  # whatever the count missed
        return out

    def close(self) -> None:
        self.bar.close()


@dataclass
class _State:
    """The last good model: checkpoint, its fp32 artifacts and their rows."""

    ck: Any
    name: str
    files: dict[str, Path]
    params: int
    macs: int
    formats: tuple[str, ...] = ("onnx", "tflite")


def _prune_step(state: _State, step: PruneStep, m: _Measurer, out: Path, log: Callable,
                progress: _Progress | None = None) -> tuple[list[ArtifactRow], _State | None]:
    from edgewise.compress.prune import gzip_size, structured_prune, unstructured_prune
    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
    from edgewise.models.ecg.dataset import lead_examples

    kwargs = dict(state.ck.model_kwargs or {})
    finetune = _finetuner(m.data, step, kwargs, log, teacher=state.ck.model, progress=progress)
    if step.mode == PruneMode.STRUCTURED:
        examples = lead_examples(m.data.train) if m.data.train else _synthetic_examples()
        res = structured_prune(state.ck.model, step, examples, finetune=finetune, kernel=int(kwargs.get("kernel", 9)),
                               log=log)
    else:
        res = unstructured_prune(state.ck.model, step, finetune=finetune, kwargs=kwargs)
    name = f"{state.name}-pruned" if step.mode == PruneMode.STRUCTURED else f"{state.name}-sparse"
    if progress is not None:
        progress.phase(f"recalibrate, export and measure {name}")
    recal = _recalibrate(res.model, m, log) if finetune is not None else {}
    training = {**(state.ck.training or {}), "compression": {"pruning": {**res.facts(), "ratio": step.ratio,
                "importance": step.importance.value, "iterations": step.iterations,
                "finetune_epochs": step.finetune_epochs, "distill_weight": step.distill_weight,
                "data": m.data.source, **recal}}}
    training.pop("history", None)
    ckpt = out / name / f"{name}.pt"
    save_checkpoint(ckpt, spec=state.ck.spec, model=res.model, model_kwargs=res.model_kwargs, training=training,
                    metrics={"uncompressed_model": _metric_summary(state.ck),
                             "note": "this model's own held-out metrics are in compression.json"})
    ck = load_checkpoint(ckpt)
    files = _export(ck, out / name, m.data.fidelity_windows, state.formats)
    note = "" if step.mode == PruneMode.STRUCTURED else (
        f"unstructured: {res.params_after} non-zero of {res.params_before}; gzip state dict {gzip_size(res.model)} B "
        f"vs {gzip_size(state.ck.model)} B; dense files and latency unchanged")
    rows = [m.row(name, "torch", None, fn=_torch_fn(ck.model), step="prune", params=res.params_after,
                  macs=res.macs_after, notes=note)]
    rows += [m.row(name, f, p, step="prune", params=res.params_after, macs=res.macs_after, notes=note)
             for f, p in files.items()]
    ok = all(r.within_budget for r in rows)
    return rows, _State(ck, name, files, res.params_after, res.macs_after, state.formats) if ok else None


# a fine-tuned model's P offset is re-chosen like a trained one's; it may now over-call P, so the grid
# reaches below zero
RECALIBRATION_GRID = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def _recalibrate(model: Any, m: _Measurer, log: Callable) -> dict[str, Any]:
    """Re-choose the P-logit offset of a pruned and fine-tuned model on the validation records
    (``edgewise.models.ecg.calibrate``): fine-tuning on the labels moves the offset the uncompressed
    model was calibrated with."""
    from edgewise.models.ecg.calibrate import calibrate_p_bias

    facts = calibrate_p_bias(model, m.data.val, leads=m.val_leads, grid=RECALIBRATION_GRID, window=m.window)
    log(f"P-logit offset re-chosen on the validation records after fine-tuning: {facts['p_logit_bias']:+.2f}")
    return {"recalibration": facts}


def _metric_summary(ck: Any) -> dict[str, Any]:
    """The uncompressed model's wave F1 per evaluation and its checkpoint's sha256.

    Its per-boundary statistics stay in its own checkpoint/artifacts: copied into every compressed
    artifact they were ~2.7 KB of each file's metadata, a tenth of a small int8 file.
    """
    out: dict[str, Any] = {"checkpoint_sha256": ck.sha256 or None}
    for k, v in (ck.metrics or {}).items():
        if isinstance(v, dict) and "wave_f1" in v:
            out[k] = {"wave_f1": v["wave_f1"]}
        elif isinstance(v, dict) and "uncompressed_model" not in k:
            out[k] = v
    return out


def _synthetic_examples() -> list:
    from edgewise.data.synthetic_ecg import synthetic_ecg
    from edgewise.models.ecg.dataset import LeadExample

    out = []
    for s in range(8):
        x, mask, _ = synthetic_ecg(s)
        out.append(LeadExample(-s, "synthetic", x.astype(np.float32), mask.astype(np.int64),
                               np.ones(len(x), np.float32), np.zeros((0, len(x)), np.float32)))
    return out


def _torch_fn(model: Any) -> Callable:
    from edgewise.models.ecg.evaluate import torch_model_fn

    return torch_model_fn(model, 1)


def compress_checkpoint(ckpt: Any, recipe: Recipe | str | Path, out: str | Path, *, data_dir: str | Path | None,
                        calibration: np.ndarray | None = None, log: Callable[[str], None] = print,
                        progress: bool = False) -> CompressionResult:
    """Run ``recipe`` on a checkpoint; write every artifact and ``compression.json`` into ``out``.

    Args:
        ckpt: ``.pt`` path or ``edgewise.models.checkpoint.Checkpoint``; with a ``distill`` first step, the
            ensemble's folder (``edgewise train ecg --members M --out DIR``).
        recipe: a ``Recipe`` or a TOML file.
        out: output folder.
        data_dir: LUDB folder (fine-tuning, calibration, evaluation); None: SYNTHETIC ECG (said in the result).
        calibration: float32 [n, 1, window] windows to calibrate on instead of the training records' windows.
        progress: show a tqdm bar with an ETA over the recipe's fine-tuning epochs and measurements.

    Returns:
        The measured rows and the kept artifact per runtime.

    Raises:
        CalibrationError: too few or unrepresentative calibration windows (before anything is quantised).
        BudgetError: a step missed the accuracy budget; ``.result`` holds the measurements and the last
            good artifacts are kept.
    """
    from edgewise.compress._quantize_step import quantize_step
    from edgewise.compress.calibration import check_calibration
    from edgewise.export import resolve_checkpoint
    from edgewise.models.ecg.unet import count_macs

    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps, ensemble = recipe.steps, None
    if isinstance(steps[0], DistillStep):  # an ensemble in: the distilled network is what the rest compresses
        from edgewise.compress._distill_step import distill_step

        ckpt, ensemble = distill_step(steps[0], ckpt, out / "distill", data_dir=data_dir, progress=progress, log=log)
        steps = steps[1:]
    ck = resolve_checkpoint(ckpt)
    q = next((s for s in steps if isinstance(s, QuantizeStep)), None)
    data = load_eval_data(ck, Path(data_dir) if data_dir else None, n_calibration=q.calibration_windows if q else 16,
                          eval_records=recipe.eval_records)
    calib_note = "windows of the training records" if not data.synthetic else "SYNTHETIC ECG windows"
    if calibration is not None:
        data.calibration, calib_note = np.asarray(calibration, np.float32), "windows given by the caller"
    m = _Measurer(ck, data, recipe)
    calib = {}
    if q is not None:  # fail before any long step
        calib = check_calibration(data.calibration, input_shape=ck.spec.input_shape, min_windows=q.min_calibration_windows,
                                  fs=ck.spec.sample_rate, model_fn=m.ref_fn, source=calib_note).as_dict()
    params = sum(p.numel() for p in ck.model.parameters())
    macs = count_macs(ck.model, 5000)
    formats = ("onnx", "tflite") if q is None or "tflite" in q.formats else ("onnx",)
    prog = _Progress(recipe, data, enabled=progress, steps=steps)
    log = prog.wrap_log(log)
    prog.phase(f"export and measure {ck.spec.name}")
    files = _export(ck, out / "fp32", data.fidelity_windows, formats)
    state = _State(ck, ck.spec.name, files, params, macs, formats)
    rows = [m.row(ck.spec.name, "torch", None, fn=m.ref_fn, step="original", params=params, macs=macs)]
    rows += [m.row(ck.spec.name, f, p, step="original", params=params, macs=macs) for f, p in files.items()]
    prog.done()
    missed: list[str] = []
    if ensemble is not None:
        teacher, drop = _teacher_row(ensemble, m, rows[0])
        rows.insert(0, teacher)
        if drop is not None:
            missed.append(drop)
    for i, step in enumerate(steps, 1):
        if isinstance(step, PruneStep):
            prog.phase(f"step {i}/{len(steps)}: prune")
            new, nxt = _prune_step(state, step, m, out, log, prog if progress else None)
            rows += new
            if nxt is None:
                missed.append(_missed("prune", new, m, recipe))
            else:
                state = nxt
        else:
            prog.phase(f"step {i}/{len(steps)}: quantize" + (f" (QAT fallback: {step.qat_epochs} epochs)"
                                                                    if step.qat_epochs else ""))
            new = quantize_step(state, step, m, out, calib_note, log)
            rows += new
            if not any(r.within_budget for r in new):
                missed.append(_missed("quantize", new, m, recipe))
        prog.done(1 + sum(prog.weights[:i]) - prog.bar.n)  # the step's remaining units
    prog.close()
    kept = choose_per_runtime(rows)
    result = CompressionResult(out, recipe.name, rows, kept, missed, slower_int8_notes(rows), calib, data.source)
    (out / "compression.json").write_text(json.dumps(result.as_dict(), indent=1, default=float))
    _write_report(result)
    for rt, r in kept.items():
        shutil.copyfile(r.path, out / f"kept-{rt}{Path(r.path).suffix}")
    if missed:
        err = BudgetError(" ".join(missed) + f" Kept the last good artifacts: "
                          f"{', '.join(f'{rt}: {Path(r.path).name}' for rt, r in kept.items())} (in {out}).")
        err.result = result
        raise err
    return result


def _teacher_row(ensemble: Path, m: _Measurer, student: ArtifactRow) -> tuple[ArtifactRow, str | None]:
    """The ensemble measured like any row, and the distill step's budget: the student's validation F1
    against the ensemble's (None when kept)."""
    from edgewise.compress._distill_step import ensemble_fn

    fn, params, macs = ensemble_fn(ensemble)
    row = m.row("ensemble", "torch", None, fn=fn, step="teacher", params=params, macs=macs,
                notes=f"the {ensemble} ensemble the distill step started from")
    drops = {k: row.f1_val[k] - student.f1_val[k] for k in row.f1_val}
    if max(drops.values()) <= m.recipe.budget.max_f1_drop + 1e-12:
        return row, None
    return row, (f"the distill step missed its budget (wave F1 drop <= {m.recipe.budget.max_f1_drop:g} against the "
                 f"ensemble on validation records): {student.variant} drops "
                 + ", ".join(f"{k} {v:+.4f}" for k, v in drops.items()) + ".")


def _missed(step: str, rows: list[ArtifactRow], m: _Measurer, recipe: Recipe) -> str:
    worst = min(rows, key=lambda r: max(f1_drop(r, m.ref_val).values()))
    drops = f1_drop(worst, m.ref_val)
    return (f"the {step} step missed its budget (wave F1 drop <= {recipe.budget.max_f1_drop:g} on validation records): "
            f"best {worst.variant} ({worst.format}) drops " + ", ".join(f"{k} {v:+.4f}" for k, v in drops.items()) + ".")


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


def stamp_metrics(path: str | Path, row: ArtifactRow, *, dest: str | Path | None = None) -> Path:
    """Copy an artifact to ``dest`` (default: in place) with its measured held-out metrics in the metadata."""
    from edgewise.export.metadata import update_metadata
    from edgewise.runtime.artifact import read_metadata

    old = (read_metadata(path) or {}).get("metrics") or {}
    if row.step != "original":  # a compressed file: what it was made from is its reference, not its own figures
        old = uncompressed_metrics(old)
    stale = ("note",)  # "this model's own held-out metrics are in compression.json": now they are here
    metrics = {**{k: v for k, v in old.items() if k not in stale}, "test_lead_ii_wave_f1": row.f1_test,
               "val_all_leads_wave_f1": row.f1_val, "agreement_with_uncompressed": row.agreement,
               "mean_kl_to_uncompressed": row.mean_kl, "latency_ms_10s_1thread_host": row.latency_ms}
    return Path(update_metadata(path, {"metrics": metrics}, dest=dest, merge=False))


def _write_report(result: CompressionResult) -> Path:
    """``report.md`` / ``report.html`` beside the artifacts: the per-artifact table and the kept ones."""
    from edgewise.compress.report import add_tables
    from edgewise.reporting import Report

    rep = Report(f"edgewise compress ({result.recipe})", result.out)
    rep.text(f"Data: {result.data}.")
    if result.calibration:
        rep.text("Calibration: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in result.calibration.items()))
    ref = next(r for r in result.rows if r.format == "onnx" and r.step == "original")
    add_tables(rep, result.rows, ref=ref, kept=result.kept, notes=result.notes)
    for r in result.rows:
        if r.notes:
            rep.text(f"{r.variant} ({r.format}): {r.notes}.")
    for m in result.missed:
        rep.text(f"BUDGET MISSED: {m}")
    return rep.write()
