"""Total / aleatoric / epistemic decomposition against closed forms and a brute-force float64 reference."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.runtime.errors import InputError
from edgewise.runtime.uncertainty import decompose, mean_probabilities, softmax

LN2, LN4 = np.log(2.0), np.log(4.0)


def _entropy(p):
    return -sum(q * np.log(q) for q in p if q > 0)


@pytest.mark.parametrize("probs, total, aleatoric, epistemic", [
    # heads agree on a sure class: no uncertainty of any kind
    ([[1, 0, 0, 0], [1, 0, 0, 0]], 0.0, 0.0, 0.0),
    # heads agree on "either of two": all aleatoric
    ([[.5, .5, 0, 0], [.5, .5, 0, 0]], LN2, LN2, 0.0),
    # each head sure, of a different class: all epistemic
    ([[1, 0, 0, 0], [0, 1, 0, 0]], LN2, 0.0, LN2),
    # four sure heads on four classes: epistemic is the full log 4
    (np.eye(4).tolist(), LN4, 0.0, LN4),
], ids=["sure-agree", "ambiguous-agree", "sure-disagree", "four-ways"])
def test_closed_forms(probs, total, aleatoric, epistemic):
    u = decompose(np.asarray(probs, np.float32)[:, :, None])  # [heads, classes, 1 sample]
    np.testing.assert_allclose([u.total[0], u.aleatoric[0], u.epistemic[0]], [total, aleatoric, epistemic],
                               atol=1e-6)


def test_matches_brute_force_and_axes():
    rng = np.random.default_rng(0)
    p = softmax(rng.standard_normal((3, 5, 4, 7)) * 2, axis=2)  # [batch, heads, classes, samples]
    u = decompose(p, head_axis=1, class_axis=2)
    assert u.epistemic.shape == (3, 7)
    for b in range(3):
        for t in range(7):
            heads = p[b, :, :, t].astype(np.float64)
            tot = _entropy(heads.mean(axis=0))
            ale = np.mean([_entropy(h) for h in heads])
            np.testing.assert_allclose([u.total[b, t], u.aleatoric[b, t], u.epistemic[b, t]], [tot, ale, tot - ale],
                                       rtol=1e-5, atol=1e-6)
    assert np.all(u.epistemic >= 0)
    same = decompose(np.moveaxis(p, (1, 2), (0, 1)))  # the default layout gives the same numbers
    np.testing.assert_allclose(same.epistemic, u.epistemic, atol=1e-7)
    np.testing.assert_allclose(mean_probabilities(p, head_axis=1, class_axis=2), p.mean(axis=1).transpose(1, 0, 2),
                               atol=1e-7)
    assert set(u.means()) == {"total", "aleatoric", "epistemic"}


def test_one_head_has_no_epistemic_uncertainty():
    p = softmax(np.random.default_rng(1).standard_normal((1, 4, 50)), axis=1)
    u = decompose(p)
    np.testing.assert_allclose(u.epistemic, 0.0, atol=1e-6)
    np.testing.assert_allclose(u.total, u.aleatoric, atol=1e-6)


@pytest.mark.parametrize("bad, match", [
    (np.ones((2, 4, 3)), "sum to 1"),
    (np.full((2, 4, 3), np.nan), "finite"),
    (np.ones(4) / 4, "head and a class axis"),
], ids=["logits", "nan", "1-d"])
def test_bad_input_is_named(bad, match):
    with pytest.raises(InputError, match=match):
        decompose(bad)


def test_same_axis_rejected():
    with pytest.raises(InputError, match="must differ"):
        decompose(np.full((2, 4), 0.25), head_axis=1, class_axis=1)
