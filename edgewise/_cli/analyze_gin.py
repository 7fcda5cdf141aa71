"""CLI leaves ``edgewise analyze gin`` and ``edgewise analyze disentangle`` (host analysis III)."""
from __future__ import annotations

import argparse
from pathlib import Path

from edgewise._cli._common import print_json_line


def gin_args(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--artificial", action="store_true",
                     help="the paper's artificial experiment (2 informative of 10 dims); the default")
    src.add_argument("--digits", action="store_true", help="scikit-learn's 8x8 digits, conditioned on the class")
    src.add_argument("--ecg", action="store_true", help="LUDB lead-II beats, conditioned on the subject")
    parser.add_argument("--data-dir", type=Path, default=None, help="LUDB folder (default: the shared data)")
    parser.add_argument("--max-records", type=int, default=None, help="ECG: use at most this many records")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small models: 1 is fastest)")
    parser.add_argument("--out", type=Path, default=None, help="write report.md/html and plots here")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line")


def gin(args: argparse.Namespace) -> int:
    """Train a GIN flow and count the informative latents (Sorrenson et al. 2020)."""
    _threads(args.threads)
    from edgewise.analysis.gin import BeatConfig, analyze_gin

    dataset = "digits" if args.digits else "ecg" if args.ecg else "artificial"
    summary = analyze_gin(dataset, out=args.out, data_dir=args.data_dir, seed=args.seed,
                          beats=BeatConfig(max_records=args.max_records), progress=not args.json)
    _print(summary, args.json)
    return 0


def disentangle_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", choices=["digits", "ecg"], default="digits",
                        help="digits grouped by class, or LUDB beats grouped by subject")
    parser.add_argument("--data-dir", type=Path, default=None, help="LUDB folder (default: the shared data)")
    parser.add_argument("--max-records", type=int, default=None, help="ECG: use at most this many subjects")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: per dataset)")
    parser.add_argument("--adv-weight", type=float, default=None,
                        help="weight of the adversarial MI term (default: per dataset, chosen on a validation split)")
    parser.add_argument("--style-dim", type=int, default=None,
                        help="size of the per-observation style code, both versions (default: per dataset, 12)")
    parser.add_argument("--foreign", type=float, default=None, metavar="P",
                        help="probability that a training group member is replaced by a random observation of any "
                             "group, both versions (default: per dataset, digits 0.025, ECG 0.05; 0: off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small models: 1 is fastest)")
    parser.add_argument("--out", type=Path, default=None, help="write report.md/html and plots here")
    parser.add_argument("--json", action="store_true", help="print the comparison as one JSON line")


def disentangle(args: argparse.Namespace) -> int:
    """Grouped VAE with and without the adversarial MI term: style leakage vs reconstruction."""
    _threads(args.threads)
    from edgewise.analysis.disentangle import analyze_disentangle

    summary = analyze_disentangle(args.data, out=args.out, data_dir=args.data_dir, max_records=args.max_records,
                                  epochs=args.epochs, adv_weight=args.adv_weight, style_dim=args.style_dim,
                                  foreign=args.foreign, seed=args.seed, progress=not args.json)
    _print(summary, args.json)
    return 0


def _print(summary: dict, as_json: bool) -> None:
    if as_json:
        print_json_line(summary)
        return
    for key, value in summary.items():
        print(f"{key:>26}: {value}")


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, n))
