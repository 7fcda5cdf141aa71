"""Sound OOD kinds (edgewise.data.ood_audio): each is what its name says, made from the real recording given."""
import numpy as np
import pytest

from edgewise.data.ood_audio import OodSound, make_ood, ood_set

SR = 8000


def _clip(seed=0, n=2 * SR):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return (0.1 * np.sin(2 * np.pi * 500 * t) + 0.01 * rng.standard_normal(n)).astype(np.float32)


def _power_near(x, f):
    spec = np.abs(np.fft.rfft(x)) ** 2
    k = int(round(f * x.size / SR))
    return spec[k - 2 : k + 3].sum() / spec.sum()


def test_each_kind_is_what_its_name_says():
    y = _clip()
    rng = np.random.default_rng(1)
    noise = make_ood("white_noise", y, rng)
    assert abs(noise.std() / y.std() - 1) < 0.05 and _power_near(noise, 500) < 0.01  # same level, tone gone
    clipped = make_ood("clipped", y, rng)
    assert np.mean(np.abs(clipped) >= 0.999) > 0.5 and np.abs(clipped).max() <= 1.0  # mostly at full scale
    hum = make_ood("mains_hum", y, rng)
    assert max(_power_near(hum - y, 50), _power_near(hum - y, 60)) > 0.2  # the fundamental carries the most power
    assert np.sqrt(np.mean((hum - y) ** 2)) / y.std() == pytest.approx(10 ** 0.5, rel=0.05)  # 10 dB above
    drop = make_ood("dropouts", y, rng)
    gone = np.mean(drop == 0)
    assert 0.3 <= gone <= 0.6 and np.array_equal(drop[drop != 0], y[drop != 0])
    ecg = np.sin(np.linspace(0, 20, 5000)).astype(np.float32)
    e = make_ood("ecg", y, rng, ecg=ecg)
    assert e.size == y.size and np.array_equal(e[:5000], ecg)
    for out in (noise, clipped, hum, drop, e):
        assert out.dtype == np.float32 and out.size == y.size and np.abs(out).max() <= 1.0


def test_dropouts_end_on_silence_and_sets_are_seeded():
    silent = np.zeros(SR, np.float32)
    assert np.array_equal(make_ood("dropouts", silent, np.random.default_rng(0)), silent)  # terminates
    tiny = _clip(n=400)  # 50 ms, shorter than most blocks: still partly kept
    kept = np.mean(make_ood("dropouts", tiny, np.random.default_rng(0)) != 0)
    assert 0.3 <= kept <= 0.75
    recs = [_clip(i, SR) for i in range(3)]
    a = ood_set(recs, seed=4)
    b = ood_set(recs, seed=4)
    assert set(a) == {k.value for k in OodSound} - {"ecg"}  # no LUDB folder given: the ecg kind is left out
    for k in a:
        assert len(a[k]) == 3 and all(np.array_equal(u, v) for u, v in zip(a[k], b[k]))
    assert not np.array_equal(ood_set(recs, seed=5)["white_noise"][0], a["white_noise"][0])


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="1-D"):
        make_ood("clipped", np.zeros((2, 10)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="ECG strip"):
        make_ood("ecg", _clip(), np.random.default_rng(0))
    with pytest.raises(ValueError):
        make_ood("thunder", _clip(), np.random.default_rng(0))


def test_ecg_kind_reads_ludb(ludb_dir):
    out = ood_set([_clip()], kinds=(OodSound.ECG,), ludb_root=ludb_dir)["ecg"][0]
    assert out.size == 2 * SR and 0.45 < np.abs(out).max() <= 0.5
