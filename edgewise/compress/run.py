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
    ArtifactRow,
    choose_per_runtime,
    f1_drop,
    fidelity,
    latency_p50,
    slower_int8_notes,
)
from edgewise.compress.tasks import EvalData, task_for
from edgewise.compress.tasks.ecg import uncompressed_metrics
from edgewise.runtime.errors import BudgetError

__all__ = ["CompressionResult", "EvalData", "compress_checkpoint", "stamp_metrics", "uncompressed_metrics"]


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
    task: str = "ecg-delineation"

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "recipe": self.recipe, "task": self.task, "data": self.data, "missed": self.missed,
                "notes": self.notes, "calibration": self.calibration, "rows": [r.as_dict() for r in self.rows],
                "kept": {k: v.path for k, v in self.kept.items()}}


class _Measurer:
    """Measures artifacts against the uncompressed torch model on fixed data, with the task's metric."""

    def __init__(self, ck: Any, data: EvalData, recipe: Recipe, task: Any):
        self.ck, self.data, self.recipe, self.task = ck, data, recipe, task
        self.ref_fn = task.torch_fn(ck.model)
        self.view = getattr(task, "fidelity_view", lambda z: z)  # outputs as report.fidelity compares them
        self.ref_logits = self.view(self.ref_fn(data.fidelity_windows))
        self.window = ck.spec.window
        self.ref_val = task.score(self.ref_fn, data, "val", ck)

    def row(self, variant: str, fmt: str, path: Path | None, *, fn: Callable | None = None, precision: str = "fp32",
            step: str, params: int, macs: int, notes: str = "", ck: Any = None) -> ArtifactRow:
        """Measure one model; ``ck``: the checkpoint it was made from (default: the original), whose training facts
        the task scores with (ECG: the P offset its head carries after a pruning step's recalibration)."""
        from edgewise.runtime.backends import load_model

        if fn is None:
            m = load_model(path, threads=1, warmup=2)
            fn = lambda x: np.asarray(m.run(x))  # noqa: E731
        size = path.stat().st_size if path is not None else 0
        r = ArtifactRow(variant, fmt, precision, str(path or ""), step, params, macs, size, notes=notes)
        r.f1_val = self.task.score(fn, self.data, "val", ck or self.ck)
        r.f1_test = self.task.score(fn, self.data, "test", ck or self.ck)
        r.latency_ms = latency_p50(fn, self.data.latency_windows)
        r.agreement, r.mean_kl = fidelity(self.ref_logits, self.view(fn(self.data.fidelity_windows)))
        drops = f1_drop(r, self.ref_val)
        r.within_budget = (max(drops.values()) <= self.task.max_drop(self.recipe.budget) + 1e-12
                           and r.agreement >= self.recipe.budget.min_agreement)
        return r


def _export(ck: Any, out: Path, x: np.ndarray, formats=("onnx", "tflite")) -> dict[str, Path]:
    from edgewise.export import export_checkpoint

    return {a.format: a.path for a in export_checkpoint(ck, to=formats, out=out, inputs=x[:8])}


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

    kwargs = dict(state.ck.model_kwargs or {})
    finetune = m.task.finetuner(m.data, step, kwargs, log, teacher=state.ck.model, progress=progress)
    if step.mode == PruneMode.STRUCTURED:
        examples = m.task.examples(m.data)
        res = structured_prune(state.ck.model, step, examples, finetune=finetune, kernel=int(kwargs.get("kernel", 9)),
                               log=log)
    else:
        res = unstructured_prune(state.ck.model, step, finetune=finetune, kwargs=kwargs)
    name = f"{state.name}-pruned" if step.mode == PruneMode.STRUCTURED else f"{state.name}-sparse"
    if progress is not None:
        progress.phase(f"recalibrate, export and measure {name}")
    recal = m.task.recalibrate(res.model, m, log, before=state.ck.training or {}) if finetune is not None else {}
    training = {**(state.ck.training or {}), "compression": {"pruning": {**res.facts(), "ratio": step.ratio,
                "importance": step.importance.value, "iterations": step.iterations,
                "finetune_epochs": step.finetune_epochs, "distill_weight": step.distill_weight,
                "data": m.data.source, **recal}}}
    training.pop("history", None)
    training.update(m.task.postprocess_facts(state.ck.training or {}, recal))
    ckpt = out / name / f"{name}.pt"
    save_checkpoint(ckpt, spec=state.ck.spec, model=res.model, model_kwargs=res.model_kwargs, training=training,
                    metrics={"uncompressed_model": _metric_summary(state.ck),
                             "note": "this model's own held-out metrics are in compression.json"})
    ck = load_checkpoint(ckpt)
    files = _export(ck, out / name, m.data.fidelity_windows, state.formats)
    note = "" if step.mode == PruneMode.STRUCTURED else (
        f"unstructured: {res.params_after} non-zero of {res.params_before}; gzip state dict {gzip_size(res.model)} B "
        f"vs {gzip_size(state.ck.model)} B; dense files and latency unchanged")
    rows = [m.row(name, "torch", None, fn=m.task.torch_fn(ck.model), step="prune", params=res.params_after, ck=ck,
                  macs=res.macs_after, notes=note)]
    rows += [m.row(name, f, p, step="prune", params=res.params_after, macs=res.macs_after, notes=note, ck=ck)
             for f, p in files.items()]
    ok = all(r.within_budget for r in rows)
    return rows, _State(ck, name, files, res.params_after, res.macs_after, state.formats) if ok else None


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


