"""An artifact's self-check: reference outputs stored at export, compared wherever the file runs.

At export (host) ``make_reference`` runs the written file through the runtime once on a fixed input and
keeps a sample of its outputs; ``check`` (device: ``edgewise bench``, deploy) runs the same input and
compares. The input is built from integer arithmetic and float32 operations whose results IEEE 754 fixes
(no libm calls: ``exp``/``sin`` may differ in the last bit between platforms), so every machine feeds the
model the same bits:
- ECG models: a 72-bpm pseudo-ECG (piecewise-quadratic P, QRS and T bumps) plus a little integer-seeded
  noise, standardised like device input, one model window;
- any other model (log-Mel input ...): a smooth integer-seeded random walk, standardised.
The stored sample is ``SAMPLES`` evenly spaced positions of every output channel (or every value of a
small output), 5 significant digits; the tolerance is the artifact's ``export_atol`` for float models,
and two output quantisation steps (range / 255 x 2) for int8 ones.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["SAMPLES", "check", "make_reference", "reference_input"]

SAMPLES = 16
_VERSION = 1


def _lcg(n: int, seed: int) -> np.ndarray:
    """``n`` integers in [0, 2^31) from a 64-bit linear congruential generator (Knuth's MMIX constants)."""
    out = np.empty(n, np.int64)
    state = (seed * 6364136223846793005 + 1442695040888963407) % (1 << 64)
    for i in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out[i] = state >> 33
    return out


def _standardise(x: np.ndarray) -> np.ndarray:
    x = x - np.float32(np.median(x))
    return (x / np.float32(max(float(x.std()), 1e-3))).astype(np.float32)


def _bump(t: np.ndarray, centre: float, half: float, height: float) -> np.ndarray:
    u = (t - np.float32(centre)) / np.float32(half)
    return np.where(np.abs(u) < 1, np.float32(height) * (np.float32(1) - u * u), np.float32(0)).astype(np.float32)


def reference_input(shape: tuple[int, ...], *, task: str, fs: float = 500.0, seed: int = 0) -> np.ndarray:
    """The fixed float32 input ``[1, *shape]`` of the self-check (same bits on every machine)."""
    n = int(np.prod(shape))
    noise = (_lcg(n, seed).astype(np.float32) / np.float32(1 << 31) - np.float32(0.5)).reshape(shape)
    if task == "ecg-delineation" and len(shape) == 2:
        t = (np.arange(shape[-1], dtype=np.float32) / np.float32(fs)) % np.float32(60 / 72)  # seconds into a beat
        beat = (_bump(t, 0.10, 0.045, 0.15) - _bump(t, 0.205, 0.012, 0.15) + _bump(t, 0.22, 0.018, 1.2)
                - _bump(t, 0.24, 0.014, 0.3) + _bump(t, 0.45, 0.09, 0.35))
        x = beat[None, :] + np.float32(0.02) * noise
    else:
        x = np.cumsum(noise.reshape(-1), dtype=np.float32).reshape(shape)
    return _standardise(x)[None]


def _positions(length: int) -> list[int]:
    n = min(SAMPLES, length)
    return sorted({int(round(i * (length - 1) / max(n - 1, 1))) for i in range(n)})


def _sample(y: np.ndarray) -> tuple[list[int], np.ndarray]:
    """``y`` [1, ...] -> (positions along the last axis, values [channels, positions])."""
    y = np.asarray(y, dtype=np.float64).reshape(1, -1, y.shape[-1])[0] if y.ndim > 2 else np.asarray(y, np.float64)
    pos = _positions(y.shape[-1])
    return pos, y[..., pos]


def make_reference(model: Any, *, task: str, precision: str = "fp32", atol: float = 1e-4) -> dict[str, Any]:
    """Run ``model`` (an ``edgewise.runtime`` RuntimeModel) on the fixed input; the reference to store.

    Args:
        model: the artifact as the device opens it (``edgewise.runtime.load_model``).
        task: the artifact's task (selects the input).
        precision: "fp32" or "int8" (selects the tolerance).
        atol: the float tolerance (the artifact's ``export_atol``).
    """
    shape = tuple(int(d) for d in model.input_shape)
    x = reference_input(shape, task=task, fs=float(model.sample_rate or 500))
    y = np.asarray(model.run(x))
    pos, vals = _sample(y)
    if precision == "int8":  # two output quantisation steps
        tol = 2.0 * float(y.max() - y.min()) / 255.0
    else:
        tol = float(atol)
    return {"v": _VERSION, "input": "ecg" if task == "ecg-delineation" and len(shape) == 2 else "walk",
            "positions": pos, "values": [[float(f"{v:.5g}") for v in row] for row in np.atleast_2d(vals)],
            "atol": float(f"{max(tol, 1e-6):.3g}")}


def check(model: Any, reference: dict[str, Any] | None, *, task: str) -> str:
    """Compare ``model``'s outputs on the fixed input with ``reference``.

    Returns:
        ``"ok"``, ``"no reference"`` (an artifact exported before self-checks existed), or a one-line
        description of the mismatch (largest difference, where, and the tolerance).
    """
    if not reference:
        return "no reference"
    try:
        shape = tuple(int(d) for d in model.input_shape)
        x = reference_input(shape, task=task, fs=float(model.sample_rate or 500))
        y = np.asarray(model.run(x))
        pos, vals = _sample(y)
        want = np.atleast_2d(np.asarray(reference["values"], dtype=np.float64))
        if list(pos) != [int(p) for p in reference["positions"]] or np.atleast_2d(vals).shape != want.shape:
            return (f"mismatch: output shape {list(y.shape)} does not match the reference "
                    f"({want.shape[0]} channels at {len(reference['positions'])} positions)")
        diff = np.abs(np.atleast_2d(vals) - want)
        tol = float(reference["atol"])
        # stored values carry 5 significant digits: allow their rounding on top of the tolerance
        allowed = tol + 5e-5 * np.abs(want)
        if np.all(diff <= allowed):
            return "ok"
        c, p = np.unravel_index(int(np.argmax(diff - allowed)), diff.shape)
        return (f"mismatch: output channel {c} at position {pos[p]} is {np.atleast_2d(vals)[c, p]:.5g}, "
                f"reference {want[c, p]:.5g} (|diff| {diff[c, p]:.3g} > tolerance {tol:.3g})")
    except (KeyError, TypeError, ValueError) as e:
        return f"mismatch: unreadable self-check reference ({e})"
