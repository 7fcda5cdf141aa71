"""Small helpers shared by CLI leaves (argument types, JSON output)."""
from __future__ import annotations

import json
import sys
from typing import Any


def print_json_line(obj: Any) -> None:
    """Print one JSON object on one line (for ``--json`` outputs), flushing so pipes see it."""
    sys.stdout.write(json.dumps(obj, separators=(", ", ": ")) + "\n")
    sys.stdout.flush()


def int_range(text: str) -> list[int]:
    """Parse ``"1-3,7"`` into ``[1, 2, 3, 7]``."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    if not out:
        raise ValueError(f"expected a list like '1-3,7', got {text!r}")
    return out
