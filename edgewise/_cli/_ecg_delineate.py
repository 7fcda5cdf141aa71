"""``edgewise delineate``: runs with numpy + one runtime only when the model is an .onnx/.tflite artifact."""
from __future__ import annotations

import argparse
import sys

STANDARD_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
MIN_FS, MAX_FS = 50.0, 20000.0
# model-rate samples every shipped ECG model was trained on (edgewise.models.ecg.train.TRAIN_CROP; not imported:
# that module needs torch, this one runs on the device)
CONTEXT_SAMPLES = 2048


def _padded_note(padded: bool, seconds: float, info) -> str:
    """The text line's warning for a strip the model saw with less context than it was trained on: a
    whole-strip model (window 5008) pads every strip under 10 s by design and says nothing for those."""
    short = seconds * info.sample_rate < min(info.window, CONTEXT_SAMPLES)
    return " (shorter than a model window: padded)" if padded and short else ""


def _pick_lead(names: tuple[str, ...], n_rows: int, lead: str, explicit: bool) -> int:
    from edgewise.runtime.errors import InputError

    key = lead.lower()
    if key in names:
        return names.index(key)
    if key.isdigit() and int(key) < n_rows:
        return int(key)
    if n_rows == 1 and not explicit:
        return 0
    if n_rows == 12 and key in STANDARD_LEADS and all(n.startswith("lead") for n in names):
        return STANDARD_LEADS.index(key)
    raise InputError(f"unknown lead {lead!r}; this input has {', '.join(names)} (or pass an index 0..{n_rows - 1})")


def _load(path: str, args: argparse.Namespace, explicit_lead: bool, in_channels: int = 1):
    from edgewise.runtime.ecg.io import read_ecg_input
    from edgewise.runtime.errors import InputError

    inp = read_ecg_input(path)
    fs = inp.fs
    if args.fs is not None:
        if not MIN_FS <= args.fs <= MAX_FS:
            raise InputError(f"--fs {args.fs:g} Hz is not a plausible ECG rate ({MIN_FS:g}..{MAX_FS:g} Hz)")
        if fs is not None and abs(fs - args.fs) > 1e-6:
            raise InputError(f"{path} is recorded at {fs:g} Hz but --fs says {args.fs:g} Hz; drop --fs or fix it")
        fs = args.fs
    if fs is None:
        raise InputError(f"{path} carries no sampling rate; pass --fs HZ")
    if not MIN_FS <= fs <= MAX_FS:
        raise InputError(f"{path}: {fs:g} Hz is not a plausible ECG rate ({MIN_FS:g}..{MAX_FS:g} Hz)")
    if in_channels > 1:  # a 12-lead model takes every lead
        if inp.signal.shape[0] != in_channels:
            raise InputError(f"{path} has {inp.signal.shape[0]} leads; this model needs {in_channels}")
        return inp.signal, fs, "all"
    if args.lead.lower() == "all":  # every lead through the single-lead model, plus a consensus
        return inp.signal, fs, inp.leads
    idx = _pick_lead(inp.leads, inp.signal.shape[0], args.lead, explicit_lead)
    return inp.signal[idx], fs, inp.leads[idx]


def _wave_dicts(res) -> list[dict]:
    per_wave = res.wave_info or {}
    return [{**w.to_dict(), **({"confidence": per_wave[w]["confidence"]} if w in per_wave else {})} for w in res.waves]


def _intervals_text(summary: dict) -> str:
    def med(key: str) -> str:
        v = summary[key]["median"]
        return "-" if v is None else f"{v:.0f}"

    hr = summary["heart_rate_bpm"]
    return (f"heart rate {'-' if hr is None else f'{hr:.0f}'} bpm; median PR {med('pr_ms')} ms, "
            f"QRS {med('qrs_ms')} ms, QT {med('qt_ms')} ms, QTc {med('qtc_bazett_ms')} ms (Bazett)")


