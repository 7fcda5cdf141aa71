"""Side-by-side: grouped VAE with and without the adversarial MI term (Németh, AAAI 2020).

Prints, per dataset and seed, the style-probe accuracy (leakage of the group into the style code),
the content-probe accuracy, chance, and held-out reconstruction for both versions, then the issue's
acceptance check: the adversarial term should close >= half the gap between the plain style-probe
accuracy and chance, at <= 5 % worse reconstruction.

    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data digits --seeds 0 1 2
    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data ecg --seeds 0 1 2

Settings are chosen with ``--validate``, which never touches the held-out split: the probe gap on a
validation split carved from the training part (30 % of each digit class, a third of each subject's
training beats), the reconstruction cost where the protocol keeps the held-out shape (VALIDATION_COST),
and ``--diagnose`` prints per-epoch recon (train/test part), critic accuracy, KL and MI of both versions:

    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data ecg --validate --seeds 0 1 2
    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data ecg --validate --diagnose

Since session 6 LUDB settings are chosen by cross-fitting: ``--crossfit 3`` deals every subject's training
beats into 3 folds, trains both versions on two and measures gap and ratio on the third, and prints the
means (each training beat validates once; a single nested split moves the ratio by +-0.05 on its own):

    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data ecg --crossfit 3 --seeds 0 1 2

Every screen, held-out look and decision since session 3 is logged in benchmarks/disentangle_log.md.
"""
from __future__ import annotations

import argparse
import ast
import json
import time
from dataclasses import replace

VALIDATION_FRACTION = {"digits": 0.3, "ecg": 1 / 3}
# Where validation reads the reconstruction cost: the split whose shape mirrors the held-out protocol.
# Digits: the nested split (88 vs 125 training digits per class). LUDB: ~4.8 training beats per subject
# leave no nested split of that shape, so the ratio on the full training part (both versions trained on
# all of it; the adversarial cost is under-fitting, which shows there).
VALIDATION_COST = {"digits": "nested split", "ecg": "full training part"}


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set takes key=value, got {item!r}")
        out[key] = ast.literal_eval(value)
    return out


def _diagnose(data, cfg, every: int = 10) -> None:
    """Per-epoch diagnostics of both versions: recon on the training and test parts (chunks as measured),
    the critic's accuracy on the training styles, KL terms, MI estimate; then how much the decoder uses
    the content (recon error with the style or the content set to its prior mean 0)."""
    import numpy as np
    import torch

    from edgewise.analysis.disentangle import fit_group_vae, heldout_reconstruction
    from edgewise.analysis.disentangle._vae import _standardise_batch

    gid = np.unique(data.g_train, return_inverse=True)[1]
    for name, c in (("plain", replace(cfg, adv_weight=0.0)), ("adversarial", cfg)):
        print(f"-- {name}")

        def callback(epoch, vae, critic, c=c):
            if (epoch + 1) % every:
                return
            vae.eval()
            tr = heldout_reconstruction(vae, data.x_train, data.g_train, group_size=c.group_size)
            te = heldout_reconstruction(vae, data.x_test, data.g_test, group_size=c.group_size)
            acc = float("nan")
            if c.adv_weight > 0 and c.adversary == "classifier":
                with torch.no_grad():
                    s = _standardise_batch(torch.as_tensor(vae.codes(data.x_train, data.g_train)[0]))
                    acc = float((critic(s).argmax(1).numpy() == gid).mean())
            vae.train()
            print(f"epoch {epoch + 1:4d}  recon train {tr:.4f} test {te:.4f}  critic acc (train styles) {acc:.3f}",
                  flush=True)

        vae, hist = fit_group_vae(data.x_train, data.g_train, c, callback=callback)
        for i in range(every - 1, len(hist), every):
            print(f"epoch {i + 1:4d}  " + "  ".join(f"{k} {v:.3f}" for k, v in hist[i].items()))
        s, cont = vae.codes(data.x_train, data.g_train)
        with torch.no_grad():
            dec = lambda a, b: vae.decoder(torch.as_tensor(np.concatenate([a, b], 1))).numpy()  # noqa: E731
            no_style = float(((dec(cont, 0 * s) - data.x_train) ** 2).mean())
            no_content = float(((dec(0 * cont, s) - data.x_train) ** 2).mean())
        print(f"decoder use (training part, per-observation codes): recon MSE with style 0: {no_style:.3f}; "
              f"with content 0: {no_content:.3f}")


def _crossfit(full, cfg, k: int) -> dict:
    """Both versions on each of ``k`` validation folds of ``full``'s training part; per-fold and mean measures."""
    import numpy as np

    from edgewise.analysis.disentangle import compare, validation_folds

    t0, folds = time.perf_counter(), []
    for f, data in enumerate(validation_folds(full, k)):
        comp, _ = compare(data, cfg)
        folds.append({"fold": f, "gap_closed": round(comp.gap_closed, 4), "recon_ratio": round(comp.recon_ratio, 4),
                      "recon_mse_plain": round(comp.plain.recon_mse, 5),
                      "recon_mse_adversarial": round(comp.adversarial.recon_mse, 5)})
        print(f"  seed {cfg.seed} fold {f}: gap {comp.gap_closed:.3f}, ratio {comp.recon_ratio:.4f} "
              f"(plain {comp.plain.recon_mse:.5f} -> adversarial {comp.adversarial.recon_mse:.5f})", flush=True)
    mean = {key: round(float(np.mean([r[key] for r in folds])), 5) for key in folds[0] if key != "fold"}
    print(f"{full.name}, seed {cfg.seed}, {k}-fold cross-fitted ({time.perf_counter() - t0:.0f} s): gap "
          f"{mean['gap_closed']:.3f}, ratio {mean['recon_ratio']:.4f}, plain MSE {mean['recon_mse_plain']:.5f}",
          flush=True)
    return {"crossfit": k, **mean, "folds": folds}


