"""CLI leaf: ``edgewise data fetch DATASET``."""
from __future__ import annotations

import argparse
from pathlib import Path


def fetch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", choices=["ludb"], help="dataset to download")
    p.add_argument("--dest", type=Path, default=Path("data/ludb"), help="target folder (default data/ludb)")
    p.add_argument("--base-url", help="mirror of the release (default: PhysioNet)")
    p.add_argument("--timeout", type=float, default=60.0)


def fetch(args: argparse.Namespace) -> int:
    """download an official dataset release and verify its SHA256SUMS"""
    from edgewise.data.download import fetch_dataset

    res = fetch_dataset(args.dataset, args.dest, base_url=args.base_url, timeout=args.timeout)
    print(f"{args.dataset}: {res['files']} files verified in {res['dest']} "
          f"({res['downloaded']} downloaded, {res['skipped']} already present)")
    return 0
