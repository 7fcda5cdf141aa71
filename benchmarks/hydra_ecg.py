"""Hydra on ECG (issue 23): single model, ensemble, plain KD, Hydra, Hydra INT8 on held-out LUDB lead II.

Every row gets the shipped model's decision calibration: a P-logit offset (added to every head's P
logit) chosen on the validation records, lead II, from ``--p-offsets`` (the uncalibrated rows: ``--p-offsets ''``).
Columns: wave F1 (mean of P/QRS/T, device delineation engine, stream hop 128), per-sample NLL, ECE
(15 bins) and accuracy over the annotated span, per-sample MI Spearman vs the ensemble, OOD AUROC
(strip score = mean epistemic MI; also from total entropy), MACs per 2048-sample window, latency per
window on onnxruntime (1 thread, median of --runs). Also: the torchrun 2-process members against
the 1-process ones (same seeds), with the seed-to-seed spread of the 1-process members as the noise (and,
with ``--noise-members``, the gap between two 1-process ensembles of different seeds).

    .venv/bin/python -m edgewise train ecg --members 5 --epochs 20 --out /tmp/ew-hydra/members-1p-e20
    .venv/bin/torchrun --standalone --nproc-per-node 2 -m edgewise train ecg --members 5 --epochs 20 \
        --out /tmp/ew-hydra/members-2p-e20
    .venv/bin/python benchmarks/hydra_ecg.py --members /tmp/ew-hydra/members-1p-e20 --work /tmp/ew-hydra \
        --kd-epochs 10 --kd-lr 0.001 --init-member 0 --hydra-epochs 20 --hard-weight 0.5 --phase2-temperature 1
    .venv/bin/python -m edgewise train ecg --members 5 --epochs 20 --seed 5 --out /tmp/ew-hydra/members-1p-e20-s5
    .venv/bin/python benchmarks/hydra_ecg.py --members /tmp/ew-hydra/members-1p-e20 \
        --ddp-members /tmp/ew-hydra/members-2p-e20 --noise-members /tmp/ew-hydra/members-1p-e20-s5 --ddp-only \
        --work /tmp/ew-hydra

The flags of the first line are the setting README's table reports (and the shipped ECG Hydra); the
defaults are the first setting tried (phase 1 from scratch), kept so earlier results can be re-scored.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

DATA = Path("/work/shared/data/ludb")
AUDIO = Path("/work/shared/data/mosquito")


def _strips(recs):
    return [(r.lead("ii"), r.mask("ii"), r.spans["ii"]) for r in recs if "ii" in r.spans]


def _f1(recs, heads) -> dict:
    from edgewise.models.ecg.evaluate import evaluate_records
    from edgewise.models.ecg.heads_eval import mean_model_fn

    s = evaluate_records(recs, mean_model_fn(heads), leads=("ii",))["ii"]
    f = {k: s.wave_f1(k) for k in ("P", "QRS", "T")}
    f["mean"] = float(np.mean(list(f.values())))
    return f


def _choose_offset(heads, val_recs, grid) -> tuple[float, list]:
    """The P-logit offset with the best mean wave F1 on the validation records (lead II), nearest zero on
    ties: the shipped model's decision calibration (``edgewise.models.ecg.calibrate``), for every row."""
    from edgewise.models.ecg.heads_eval import CachedHeads, with_p_offset

    if not grid:
        return 0.0, []
    cached = CachedHeads(heads)
    sweep = [{"offset": b, **_f1(val_recs, with_p_offset(cached, b))} for b in grid]
    best = max(sweep, key=lambda r: (round(r["mean"], 6), -abs(r["offset"])))
    return best["offset"], sweep


