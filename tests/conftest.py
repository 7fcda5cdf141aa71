"""Shared fixtures. Real data comes from ../shared/data (read-only); outputs go to tmp_path."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# the shared data beside the checkout, also when edgewise is imported from an installed copy (bare venv)
if (REPO.parent / "shared" / "data").is_dir():
    os.environ.setdefault("EDGEWISE_DATA", str(REPO.parent / "shared" / "data"))

from edgewise.data.paths import default_dataset_dir  # noqa: E402  (light: no heavy imports)


def _dataset(name: str) -> Path:
    path = default_dataset_dir(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"../shared/data/{name} is missing in CI; CI must run on real data")
        pytest.skip(f"../shared/data/{name} not present")
    return path


@pytest.fixture(scope="session")
def ludb_dir() -> Path:
    return _dataset("ludb")


@pytest.fixture(scope="session")
def mosquito_dir() -> Path:
    return _dataset("mosquito")


@pytest.fixture(scope="session")
def ihdp_dir() -> Path:
    return _dataset("ihdp")


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    """Tests run on a 2-core machine beside other work: keep BLAS/torch to one thread each."""
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    yield
