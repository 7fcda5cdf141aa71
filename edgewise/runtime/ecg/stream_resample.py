"""The ECG front end's resampler, block by block: feeding a signal in any block sizes and flushing gives
exactly the samples of feeding it at once (each output is computed by the same arithmetic).

Downsampling low-passes with a windowed-sinc FIR (cut-off 0.45 of the new rate; the signal is mirrored
at both ends), then interpolates linearly; upsampling interpolates directly. ECG content lies below
40 Hz, so this is plenty. Latency: the FIR's half length (``taps // 2`` input samples, 8 / 0.45 of an
output period) plus one input sample.
"""
from __future__ import annotations

import numpy as np

__all__ = ["StreamResampler", "resample_ecg"]


class StreamResampler:
    """Resample ``[leads, n]`` float32 blocks from ``fs_in`` to ``fs_out``; ``push`` then ``flush``."""

    def __init__(self, fs_in: float, fs_out: float, leads: int = 1):
        if fs_in <= 0 or fs_out <= 0:
            raise ValueError(f"rates must be positive, got {fs_in} and {fs_out}")
        self.fs_in, self.fs_out, self.leads = float(fs_in), float(fs_out), leads
        self.q = self.fs_in / self.fs_out  # input samples per output sample
        self.h = None
        self.pad = 0
        if fs_out < fs_in:
            cutoff = 0.45 * fs_out / fs_in  # cycles/sample
            taps = int(8 / cutoff) | 1
            t = np.arange(taps) - taps // 2
            h = 2 * cutoff * np.sinc(2 * cutoff * t) * np.hamming(taps)
            self.h = h / h.sum()
            self.pad = taps // 2
        self._x = np.zeros((leads, 0), np.float32)   # raw input, from index self._x0
        self._x0 = 0
        self._n = 0                                   # raw samples received
        self._y = np.zeros((leads, 0), np.float32)   # filtered input, from index self._y0
        self._y0 = 0
        self._ny = 0                                  # filtered samples made
        self._k = 0                                   # outputs made

    @property
    def passthrough(self) -> bool:
        return self.fs_in == self.fs_out

    def _filter(self, lo: int, hi: int, xp: np.ndarray, xp0: int) -> np.ndarray:
        """Filtered samples [lo, hi) from the mirrored raw signal ``xp`` whose first sample has index ``xp0``."""
        m = hi - lo
        acc = np.zeros((self.leads, m), np.float64)
        for j, c in enumerate(self.h):
            s = lo - self.pad + j - xp0
            acc += c * xp[:, s : s + m]
        return acc.astype(np.float32)

    def _mirrored(self, final: bool) -> tuple[np.ndarray, int]:
        """The raw buffer with the start mirrored in front (and the end mirrored behind when final)."""
        x, x0, n, pad = self._x, self._x0, self._n, self.pad
        if final and n <= pad:  # too short to mirror (and still wholly buffered): repeat the edge samples
            xp = np.concatenate([np.repeat(x[:, :1], pad, 1), x, np.repeat(x[:, -1:], pad, 1)], 1)
            return xp, -pad
        if x0 == 0:  # the start is still buffered: mirror it
            x = np.concatenate([self._x[:, 1 : pad + 1][:, ::-1], x], axis=1)
            x0 = -pad
        if final:
            tail = self._x[:, n - 1 - pad - self._x0 : n - 1 - self._x0][:, ::-1]
            x = np.concatenate([x, tail], axis=1)
        return x, x0

    def _filter_step(self, final: bool) -> None:
        if self.h is None:
            self._y, self._y0, self._ny = self._x, self._x0, self._n
            return
        if self._n == 0 or (not final and self._n <= self.pad):
            return
        hi = self._n if final else self._n - self.pad
        if hi <= self._ny:
            return
        xp, xp0 = self._mirrored(final)
        self._y = np.concatenate([self._y, self._filter(self._ny, hi, xp, xp0)], axis=1)
        self._ny = hi

    def _count(self, final: bool) -> int:
        """Outputs k (at input position k * q) that can be made: k q <= n - 1 when final, else k q < ny - 1
        (linear interpolation needs the sample after floor(k q))."""
        last = self._ny - 1
        if last < 0:
            return 0
        k = int(np.floor(last / self.q)) + 1
        while k > 0 and ((k - 1) * self.q > last if final else (k - 1) * self.q >= last):
            k -= 1
        while (k * self.q <= last) if final else (k * self.q < last):
            k += 1
        return k

    def _interp(self, final: bool) -> np.ndarray:
        k_end = self._count(final)
        if k_end <= self._k:
            return np.zeros((self.leads, 0), np.float32)
        t = np.arange(self._k, k_end, dtype=np.float64) * self.q
        j = np.floor(t).astype(np.int64)
        y, y0, last = self._y, self._y0, self._ny - 1
        jc = np.minimum(j, last)
        j1 = np.minimum(j + 1, last)
        a = y[:, jc - y0].astype(np.float64)
        b = y[:, j1 - y0].astype(np.float64)
        out = a + (t - jc) * (b - a)
        self._k = k_end
        return out.astype(np.float32)

    def _trim(self) -> None:
        need_y = max(int(np.floor(self._k * self.q)) - 1, 0)
        if self.h is None:
            need_x = need_y
        else:
            need_x = max(self._ny - self.pad - 1, 0)
            if need_y > self._y0:
                self._y = self._y[:, need_y - self._y0 :]
                self._y0 = need_y
        if need_x > self._x0:
            self._x = self._x[:, need_x - self._x0 :]
            self._x0 = need_x
            if self.h is None:
                self._y, self._y0 = self._x, self._x0

    def push(self, x: np.ndarray) -> np.ndarray:
        """float32 ``[leads, n]`` in; the output samples that are now final out (``[leads, m]``)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        if self.passthrough:
            self._n += x.shape[1]
            return x
        self._x = np.concatenate([self._x, x], axis=1)
        self._n += x.shape[1]
        self._filter_step(final=False)
        out = self._interp(final=False)
        self._trim()
        return out

    def flush(self) -> np.ndarray:
        """The remaining output samples at the end of the signal."""
        if self.passthrough or self._n == 0:
            return np.zeros((self.leads, 0), np.float32)
        self._filter_step(final=True)
        return self._interp(final=True)


def resample_ecg(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Whole-signal form of :class:`StreamResampler` (``[leads, n]`` or ``[n]`` -> ``[leads, m]``)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    r = StreamResampler(fs_in, fs_out, leads=x.shape[0])
    parts = [r.push(x), r.flush()]
    return np.concatenate(parts, axis=1)
