"""CLI leaf: ``edgewise export MODEL --to onnx,tflite [--out DIR]``."""
from __future__ import annotations

import argparse
from pathlib import Path


def export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="checkpoint (.pt) path, or the name of a shipped model (e.g. ecg-unet)")
    p.add_argument("--to", default="onnx,tflite", help="formats, comma-separated (default: onnx,tflite)")
    p.add_argument("--out", type=Path, help="output folder (default: out/export/<model name>)")
    p.add_argument("--inputs", type=Path,
                   help="representative inputs for the parity check: .npy, or .npz with an 'inputs' array, "
                        "float32 [batch, *input_shape] (default: real windows of the task's data if present, "
                        "e.g. LUDB for ECG; else seeded Gaussian inputs, recorded as synthetic)")
    p.add_argument("--atol", type=float, help="parity tolerance on every output (default: the model spec's)")
    p.add_argument("--json", action="store_true", help="print one JSON line instead of the table")


def _resolve(model: str) -> Path:
    path = Path(model)
    if path.suffix == ".pt" or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint at {path}")
        return path
    from edgewise.models.pretrained import shipped_artifacts

    rows = [r for r in shipped_artifacts() if r["format"] == "torch"]
    for r in rows:
        if model in (r["name"], r.get("model")):
            return Path(r["path"])
    known = sorted({str(r.get("model") or r["name"]) for r in rows})
    raise FileNotFoundError(f"{model!r} is neither a checkpoint file nor a shipped model "
                            f"(shipped: {', '.join(known) or 'none yet'})")


def _inputs(path: Path | None):
    if path is None:
        return None
    import numpy as np

    if not path.is_file():
        raise FileNotFoundError(f"no inputs file at {path}")
    data = np.load(path)
    if isinstance(data, np.ndarray):
        return data
    if "inputs" not in data.files:
        raise ValueError(f"{path} has arrays {data.files}; name the parity inputs 'inputs'")
    return data["inputs"]


def export(args: argparse.Namespace) -> int:
    """export a checkpoint to self-describing ONNX/TFLite artifacts, verified against torch"""
    from edgewise._cli._common import print_json_line
    from edgewise.export import export_checkpoint, parse_formats, resolve_checkpoint

    formats = parse_formats(args.to)  # fail on a misspelt format before loading anything heavy
    ckpt = resolve_checkpoint(_resolve(args.model))
    out = args.out or Path("out") / "export" / ckpt.spec.name
    arts = export_checkpoint(ckpt, to=[f.value for f in formats], out=out, inputs=_inputs(args.inputs),
                             atol=args.atol)
    if args.json:
        print_json_line({"model": ckpt.spec.name, "out": str(out), "artifacts": [
            {"format": a.format, "path": str(a.path), "size_bytes": a.size_bytes, "sha256": a.sha256,
             "parity": a.parity} for a in arts]})
        return 0
    print(f"{'format':7} {'size':>10}  {'max abs err':>11}  {'parity':6}  path")
    for a in arts:
        worst = max((c.get("max_abs", 0.0) for c in a.parity["outputs"]), default=0.0)
        print(f"{a.format:7} {a.size_bytes / 1024:8.1f} KiB  {worst:11.2e}  {'ok' if a.parity['ok'] else 'FAIL':6}  {a.path}")
    print(f"parity on {a.parity['inputs']['source']}; tolerance {a.parity['atol']:g}; manifest: {out / 'manifest.json'}")
    return 0
