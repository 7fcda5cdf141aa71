"""Errors of the devices layer; all are ``EdgewiseError``s, so the CLI prints them as one line."""
from __future__ import annotations

from edgewise.runtime.errors import EdgewiseError

__all__ = ["DeviceError", "ConfigError", "UnknownDeviceError", "UnknownProfileError", "StoreError"]


class DeviceError(EdgewiseError, ValueError):
    """Base class for device configuration, profile and results-store problems."""


class ConfigError(DeviceError):
    """A devices config file or a device definition that cannot be used (the message names the file/field)."""


class UnknownDeviceError(DeviceError):
    """A device name that is not in the config; the message lists the known names."""


class UnknownProfileError(DeviceError):
    """A profile name that is neither built in nor defined in the config; the message lists the known names."""


class StoreError(DeviceError):
    """A results database that cannot be used (corrupt, not SQLite, newer schema); it is never overwritten."""
