"""IHDP reader, protocol splits and the synthetic overlap generator."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.analysis.ite import (SyntheticConfig, list_replications, load_ihdp, load_replication, make_synthetic,
                                   protocol_split)
from edgewise.analysis.ite.synthetic import true_outcomes
from edgewise.runtime.errors import InputError


def _write_rep(folder, k, n=40, seed=0):
    rng = np.random.default_rng(seed)
    t = (rng.random(n) < 0.3).astype(float)
    mu0, mu1 = rng.standard_normal(n), rng.standard_normal(n) + 4
    x = np.hstack([rng.standard_normal((n, 6)), rng.integers(0, 2, (n, 19)).astype(float)])
    x[:, 13] += 1  # x14 coded 1/2 as in the NPCI files
    y = np.where(t == 1, mu1, mu0)
    table = np.column_stack([t, y, np.where(t == 1, mu0, mu1), mu0, mu1, x])
    np.savetxt(folder / f"ihdp_npci_{k}.csv", table, delimiter=",")
    return table


def test_reader_recodes_x14_and_keeps_outcomes(tmp_path):
    table = _write_rep(tmp_path, 3)
    (tmp_path / "notes.txt").write_text("ignored")
    assert list(list_replications(tmp_path)) == [3]
    rep = load_replication(tmp_path / "ihdp_npci_3.csv")
    assert rep.name == "ihdp-3" and rep.x.shape == (40, 25)
    np.testing.assert_allclose(rep.x[:, 13], table[:, 5 + 13] - 1)
    np.testing.assert_allclose(rep.ite, table[:, 4] - table[:, 3])
    np.testing.assert_allclose(rep.y, table[:, 1])


def test_reader_errors_name_what_is_wrong(tmp_path):
    _write_rep(tmp_path, 1)
    _write_rep(tmp_path, 2)
    with pytest.raises(InputError, match=r"replications \[5\] not in .*available: 1-2"):
        load_ihdp(tmp_path, [5])
    np.savetxt(tmp_path / "ihdp_npci_9.csv", np.zeros((3, 7)), delimiter=",")
    with pytest.raises(InputError, match="expected 30 columns"):
        load_replication(tmp_path / "ihdp_npci_9.csv")
    with pytest.raises(InputError, match="is a file, not a folder"):
        list_replications(tmp_path / "ihdp_npci_9.csv")  # a file, not a folder
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no ihdp_npci_<k>.csv files"):
        list_replications(empty)


def test_real_ihdp_layout(ihdp_dir):
    reps = load_ihdp(ihdp_dir, [1])
    rep = reps[1]
    assert rep.x.shape == (747, 25)
    binary = rep.x[:, 6:]
    assert set(np.unique(binary)) <= {0.0, 1.0}, "x7..x25 (x14 recoded) must be 0/1"
    raw = np.loadtxt(ihdp_dir / "ihdp_npci_1.csv", delimiter=",")
    np.testing.assert_allclose(rep.ite, raw[:, 4] - raw[:, 3])
    assert 0.1 < rep.t.mean() < 0.3


def test_protocol_split_is_disjoint_stratified_and_seeded():
    t = np.r_[np.ones(139), np.zeros(608)].astype(int)
    s = protocol_split(t, seed=4)
    allidx = np.concatenate([s.train, s.valid, s.test])
    np.testing.assert_array_equal(np.sort(allidx), np.arange(len(t)))
    np.testing.assert_allclose([len(s.train), len(s.valid), len(s.test)], [0.63 * 747, 0.27 * 747, 0.1 * 747], atol=2)
    for part in (s.train, s.valid, s.test):
        np.testing.assert_allclose(t[part].mean(), t.mean(), atol=0.02)
    np.testing.assert_array_equal(protocol_split(t, seed=4).test, s.test)
    assert not np.array_equal(protocol_split(t, seed=5).test, s.test)
    np.testing.assert_array_equal(np.sort(s.in_sample), np.sort(np.concatenate([s.train, s.valid])))


def test_synthetic_overlap_is_controlled():
    rct = make_synthetic(SyntheticConfig(n=2000, imbalance=0.0, seed=1))
    np.testing.assert_allclose(rct.propensity, 0.5)
    poor = make_synthetic(SyntheticConfig(n=2000, imbalance=4.0, seed=1))
    extreme = lambda e: np.mean(np.minimum(e, 1 - e) < 0.05)  # noqa: E731
    assert extreme(poor.propensity) > 0.3 and extreme(rct.propensity) == 0.0
    mu0, mu1 = true_outcomes(poor.x)
    np.testing.assert_allclose(poor.ite, 1 + poor.x[:, 0] + 0.5 * np.tanh(2 * poor.x[:, 1]))
    np.testing.assert_allclose(poor.mu0, mu0)
    resid = poor.y - np.where(poor.t == 1, mu1, mu0)
    np.testing.assert_allclose(resid.std(), 0.5, rtol=0.1)
    assert "synthetic" in poor.name
    with pytest.raises(ValueError, match="imbalance must be >= 0"):
        SyntheticConfig(imbalance=-1)


def test_package_import_needs_no_torch():
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None; sys.modules['sklearn'] = None\n"
            "import edgewise.analysis.ite as ite\n"
            "assert ite.make_synthetic(ite.SyntheticConfig(n=20)).x.shape == (20, 10)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
