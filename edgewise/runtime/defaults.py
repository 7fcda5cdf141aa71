"""The artifact a deployed release uses by default, per task: ``<release>/defaults.json``.

``edgewise deploy`` measures (or looks up, or estimates) every deployed artifact of a task on the device,
keeps those whose held-out accuracy is within the task's budget of the fp32 reference, and records the
fastest in the release it installs (``edgewise.devices.choose`` writes the file; this module only reads
it). On the device, ``edgewise delineate``, ``edgewise detect`` and ``edgewise run`` use the recorded
artifact when no ``--model`` is given.

Which release: the one whose venv runs this interpreter (``<release>/venv`` -> ``<release>``, recognised
by its ``bundle.json``), or the folder ``$EDGEWISE_RELEASE`` names. Outside a release (a workstation's
venv) there is nothing to read and nothing is said. Inside one, a missing, unreadable or invalid
``defaults.json``, or a recorded file that is not there, is one warning line and ``None``: the command
falls back to the model it used before defaults existed. Never an exception: a bad defaults file must not
stop a device from delineating.

Standard library + the runtime's validator only (the device install).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgewise.runtime.validator import Rule, check, load_json

__all__ = ["DEFAULTS_NAME", "DEFAULTS_SCHEMA", "DEFAULTS_RULE", "MAX_DEFAULTS_BYTES", "RecordedDefault",
           "release_dir", "read_defaults", "recorded_default"]

DEFAULTS_NAME = "defaults.json"
DEFAULTS_SCHEMA = "edgewise-defaults/1"
MAX_DEFAULTS_BYTES = 1 << 20
TIMING_SOURCES = ("stored", "measured", "estimate", "override", "only", "none")

_REL = r"(?!(.*/)?\.\.(/|$))[^/\\][^\\]*"  # a relative path inside the release: no leading /, no '..'
_TASK_ENTRY = Rule("dict", required=("model", "reason"), keys={
    "model": Rule("str", pattern=r"models/" + _REL, max_len=4096, what="a path models/<file> inside the release"),
    "sha256": Rule("str", pattern="[0-9a-f]{64}", what="64 hex digits"),
    "reason": Rule("str", min_len=1, max_len=4000),
    "timing": Rule("str", allowed=TIMING_SOURCES),
    "p50_ms": Rule(("number", "null"), min=0),
})
DEFAULTS_RULE = Rule("dict", required=("schema", "tasks"), keys={
    "schema": Rule("str", allowed=(DEFAULTS_SCHEMA,), what=f'"{DEFAULTS_SCHEMA}" (a newer schema needs a newer edgewise)'),
    "tasks": Rule("dict", max_len=256, values=_TASK_ENTRY),
    "auto_select": Rule("bool"),
    "device": Rule("str", max_len=256),
    "created": Rule("str", max_len=64),
    "note": Rule("str", max_len=4000),
})


class DefaultsError(ValueError):
    """A defaults.json that cannot be used (only raised inside this module; callers get a warning)."""


@dataclass(frozen=True)
class RecordedDefault:
    """A task's recorded default in a release.

    Attributes:
        task: ``"ecg-delineation"``, ``"mosquito-detection"``.
        path: the artifact (absolute, inside the release).
        model: its path relative to the release (``models/<file>``).
        reason: the one-line explanation deploy recorded.
    """

    task: str
    path: Path
    model: str
    reason: str


def _stderr(text: str) -> None:
    print(f"edgewise: warning: {text}", file=sys.stderr, flush=True)


def release_dir() -> Path | None:
    """The deployed release this process belongs to, or None (not run from a release's venv)."""
    env = os.environ.get("EDGEWISE_RELEASE")
    if env:
        return Path(env).expanduser()
    if sys.prefix == sys.base_prefix:
        return None
    folder = Path(sys.prefix).resolve().parent
    return folder if (folder / "bundle.json").is_file() else None


def read_defaults(release: str | Path) -> dict[str, Any]:
    """``<release>/defaults.json``, parsed and checked against ``DEFAULTS_RULE``.

    Raises:
        FileNotFoundError: no such file.
        DefaultsError: too large, not JSON, or not a defaults document.
    """
    where = Path(release) / DEFAULTS_NAME
    with open(where, "rb") as f:
        data = f.read(MAX_DEFAULTS_BYTES + 1)
    doc = load_json(data, where=str(where), what="the release's defaults", max_bytes=MAX_DEFAULTS_BYTES,
                    error=DefaultsError)
    check(doc, DEFAULTS_RULE, key="", where=str(where), error=DefaultsError, noun="defaults key")
    return doc


def recorded_default(task: str, *, release: str | Path | None = None,
                     warn: Callable[[str], None] | None = _stderr) -> RecordedDefault | None:
    """The artifact the release recorded for ``task``, or None (use the command's usual default).

    Args:
        task: the artifact task (metadata ``task``).
        release: the release folder (default: ``release_dir()``).
        warn: called with one line when the release's record is missing or unusable (default: stderr).
    """
    folder = Path(release) if release is not None else release_dir()
    if folder is None:
        return None
    say = warn or (lambda _text: None)
    fallback = "using the model this command uses without a recorded default"
    try:
        doc = read_defaults(folder)
    except FileNotFoundError:
        say(f"{folder / DEFAULTS_NAME} is missing (a release deployed before defaults were recorded?); {fallback}")
        return None
    except (OSError, DefaultsError, UnicodeDecodeError) as e:
        say(f"{' '.join(str(e).split())[:300]}; {fallback}")
        return None
    entry = doc["tasks"].get(task)
    if entry is None:
        return None
    path = (folder / entry["model"]).resolve()
    root = folder.resolve()
    if root not in path.parents:
        say(f"{folder / DEFAULTS_NAME}: the default of {task} ({entry['model']}) lies outside the release; {fallback}")
        return None
    if not path.is_file():
        say(f"{folder / DEFAULTS_NAME}: the default of {task}, {entry['model']}, is not in the release; {fallback}")
        return None
    return RecordedDefault(task=task, path=path, model=entry["model"], reason=entry["reason"])
