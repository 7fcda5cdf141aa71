"""Is a mosquito ensemble's disagreement a property of the input? Two ensembles of one recipe, compared (issue 23).

Hydra (issue 23) is asked to keep its ensemble's per-window mutual information (MI) with Spearman >= 0.8. That only
means something when the MI belongs to the input: a second ensemble of the same recipe, other seeds, should rank the
windows alike. Two mosquito ensembles of the shipped recipe (seeds only) agree at 0.08 (test sources) / 0.23
(validation): README, "Is there an uncertainty to keep?". This script asks the same of ensembles whose members
differ by more than their seed:

- ``--mix hetero`` (default): member k is ``MIXES["hetero"][k]``: the shipped ``dscnn-robust`` recipe, the same net
  wider and narrower, the HumBug baseline CNN (its own front end: 128 mel bands, n_fft 2048, level kept) and the
  0.1 ``dscnn`` (mel bands to 4 kHz, level kept);
- ``--mix widths``: only the three ``dscnn-robust`` widths (one front end, as a Hydra's shared body needs).

Each member trains with ``edgewise.models.mosquito.train.train_model`` (its arch's recipe, seed BASE + k) on the
ensemble split's training part (``edgewise.models.ensemble.mosquito.split_audio``: the fixed by-source split, 10 %
of the training sources' recordings held out), best state and temperature on the validation sources.

``compare A B`` scores every member on its own front end over the same windows (2 s, hop 1 s) and prints: each
ensemble's window / clip ROC-AUC on the test sources, the OOD AUROC of its epistemic uncertainty (in-distribution
hold-out against the test part's non-mosquito sources, and against ``edgewise.data.ood_audio``'s kinds made from
the hold-out), and the per-window Spearman of A's MI against B's, for the whole ensembles and for member subsets
(members k of A and of B share a configuration, so any subset is two like ensembles).

    OMP_NUM_THREADS=1 python benchmarks/mosquito_mi_agreement.py train --base 0 --out A   # --data: the mosquito folder
    OMP_NUM_THREADS=1 python benchmarks/mosquito_mi_agreement.py train --base 5 --out B
    python benchmarks/mosquito_mi_agreement.py compare A B        # ~5 min; train: ~4-8 min per member per core

Read the MI agreement with the members' quality beside it: a weak, soft member (the HumBug CNN here: validation
window ROC-AUC 0.72-0.75, fitted temperature 13.6-15.2, p near 0.5) makes MI grow with how sure the *other* members
are, which two ensembles share because they agree on p; that is agreement on p, not on which windows are unfamiliar.
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

DATA = Path("/work/shared/data/mosquito")
LUDB = Path("/work/shared/data/ludb")
MIXES = {
    "hetero": [("dscnn-robust", {}), ("dscnn-robust", {"widths": [32, 64, 96, 128, 128]}),
               ("dscnn-robust", {"widths": [16, 32, 48, 64]}), ("humbug", {}), ("dscnn", {})],
    "widths": [("dscnn-robust", {}), ("dscnn-robust", {"widths": [32, 64, 96, 128, 128]}),
               ("dscnn-robust", {"widths": [16, 32, 48, 64]})],
}


def train(base: int, out: Path, mix: str, data: Path, steps: int | None = None) -> None:
    import torch

    from edgewise.models.checkpoint import save_checkpoint
    from edgewise.models.ensemble.mosquito import _window_set, split_audio
    from edgewise.models.mosquito.train import recipe, train_model

    out.mkdir(parents=True, exist_ok=True)
    split, audio = split_audio(data, seed=0)

    for k, (arch, kw) in enumerate(MIXES[mix]):
        path = out / f"member-{k}.pt"
        if path.exists():
            print(f"member {k}: exists ({path})", flush=True)
            continue
        cfg = recipe(arch, seed=base + k, model_kwargs=dict(kw))
        if steps:  # a quick check of the path, not an ensemble to measure
            cfg = replace(cfg, steps=steps, eval_every=min(cfg.eval_every, steps))
        torch.manual_seed(cfg.seed)
        t0 = time.time()
        model, log = train_model(cfg, _window_set(split["train"], audio, cfg, cfg.train_hop_s),  # as the members'
                                 _window_set(split["val"], audio, cfg, cfg.spec.hop / cfg.spec.sample_rate))
        save_checkpoint(path, spec=cfg.spec, model=model, model_kwargs=dict(kw),
                        training={"mix": mix, "member": k, "arch": arch, "seed": cfg.seed, "split_seed": 0,
                                  "val_window_roc_auc": log["val_window_roc_auc"], "temperature": log["temperature"]})
        print(f"member {k} {arch} {kw}: val window AUC {log['val_window_roc_auc']:.4f} ({time.time() - t0:.0f} s)",
              flush=True)


def member_probabilities(folder: Path, parts: dict, feats) -> tuple[dict[str, np.ndarray], list[str]]:
    """{part: p(mosquito) [windows, members]} of the members in ``folder``, each on its own front end, and each
    member's configuration (spec name and model kwargs, to check that two ensembles' member k are alike)."""
    import torch

    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.mosquito.heads_eval import head_probabilities

    paths = sorted(folder.glob("member-*.pt"), key=lambda p: int(p.stem.split("-")[1]))
    if not paths:
        raise SystemExit(f"{folder}: no member-K.pt (train them with `train --out {folder}`)")
    out: dict[str, list] = {n: [] for n in parts}
    configs = []
    for path in paths:
        ck = load_checkpoint(path)
        configs.append(f"{ck.spec.name} {json.dumps(ck.model_kwargs, sort_keys=True)}")

        def fn(x, m=ck.model):
            with torch.inference_mode():
                return m(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()

        for n in parts:
            out[n].append(head_probabilities(fn, feats(ck.spec, n).x)[:, 0])
    return {n: np.stack(v, axis=1) for n, v in out.items()}, configs


def compare(dirs: list[Path], data: Path, ludb: Path) -> dict:
    import torch
    from scipy.stats import spearmanr

    from edgewise.data.ood_audio import ood_set
    from edgewise.models.ensemble.mosquito import ood_sources, split_audio
    from edgewise.models.mosquito.heads_eval import auroc, clip_scores, part_windows, uncertainty
    from edgewise.models.mosquito.specs import SHIPPED_ARCH, SPECS

    torch.set_num_threads(2)
    split, audio = split_audio(data, seed=0)
    oods = ood_sources(split)
    recs = {"val": split["val"], "test": split["test"], "id_holdout": split["id_holdout"],
            "ood": [r for r in split["test"] if r.set_name in oods]}
    held = split["id_holdout"]
    made = ood_set([audio[r.rel] for r in held], ludb_root=ludb if ludb.is_dir() else None)
    names = list(recs) + [f"ood:{k}" for k in made]
    cache: dict = {}

    def feats(spec, name):
        if (spec.name, name) not in cache:
            rs, ys = (held, made[name[4:]]) if name.startswith("ood:") else (recs[name], [audio[r.rel] for r in recs[name]])
            cache[spec.name, name] = part_windows(rs, ys, spec)
        return cache[spec.name, name]

    ref = {n: feats(SPECS[SHIPPED_ARCH], n) for n in ("val", "test")}  # windows, labels, clips (alike for every spec)
    scored = [member_probabilities(d, dict.fromkeys(names), feats) for d in dirs]
    for (spec_name, n), p in cache.items():  # every front end must cut the same windows, or rows would not match
        if n in ref and not np.array_equal(p.times, ref[n].times):
            raise SystemExit(f"{spec_name} cuts other windows than {SHIPPED_ARCH} on the {n} part: not comparable")
    probs = [p for p, _ in scored]
    if len(scored) == 2:
        (_, ca), (_, cb) = scored
        if len(ca) != len(cb) or ca != cb:
            raise SystemExit(f"member k of {dirs[0]} and of {dirs[1]} must share a configuration: {ca} vs {cb}")
    res: dict = {"ensembles": {}, "mi_spearman": {}, "windows": {n: len(feats(SPECS[SHIPPED_ARCH], n)) for n in names}}
    for d, e in zip(dirs, probs):
        u = {n: uncertainty(e[n]) for n in names}
        t, lab = ref["test"], np.isfinite(ref["test"].labels)
        ind = u["id_holdout"]["epistemic"]
        res["ensembles"][str(d)] = {
            "window_roc_auc": auroc(t.labels[lab], u["test"]["p"][lab]),
            "clip_roc_auc": auroc(t.mosquito.astype(int), clip_scores(t, u["test"]["p"])),
            "member_window_roc_auc": [auroc(t.labels[lab], e["test"][lab, k]) for k in range(e["test"].shape[1])],
            "ood_auroc_epistemic": {n: auroc(np.r_[np.zeros(len(ind)), np.ones(len(u[n]["epistemic"]))],
                                             np.r_[ind, u[n]["epistemic"]]) for n in names[3:]}}
    if len(probs) == 2:
        m = probs[0]["test"].shape[1]
        subsets = [list(s) for r in range(2, m + 1) for s in itertools.combinations(range(m), r)]
        for s in subsets:
            res["mi_spearman"][",".join(map(str, s))] = {
                n: float(spearmanr(uncertainty(probs[0][n][:, s])["epistemic"],
                                   uncertainty(probs[1][n][:, s])["epistemic"]).statistic) for n in ("test", "val")}
        res["p_spearman"] = {n: float(spearmanr(probs[0][n][:, :m].mean(1), probs[1][n][:, :m].mean(1)).statistic)
                             for n in ("test", "val")}
    return res


def _print(res: dict) -> None:
    print("\n| ensemble | window ROC-AUC | clip ROC-AUC | members' window ROC-AUC | OOD AUROC (epistemic): "
          + " / ".join(next(iter(res["ensembles"].values()))["ood_auroc_epistemic"]) + " |\n|---|---|---|---|---|")
    for name, e in res["ensembles"].items():
        print(f"| {name} | {e['window_roc_auc']:.3f} | {e['clip_roc_auc']:.3f} | "
              + ", ".join(f"{v:.3f}" for v in e["member_window_roc_auc"]) + " | "
              + " / ".join(f"{v:.3f}" for v in e["ood_auroc_epistemic"].values()) + " |")
    if res["mi_spearman"]:
        print(f"\nper-window p Spearman A vs B: test {res['p_spearman']['test']:.3f}, val {res['p_spearman']['val']:.3f}")
        print("\n| members (A's k vs B's k) | MI Spearman test | MI Spearman val |\n|---|---|---|")
        for s, v in res["mi_spearman"].items():
            print(f"| {s} | {v['test']:.3f} | {v['val']:.3f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train one ensemble of the mix")
    t.add_argument("--base", type=int, default=0, help="member k's seed is BASE + k")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--mix", choices=sorted(MIXES), default="hetero")
    t.add_argument("--steps", type=int, help="training steps per member (default: the recipe's 1500)")
    c = sub.add_parser("compare", help="score one or two ensembles; with two, the MI agreement")
    c.add_argument("dirs", type=Path, nargs="+")
    c.add_argument("--json", type=Path, help="also write the figures here")
    for p in (t, c):
        p.add_argument("--data", type=Path, default=DATA)
    c.add_argument("--ludb", type=Path, default=LUDB, help="LUDB folder for the ecg OOD kind (left out when missing)")
    args = ap.parse_args()
    if args.cmd == "train":
        train(args.base, args.out, args.mix, args.data, args.steps)
        return 0
    if len(args.dirs) > 2:
        ap.error("compare takes one or two ensemble folders")
    res = compare(args.dirs, args.data, args.ludb)
    _print(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
