"""edgewise: small biosignal models from the workstation to Pi-class devices."""
from __future__ import annotations

from edgewise._version import __version__

__all__ = ["__version__"]
