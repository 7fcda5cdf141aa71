"""When a trained member on disk is the member a run asks for (so it is loaded, not trained again)."""
from __future__ import annotations

from typing import Any

__all__ = ["config_matches"]


def config_matches(stored: Any, current: dict[str, Any], defaults: dict[str, Any]) -> bool:
    """True when a member's stored training config is ``current``.

    A key missing from ``stored`` reads as its value in ``defaults`` (the config class's defaults): a field added
    to the config since the member was trained (e.g. ``decimate``) does not make every earlier member stale as
    long as the run asks for its default. A key in ``stored`` that ``current`` no longer has is a mismatch.
    """
    if not isinstance(stored, dict):
        return False
    if set(stored) - set(current):
        return False
    return all(stored[k] == v if k in stored else (k in defaults and defaults[k] == v) for k, v in current.items())
