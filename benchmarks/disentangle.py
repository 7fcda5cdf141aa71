"""Side-by-side: grouped VAE with and without the adversarial MI term (Németh, AAAI 2020).

Prints, per dataset and seed, the style-probe accuracy (leakage of the group into the style code),
the content-probe accuracy, chance, and held-out reconstruction for both versions, then the issue's
acceptance check: the adversarial term should close >= half the gap between the plain style-probe
accuracy and chance, at <= 5 % worse reconstruction.

    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data digits --seeds 0 1 2
    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data ecg --seeds 0 1 2

Settings are chosen with ``--validate`` (a validation split carved from the training part: 30 % of each
digit class, a third of each subject's training beats; the held-out split is not used), e.g.

    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data ecg --validate --set adv_weight=1.25

Measured with the defaults (held-out split; 2026-11-27, shared 2-core machine):

    data    seed  style MLP plain -> adv  chance  gap closed  recon plain -> adv  ratio
    digits  0     0.607 -> 0.287          0.102   0.634       0.1463 -> 0.1567    1.071
    digits  1     0.635 -> 0.333          0.102   0.566       0.1267 -> 0.1317    1.039
    digits  2     0.594 -> 0.311          0.102   0.575       0.1412 -> 0.1409    0.998
    LUDB    0     0.789 -> 0.249          0.014   0.698       0.0823 -> 0.1004    1.220
    LUDB    1     0.782 -> 0.319          0.014   0.603       0.0811 -> 0.1013    1.248
    LUDB    2     0.795 -> 0.312          0.014   0.619       0.0830 -> 0.1031    1.242

The gap is closed by more than half everywhere; the reconstruction bound (<= 1.05) holds on two digits
seeds of three and on no LUDB seed. Seed noise of the ratio is about +-0.04 on digits. On LUDB the
settings that met both on the validation split (ratio 1.008) cost 22-25 % on the held-out split.
"""
from __future__ import annotations

import argparse
import ast
import json
import time
from dataclasses import replace

VALIDATION_FRACTION = {"digits": 0.3, "ecg": 1 / 3}


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set takes key=value, got {item!r}")
        out[key] = ast.literal_eval(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["digits", "ecg", "both"], default="digits")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--adv-weight", type=float, default=None)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override VaeConfig fields")
    parser.add_argument("--validate", action="store_true",
                        help="score on a validation split carved from the training part (for choosing settings)")
    parser.add_argument("--max-records", type=int, default=None, help="ECG: at most this many subjects")
    parser.add_argument("--json-out", default=None, help="also write all results as JSON here")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from edgewise.analysis.disentangle import (
        DEFAULTS,
        Comparison,
        compare,
        grouped_beats,
        grouped_digits,
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
                data = grouped_digits(seed=seed)
            else:
                ludb = default_dataset_dir("ludb")
                if ludb is None:
                    print("ecg: no LUDB folder (set EDGEWISE_DATA); skipped")
                    continue
                data = grouped_beats(ludb, max_records=args.max_records)
            if args.validate:
                data = validation_split(data, VALIDATION_FRACTION[name])
            t0 = time.perf_counter()
            comp, _ = compare(data, cfg)
            secs = time.perf_counter() - t0
            print(f"\n{comp.data}  (seed {seed}, {cfg.epochs} epochs, {secs:.0f} s)")
            widths = [26, 24, 20, 20, 8, 18]
            print(" | ".join(h[:w].ljust(w) for h, w in zip(Comparison.HEADER, widths)))
            for row in comp.rows():
                cells = [row[0]] + [f"{v:.4f}" for v in row[1:]]
                print(" | ".join(c.ljust(w) for c, w in zip(cells, widths)))
            ok_gap, ok_rec = comp.gap_closed >= 0.5, comp.recon_ratio <= 1.05
            print(f"gap closed {comp.gap_closed:.3f} (need >= 0.5: {'ok' if ok_gap else 'SHORT'}); "
                  f"recon ratio {comp.recon_ratio:.3f} (need <= 1.05: {'ok' if ok_rec else 'SHORT'})", flush=True)
            results.append({**comp.summary(), "seed": seed, "validate": args.validate, "overrides": overrides,
                            "seconds": round(secs, 1)})
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
