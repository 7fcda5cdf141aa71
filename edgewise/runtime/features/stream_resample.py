"""Polyphase resampling of a stream fed in blocks of any size (numpy only; the live engines use it).

``StreamResampler(48000, 8000)``: ``push(x)`` returns every output sample whose filter support has
arrived, ``flush()`` the rest at the end of the stream (the signal continued with zeros, as an offline
call pads it). Concatenating all returns gives, to float rounding, exactly
``edgewise.runtime.features.resample.resample_poly_np(whole, up, down)`` and so
``scipy.signal.resample_poly(whole, up, down)`` (what the host uses): the same Kaiser-windowed sinc
(beta 5, 10 zero crossings per side of the slower rate; the filter comes from ``resample._design``) and
the same alignment (output ``n`` sits at input time ``n * down / up``, zero phase).

Output ``n`` is the sum over the input samples ``m <= (n * down + half_len) // up``, where ``half_len =
10 * max(up, down)`` is the filter's half length at the upsampled rate: an output is ready
``half_len / up`` input samples after its own time. That is the delay: ``delay_s = 10 / min(rate_in,
rate_out)`` seconds, 1.25 ms for any rate to 8 kHz (48k, 44.1k, 16k -> 8k alike); blocks add their own
length on top, nothing else is held back.

Polyphase form (Crochiere & Rabiner, "Multirate Digital Signal Processing", 1983): the ``L``-tap filter
``h`` is split into ``up`` phases of ``K = ceil(L / up)`` taps, ``H[r, j] = h[r + j * up]``, and
``y[n] = sum_j x[m_n - j] * H[r_n, j]`` with ``t = n * down + half_len``, ``m_n = t // up``, ``r_n = t % up``.
"""
from __future__ import annotations

from math import gcd

import numpy as np

from edgewise.runtime.errors import InputError
from edgewise.runtime.features.resample import _design

__all__ = ["StreamResampler"]

_CHUNK = 4096  # outputs computed per vectorised step (bounds memory for large blocks)


class StreamResampler:
    """Stateful polyphase resampler from ``rate_in`` to ``rate_out`` Hz (integers) for one mono stream.

    Example::

        rs = StreamResampler(48000, 8000)
        y = np.concatenate([rs.push(block) for block in blocks] + [rs.flush()])
        # y == resample_poly_np(np.concatenate(blocks), 1, 6) to ~1e-15

    Attributes:
        up, down: the reduced ratio ``rate_out / rate_in``.
        received: input samples pushed since the start (or the last ``flush``).
        produced: output samples returned since then.
    """

    def __init__(self, rate_in: int | float, rate_out: int | float):
        rates = []
        for name, r in (("rate_in", rate_in), ("rate_out", rate_out)):
            if isinstance(r, bool) or not isinstance(r, (int, float, np.integer, np.floating)) or r <= 0 or int(r) != r:
                raise InputError(f"{name} must be a positive whole number of Hz, got {r!r}")
            rates.append(int(r))
        self.rate_in, self.rate_out = rates
        g = gcd(self.rate_in, self.rate_out)
        self.up, self.down = self.rate_out // g, self.rate_in // g
        self._identity = self.up == self.down == 1
        if not self._identity:
            h = _design(self.up, self.down)
            self._half_len = (h.size - 1) // 2
            self._k = -(-h.size // self.up)
            padded = np.zeros(self._k * self.up)
            padded[: h.size] = h
            self._poly = np.ascontiguousarray(padded.reshape(self._k, self.up).T)  # [up, K]: H[r, j] = h[r + j*up]
        else:
            self._half_len, self._k = 0, 1
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next ``push`` starts a new one at index 0."""
        self.received = 0
        self.produced = 0
        self._buf = np.zeros(0)  # input samples from index self._buf0 on
        self._buf0 = 0

    @property
    def delay_s(self) -> float:
        """Seconds of input an output waits for beyond its own time (the filter's look-ahead)."""
        return self._half_len / self.up / self.rate_in

    def expected_outputs(self, n_in: int) -> int:
        """Output samples a stream of ``n_in`` input samples gives in all (``ceil(n_in * up / down)``)."""
        return -(-n_in * self.up // self.down)

    def _ready(self) -> int:
        """Outputs whose whole support (input index <= (n*down + half_len) // up) has arrived."""
        num = self.up * self.received - 1 - self._half_len
        return 0 if num < 0 else num // self.down + 1

    def _compute(self, n0: int, n1: int) -> np.ndarray:
        out = np.empty(n1 - n0)
        j = np.arange(self._k)
        for a in range(n0, n1, _CHUNK):
            n = np.arange(a, min(a + _CHUNK, n1), dtype=np.int64)
            t = n * self.down + self._half_len
            m_hi, phase = t // self.up, t % self.up
            lo, hi = int(m_hi[0]) - self._k + 1, int(m_hi[-1])
            xs = np.zeros(hi - lo + 1)
            s0, s1 = max(lo, self._buf0), min(hi + 1, self._buf0 + self._buf.size)  # known samples; the rest is 0
            if s1 > s0:
                xs[s0 - lo: s1 - lo] = self._buf[s0 - self._buf0: s1 - self._buf0]
            idx = (m_hi - lo)[:, None] - j[None, :]
            out[a - n0: a - n0 + n.size] = np.einsum("nk,nk->n", xs[idx], self._poly[phase])
        return out

    def _emit(self, n1: int) -> np.ndarray:
        n0 = self.produced
        if n1 <= n0:
            return np.zeros(0)
        y = self._compute(n0, n1)
        self.produced = n1
        keep = (self.produced * self.down + self._half_len) // self.up - self._k + 1  # oldest input still needed
        if keep > self._buf0:
            drop = min(keep - self._buf0, self._buf.size)
            self._buf, self._buf0 = self._buf[drop:], self._buf0 + drop
        return y

    def push(self, x: np.ndarray) -> np.ndarray:
        """Feed the next samples ``[n]``; returns float64 ``[m]``, every output that is now complete."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 1:
            raise InputError(f"expected mono samples [n], got shape {x.shape}; mix channels first")
        if self._identity:
            self.received += x.size
            self.produced += x.size
            return x.copy()
        self._buf = np.concatenate([self._buf, x]) if self._buf.size else x.copy()
        self.received += x.size
        return self._emit(self._ready())

    def flush(self) -> np.ndarray:
        """End of stream: the remaining outputs (input continued with zeros), then ``reset``."""
        y = np.zeros(0) if self._identity else self._emit(self.expected_outputs(self.received))
        self.reset()
        return y

    def __repr__(self) -> str:
        return (f"StreamResampler({self.rate_in} -> {self.rate_out} Hz, up {self.up}, down {self.down}, "
                f"delay {self.delay_s * 1e3:.3f} ms)")