def _seed_summary(rows: list[dict]) -> str:
    """One line over the seeds of one dataset: mean gap and ratio (with standard errors), the ratio of mean
    MSEs, and on how many seeds both figures are met. A single seed's ratio moves by about +-0.03 with the
    random stream alone (benchmarks/disentangle_log.md, session 7), so the issue's figures are judged on the mean."""
    import numpy as np

    gap = np.array([r["gap_closed"] for r in rows])
    ratio = np.array([r["recon_ratio_selected"] for r in rows])
    se = lambda v: v.std(ddof=1) / np.sqrt(len(v))  # noqa: E731
    pooled = np.mean([r["recon_mse_adversarial"] for r in rows]) / np.mean([r["recon_mse_plain"] for r in rows])
    met = int(((gap >= 0.5) & (ratio <= 1.05)).sum())
    return (f"over {len(rows)} seeds: gap closed {gap.mean():.3f} +- {se(gap):.3f} (s.e.), recon ratio "
            f"{ratio.mean():.3f} +- {se(ratio):.3f} (ratio of mean MSEs {pooled:.3f}); both figures met on {met} of "
            f"{len(rows)} seeds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["digits", "ecg", "both"], default="digits")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--adv-weight", type=float, default=None)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override VaeConfig fields")
    parser.add_argument("--validate", action="store_true",
                        help="choose settings without the held-out split: probe gap on a validation split carved "
                             "from the training part, reconstruction cost on the full training part")
    parser.add_argument("--crossfit", type=int, default=None, metavar="K",
                        help="choose settings by cross-fitting instead: K validation folds of every group's training "
                             "members (never the held-out split); prints gap and ratio per fold and their means")
    parser.add_argument("--diagnose", action="store_true", help="print per-epoch diagnostics instead")
    parser.add_argument("--max-records", type=int, default=None, help="ECG: at most this many subjects")
    parser.add_argument("--json-out", default=None, help="also write all results as JSON here")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    torch.set_num_threads(1)
    from edgewise.analysis.disentangle import (
        DEFAULTS,
        Comparison,
        compare,
        extra_error_share,
        grouped_beats,
        grouped_digits,
        reconstruction_errors,
        training_cost,
        validation_split,
    )
    from edgewise.data.paths import default_dataset_dir

    names = ["digits", "ecg"] if args.data == "both" else [args.data]
    overrides = _overrides(args.set)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.adv_weight is not None:
        overrides["adv_weight"] = args.adv_weight
    results = []
    for name in names:
        for seed in args.seeds:
            cfg = replace(DEFAULTS[name], seed=seed, **overrides)
            if name == "digits":
                full = grouped_digits(seed=seed)
            else:
                ludb = default_dataset_dir("ludb")
                if ludb is None:
                    print("ecg: no LUDB folder (set EDGEWISE_DATA); skipped")
                    continue
                full = grouped_beats(ludb, max_records=args.max_records)
            if args.crossfit:
                results.append({**_crossfit(full, cfg, args.crossfit), "seed": seed, "overrides": overrides})
                continue
            data = validation_split(full, VALIDATION_FRACTION[name]) if args.validate else full
            if args.diagnose:
                print(f"\n{data.name}  (seed {seed})")
                _diagnose(data, cfg)
                continue
            t0 = time.perf_counter()
            comp, models = compare(data, cfg)
            errs = {k: reconstruction_errors(m, data.x_test, data.g_test, group_size=cfg.group_size)
                    for k, m in models.items()}
            top5 = extra_error_share(errs["plain"], errs["adversarial"], data.g_test, top=5)
            full_part = args.validate and VALIDATION_COST[name] == "full training part"
            cost = training_cost(full, cfg) if full_part else comp.recon_ratio
            secs = time.perf_counter() - t0
            print(f"\n{comp.data}  (seed {seed}, {cfg.epochs} epochs, {secs:.0f} s)")
            widths = [26, 24, 20, 20, 8, 18]
            print(" | ".join(h[:w].ljust(w) for h, w in zip(Comparison.HEADER, widths)))
            for row in comp.rows():
                cells = [row[0]] + [f"{v:.4f}" for v in row[1:]]
                print(" | ".join(c.ljust(w) for c, w in zip(cells, widths)))
            rec = cost
            ok_gap, ok_rec = comp.gap_closed >= 0.5, rec <= 1.05
            where = VALIDATION_COST[name] if args.validate else "held out"
            print(f"gap closed {comp.gap_closed:.3f} (need >= 0.5: {'ok' if ok_gap else 'SHORT'}); "
                  f"recon ratio {where} {rec:.3f} (need <= 1.05: {'ok' if ok_rec else 'SHORT'}); "
                  f"on this split's training part {comp.train_recon_ratio:.3f}, test part {comp.recon_ratio:.3f}; "
                  f"the 5 groups with the most carry {top5:.0%} of the adversarial model's extra test error "
                  f"(of {len(np.unique(data.g_test))} groups)", flush=True)
            results.append({**comp.summary(), "seed": seed, "validate": args.validate, "overrides": overrides,
                            "recon_ratio_selected": round(cost, 4), "seconds": round(secs, 1), "name": name,
                            "extra_error_top5_share": round(top5, 3)})
        done = [r for r in results if r.get("name") == name]
        if len(done) >= 2:
            print(f"\n{name}, {'validation' if args.validate else 'held out'}, " + _seed_summary(done), flush=True)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
