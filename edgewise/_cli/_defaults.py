"""The model a command uses when ``--model`` is not given, on a deployed device: its release's recorded one.

``edgewise deploy`` writes ``<release>/defaults.json`` (``edgewise.runtime.defaults``); ``delineate``,
``detect`` and ``run`` read it through ``release_default`` and announce the file they use on stderr
(their stdout, JSON included, stays exactly as it was).
"""
from __future__ import annotations

import sys
from pathlib import Path


def release_default(task: str) -> Path | None:
    """The artifact this device's release recorded for ``task``, announced on stderr; None when not run from
    a deployed release, or (after a one-line warning) when its record is missing or unusable."""
    from edgewise.runtime.defaults import recorded_default

    rec = recorded_default(task)
    if rec is None:
        return None
    print(f"edgewise: using {rec.model} (this release's default for {task}, chosen at deploy)", file=sys.stderr,
          flush=True)
    return rec.path