def _all_leads(path: str, x, fs, names: tuple[str, ...], fn, info, as_json: bool) -> None:
    """``--lead all`` with a single-lead model: each lead, the consensus, and intervals on the consensus."""
    from edgewise._cli._common import print_json_line
    from edgewise.runtime.ecg.consensus import consensus_waves
    from edgewise.runtime.ecg.intervals import beats_to_json
    from edgewise.runtime.ecg.multilead import delineate_leads

    results = delineate_leads(x, fs, fn, model_fs=info.sample_rate, window=info.window, hop=info.hop, post=info.post)
    waves, support = consensus_waves([r.waves for r in results], fs)
    beats, summary = beats_to_json(waves, fs, n=x.shape[-1])
    fs_out = int(fs) if float(fs).is_integer() else fs
    if as_json:
        leads = {name: {"waves": _wave_dicts(r),
                        **({"uncertainty": _judged(r.uncertainty, info)} if r.uncertainty else {})}
                 for name, r in zip(names, results)}
        print_json_line({"input": path, "fs": fs_out, "lead": "all", "leads": leads,
                         "consensus": {"waves": [{**w.to_dict(), "leads": k} for w, k in zip(waves, support)]},
                         "beats": beats, "summary": summary})
        return
    counts = {k: sum(w.kind == k for w in waves) for k in ("P", "QRS", "T")}
    note = _padded_note(any(r.padded for r in results), x.shape[-1] / fs, info)
    print(f"{path}: {len(names)} leads, {fs_out} Hz, {x.shape[-1] / fs:.1f} s{note}: consensus {counts['P']} P, "
          f"{counts['QRS']} QRS, {counts['T']} T; {_intervals_text(summary)}")


def _judged(uncertainty: dict, info) -> dict:
    """A multi-head model's per-input uncertainty, with ``unfamiliar`` (and the ``threshold``) when the
    artifact carries the epistemic threshold it was shipped with."""
    t = getattr(info, "uncertainty_threshold", None)
    if t is None:
        return uncertainty
    return {**uncertainty, "threshold": t, "unfamiliar": bool(uncertainty["epistemic"] > t)}


def run_delineate(args: argparse.Namespace) -> int:
    from edgewise._cli._common import print_json_line
    from edgewise._cli._defaults import release_default
    from edgewise._cli.ecg import _model_path
    from edgewise.runtime.ecg.delineate import delineate
    from edgewise.runtime.ecg.intervals import beats_to_json
    from edgewise.runtime.errors import EdgewiseError

    explicit_lead = "--lead" in sys.argv or any(a.startswith("--lead=") for a in sys.argv)
    model = _model_path(args.model if args.model is not None else release_default("ecg-delineation"))
    if model.suffix == ".pt":
        from edgewise.models.ecg.workflow import load_model_fn

        fn, info, _ = load_model_fn(model, threads=args.threads)
    else:
        from edgewise.runtime.ecg.model import load_artifact_fn

        fn, info = load_artifact_fn(model, threads=args.threads, fs=None if args.layout is None else (args.fs or 500),
                                    layout=args.layout)
    failures = 0
    for path in args.inputs:
        try:
            x, fs, lead = _load(path, args, explicit_lead, info.in_channels)
            if isinstance(lead, tuple):
                _all_leads(path, x, fs, lead, fn, info, args.json)
                continue
            res = delineate(x, fs, fn, model_fs=info.sample_rate, window=info.window, hop=info.hop,
                            in_channels=info.in_channels, post=info.post)
        except (EdgewiseError, ValueError, OSError) as e:
            if args.debug:
                raise
            print(f"edgewise: error: {path}: {e}", file=sys.stderr)
            failures += 1
            continue
        fs_out = int(fs) if float(fs).is_integer() else fs
        beats, summary = beats_to_json(res.waves, fs, n=x.shape[-1])
        if args.json:
            out = {"input": path, "fs": fs_out, "lead": lead, "waves": _wave_dicts(res), "beats": beats,
                   "summary": summary}
            if res.uncertainty is not None:  # a multi-head model: how much to trust this input
                out["uncertainty"] = _judged(res.uncertainty, info)
            print_json_line(out)
        else:
            counts = {k: sum(w.kind == k for w in res.waves) for k in ("P", "QRS", "T")}
            note = _padded_note(res.padded, x.shape[-1] / fs, info)
            print(f"{path}: lead {lead}, {fs_out} Hz, {x.shape[-1] / fs:.1f} s{note}: {counts['P']} P, {counts['QRS']} QRS, "
                  f"{counts['T']} T; {_intervals_text(summary)}")
            u = _judged(res.uncertainty, info) if res.uncertainty is not None else {}
            if u.get("unfamiliar"):
                print(f"{path}: warning: epistemic uncertainty {u['epistemic']:.4f} nats is above this model's "
                      f"threshold {u['threshold']:.4f}: the signal is unlike its training ECG; do not trust these waves")
    return 1 if failures else 0
