"""CLI leaf: ``edgewise compress MODEL [--recipe FILE] --out DIR [--data DIR]``."""
from __future__ import annotations

import argparse
from pathlib import Path


def compress_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="checkpoint (.pt) path, or the name of a shipped model (e.g. ecg-unet); with a recipe "
                                 "whose first step is distill, the ensemble's folder (edgewise train ecg --members M)")
    p.add_argument("--recipe", type=Path, help="TOML recipe (default: the task's, e.g. edgewise/compress/recipes/ecg.toml)")
    p.add_argument("--out", type=Path, help="output folder (default: out/compress/<model name>)")
    p.add_argument("--data", type=Path, help="the task's dataset folder for fine-tuning, calibration and evaluation: "
                                             "LUDB for ECG (default: the local copy if found, else SYNTHETIC ECG), "
                                             "the mosquito dataset for mosquito models (default: the local copy; "
                                             "required)")
    p.add_argument("--calibration", type=Path, help="calibration windows instead of the training data's: .npy float32 "
                                                    "model inputs (ECG [n, 1, window] standardised per window; "
                                                    "mosquito log-Mel [n, 1, mels, frames])")
    p.add_argument("--json", action="store_true", help="print one JSON line instead of the table")


def compress(args: argparse.Namespace) -> int:
    """compress a model with a recipe (distil, prune, quantise) and keep the fastest artifact within budget per runtime"""
    from edgewise._cli._common import print_json_line
    from edgewise._cli.export import _resolve
    from edgewise.compress import compress_checkpoint, default_recipe, load_recipe
    from edgewise.export import resolve_checkpoint
    from edgewise.runtime.errors import BudgetError

    from edgewise.compress.recipe import DistillStep

    from edgewise.compress.tasks import task_for

    recipe = load_recipe(args.recipe) if args.recipe else None  # a bad recipe fails before anything heavy
    if recipe is not None and isinstance(recipe.steps[0], DistillStep):  # an ensemble in
        from edgewise.compress._distill_step import members_dir

        model: object = members_dir(args.model)
        name = f"{model.name}-{recipe.steps[0].student.value}"
        task = task_for("ecg-delineation")
    else:
        model = ck = resolve_checkpoint(_resolve(args.model))
        recipe = recipe or load_recipe(default_recipe(ck.spec.task.value))
        name = ck.spec.name
        task = task_for(ck.spec)
    data = args.data
    if data is None:
        from edgewise.data.paths import default_dataset_dir

        data = default_dataset_dir(task.dataset)
    if data is not None and not Path(data).is_dir():
        raise FileNotFoundError(f"no {task.dataset} folder at {data}")
    calib = None
    if args.calibration is not None:
        import numpy as np

        if not args.calibration.is_file():
            raise FileNotFoundError(f"no calibration file at {args.calibration}")
        calib = np.load(args.calibration)
    out = args.out or Path("out") / "compress" / name
    code = 0
    try:
        res = compress_checkpoint(model, recipe, out, data_dir=data, calibration=calib)
    except BudgetError as e:
        res, code = e.result, 3
        import sys

        print(f"edgewise compress: {e}", file=sys.stderr)
    if args.json:
        print_json_line(res.as_dict())
        return code
    cols = "".join(f" {c:>10}" for c in task.metric_columns)
    print(f"{'variant':28} {'format':6} {'prec':5} {'KiB':>7}{cols} {'ms':>7}  budget")
    for r in res.rows:
        vals = "".join(f" {r.f1_test.get(k, float('nan')):10.4f}" for k in task.metric_keys)
        print(f"{r.variant:28} {r.format:6} {r.precision:5} {r.size_bytes / 1024:7.1f}{vals} {r.latency_ms:7.2f}  "
              f"{'ok' if r.within_budget else 'MISSED'}")
    for rt, r in res.kept.items():
        print(f"kept for {rt}: {r.path}")
    for n in res.notes:
        print(n)
    print(f"data: {res.data}; details: {out / 'compression.json'}")
    return code
