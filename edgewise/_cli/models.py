"""CLI leaf: ``edgewise models list``."""
from __future__ import annotations

import argparse


def list_models_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", help="only this task (e.g. ecg-delineation, mosquito-detection)")
    p.add_argument("--json", action="store_true", help="print a JSON list")


def list_models(args: argparse.Namespace) -> int:
    """list the shipped models and artifacts (task, format, precision, size, path)"""
    import json

    from edgewise.models.pretrained import shipped_artifacts

    rows = shipped_artifacts(args.task)
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no shipped models")
        return 0
    print(f"{'artifact':28} {'model':16} {'task':20} {'format':7} {'precision':10} {'size':>10}  path")
    for r in rows:
        size = f"{r['size_bytes'] / 1024:.1f} KiB"
        print(f"{r['folder'] + '/' + r['name']:28} {str(r.get('model') or '?'):16} {str(r.get('task')):20} {r['format']:7} "
              f"{str(r.get('precision')):10} {size:>10}  {r['path']}" + (f"  [error: {r['error']}]" if r.get("error") else ""))
    return 0
