"""Devices: profiles and roofline estimates, a user's devices, the SQLite results store and its report.

Above ``edgewise.runtime`` and below the CLI: the standard library, numpy and the runtime only (matplotlib
is imported inside the report's plot, a host feature), so a device's bare install can run
``edgewise devices list`` and store its benchmarks. Deploy over SSH lives in ``ssh``, ``bundle``, ``deploy``
and ``remote`` (imported on their own; not re-exported here). The functions ``estimate.estimate`` and
``report.report`` are imported from their modules (re-exporting them here would hide the modules).
"""
from __future__ import annotations

from edgewise.devices.config import (
    THIS_MACHINE,
    Device,
    add_device,
    config_path,
    device_profile,
    get_device,
    load_devices,
    load_profiles,
    remove_device,
)
from edgewise.devices.errors import (
    ConfigError,
    DeviceError,
    StoreError,
    UnknownDeviceError,
    UnknownProfileError,
)
from edgewise.devices.estimate import Calibration, Estimate, artifact_cost, calibrate, validate
from edgewise.devices.profiles import Profile, get_profile, known_profiles, register, this_machine
from edgewise.devices.store import ResultsStore, default_db_path, fingerprint

__all__ = [
    "THIS_MACHINE",
    "Calibration",
    "ConfigError",
    "Device",
    "DeviceError",
    "Estimate",
    "Profile",
    "ResultsStore",
    "StoreError",
    "UnknownDeviceError",
    "UnknownProfileError",
    "add_device",
    "artifact_cost",
    "calibrate",
    "config_path",
    "default_db_path",
    "device_profile",
    "fingerprint",
    "get_device",
    "get_profile",
    "known_profiles",
    "load_devices",
    "load_profiles",
    "register",
    "remove_device",
    "this_machine",
    "validate",
]
