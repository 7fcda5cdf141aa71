"""CLI leaf: ``edgewise analyze ite --data DIR [--replications 1-7] [--out DIR] [--json]``."""
from __future__ import annotations

import argparse
from pathlib import Path

from edgewise._cli._common import int_range


def ite_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of ihdp_npci_<k>.csv files (default: the shared IHDP data)")
    parser.add_argument("--replications", type=int_range, default=None,
                        help="replications to run, e.g. 1-7 or 1,3 (default: every file in --data)")
    parser.add_argument("--methods", default=None,
                        help="comma-separated methods (default: dklite,tarnet,cfr_wass,t_learner_gb,"
                             "s_learner_gb,ols_interact)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed for every method (default 0)")
    parser.add_argument("--out", type=Path, default=Path("out") / "ite",
                        help="write report.md/html/json and plots here (default: out/ite)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line instead of the table")


def ite(args: argparse.Namespace) -> int:
    """benchmark DKLITE and baselines for individualized treatment effects on IHDP"""
    import torch
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    from edgewise._cli._common import print_json_line
    from edgewise.analysis.ite.benchmark import BenchmarkConfig, format_table, run_ihdp, to_json, write_report
    from edgewise.data.paths import default_dataset_dir
    from edgewise.runtime.errors import InputError

    torch.set_num_threads(1)  # tiny networks and matrices: threads cost more than they give
    data = args.data or default_dataset_dir("ihdp")
    if data is None:
        raise InputError("no IHDP data found: pass --data DIR, a folder of ihdp_npci_<k>.csv files")
    kwargs = {"seed": args.seed}
    if args.methods:
        kwargs["methods"] = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    config = BenchmarkConfig(**kwargs)
    with threadpool_limits(1):
        result = run_ihdp(data, args.replications, config, progress=not args.json)
    report = write_report(result, args.out)
    if args.json:
        print_json_line(to_json(result, methods_only=True))
    else:
        print(format_table(result))
        print(f"report: {report}")
    return 0
