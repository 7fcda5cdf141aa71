"""Errors a person can act on. Defined in the runtime (the floor) so host and device share them."""
from __future__ import annotations

__all__ = [
    "EdgewiseError",
    "InputError",
    "ArtifactError",
    "BackendMissingError",
    "ExportMismatchError",
    "BudgetError",
]


class EdgewiseError(Exception):
    """Base class: the CLI prints these as one line on stderr and exits non-zero."""


class InputError(EdgewiseError, ValueError):
    """Bad user input: a signal, a file, a flag. The message says what was expected and how to fix it."""


class ArtifactError(EdgewiseError, ValueError):
    """A model artifact that cannot be loaded or used (corrupt, truncated, wrong metadata)."""


class BackendMissingError(EdgewiseError, ImportError):
    """An optional backend is not installed; the message names the extra to install."""


class ExportMismatchError(EdgewiseError, ValueError):
    """An exported artifact does not compute what its source model computes.

    Attributes:
        failures: one dict per failing output with ``name``, ``max_abs`` and ``max_rel``.
    """

    def __init__(self, message: str, failures: list[dict] | None = None):
        super().__init__(message)
        self.failures = list(failures or [])


class BudgetError(EdgewiseError, ValueError):
    """A compression step could not meet its accuracy budget; the last good artifact is kept."""