def compress_checkpoint(ckpt: Any, recipe: Recipe | str | Path, out: str | Path, *, data_dir: str | Path | None,
                        calibration: np.ndarray | None = None, log: Callable[[str], None] = print,
                        progress: bool = False) -> CompressionResult:
    """Run ``recipe`` on a checkpoint; write every artifact and ``compression.json`` into ``out``.

    Args:
        ckpt: ``.pt`` path or ``edgewise.models.checkpoint.Checkpoint``; with a ``distill`` first step, the
            ensemble's folder (``edgewise train ecg --members M --out DIR``).
        recipe: a ``Recipe`` or a TOML file.
        out: output folder.
        data_dir: the task's dataset folder (ECG: LUDB, fine-tuning, calibration, evaluation; None: SYNTHETIC ECG,
            said in the result; mosquito: the mosquito dataset, required).
        calibration: model inputs to calibrate on instead of the training data's windows (ECG: float32
            [n, 1, window] standardised; mosquito: log-Mel features [n, 1, mels, frames]).
        progress: show a tqdm bar with an ETA over the recipe's fine-tuning epochs and measurements.

    Returns:
        The measured rows and the kept artifact per runtime.

    Raises:
        ValueError: a recipe step the checkpoint's task cannot run (mosquito: prune, distill, QAT), before any work.
        CalibrationError: too few or unrepresentative calibration windows (before anything is quantised).
        BudgetError: a step missed the accuracy budget; ``.result`` holds the measurements and the last
            good artifacts are kept.
    """
    from edgewise.compress._quantize_step import quantize_step
    from edgewise.export import resolve_checkpoint

    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps, ensemble = recipe.steps, None
    if isinstance(steps[0], DistillStep):  # an ensemble in: the distilled network is what the rest compresses
        from edgewise.compress._distill_step import distill_step

        ckpt, ensemble = distill_step(steps[0], ckpt, out / "distill", data_dir=data_dir, progress=progress, log=log)
        steps = steps[1:]
    ck = resolve_checkpoint(ckpt)
    task = task_for(ck.spec)
    q = next((s for s in steps if isinstance(s, QuantizeStep)), None)
    _check_steps(task, recipe, q)
    data = task.load(ck, Path(data_dir) if data_dir else None, n_calibration=q.calibration_windows if q else 16,
                     eval_records=recipe.eval_records)
    calib_note = "windows of the training records" if not data.synthetic else "SYNTHETIC ECG windows"
    if calibration is not None:
        data.calibration, calib_note = np.asarray(calibration, np.float32), "windows given by the caller"
    m = _Measurer(ck, data, recipe, task)
    calib = {}
    if q is not None:  # fail before any long step
        calib = task.check_calibration(data.calibration, ck, min_windows=q.min_calibration_windows, model_fn=m.ref_fn,
                                       source=calib_note)
    params = sum(p.numel() for p in ck.model.parameters())
    macs = task.macs(ck.model)
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
    result = CompressionResult(out, recipe.name, rows, kept, missed, slower_int8_notes(rows), calib, data.source, task.name)
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


def _check_steps(task: Any, recipe: Recipe, q: QuantizeStep | None) -> None:
    """Refuse, before any work, the steps a task without a fine-tuning loop cannot run."""
    if task.trainable:
        return
    asked = [s.kind.value for s in recipe.steps if not isinstance(s, QuantizeStep)]
    if q is not None and q.qat_epochs:
        asked.append(f"quantize with qat_epochs = {q.qat_epochs}")
    if asked:
        raise ValueError(f"the {task.name} task runs quantize steps only (no fine-tuning loop in the recipe engine); "
                         f"recipe {recipe.name!r} asks for: {', '.join(asked)}. Set qat_epochs = 0 and drop the other steps")


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
    return (f"the {step} step missed its budget ({'/'.join(m.task.metric_keys)} drop <= "
            f"{m.task.max_drop(recipe.budget):g} on the validation data): "
            f"best {worst.variant} ({worst.format}) drops " + ", ".join(f"{k} {v:+.4f}" for k, v in drops.items()) + ".")


def stamp_metrics(path: str | Path, row: ArtifactRow, *, dest: str | Path | None = None, task: Any = None,
                  reference: ArtifactRow | None = None) -> Path:
    """Copy an artifact to ``dest`` (default: in place) with its measured held-out metrics in the metadata.

    ``task``: the compression task (default ECG); ``reference``: the uncompressed file's row measured in the same
    run (the mosquito task records its figures beside a compressed file's: the deploy chooser's reference).
    """
    from edgewise.compress.tasks.ecg import EcgTask
    from edgewise.export.metadata import update_metadata
    from edgewise.runtime.artifact import read_metadata

    old = (read_metadata(path) or {}).get("metrics") or {}
    metrics = (task or EcgTask()).stamp(row, old, reference)
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
    task = task_for(result.task)
    ref = next(r for r in result.rows if r.format == "onnx" and r.step == "original")
    add_tables(rep, result.rows, ref=ref, kept=result.kept, notes=result.notes, task=task)
    for r in result.rows:
        if r.notes:
            rep.text(f"{r.variant} ({r.format}): {r.notes}.")
    for m in result.missed:
        rep.text(f"BUDGET MISSED: {m}")
    return rep.write()
