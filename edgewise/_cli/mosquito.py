"""CLI leaves for mosquito detection: pipeline, train, evaluate, detect."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _data_dir(given: Path | None) -> Path:
    from edgewise.data.paths import default_dataset_dir

    data = given or default_dataset_dir("mosquito")
    if data is None:
        raise FileNotFoundError("no mosquito data folder: pass --data DIR (a folder with labels.csv and segments.csv)")
    return data


def pipeline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("out/mosquito"), help="report folder (default out/mosquito)")
    p.add_argument("--data", type=Path, help="mosquito data folder (default: ../shared/data/mosquito if present)")
    p.add_argument("--model", type=Path, help="checkpoint to use (default: the shipped one)")
    p.add_argument("--train", action="store_true", help="train a new detector instead of loading the shipped one")
    p.add_argument("--steps", type=int, default=1500, help="training steps with --train (default 1500)")
    p.add_argument("--no-export", action="store_true", help="skip the ONNX/TFLite export stage")


def pipeline(args: argparse.Namespace) -> int:
    """detect mosquitoes end to end: model, held-out evaluation, detections, export, report"""
    from edgewise.pipelines.mosquito import run_pipeline

    report = run_pipeline(args.out, data_dir=args.data, model_path=args.model, train=args.train, steps=args.steps,
                          export=not args.no_export)
    print(f"wrote {report}")
    return 0


def train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, help="mosquito data folder (default: ../shared/data/mosquito)")
    p.add_argument("--out", type=Path, required=True,
                   help="checkpoint path to write (.pt); with --members a folder (member-K.pt, ensemble.json)")
    p.add_argument("--arch", choices=("dscnn", "dscnn-robust", "humbug"),
                   help="dscnn-robust (default, shipped: the depthwise-separable CNN without the recording-level and "
                        "band-edge shortcuts: per-window level removed, mel bands to 3.4 kHz, dB floor per window), "
                        "dscnn (the 0.1 detector) or humbug (HumBug baseline CNN); --members takes dscnn-robust or "
                        "dscnn (the Hydra student shares its members' front end)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--eval-every", type=int, default=250, help="steps between validation checks (default 250)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--p-decoy", type=float, help="share of training windows replaced by decoy tones (synthetic tones "
                   "pitched outside the mosquito range, labelled not-mosquito); default: the arch's recipe (dscnn-robust "
                   "0.1, others 0); 0 trains as before 2026-12-07")
    p.add_argument("--p-sweep", type=float, help="share of training windows replaced by sweeping tones (synthetic "
                   "siren-like tones whose pitch sweeps through the mosquito range, labelled not-mosquito, "
                   "edgewise.data.sweep_decoys); default: the arch's recipe (0)")
    for flag, what in (("speed", "played 0.9-1.1x faster or slower"),
                       ("band", "band-limited by a random microphone high-pass and/or low-pass"),
                       ("codec", "passed through MP3, Vorbis or mu-law")):
        p.add_argument(f"--p-{flag}", type=float, help=f"share of training windows {what} (channel augmentation, "
                       "edgewise.data.audio_channel); default: the arch's recipe")
    p.add_argument("--seed", type=int, default=0, help="seeds the split by recording and the training (members: "
                   "member k uses seed + k)")
    p.add_argument("--members", type=int, help="train a deep ensemble of M members on the fixed by-source split "
                   "(cached: an interrupted run resumes); default: one model on the split by recording")
    p.add_argument("--only", type=int, nargs="+", metavar="K", help="with --members: train just these members")
    p.add_argument("--leave-sources-out", action="store_true",
                   help="with --members: source bagging, member k does not train on its share of the training "
                        "part's negative-only sources, so the members disagree on kinds of sound one never heard")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", action="store_true", help="print held-out metrics as one JSON object")


def train(args: argparse.Namespace) -> int:
    """train a mosquito detector on real recordings (split by recording) and write a checkpoint"""
    import torch

    from edgewise._cli._common import print_json_line
    from edgewise.models.mosquito.api import train_detector
    from edgewise.models.mosquito.specs import SHIPPED_ARCH
    from edgewise.models.mosquito.train import AUGMENT_SHARES, recipe

    torch.set_num_threads(args.threads)
    arch = args.arch or SHIPPED_ARCH
    if args.members is not None and arch == "humbug":  # a Hydra student exists for the DS-CNN members only
        raise ValueError("--members trains DS-CNN members (dscnn-robust or dscnn), whose Hydra student shares their "
                         "body; the humbug baseline has no Hydra: drop --arch or pass --arch dscnn-robust")
    if args.leave_sources_out and args.members is None:
        raise ValueError("--leave-sources-out deals the training sources among ensemble members: add --members M")
    extra = {k: getattr(args, k) for k in AUGMENT_SHARES if getattr(args, k, None) is not None}
    cfg = recipe(arch, steps=args.steps, batch_size=args.batch_size, seed=args.seed, eval_every=args.eval_every, **extra)
    if args.members is not None:
        return _train_members(args, cfg)
    res = train_detector(_data_dir(args.data), cfg, out=args.out, seed=args.seed)
    if args.json:
        print_json_line({"checkpoint": str(args.out), "metrics": res["metrics"]})
    else:
        _print_metrics(res["metrics"])
        print(f"wrote {args.out}")
    return 0


def _train_members(args: argparse.Namespace, cfg) -> int:
    from edgewise._cli._common import print_json_line
    from edgewise.models.ensemble.mosquito import train_mosquito_members

    def progress(k: int, step: int, loss: float, auc: float) -> None:
        print(f"  member {k} step {step:5d}  loss {loss:.4f}  val window ROC-AUC {auc:.4f}", file=sys.stderr,
              flush=True)

    paths = train_mosquito_members(_data_dir(args.data), args.out, members=args.members, config=cfg, only=args.only,
                                   leave_sources_out=args.leave_sources_out,
                                   progress=progress, log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        print_json_line({"members": [str(p) for p in paths], "folder": str(args.out)})
    else:
        print(f"wrote {len(paths)} members to {args.out}")
    return 0


def evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, help="mosquito data folder (default: ../shared/data/mosquito)")
    p.add_argument("--model", type=Path, help="checkpoint (default: the shipped one)")
    p.add_argument("--seed", type=int, help="re-split the recordings with this seed (default: the checkpoint's own test recordings, by "
                   "name; its split seed if it stores no names)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")


def _print_metrics(m: dict) -> None:
    print(f"held-out: window ROC-AUC {m['window_roc_auc']:.4f}  PR-AUC {m['window_pr_auc']:.4f} | "
          f"clip ROC-AUC {m['clip_roc_auc']:.4f}  PR-AUC {m['clip_pr_auc']:.4f} | "
          f"false alarms/h {m['false_alarms_per_hour']:.1f} at p >= {m['threshold']} "
          f"({m['n_clips']['mosquito']} mosquito / {m['n_clips']['other']} other clips)")


def evaluate(args: argparse.Namespace) -> int:
    """evaluate a mosquito detector on held-out recordings (ROC/PR-AUC per window and clip, false alarms/h)"""
    from edgewise._cli._common import print_json_line
    from edgewise.models.mosquito.api import evaluate_detector

    res = evaluate_detector(_data_dir(args.data), model_path=args.model, seed=args.seed)
    if args.json:
        print_json_line({k: v for k, v in res.items() if k != "clips"})
    else:
        _print_metrics(res["metrics"])
    return 0


def detect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", nargs="+", type=Path, metavar="AUDIO", help="wav/flac/mp3 files (any rate, channels, depth)")
    p.add_argument("--model", type=Path, help="checkpoint (.pt) or device artifact (.onnx/.tflite, runs without torch); "
                   "default: on a deployed device the release's recorded default, else the shipped checkpoint")
    p.add_argument("--threshold", type=float, help="operating threshold (default: the model's)")
    p.add_argument("--suppress-unfamiliar", action="store_true",
                   help="multi-head (Hydra) models: windows whose epistemic uncertainty is above the model's "
                        "threshold raise no event (their p is still reported)")
    p.add_argument("--uncertainty-threshold", type=float, metavar="NATS",
                   help="epistemic uncertainty above which a window is unfamiliar (default: the model's)")
    p.add_argument("--json", action="store_true", help="one JSON object per input and line; a multi-head model's "
                   "windows carry \"epistemic\" (nats) and \"unfamiliar\"")


def _artifact_detect(model: Path):
    """``path -> result`` for an .onnx/.tflite model: the device runtime only (no torch imported)."""
    from edgewise.runtime.mosquito import MosquitoDetector

    try:  # the host reader (soundfile, mp3 fallbacks); the device install reads through the runtime's
        import soundfile  # noqa: F401

        from edgewise.data.audio import read_audio
    except (ImportError, OSError):
        from edgewise.runtime.live.sources.file import read_audio_file

        def read_audio(p):
            return (*read_audio_file(p), "")

    det = MosquitoDetector.open(model)

    def run(path: Path, threshold: float | None, **uncertainty) -> dict:
        # as edgewise.models.mosquito.api.detect_file does for an artifact (that module imports torch)
        data, rate, _ = read_audio(path)
        return {"input": str(path), **det.detect(data, rate, threshold=threshold, **uncertainty)}

    return run


def _checkpoint_detect(model: Path | None):
    import torch

    from edgewise.models.mosquito.api import detect_file, load_detector

    from edgewise.models.mosquito.heads_detect import detect_file_heads, is_multi_head
    from edgewise.runtime.errors import InputError

    torch.set_num_threads(1)
    ckpt = load_detector(model)
    if is_multi_head(ckpt):
        return lambda path, threshold, **unc: detect_file_heads(path, ckpt, threshold=threshold, **unc)

    def run(path: Path, threshold: float | None, *, suppress: bool = False, uncertainty_threshold=None) -> dict:
        if suppress:
            raise InputError(f"{ckpt.path} has one head: it reports no epistemic uncertainty to suppress windows by; "
                             "use a multi-head (Hydra) model")
        return detect_file(path, ckpt, threshold=threshold)

    return run


def detect(args: argparse.Namespace) -> int:
    """detect mosquito flight tones in audio files (per-window probabilities and events)"""
    from edgewise._cli._common import print_json_line
    from edgewise.runtime.errors import EdgewiseError

    model = args.model
    if model is None:  # on a deployed device: the artifact its release recorded for the task
        from edgewise._cli._defaults import release_default

        model = release_default("mosquito-detection")
    artifact = model is not None and model.suffix.lower() in (".onnx", ".tflite")
    run = _artifact_detect(model) if artifact else _checkpoint_detect(model)
    failed = 0
    for path in args.audio:
        try:
            res = run(path, args.threshold, suppress=args.suppress_unfamiliar,
                      uncertainty_threshold=args.uncertainty_threshold)
        except (EdgewiseError, ValueError, OSError) as e:
            failed += 1
            print(f"edgewise: error: {path}: {e}", file=sys.stderr)
            continue
        if args.json:
            print_json_line(res)
        else:
            ev = ", ".join(f"{e['start_s']:.1f}-{e['end_s']:.1f} s (p {e['p']:.2f})" for e in res["events"]) or "none"
            flags = f" [{', '.join(res['flags'])}]" if res["flags"] else ""
            u = res.get("uncertainty")
            unfamiliar = (f", {u['unfamiliar_windows']} unfamiliar window(s)"
                          f"{' suppressed' if u['suppress'] else ''}" if u and u["threshold"] is not None else "")
            print(f"{path}: {len(res['windows'])} windows, clip p {res['p_clip']:.2f}, events: {ev}{flags}{unfamiliar}")
    return 2 if failed else 0
