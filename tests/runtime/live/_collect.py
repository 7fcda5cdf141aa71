"""Iterating a live source in a test: until a condition holds, with a deadline that sets ``stop``."""
from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from edgewise.runtime.live.sources import Block, Fault, Gap, Source


def collect(source: Source, until: Callable[[list], bool], *, timeout: float) -> list:
    """Items of ``source`` until ``until(items)`` is true (then ``stop`` is set) or ``timeout`` s pass."""
    timer = threading.Timer(timeout, source.stop.set)
    timer.start()
    items: list = []
    try:
        for item in source:
            items.append(item)
            if until(items):
                source.stop.set()
    finally:
        timer.cancel()
    return items


def samples(items: list) -> np.ndarray:
    """All Block samples, float32 [n, channels]."""
    blocks = [i.samples for i in items if isinstance(i, Block)]
    return np.concatenate(blocks) if blocks else np.zeros((0, 1), np.float32)


def n_samples(items: list) -> int:
    return sum(len(i.samples) for i in items if isinstance(i, Block))


def assert_indices_continuous(items: list) -> None:
    """Blocks and Gaps tile the index line from 0 without holes or overlaps."""
    nxt = 0
    for i in items:
        if isinstance(i, Block):
            assert i.start == nxt, f"block at {i.start}, expected {nxt}"
            assert i.samples.dtype == np.float32 and i.samples.ndim == 2
            nxt = i.end
        elif isinstance(i, Gap):
            assert i.start == nxt and i.samples >= 0, i
            nxt += i.samples


def kinds(items: list) -> list[str]:
    """The stream as a list of "block"/"gap:reason"/fault kinds, consecutive blocks merged."""
    out: list[str] = []
    for i in items:
        k = "block" if isinstance(i, Block) else f"gap:{i.reason}" if isinstance(i, Gap) else \
            i.kind if isinstance(i, Fault) else "?"
        if not (k == "block" and out and out[-1] == "block"):
            out.append(k)
    return out


def elapsed(fn: Callable[[], object]) -> float:
    t = time.monotonic()
    fn()
    return time.monotonic() - t
