"""Maintainer step: ship a distilled mosquito Hydra (issue 23) as fp32 and INT8 ONNX/TFLite artifacts in
``edgewise/models/pretrained/mosquito-hydra/``, each with its held-out metrics and its own epistemic threshold.

    .venv/bin/python scripts/ship_mosquito_hydra.py --hydra STUDENTS/hydra.pt --members MEMBERS \\
        [--bench /tmp/hydra-mosq/hydra_mosquito_results-....json] [--data DIR]

1. the four artifacts (``edgewise.models.mosquito.hydra_export``: fp32 ONNX/TFLite checked against torch, INT8
   calibrated on log-Mel windows of the training recordings), heads kept (``"heads": M``);
2. per artifact, through the device runtime (onnxruntime / LiteRT): the operating threshold of the checkpoint
   (chosen on the validation sources) and the suppression threshold tau on the epistemic uncertainty
   (``heads_eval.choose_uncertainty_threshold`` on the validation sources' windows, never the test sources),
   stored as ``uncertainty_threshold``; ``edgewise detect --json`` marks windows above it ``"unfamiliar"`` and
   ``--suppress-unfamiliar`` keeps them from raising events;
3. per artifact, on the held-out test sources: window/clip ROC-AUC, NLL, ECE, OOD AUROC (in-distribution hold-out
   vs the never-trained non-mosquito sources) and false alarms per hour without/with suppression;
4. the checkpoint (+ JSON sidecar), the four artifacts, ``manifest.json`` and ``MODEL_CARD.md`` (data, licences
   from labels.csv, the benchmark's acceptance table when ``--bench`` is given).
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from edgewise.data.paths import default_dataset_dir
from edgewise.export.metadata import update_metadata
from edgewise.models.checkpoint import load_checkpoint
from edgewise.models.ensemble.mosquito import load_split_facts, members_arch, ood_sources, split_audio
from edgewise.models.mosquito.heads_eval import alarm_comparison, measure, part_windows
from edgewise.models.mosquito.hydra import count_macs
from edgewise.models.mosquito.hydra_export import export_mosquito_artifacts, heads_parity
from edgewise.models.mosquito.specs import SPECS
from edgewise.models.pretrained import PRETRAINED_DIR
from edgewise.runtime.artifact import read_metadata, write_manifest


def _runtime_fn(path: Path):
    from edgewise.runtime.backends import load_model

    m = load_model(path, threads=1, warmup=0)
    return lambda x: np.asarray(m.run(np.ascontiguousarray(x, np.float32)))


def _licences(recs) -> list[tuple[str, str, int, int]]:
    """(source, licence, recordings, mosquito recordings) of ``recs``, licences as labels.csv gives them."""
    rows: Counter = Counter()
    pos: Counter = Counter()
    for r in recs:
        key = (r.set_name, r.licence or "not stated")
        rows[key] += 1
        pos[key] += r.mosquito
    return [(s, lic, n, pos[(s, lic)]) for (s, lic), n in sorted(rows.items())]


def _card(args, ck, facts, table: dict, bench: dict | None, licences: list, oods: list[str]) -> str:
    tr = ck.training
    stem = ck.spec.name  # mosquito-dscnn-robust-hydra or mosquito-dscnn-hydra: its members' recipe
    kd = tr.get("distill", {})
    m1 = count_macs(load_checkpoint(Path(args.members) / "member-0.pt").model)
    lines = [
        f"# Model card: {stem} (mosquito detector that knows what it does not know)", "",
        "**What it does.** Flags mosquito flight tones in audio as its members do (2-s windows, hop 1 s, 8 kHz, "
        "events by hysteresis), and reports per window the **epistemic uncertainty** of its "
        f"{ck.model.n_heads} heads (mutual information, nats): high on sound unlike anything its teachers trained on. "
        f"`edgewise detect --model {stem}.onnx --json AUDIO` gives `\"epistemic\"` and `\"unfamiliar\"` "
        "per window; `--suppress-unfamiliar` keeps unfamiliar windows from raising events.", "",
        "| | |", "|---|---|",
        f"| files | `{stem}.pt` (+ `.json`), `{stem}.onnx`, `{stem}.tflite` (fp32), `{stem}-int8.onnx` (onnxruntime "
        f"static INT8, QOperator, 7-bit per-channel weights), `{stem}-int8.tflite` (full-integer, float I/O); "
        "`manifest.json` |",
        f"| architecture | Hydra (Tran et al. 2020): the DS-CNN's stem and first three blocks shared, {ck.model.n_heads} "
        f"heads of the last block + classifier (`edgewise.models.mosquito.hydra.HydraDSCNN`); "
        f"{count_macs(ck.model) / 1e6:.2f} M MACs per window = {count_macs(ck.model) / m1:.2f}x one member |",
        "| output | temperature-scaled logits `[batch, heads, 2]`; p = mean of the heads' softmax |",
        f"| teachers | {len(json.loads((Path(args.members) / 'ensemble.json').read_text())['members'])} DS-CNN members "
        "(`edgewise train mosquito --members`), recipe of "
        f"`edgewise.models.mosquito.train` with {facts['config']['steps']} steps, seeds "
        f"{facts['config']['seed'] - facts['member']}..; `{args.members}` |",
        f"| distillation | phase 1 = plain KD to the members' mean (T {kd.get('temperature')}, labels x "
        f"{kd.get('hard_weight')}, warm start from member {kd.get('init_member')}, {kd.get('phase1', {}).get('steps')} "
        f"steps); phase 2: head m matched to member m (T {kd.get('phase2_temperature')}, "
        f"{kd.get('phase2', {}).get('steps')} steps); temperature refitted on validation |",
        f"| operating threshold | {tr.get('threshold')} (<= 5 false alarms / h on the validation sources' negatives) |",
        "", "## Data", "",
        "`../shared/data/mosquito` (labels.csv + segments.csv, weak-label policy of `edgewise.data.mosquito`), the "
        "**fixed by-source split** (`edgewise.models.mosquito.sources.fixed_split`): test sources "
        f"{', '.join(facts['test_sources'])}; validation sources {', '.join(facts['val_sources'])}; every other source "
        f"trains, except a {facts['holdout']:.0%} in-distribution hold-out of their recordings (the familiar side of "
        f"the OOD figure). Out-of-distribution sources (test sources without mosquitoes, never trained on): "
        f"{', '.join(oods)}. Exact recordings: `{stem}.json` (`training.split_recordings`).", "",
        "Training recordings by source and licence (per labels.csv; the audio itself is not shipped):", "",
        "| source | licence | recordings | mosquito |", "|---|---|---|---|"]
    lines += [f"| {s} | {lic} | {n} | {p} |" for s, lic, n, p in licences]
    lines += ["", "## Held-out metrics (test sources, through the device runtime)", "",
              "| file | window ROC-AUC | clip ROC-AUC | NLL | ECE | OOD AUROC (epistemic) | uncertainty_threshold (nats) "
              "| clip recall without / with suppression | FA/h without / with |", "|---|---|---|---|---|---|---|---|---|"]
    for name, t in table.items():
        a = t["alarms"]
        lines.append(f"| {name} | {t['window_roc_auc']:.4f} | {t['clip_roc_auc']:.4f} | {t['nll']:.4f} | {t['ece']:.4f} "
                     f"| {t['ood_auroc_epistemic']:.3f} | {t['uncertainty_threshold']:.5f} | "
                     f"{a['test_without']['clip_recall']:.3f} / {a['test_with']['clip_recall']:.3f} | "
                     f"{a['test_without']['false_alarms_per_hour']:.1f} / {a['test_with']['false_alarms_per_hour']:.1f} |")
    if bench:
        lines += ["", "## Against the ensemble (benchmarks/hydra_mosquito.py)", ""]
        lines += ["| model | window ROC-AUC | clip ROC-AUC | NLL | ECE | MI Spearman vs ens | OOD AUROC | MACs | ms/window |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in bench["rows"]:
            sp = "-" if r["mi_spearman_vs_ensemble"] is None else f"{r['mi_spearman_vs_ensemble']:.3f}"
            lines.append(f"| {r['name']} | {r['window_roc_auc']:.4f} | {r['clip_roc_auc']:.4f} | {r['nll']:.4f} | "
                         f"{r['ece']:.4f} | {sp} | {r['ood_auroc_epistemic']:.3f} | {r['macs'] / 1e6:.2f} M | "
                         f"{r['latency_ms']:.3f} |")
    lines += ["", "Limits: the test sources hold few mosquito clips (humbug_platform, nsc2021_wingbeats_thai), so clip "
              "figures move by whole clips; false alarms per hour rest on tens of events.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hydra", type=Path, required=True, help="the distilled Hydra checkpoint (hydra.pt)")
    ap.add_argument("--members", type=Path, required=True, help="the ensemble folder it was distilled from")
    ap.add_argument("--bench", type=Path, help="benchmarks/hydra_mosquito.py results JSON for the model card")
    ap.add_argument("--data", type=Path, default=default_dataset_dir("mosquito"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/ew-ship-mosquito-hydra"))
    ap.add_argument("--out", type=Path, default=PRETRAINED_DIR / "mosquito-hydra")
    ap.add_argument("--keep", type=float, default=0.98, help="share of validation detections suppression must keep")
    args = ap.parse_args()

    ck = load_checkpoint(args.hydra)
    facts = load_split_facts(args.members)
    stem, spec = ck.spec.name, SPECS[members_arch(facts)]  # the Hydra shares its members' input
    split, audio = split_audio(args.data, holdout=facts["holdout"], seed=facts["config"]["seed"] - facts["member"])
    if split.fingerprint() != facts["split_fingerprint"]:
        raise SystemExit("the data split differs from the one the members trained on")
    oods = ood_sources(split)
    parts = {k: part_windows(split[k], [audio[r.rel] for r in split[k]], spec) for k in ("val", "test", "id_holdout")}
    ood_recs = [r for r in split["test"] if r.set_name in oods]
    parts["ood"] = part_windows(ood_recs, [audio[r.rel] for r in ood_recs], spec)
    train = part_windows(split["train"], [audio[r.rel] for r in split["train"]], spec)
    calib = train.x[np.random.default_rng(0).choice(len(train), size=min(256, len(train)), replace=False)]
    arts = export_mosquito_artifacts(args.hydra, args.work, calibration=calib, parity_inputs=parts["test"].x[:64],
                                     stem=stem, calibration_source=f"{len(calib)} log-Mel windows of the training "
                                                                   "recordings")
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.hydra, args.out / f"{stem}.pt")
    shutil.copyfile(args.hydra.with_suffix(".json"), args.out / f"{stem}.json")
    entries, table = {}, {}
    for key, src in arts.items():
        t0 = time.time()
        dest = args.out / src.name
        shutil.copyfile(src, dest)
        row, u = measure(_runtime_fn(dest), parts)
        alarms = alarm_comparison(u, parts, threshold=float(ck.training["threshold"]), keep=args.keep)
        tau = alarms["tau"]["tau"]
        if not np.isfinite(tau):
            raise SystemExit(f"{dest.name}: no suppression threshold keeps {args.keep:.0%} of the validation detections")
        parity = heads_parity(ck, dest, parts["test"].x[:256])
        metrics = {**((read_metadata(dest) or {}).get("metrics") or {}), **row,
                   "test_false_alarms_per_hour": [alarms["test_without"]["false_alarms_per_hour"],
                                                  alarms["test_with"]["false_alarms_per_hour"]],
                   "test_clip_recall": [alarms["test_without"]["clip_recall"], alarms["test_with"]["clip_recall"]],
                   "test_split": "held-out sources of the fixed by-source split", "ood_sources": oods,
                   "uncertainty_threshold_chosen_on": f"validation sources' windows: the lowest quantile of their "
                                                      f"epistemic uncertainty keeping {args.keep:.0%} of the detected "
                                                      "validation mosquito windows",
                   "heads_parity_vs_torch_max_abs_p": parity["max_abs_p"], "ensemble": str(args.members)}
        update_metadata(dest, {"uncertainty_threshold": round(tau, 6), "metrics": metrics})
        entries[dest.name] = {"metadata": read_metadata(dest)}
        table[dest.name] = {**row, "uncertainty_threshold": tau, "alarms": alarms, "size_bytes": dest.stat().st_size,
                            "parity": parity}
        print(f"{dest.name}: tau {tau:.5f}; window AUC {row['window_roc_auc']:.4f}; OOD {row['ood_auroc_epistemic']:.3f}; "
              f"FA/h {alarms['test_without']['false_alarms_per_hour']:.1f} -> "
              f"{alarms['test_with']['false_alarms_per_hour']:.1f} ({time.time() - t0:.0f} s)", flush=True)
    write_manifest(args.out, entries)
    bench = json.loads(args.bench.read_text()) if args.bench else None
    (args.out / "MODEL_CARD.md").write_text(_card(args, ck, facts, table, bench, _licences(split["train"]), oods))
    (args.work / "ship.json").write_text(json.dumps(table, indent=1, default=float))


if __name__ == "__main__":
    main()