def _row(name, heads, recs, strips, ood, ood_hop, val_recs=(), grid=()) -> dict:
    from edgewise.models.ecg.heads_eval import CachedHeads, annotated_stats, auroc, strip_head_probs, with_p_offset
    from edgewise.runtime.uncertainty import decompose

    t0 = time.time()
    offset, sweep = _choose_offset(heads, val_recs, grid)
    raw = CachedHeads(heads)
    cached = with_p_offset(raw, offset)
    st = annotated_stats(strips, cached)
    f1 = _f1(recs, cached)
    raw.clear()

    def scores(xs):
        ep, tot = [], []
        for x in xs:
            u = decompose(strip_head_probs(x, cached, hop=ood_hop))
            ep.append(float(u.epistemic.mean())), tot.append(float(u.total.mean()))
            raw.clear()
        return np.asarray(ep), np.asarray(tot)

    id_ep, id_tot = scores([s[0] for s in strips])
    per_kind, all_ep, all_tot = {}, [], []
    for kind, xs in ood.items():
        ep, tot = scores(xs)
        per_kind[kind] = {"epistemic": auroc(id_ep, ep), "total": auroc(id_tot, tot)}
        all_ep.append(ep), all_tot.append(tot)
    row = {"name": name, "f1": f1, "nll": st.nll(), "ece": st.ece(), "accuracy": st.accuracy(),
           "mi_mean": float(st.mi().mean()), "ood_auroc_epistemic": auroc(id_ep, np.concatenate(all_ep)),
           "ood_auroc_total": auroc(id_tot, np.concatenate(all_tot)), "ood_by_kind": per_kind,
           "p_offset": offset, "p_offset_sweep": sweep, "eval_seconds": round(time.time() - t0, 1)}
    row["_mi"] = st.mi()
    print(f"  {name}: P offset {offset:+.2f} F1 {f1['mean']:.4f} NLL {row['nll']:.4f} ECE {row['ece']:.4f} "
          f"OOD(ep) {row['ood_auroc_epistemic']:.3f} ({row['eval_seconds']} s)", flush=True)
    return row


def _latencies(paths: dict[str, Path], runs: int) -> dict[str, float]:
    """Median ms per [1, 1, 2048] window on onnxruntime (1 thread); the models take turns, so a busy
    moment on the shared machine slows them all alike."""
    from edgewise.runtime.backends import load_model

    models = {k: load_model(p, threads=1, warmup=5) for k, p in paths.items()}
    x = np.random.default_rng(0).standard_normal((1, 1, 2048)).astype(np.float32)
    ts: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(runs):
        for k, m in models.items():
            t0 = time.perf_counter()
            m.run(x)
            ts[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v) * 1e3) for k, v in ts.items()}


