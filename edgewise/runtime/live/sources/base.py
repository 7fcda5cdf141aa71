"""What a live source yields: blocks of samples, gaps (samples that never arrived) and faults.

Every item carries sample indices counted from the stream's start at the source's own rate, so the
engines and the JSON output agree on time. A gap advances the index by the number of samples the
wall clock says were missed (a cable pulled for 2 s at 250 Hz: ``Gap(start, 500, ...)``), so indices
after a gap still mean "seconds since start x rate".
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterator, Union

import numpy as np

__all__ = ["Block", "Gap", "Fault", "Item", "Source"]


@dataclass(frozen=True)
class Block:
    """Consecutive samples: float32 ``[n, channels]``, the first at index ``start``."""

    start: int
    samples: np.ndarray

    @property
    def end(self) -> int:
        return self.start + int(self.samples.shape[0])


@dataclass(frozen=True)
class Gap:
    """``samples`` samples from index ``start`` never arrived (``reason``: "disconnected", "overflow", ...)."""

    start: int
    samples: int
    reason: str


@dataclass(frozen=True)
class Fault:
    """Something went wrong without losing samples (or before a Gap says how many): counted, reported.

    ``kind``: "garbage" (unparsable line), "partial" (a line cut short), "overflow", "disconnected",
    "reconnected", "vanished", "nonfinite", "saturated"; ``at``: sample index; ``count``: how many
    occurrences this report covers; ``detail``: one line for a human.
    """

    kind: str
    at: int
    count: int = 1
    detail: str = ""


Item = Union[Block, Gap, Fault]


@dataclass
class Source:
    """Base of all sources. Subclasses implement ``_items`` and may override ``close``.

    ``rate`` (Hz) and ``channels`` are known once the source is open. ``stop`` (a threading.Event) ends
    iteration within ~0.1 s when set (SIGINT/SIGTERM handlers set it); ``counters`` counts faults by
    kind for the final summary.
    """

    name: str
    rate: float
    channels: int = 1
    stop: threading.Event = field(default_factory=threading.Event)
    counters: dict = field(default_factory=dict)

    def __iter__(self) -> Iterator[Item]:
        for item in self._items():
            if isinstance(item, Fault):
                self.counters[item.kind] = self.counters.get(item.kind, 0) + item.count
            yield item
            if self.stop.is_set():
                break

    def _items(self) -> Iterator[Item]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the device/file; safe to call twice."""
