"""Print the IHDP ITE table (DKLITE vs baselines) over the available replications, including the
ablation ``dklite_no_var`` (no counterfactual-variance regulariser), then the same ablation on the
synthetic overlap study.

    nice -n 10 .venv/bin/python benchmarks/ite_ihdp.py [--data DIR] [--replications 1-7] [--no-overlap]

Protocol and metrics: ``edgewise.analysis.ite.benchmark``. Fit times: wall and CPU seconds per fit, one thread.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from edgewise._cli._common import int_range
from edgewise.analysis.ite.benchmark import (DEFAULT_METHODS, BenchmarkConfig, format_overlap, format_table,
                                             overlap_study, run_ihdp, to_json)
from edgewise.data.paths import default_dataset_dir


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=default_dataset_dir("ihdp"))
    p.add_argument("--replications", type=int_range, default=None)
    p.add_argument("--no-overlap", action="store_true", help="skip the synthetic overlap study")
    p.add_argument("--json-out", type=Path, default=None, help="also write the full result as JSON here")
    args = p.parse_args()
    if args.data is None:
        raise SystemExit("no IHDP data: pass --data DIR")
    torch.set_num_threads(1)
    with threadpool_limits(1):
        start = time.perf_counter()
        config = BenchmarkConfig(methods=DEFAULT_METHODS + ("dklite_no_var",))
        result = run_ihdp(args.data, args.replications, config, progress=True)
        print(f"IHDP ({len(result['protocol']['replications'])} replications, {time.perf_counter() - start:.0f} s wall)")
        print(format_table(result))
        for key in ("seconds", "cpu_seconds"):
            secs = result[key]
            print(f"median {key} per fit: " + ", ".join(f"{m} {np.median(list(v.values())):.1f}" for m, v in secs.items()))
            print(f"dklite {key} per replication: " + ", ".join(f"{k}: {v:.1f}" for k, v in secs["dklite"].items()))
        if args.json_out:
            args.json_out.write_text(json.dumps(to_json(result), indent=1))
        if not args.no_overlap:
            print()
            print(format_overlap(overlap_study(seeds=(0, 1))))


if __name__ == "__main__":
    main()
