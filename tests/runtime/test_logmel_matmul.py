"""``log_mel`` applies the mel filterbank with a BLAS matmul on the bins the filters use (5x faster than the
einsum it replaced) and takes the logarithm in float32 (numpy's SIMD float32 log: 4x faster than float64
log10 on an AVX2-only CPU). Its features equal the float64 einsum formula's within 1e-5 dB, about one float32
ulp at 70 dB (the matmul alone had given the einsum's float32 features bit for bit on all 1328 clips of
../shared/data/mosquito; here one real clip and a noise batch, with and without an fmax below Nyquist)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime.features.logmel import LogMelConfig, log_mel, mel_filterbank, power_spectrogram

CLIP = Path(__file__).resolve().parents[3] / "shared" / "data" / "mosquito" / "abuzz_phone_species" / "aedes_sierrensis1.flac"


def _einsum_log_mel(x: np.ndarray, cfg: LogMelConfig) -> np.ndarray:
    mel = np.einsum("mf,...ft->...mt", mel_filterbank(cfg), power_spectrogram(x, cfg))
    return (10.0 * np.log10(np.maximum(cfg.amin, mel))).astype(np.float32)


TOL_DB = 1e-5


@pytest.mark.parametrize("fmax", [None, 3400.0])
def test_matmul_features_equal_the_einsum_on_noise(fmax):
    cfg = LogMelConfig(hop_length=256, fmax=fmax)
    x = np.random.default_rng(0).standard_normal((8, 16000)).astype(np.float32) * 0.1
    np.testing.assert_allclose(log_mel(x, cfg), _einsum_log_mel(x, cfg), rtol=0, atol=TOL_DB)
    # one signal, no batch axis: the same numbers as its row of the batch
    np.testing.assert_allclose(log_mel(x[0], cfg), _einsum_log_mel(x[0], cfg), rtol=0, atol=TOL_DB)
    assert np.array_equal(log_mel(x[0], cfg), log_mel(x, cfg)[0])


def test_matmul_features_equal_the_einsum_on_a_real_clip():
    sf = pytest.importorskip("soundfile")
    if not CLIP.is_file():
        pytest.skip("needs ../shared/data/mosquito")
    y, sr = sf.read(str(CLIP), dtype="float32")
    cfg = LogMelConfig(sample_rate=sr, hop_length=256)
    x = np.stack([y[s : s + 16000] for s in range(0, y.size - 16000 + 1, 800)])
    np.testing.assert_allclose(log_mel(x, cfg), _einsum_log_mel(x, cfg), rtol=0, atol=TOL_DB)
