"""Where real data lives by default: ``$EDGEWISE_DATA`` or ``../shared/data`` beside the checkout."""
from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path | None:
    """The folder holding ``ludb/``, ``mosquito/``, ``ihdp/``, or None when there is none."""
    env = os.environ.get("EDGEWISE_DATA")
    for cand in ([Path(env)] if env else []) + [_REPO.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


def default_dataset_dir(name: str) -> Path | None:
    """``<shared data>/<name>`` if it exists, else None (callers fall back to synthetic data, saying so)."""
    root = shared_data_dir()
    if root is None:
        return None
    path = root / name
    return path if path.is_dir() else None
