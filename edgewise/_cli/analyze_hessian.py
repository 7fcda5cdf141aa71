"""CLI leaves ``edgewise analyze hessian`` (the width experiment) and ``edgewise analyze divergences``."""
from __future__ import annotations

import argparse
from pathlib import Path

from edgewise._cli._common import print_json_line


def _int_list(text: str) -> list[int]:
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected integers like 16,64,256, got {text!r}") from e
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive integers like 16,64,256, got {text!r}")
    return vals


def _float_list(text: str) -> list[float]:
    try:
        vals = [float(t) for t in text.split(",") if t.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected numbers like 0.5,1,2, got {text!r}") from e
    if not vals:
        raise argparse.ArgumentTypeError(f"expected numbers like 0.5,1,2, got {text!r}")
    return vals


def hessian_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--widths", type=_int_list, default=[16, 64, 256, 1024],
                        help="hidden widths (default 16,64,256,1024)")
    parser.add_argument("--out", type=Path, required=True, help="output folder for plots, table and report")
    parser.add_argument("--depth", type=int, default=2, help="hidden layers (default 2)")
    parser.add_argument("--activation", choices=["relu", "tanh"], default="relu")
    parser.add_argument("--steps", type=int, default=3000, help="SGD steps per width (default 3000)")
    parser.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default 0.1)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--every", type=int, default=60, help="measure curvature every N steps (default 60)")
    parser.add_argument("--n-probe", type=int, default=512, help="training samples curvature is measured on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line")


def hessian(args: argparse.Namespace) -> int:
    """Width experiment: curvature along the gradient split into G and H over training (digits MLPs)."""
    import torch
    from tqdm import tqdm

    from edgewise.analysis.hessian import TrackConfig, WidthConfig, width_experiment

    torch.set_num_threads(1)
    cfg = WidthConfig(
        widths=tuple(args.widths), depth=args.depth, activation=args.activation, n_probe=args.n_probe, seed=args.seed,
        track=TrackConfig(steps=args.steps, lr=args.lr, batch_size=args.batch_size, every=args.every, seed=args.seed),
    )
    per_width = args.steps // args.every + 1 + (args.steps % args.every > 0)
    with tqdm(total=per_width * len(args.widths), desc="curvature", disable=args.json) as bar:
        res = width_experiment(cfg, args.out, progress=lambda w, r: (bar.set_postfix(width=w), bar.update()))
    if args.json:
        print_json_line(res)
        return 0
    print(f"{'width':>6} {'params':>9} {'loss':>8} {'test acc':>8} {'|gHg|/gGg':>10} {'gT(Hess)g>0':>11} "
          f"{'init':>8} {'middle':>8} {'end':>8}")
    for d in res["summaries"]:
        print(f"{d['width']:>6} {d['n_params']:>9} {d['final_loss']:>8.4f} {d['test_accuracy']:>8.3f} "
              f"{d['mean_abs_ratio']:>10.4f} {d['frac_positive']:>11.2f} {d['init']:>8.3g} "
              f"{d['middle']:>8.3g} {d['end']:>8.3g}")
    for claim, v in res["verdicts"].items():
        print(f"{claim}: {'agree' if v['agree'] else 'DISAGREE'} ({v['evidence']})")
    print(f"report: {Path(res['out']) / 'report.md'}")
    return 0


def divergences_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, help="write a report with a plot here")
    parser.add_argument("--alphas", type=_float_list, default=[0.5, 0.75, 1.0, 1.5, 2.0], help="escort orders")
    parser.add_argument("--n", type=int, default=20, help="escort draws per estimate (default 20)")
    parser.add_argument("--reps", type=int, default=20000, help="Monte-Carlo replications (default 20000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")


def divergences(args: argparse.Namespace) -> int:
    """Simulate unbiased estimators of escort models against the generalised Cramér–Rao bound over α."""
    from edgewise.analysis.divergences import SimulationConfig, escort_bound_report

    cfg = SimulationConfig(alphas=tuple(args.alphas), n=args.n, reps=args.reps, seed=args.seed)
    res = escort_bound_report(cfg, args.out)
    if args.json:
        print_json_line(res)
        return 0
    print(f"{'case':<14} {'estimator':<16} {'alpha':>5} {'variance':>10} {'bound':>10} {'ratio':>7} {'efficient':>9}")
    for r in res["rows"]:
        print(f"{r['case']:<14} {r['estimator']:<16} {r['alpha']:>5.2f} {r['variance']:>10.5f} {r['bound']:>10.5f} "
              f"{r['ratio']:>7.3f} {str(r['efficient_expected']):>9}")
    print(f"variance never below the bound (3 s.e.): {res['never_below']}; "
          f"efficient estimators meet it (3 s.e.): {res['efficient_meets']}")
    if res["out"]:
        print(f"report: {Path(res['out']) / 'report.md'}")
    return 0
