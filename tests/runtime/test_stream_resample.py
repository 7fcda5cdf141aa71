"""StreamResampler: fed in blocks of any size and flushed, it gives the whole-signal resample_poly."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from edgewise.runtime.errors import InputError
from edgewise.runtime.features.resample import resample_poly_np
from edgewise.runtime.features.stream_resample import StreamResampler

RATES = [48000, 44100, 16000, 8000, 96000, 22050]


def _stream(rs: StreamResampler, x: np.ndarray, rng: np.random.Generator, max_block: int) -> list[np.ndarray]:
    parts, i = [], 0
    while i < x.size:
        n = int(rng.integers(0, max_block + 1))  # empty blocks too
        parts.append(rs.push(x[i:i + n]))
        i += n
    parts.append(rs.flush())
    return parts


def _ratio(rate_in: int, rate_out: int) -> tuple[int, int]:
    f = Fraction(rate_out, rate_in)
    return f.numerator, f.denominator


def _streamed(rate_in: int) -> tuple[np.ndarray, np.ndarray, StreamResampler]:
    rng = np.random.default_rng(rate_in)
    x = rng.standard_normal(int(2.3 * rate_in) + 7)
    rs = StreamResampler(rate_in, 8000)
    return x, np.concatenate(_stream(rs, x, rng, max_block=rate_in // 10)), rs


IDS = [f"{r // 1000}k" if r % 1000 == 0 else str(r) for r in RATES]


@pytest.mark.parametrize("rate_in", RATES, ids=IDS)
def test_blocks_of_any_size_give_the_whole_signal_result(rate_in):
    x, y, rs = _streamed(rate_in)
    up, down = _ratio(rate_in, 8000)
    np.testing.assert_allclose(y, resample_poly_np(x, up, down), rtol=0, atol=1e-6)
    assert y.size == rs.expected_outputs(x.size) == -(-x.size * up // down)


@pytest.mark.parametrize("rate_in", RATES, ids=IDS)
def test_blocks_of_any_size_give_what_scipy_gives(rate_in):
    scipy_signal = pytest.importorskip("scipy.signal")  # the host's resampler (not on the device)
    x, y, _ = _streamed(rate_in)
    np.testing.assert_allclose(y, scipy_signal.resample_poly(x, *_ratio(rate_in, 8000)), rtol=0, atol=1e-6)


def test_float32_audio_and_tiny_blocks_match_scipy():
    scipy_signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(1)
    t = np.arange(44100) / 44100
    x = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    rs = StreamResampler(44100, 8000)
    y = np.concatenate(_stream(rs, x, rng, max_block=3))  # 0..3 samples per block
    np.testing.assert_allclose(y, scipy_signal.resample_poly(x.astype(np.float64), 80, 441), rtol=0, atol=1e-12)
    # scipy computes in float32 for float32 input: agrees to float32 rounding
    np.testing.assert_allclose(y, scipy_signal.resample_poly(x, 80, 441), rtol=0, atol=1e-6)


@pytest.mark.parametrize("rate_in", [48000, 44100, 16000], ids=["48k", "44.1k", "16k"])
def test_latency_is_the_filter_look_ahead_only(rate_in):
    rs = StreamResampler(rate_in, 8000)
    assert rs.delay_s == pytest.approx(10 / 8000)  # 1.25 ms: 10 zero crossings at the slower rate
    rng = np.random.default_rng(2)
    received = 0
    for _ in range(200):
        n = int(rng.integers(1, 500))
        rs.push(rng.standard_normal(n))
        received += n
        # everything up to (input time - look-ahead) is out, within one output sample
        assert rs.produced / 8000 >= received / rate_in - rs.delay_s - 1 / 8000
        assert rs.produced <= rs.expected_outputs(received)


def test_upsampling_identity_and_reuse():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(3001)
    up = StreamResampler(8000, 48000)
    assert up.delay_s == pytest.approx(10 / 8000)
    first = np.concatenate(_stream(up, x, rng, 100))
    np.testing.assert_allclose(first, resample_poly_np(x, 6, 1), rtol=0, atol=1e-12)
    again = np.concatenate(_stream(up, x, rng, 1000))  # flush reset the state: a new stream
    np.testing.assert_allclose(again, first, rtol=0, atol=1e-12)
    same = StreamResampler(8000, 8000)
    assert same.delay_s == 0.0
    np.testing.assert_array_equal(np.concatenate(_stream(same, x, rng, 50)), x)


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="rate_in must be a positive whole number of Hz, got 44100.5"):
        StreamResampler(44100.5, 8000)
    with pytest.raises(InputError, match="rate_out"):
        StreamResampler(8000, 0)
    with pytest.raises(InputError, match=r"expected mono samples \[n\], got shape \(4, 2\)"):
        StreamResampler(16000, 8000).push(np.zeros((4, 2)))
