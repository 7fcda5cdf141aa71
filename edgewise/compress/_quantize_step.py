"""The recipe's quantise step: PTQ, then the fallbacks when it misses the accuracy budget.

1. post-training INT8 of the last good model: ONNX (QOperator and QDQ) and TFLite (int8 activations);
2. if no int8 artifact is within the budget and ``qat_epochs`` > 0: quantisation-aware fine-tuning
   (``edgewise.compress.qat``), then the same PTQ of the fine-tuned model for the formats that missed;
   first with the recipe's loss (``qat_labels``: distillation from the float model only, by default),
   and if that misses too, with the other (fitting the labels lets the network re-learn around what
   int8 destroys, e.g. an outlier activation channel; distillation keeps the float model's decisions);
3. still missed: ONNX mixed precision (the most sensitive conv layers stay in float, named in the
   report and the metadata) and TFLite int16 activations, on the best model so far.

After Paupamah, James & Klein, "Quantisation and Pruning for Neural Network Compression and
Regularisation", and Jacob et al., "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference" (CVPR 2018).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edgewise.compress.recipe import QuantizeStep
from edgewise.compress.report import ArtifactRow


def _ptq(state: Any, step: QuantizeStep, m: Any, out: Path, calib_note: str, *, onnx_formats: list[str],
         tflite: bool, note: str = "") -> list[ArtifactRow]:
    from edgewise.compress.quantize_onnx import quantize_onnx

    folder, x = out / f"{state.name}-int8", m.data.calibration
    common = dict(step="quantize", params=state.params, macs=state.macs, precision="int8", ck=state.ck)
    rows = []
    for f in onnx_formats:
        path = quantize_onnx(state.files["onnx"], folder / f"{state.name}-int8-{f}.onnx", x, fmt=f,
                             per_channel=step.per_channel, keep_fp32=step.keep_fp32, calibration_source=calib_note,
                             reduce_range=step.onnx_reduce_range)
        kept = f"kept in float: {list(step.keep_fp32)}" if step.keep_fp32 else ""
        rows.append(m.row(f"{state.name}-int8-{f}", "onnx", path, **common, notes="; ".join(filter(None, [note, kept]))))
    if tflite:
        rows.append(_tflite(state, step, m, folder, calib_note, "int8", note))
    return rows


def _tflite(state: Any, step: QuantizeStep, m: Any, folder: Path, calib_note: str, act: str, note: str) -> ArtifactRow:
    from edgewise.compress.quantize_tflite import quantize_tflite
    from edgewise.runtime.artifact import read_metadata

    name = f"{state.name}-int8" + ("" if act == "int8" else "-a16") + ("-int8io" if step.tflite_io.value == "int8" else "")
    path = quantize_tflite(state.files["onnx"], folder / f"{name}.tflite", m.data.calibration,
                           metadata=read_metadata(state.files["tflite"]) or {}, io=step.tflite_io.value,
                           activations=act, calibration_source=calib_note, per_channel=step.tflite_per_channel,
                           fp32_size_bytes=state.files["tflite"].stat().st_size)
    notes = "; ".join(filter(None, [note, "int16 activations, int8 weights" if act == "int16" else ""]))
    return m.row(name, "tflite", path, step="quantize", params=state.params, macs=state.macs, precision="int8",
                 notes=notes, ck=state.ck)


def _qat_state(state: Any, step: QuantizeStep, m: Any, out: Path, log: Callable, *, labels: bool,
               missed_tflite: bool = True) -> Any:
    """Fine-tune the last good model with fake quantisation; its checkpoint and fp32 files as a new state."""
    import numpy as np

    from edgewise.compress.qat import QatConfig, quantization_aware_finetune
    from edgewise.compress.run import _export, _State
    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint

    examples = m.task.examples(m.data)
    # the weight grid of the formats that missed: per tensor if any is, 7-bit if only ONNX with reduce_range
    onnx_only = "tflite" not in step.formats or not missed_tflite
    cfg = QatConfig(epochs=step.qat_epochs, lr=step.qat_lr, per_channel=step.per_channel and (
        step.tflite_per_channel or onnx_only), labels=labels,
        weight_levels=64 if onnx_only and step.onnx_reduce_range else 127)

    def val_fn(net) -> float:
        return float(np.mean(list(m.task.score(m.task.torch_fn(net), m.data, "val", state.ck).values())))

    log(f"int8 missed the budget: quantisation-aware fine-tuning for {cfg.epochs} epochs "
        f"({'labels + ' if labels else ''}distillation)")
    net, history = quantization_aware_finetune(state.ck.model, examples, m.data.calibration, config=cfg,
                                               val_fn=val_fn, log=log)
    name = f"{state.name}-qat" + ("-labels" if labels else "")
    training = dict(state.ck.training or {})
    training.pop("history", None)
    training["compression"] = {**training.get("compression", {}), "qat": {
        "epochs": cfg.epochs, "lr": cfg.lr, "distill_weight": cfg.distill_weight, "labels": cfg.labels,
        "freeze_bn": cfg.freeze_bn, "weight_levels": cfg.weight_levels, "data": m.data.source,
        "val_mean_wave_f1_fake_quant": [h.get("val") for h in history]}}
    ckpt = out / name / f"{name}.pt"
    save_checkpoint(ckpt, spec=state.ck.spec, model=net, model_kwargs=state.ck.model_kwargs, training=training,
                    metrics={"note": "fine-tuned with int8 fake quantisation; measured in compression.json"})
    ck = load_checkpoint(ckpt)
    files = _export(ck, out / name, m.data.fidelity_windows, state.formats)
    return _State(ck, name, files, state.params, state.macs, state.formats)


def quantize_step(state: Any, step: QuantizeStep, m: Any, out: Path, calib_note: str,
                  log: Callable) -> list[ArtifactRow]:
    """INT8 artifacts of the last good model, with the fallbacks of the module docstring."""
    primary = step.onnx_format.value
    onnx_fmts = [primary] + [f for f in ("qoperator", "qdq") if f != primary] if "onnx" in step.formats else []
    rows = _ptq(state, step, m, out, calib_note, onnx_formats=onnx_fmts, tflite="tflite" in step.formats)

    def missed(fmt: str) -> bool:
        return fmt in step.formats and not any(r.within_budget for r in rows if r.format == fmt)

    base = state
    for labels in (step.qat_labels, not step.qat_labels):  # the recipe's QAT loss, then the other one
        if not step.qat_epochs or not (missed("onnx") or missed("tflite")):
            break
        base = _qat_state(state, step, m, out, log, labels=labels, missed_tflite=missed("tflite"))
        loss = "labels + distillation" if labels else "distillation"
        rows += _ptq(base, step, m, out, calib_note, onnx_formats=[primary] if missed("onnx") else [],
                     tflite=missed("tflite"), note=f"quantisation-aware fine-tuned ({step.qat_epochs} epochs, {loss})")
    if missed("onnx") and step.auto_mixed_precision:
        rows += _mixed_precision(base, step, m, out, calib_note, log)
    if missed("tflite") and step.activations.value == "auto":
        rows.append(_tflite(base, step, m, out / f"{base.name}-int8", calib_note, "int16", ""))
    return rows


def _mixed_precision(state: Any, step: QuantizeStep, m: Any, out: Path, calib_note: str,
                     log: Callable) -> list[ArtifactRow]:
    """Keep the most sensitive conv layers in float, one more at a time, until the budget is met."""
    from edgewise.compress.quantize_onnx import quantize_onnx

    keep, rows, f = list(step.keep_fp32), [], step.onnx_format.value
    for extra in sensitive_layers(state, m, step.auto_mixed_precision):
        keep.append(extra)
        path = quantize_onnx(state.files["onnx"], out / f"{state.name}-int8" / f"{state.name}-mixed{len(keep)}-{f}.onnx",
                             m.data.calibration, fmt=f, per_channel=step.per_channel, keep_fp32=keep,
                             calibration_source=calib_note, reduce_range=step.onnx_reduce_range)
        r = m.row(f"{state.name}-mixed{len(keep)}-{f}", "onnx", path, step="quantize", params=state.params,
                  macs=state.macs, precision="int8", notes=f"mixed precision, kept in float: {keep}", ck=state.ck)
        rows.append(r)
        log(f"mixed precision with {keep} in float: {'within' if r.within_budget else 'misses'} the budget")
        if r.within_budget:
            break
    return rows


def sensitive_layers(state: Any, m: Any, k: int) -> list[str]:
    """ONNX node names of the ``k`` most Hessian-sensitive conv layers (else, and for tasks without training
    examples such as mosquito, the first and last convs)."""
    from edgewise.compress.quantize_onnx import compute_node_names

    nodes = compute_node_names(state.files["onnx"])
    if not m.task.trainable:
        return [nodes[0], nodes[-1], *nodes[1:-1]][:k]
    try:
        import torch

        from edgewise.analysis.hessian import layer_sensitivity
        from edgewise.compress.prune import crop_batch

        ex = m.task.examples(m.data, records=20)
        batches = [crop_batch(ex, 8, window=m.window, seed=s)[:2] for s in range(2)]
        sens = layer_sensitivity(state.ck.model, torch.nn.CrossEntropyLoss(), batches, n_probes=8)
        module_of = {nd.split("/")[-2]: nd for nd in nodes if nd.count("/") >= 2}  # "/down.0/down.0.0/Conv"
        picked = [module_of[mod] for mod in sorted(sens, key=sens.get, reverse=True) if mod in module_of][:k]
        if picked:
            return picked[:k]
    except Exception:  # noqa: BLE001  (the Hessian tool is optional; fall back to the usual suspects)
        pass
    return [nodes[0], nodes[-1], *nodes[1:-1]][:k]