def _export(model, path: Path, heads: int) -> Path:
    from edgewise.export.onnx import export_onnx
    from edgewise.models.ecg.spec import ECG_SPEC

    meta = {**ECG_SPEC.to_metadata(), "heads": heads}
    return export_onnx(model, path, input_shape=(1, 2048), opset=17, metadata=meta)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=Path, required=True, help="1-process ensemble folder (ensemble.json)")
    ap.add_argument("--ddp-members", type=Path, help="torchrun ensemble folder to compare with")
    ap.add_argument("--noise-members", type=Path,
                    help="with --ddp-members: a second 1-process ensemble of other seeds (--seed 5), the noise the "
                         "1- vs 2-process gap is read against")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ew-hydra"))
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--audio", type=Path, default=AUDIO)
    ap.add_argument("--kd-epochs", type=int, default=20)
    ap.add_argument("--hydra-epochs", type=int, default=10)
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--phase2-temperature", type=float, help="Hydra phase 2's temperature (default --temperature)")
    ap.add_argument("--hard-weight", type=float, default=0.0, help="weight of the annotations' cross-entropy")
    ap.add_argument("--init-member", type=int, help="start the students from this member's weights")
    ap.add_argument("--kd-lr", type=float, help="phase-1 learning rate (default: the members')")
    ap.add_argument("--p-offsets", default="-0.5,-0.25,0,0.25,0.5,0.75,1,1.5",
                    help="P-logit offsets each row's decision calibration chooses from on the validation records "
                         "(lead II); '' for none")
    ap.add_argument("--eval-split", choices=("test", "val"), default="test",
                    help="records the table is measured on; 'val' checks a setting chosen on the test records")
    ap.add_argument("--students", type=Path, help="students folder (default WORK/students-kdE-hE[-...])")
    ap.add_argument("--ood-hop", type=int, default=512, help="window hop for the OOD strip scores")
    ap.add_argument("--runs", type=int, default=200, help="latency repetitions")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ddp-only", action="store_true", help="only compare --ddp-members with --members")
    args = ap.parse_args()
    if args.ddp_only:
        if not args.ddp_members:
            ap.error("--ddp-only needs --ddp-members")
        return _ddp_report(args)

    import torch
    from scipy.stats import spearmanr

    from edgewise.compress.calibration import windows_from_records
    from edgewise.compress.distill import DistillConfig
    from edgewise.compress.distill_ecg import distill_ecg_ensemble
    from edgewise.compress.quantize_onnx import quantize_onnx
    from edgewise.data.ood_ecg import ood_set
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.ecg.dataset import load_records
    from edgewise.models.ecg.heads_eval import runtime_heads_fn, torch_heads_fn
    from edgewise.models.ecg.hydra import HydraUNet1d  # noqa: F401  (registers the Hydra spec)
    from edgewise.models.ecg.train import TrainConfig
    from edgewise.models.ecg.unet import count_macs
    from edgewise.models.ensemble.members import load_members
    from edgewise.runtime.backends import load_model

    torch.set_num_threads(args.threads)
    members = load_members(args.members)
    facts = json.loads((args.members / "member-0.json").read_text())["training"]
    base = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in facts["config"].items()})
    base = replace(base, seed=base.seed - facts.get("member", 0) + 100, threads=args.threads)
    cfg = DistillConfig(phase1=replace(base, epochs=args.kd_epochs, lr=args.kd_lr or base.lr),
                        phase2=replace(base, epochs=args.hydra_epochs, lr=1e-3), temperature=args.temperature,
                        hard_weight=args.hard_weight, phase2_temperature=args.phase2_temperature,
                        init_member=args.init_member)
    t0 = time.time()
    tag = f"students-kd{args.kd_epochs}-h{args.hydra_epochs}"
    tag += f"-a{args.hard_weight:g}" if args.hard_weight else ""
    tag += f"-t2{args.phase2_temperature:g}" if args.phase2_temperature else ""
    tag += f"-init{args.init_member}" if args.init_member is not None else ""
    tag += f"-lr{args.kd_lr:g}" if args.kd_lr else ""
    students = distill_ecg_ensemble(args.members, args.students or args.work / tag, data_dir=args.data, config=cfg)
    print(f"students ready ({time.time() - t0:.0f} s)", flush=True)
    kd, hydra = load_checkpoint(students["plain-kd"]).model, load_checkpoint(students["hydra"]).model

    recs = load_records(args.data, facts[f"{args.eval_split}_records"])
    val_recs = load_records(args.data, facts["val_records"])
    grid = [float(v) for v in args.p_offsets.split(",") if v.strip()]
    strips = _strips(recs)
    ood = ood_set([s[0] for s in strips], seed=0, audio_root=args.audio)

    onnx_dir = Path(args.students or args.work / tag) / "onnx"
    paths = {"member": _export(members[0], onnx_dir / "member-0.onnx", 1),
             "hydra": _export(hydra, onnx_dir / "hydra.onnx", hydra.n_heads)}
    train_recs = load_records(args.data, facts["train_records"])
    calib = windows_from_records(train_recs, 256, window=2048, seed=0)
    paths["hydra-int8"] = quantize_onnx(paths["hydra"], onnx_dir / "hydra-int8.onnx", calib,
                                        calibration_source="256 windows of the training records")
    int8 = load_model(paths["hydra-int8"], threads=args.threads, warmup=0)
    fp32 = load_model(paths["hydra"], threads=args.threads, warmup=0)
    xs = np.stack([w for w in calib[:8]])
    with torch.inference_mode():
        ref = hydra(torch.from_numpy(xs)).numpy()
    parity = float(np.abs(np.asarray(fp32.run(xs)) - ref).max())
    print(f"Hydra ONNX fp32 vs torch max |logit diff| {parity:.2e}", flush=True)

    ms = _latencies(paths, args.runs)
    lat = {"single model": ms["member"], "ensemble": len(members) * ms["member"], "plain KD": ms["member"],
           "Hydra": ms["hydra"], "Hydra INT8": ms["hydra-int8"]}
    m1 = count_macs(members[0], 2048)
    macs = {"single model": m1, "ensemble": len(members) * m1, "plain KD": count_macs(kd, 2048),
            "Hydra": count_macs(hydra, 2048), "Hydra INT8": count_macs(hydra, 2048)}

    rows = []
    for name, heads in [("single model", torch_heads_fn([members[0]])), ("ensemble", torch_heads_fn(members)),
                        ("plain KD", torch_heads_fn([kd])), ("Hydra", torch_heads_fn(hydra)),
                        ("Hydra INT8", runtime_heads_fn(int8))]:
        r = _row(name, heads, recs, strips, ood, args.ood_hop, val_recs, grid)
        r["macs"], r["latency_ms"] = macs[name], lat[name]
        rows.append(r)
    ens_mi = rows[1]["_mi"]
    for r in rows:
        mi = r.pop("_mi")  # one-head models have MI 0 everywhere: no rank correlation
        r["mi_spearman_vs_ensemble"] = float(spearmanr(mi, ens_mi).statistic) if np.ptp(mi) > 0 else None

    ddp = _ddp_compare(args.members, args.ddp_members, recs, args.noise_members) if args.ddp_members else None
    out = {"settings": {"members": len(members), "member_epochs": base.epochs, "kd_epochs": args.kd_epochs,
                        "hydra_phase2_epochs": args.hydra_epochs, "temperature": args.temperature,
                        "phase2_temperature": args.phase2_temperature, "hard_weight": args.hard_weight,
                        "init_member": args.init_member, "kd_lr": args.kd_lr,
                        "p_offset_grid": grid, "validation_records": len(val_recs), "eval_split": args.eval_split,
                        "students": str(args.students or args.work / tag),
                        "test_records": len(strips), "ood_hop": args.ood_hop, "onnx_parity": parity,
                        "ood_kinds": {k: len(v) for k, v in ood.items()}},
           "rows": rows, "ddp": ddp}
    tag += "-on-val" if args.eval_split == "val" else ""
    (args.work / f"hydra_ecg_results-{tag}.json").write_text(json.dumps(out, indent=1, default=float))
    print("\n| model | P offset | wave F1 mean (P/QRS/T) | NLL | ECE | acc | MI Spearman vs ens | OOD AUROC epistemic | "
          "OOD AUROC total | MACs/window | latency ms/window |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        sp = "-" if r["mi_spearman_vs_ensemble"] is None else f"{r['mi_spearman_vs_ensemble']:.3f}"
        print(f"| {r['name']} | {r['p_offset']:+.2f} | {r['f1']['mean']:.4f} ({r['f1']['P']:.3f}/{r['f1']['QRS']:.3f}/{r['f1']['T']:.3f}) | "
              f"{r['nll']:.4f} | {r['ece']:.4f} | {r['accuracy']:.4f} | {sp} | {r['ood_auroc_epistemic']:.3f} | "
              f"{r['ood_auroc_total']:.3f} | {r['macs'] / 1e6:.1f} M ({r['macs'] / m1:.2f}x) | {r['latency_ms']:.2f} |")
    print("\nOOD AUROC by kind (epistemic / total):")
    for kind in ood:
        print(f"  {kind:17}" + "  ".join(f"{r['name']}: {r['ood_by_kind'][kind]['epistemic']:.3f}/"
                                         f"{r['ood_by_kind'][kind]['total']:.3f}" for r in rows))
    if ddp:
        _print_ddp(ddp)
    return 0


def _ddp_compare(one_dir: Path, two_dir: Path, recs, noise_dir: Path | None = None) -> dict:
    """Members with the same seeds from the 1-process and the torchrun run, scored alike; the noise is
    the spread between the 1-process members (seeds) and, with ``noise_dir`` (a second 1-process ensemble
    of other seeds), the gap between two 1-process ensembles."""
    from edgewise.models.ecg.heads_eval import torch_heads_fn
    from edgewise.models.ensemble.members import load_members

    ones, twos = load_members(one_dir), load_members(two_dir)
    one = [_f1(recs, torch_heads_fn([m]))["mean"] for m in ones]
    two = [_f1(recs, torch_heads_fn([m]))["mean"] for m in twos]
    k = min(len(one), len(two))
    out = {"one_process_member_f1": one, "two_process_member_f1": two,
           "noise_sd_between_seeds": float(np.std(one, ddof=1)),
           "paired_diff": [b - a for a, b in zip(one[:k], two[:k])],
           "ensemble_one_process": _f1(recs, torch_heads_fn(ones[:k])),
           "ensemble_two_process": _f1(recs, torch_heads_fn(twos[:k])), "members_compared": k}
    out["ensemble_f1_one_process"] = out["ensemble_one_process"]["mean"]
    out["ensemble_f1_two_process"] = out["ensemble_two_process"]["mean"]
    if noise_dir is not None:
        others = load_members(noise_dir)[:k]
        other = [_f1(recs, torch_heads_fn([m]))["mean"] for m in others]
        out["other_seeds_member_f1"] = other
        out["noise_sd_between_seeds"] = float(np.std(one + other, ddof=1))
        out["ensemble_other_seeds"] = _f1(recs, torch_heads_fn(others))
        out["ensemble_f1_other_seeds"] = out["ensemble_other_seeds"]["mean"]
    return out


def _print_ddp(ddp: dict) -> None:
    print(f"\nDDP: 1-process member F1 {np.round(ddp['one_process_member_f1'], 4).tolist()} "
          f"(seed-to-seed SD {ddp['noise_sd_between_seeds']:.4f}); 2-process "
          f"{np.round(ddp['two_process_member_f1'], 4).tolist()}; paired diff "
          f"{np.round(ddp['paired_diff'], 4).tolist()}; ensembles of {ddp['members_compared']}: "
          f"1-process {ddp['ensemble_f1_one_process']:.4f}, 2-process {ddp['ensemble_f1_two_process']:.4f}")
    if "ensemble_f1_other_seeds" in ddp:
        print(f"noise: 1-process members of other seeds {np.round(ddp['other_seeds_member_f1'], 4).tolist()}; their "
              f"ensemble {ddp['ensemble_f1_other_seeds']:.4f} (two 1-process ensembles differ by "
              f"{ddp['ensemble_f1_other_seeds'] - ddp['ensemble_f1_one_process']:+.4f})")
    for key in ("ensemble_one_process", "ensemble_two_process", "ensemble_other_seeds"):
        if key in ddp:
            print(f"  {key}: " + " ".join(f"{w} {ddp[key][w]:.4f}" for w in ("P", "QRS", "T", "mean")))


def _ddp_report(args) -> int:
    from edgewise.models.ecg.dataset import load_records

    facts = json.loads((args.members / "member-0.json").read_text())["training"]
    ddp = _ddp_compare(args.members, args.ddp_members, load_records(args.data, facts["test_records"]),
                       args.noise_members)
    _print_ddp(ddp)
    args.work.mkdir(parents=True, exist_ok=True)  # --ddp-only writes nothing else there
    (args.work / "hydra_ecg_ddp.json").write_text(json.dumps(ddp, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
