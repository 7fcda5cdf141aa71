"""Retrying a device that went away (a serial cable, a microphone): exponential back-off that a stop ends."""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

T = TypeVar("T")

__all__ = ["retry_until", "FIRST_DELAY", "MAX_DELAY"]

FIRST_DELAY = 0.1  # s: a replugged USB adapter re-appears within ~0.1-1 s
MAX_DELAY = 2.0    # s: the longest wait between tries, so a replug is noticed within 2 s


def retry_until(attempt: Callable[[], T], stop: threading.Event, *,
                retry_on: tuple[type[BaseException], ...]) -> tuple[T | None, str]:
    """Call ``attempt`` until it returns, waiting 0.1 s, 0.2 s, ... 2 s between tries.

    Returns ``(result, last_error)``; ``result`` is None when ``stop`` was set first. ``stop.wait``
    sleeps, so a stop ends the wait at once, not at the end of a 2 s back-off.
    """
    delay, last = FIRST_DELAY, ""
    while not stop.is_set():
        try:
            return attempt(), last
        except retry_on as e:
            last = str(e) or type(e).__name__
        if stop.wait(delay):
            break
        delay = min(2 * delay, MAX_DELAY)
    return None, last
