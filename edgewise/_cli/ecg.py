"""CLI leaves for ECG delineation: train, evaluate, delineate, pipeline."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")


def _default_data() -> Path | None:
    from edgewise.data.paths import default_dataset_dir

    return default_dataset_dir("ludb")


def train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, help="LUDB folder (default: ../shared/data/ludb if present)")
    p.add_argument("--synthetic", action="store_true", help="train on SYNTHETIC ECG only (demo)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--synthetic-fraction", type=float, default=0.0, help="share of SYNTHETIC ECG mixed into batches")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--widths", default="8,16,24,32,48", help="U-Net channels per level, bottleneck last")
    p.add_argument("--context", default="2,4,8",
                   help="dilations of the rhythm-context layers at the bottleneck ('' for none)")
    p.add_argument("--kernel", type=int, default=9, help="convolution kernel (odd; default 9)")
    p.add_argument("--decimate", type=int, default=1, choices=(1, 2),
                   help="2: the U-Net runs at 250 Hz, half the MACs (kernel 5 there spans what 9 spans at 500 Hz)")
    p.add_argument("--teacher", type=Path, help="distil from this ECG checkpoint (its softened outputs join the loss)")
    p.add_argument("--twelve-lead", action="store_true", help="12-lead input option (target: lead II's annotation)")
    p.add_argument("--fold-val", action="store_true", help="train on train + validation records, keep the last epoch")
    p.add_argument("--members", type=int, default=1,
                   help="train an ensemble of M members (seeds SEED..SEED+M-1) into --out; under torchrun each "
                        "member trains data parallel across the processes")
    p.add_argument("--only", type=int, nargs="+", metavar="K",
                   help="with --members: train just these members (e.g. one job per core or machine; a later run "
                        "without --only finds them cached and writes ensemble.json)")
    p.add_argument("--out", type=Path, required=True, help="output folder for the checkpoint and model card")


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ValueError(f"{flag}: expected comma-separated integers, got {text!r}") from None


def train(args: argparse.Namespace) -> int:
    """train the single-lead ECG U-Net on LUDB (or SYNTHETIC ECG) and write a checkpoint + model card"""
    from edgewise.models.ecg.workflow import train_ecg

    data = None if args.synthetic else (args.data or _default_data())
    if data is None and not args.synthetic:
        raise FileNotFoundError("no LUDB folder: pass --data DIR, fetch it with `edgewise data fetch ludb`, "
                                "or train a demo model with --synthetic")
    if args.only is not None and args.members <= 1:
        raise ValueError("--only picks members of an ensemble: pass --members M too")
    if args.members > 1:
        import os

        from edgewise.models.ensemble.ecg import train_ecg_ensemble

        if data is None or args.twelve_lead or args.fold_val or args.synthetic_fraction:
            raise ValueError("--members trains single-lead members on LUDB: drop --synthetic, --twelve-lead, "
                             "--fold-val and --synthetic-fraction")
        if args.kernel != 9 or args.decimate != 1 or args.teacher:
            raise ValueError("--members trains full-rate kernel-9 members (what a Hydra is distilled from): drop "
                             "--kernel, --decimate and --teacher")
        paths = train_ecg_ensemble(args.out, data_dir=data, members=args.members, epochs=args.epochs,
                                   seed=args.seed, threads=args.threads, widths=_ints(args.widths, "--widths"),
                                   context=_ints(args.context, "--context"), only=args.only,
                                   log=lambda m: print(m, file=sys.stderr))
        if os.environ.get("RANK", "0") == "0":  # one line per run, also under torchrun
            if args.only is not None:
                print(f"wrote members {sorted(set(args.only))} into {args.out} (run without --only to write ensemble.json)")
            else:
                print(f"wrote {len(paths)} members and {args.out / 'ensemble.json'}")
        return 0
    if args.members < 1:
        raise ValueError(f"--members must be >= 1, got {args.members}")
    ckpt = train_ecg(args.out, data_dir=data, epochs=args.epochs, synthetic_fraction=args.synthetic_fraction,
                     seed=args.seed, threads=args.threads, widths=_ints(args.widths, "--widths"),
                     context=_ints(args.context, "--context"), kernel=args.kernel, decimate=args.decimate,
                     teacher=args.teacher, twelve_lead=args.twelve_lead, fold_val=args.fold_val, progress=True,
                     log=lambda m: print(m, file=sys.stderr))
    print(f"wrote {ckpt} and {ckpt.parent / 'MODEL_CARD.md'}")
    return 0


def evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help="checkpoint (.pt) or artifact (.onnx/.tflite); default: shipped")
    p.add_argument("--data", type=Path, help="LUDB folder (default: ../shared/data/ludb)")
    p.add_argument("--records", type=Path, help="file of record ids (default: every record the model never trained on)")
    p.add_argument("--lead", default="ii", help="a lead name or 'all' (default ii)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _leads(text: str) -> tuple[str, ...]:
    from edgewise.runtime.errors import InputError

    if text.lower() == "all":
        return LEADS
    out = tuple(t.strip().lower() for t in text.split(",") if t.strip())
    bad = [t for t in out if t not in LEADS]
    if bad or not out:
        raise InputError(f"unknown lead {', '.join(bad) or text!r}; expected one of {', '.join(LEADS)} or 'all'")
    return out


def _model_path(model: Path | None) -> Path:
    if model is not None:
        if not model.exists():
            raise FileNotFoundError(f"no model file at {model}")
        return model
    from edgewise.models.pretrained import default_model

    return default_model("ecg")


def evaluate(args: argparse.Namespace) -> int:
    """evaluate an ECG model on held-out LUDB records (Se, PPV, F1, boundary errors vs CSE)"""
    from edgewise._cli._common import print_json_line
    from edgewise.models.ecg.workflow import evaluate_ecg

    leads = _leads(args.lead)
    data = args.data or _default_data()
    if data is None:
        raise FileNotFoundError("no LUDB folder: pass --data DIR or fetch it with `edgewise data fetch ludb`")
    res = evaluate_ecg(_model_path(args.model), data, leads=leads, records_file=args.records, threads=args.threads,
                       progress=not args.json)
    if args.json:
        print_json_line(res)
        return 0
    print(f"model {res['model']} ({res['format']}, {res['precision']}) on {len(res['records'])} held-out records")
    for lead, s in res["scores"].items():
        wf = s["wave_f1"]
        print(f"\nlead {lead}: wave F1  P {wf['P']:.4f}  QRS {wf['QRS']:.4f}  T {wf['T']:.4f}")
        print(f"  {'boundary':8} {'n':>5} {'Se':>7} {'PPV':>7} {'F1':>7} {'mean ms':>8} {'SD ms':>7} {'CSE tol':>8}")
        for r in s["boundaries"]:
            tol = r["cse_2sd_ms"]
            print(f"  {r['boundary']:8} {r['n_true']:5d} {r['se']:7.4f} {r['ppv']:7.4f} {r['f1']:7.4f} "
                  f"{r['mean_ms']:+8.1f} {r['sd_ms']:7.1f} {tol if tol else '-':>8}")
    return 0


def delineate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="WFDB record path without extension, .npy or .csv")
    p.add_argument("--model", type=Path, help="checkpoint (.pt) or artifact (.onnx/.tflite); default: on a deployed "
                   "device the release's recorded default (edgewise deploy), else the shipped one")
    p.add_argument("--lead", default="ii", help="lead name (WFDB/CSV header) or index (default ii, else the first), "
                   "or 'all': every lead, and their consensus")
    p.add_argument("--fs", type=float, help="sampling rate in Hz (required for .npy/.csv)")
    p.add_argument("--layout", help="input layout of an artifact without edgewise metadata (e.g. NCW)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="one JSON object per input and line")


def delineate(args: argparse.Namespace) -> int:
    """find P, QRS and T waves (onset/offset) in ECG inputs"""
    from edgewise._cli._ecg_delineate import run_delineate

    return run_delineate(args)


def pipeline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("out/ecg"), help="report folder (default out/ecg)")
    p.add_argument("--data", type=Path, help="LUDB folder (default ../shared/data/ludb; else SYNTHETIC ECG)")
    p.add_argument("--train", action="store_true", help="train a model instead of loading the shipped one")
    p.add_argument("--epochs", type=int, default=60, help="epochs when --train")
    p.add_argument("--skip-export", action="store_true", help="skip the export stage")
    p.add_argument("--skip-compress", action="store_true", help="skip the compression stage")
    p.add_argument("--recompress", action="store_true",
                   help="run the compression recipe again (prune, fine-tune, quantise: ~6 min on 2 cores) instead of "
                        "verifying the shipped compressed artifacts (checksums, held-out F1, latency, size)")


def pipeline(args: argparse.Namespace) -> int:
    """the ECG main job: model -> evaluate -> export -> compress (verify shipped) -> delineate a sample -> report"""
    from edgewise.pipelines.ecg import run_ecg_pipeline

    if args.recompress and args.skip_compress:
        raise ValueError("--recompress and --skip-compress contradict each other; pass one of them")
    data = args.data or _default_data()
    report = run_ecg_pipeline(args.out, data_dir=data, train=args.train, epochs=args.epochs,
                              export=not args.skip_export, compress=not args.skip_compress,
                              recompress=args.recompress)
    print(f"report: {report} (and {report.with_suffix('.html')})")
    return 0
