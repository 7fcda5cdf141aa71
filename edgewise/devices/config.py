"""A user's devices: a profile + how to reach it over SSH, kept in a small TOML file.

The file is ``$EDGEWISE_CONFIG``, else ``$XDG_CONFIG_HOME/edgewise/devices.toml`` (``~/.config/...``)::

    [devices.pi5-kitchen]
    profile = "pi5"
    ssh = "pi@pi5-kitchen.local"
    port = 22
    identity = "~/.ssh/id_ed25519"     # the path of a key file only; never key material
    root = "~/edgewise"

    [profiles.my-board]                # optional user profiles, same fields as edgewise.devices.Profile
    title = "My board"
    ...

Only key-based SSH is supported: no password, passphrase or key is ever written here, and a device table
with such a key, or any key edgewise does not know, is refused (a misspelt key must not be ignored).
``this-machine`` is always there, implicitly. Writes are atomic (temp file + rename) under a lock file,
so two ``edgewise devices add`` at once cannot lose each other's device.
"""
from __future__ import annotations

import fcntl
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterator

from edgewise.devices.errors import ConfigError, UnknownDeviceError, UnknownProfileError
from edgewise.devices.profiles import Profile, get_profile, known_profiles

__all__ = ["Device", "THIS_MACHINE", "config_path", "load_devices", "load_profiles", "get_device",
           "add_device", "remove_device", "device_profile"]

THIS_MACHINE = "this-machine"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_IPV6 = re.compile(r"^\[?[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?\]?$")
_ROOT = re.compile(r"^[A-Za-z0-9._/~-]+$")
_SECRET_KEYS = {"password", "passwd", "passphrase", "secret", "token", "private_key", "key"}


@dataclass(frozen=True)
class Device:
    """A user's device: a profile + how to reach it.

    Attributes:
        name: ``[a-z0-9][a-z0-9-]*``, unique.
        profile: a built-in or user profile name.
        ssh: ``user@host`` (``None`` for ``this-machine``).
        port: SSH port.
        identity: path to a private key file (the path only; never key material).
        known_hosts: a known_hosts file to use instead of the user's.
        root: where bundles live on the device (``<root>/releases/<id>``, ``<root>/current``).
    """

    name: str
    profile: str
    ssh: str | None
    port: int = 22
    identity: str | None = None
    known_hosts: str | None = None
    root: str = "~/edgewise"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(f"device name {self.name!r} is not allowed: use lower-case letters, digits and '-' "
                              "(start with a letter or digit, at most 63 characters), e.g. pi5-kitchen")
        if not isinstance(self.profile, str) or not self.profile:
            raise ConfigError(f"device {self.name!r}: profile must be a profile name, got {self.profile!r}")
        if self.ssh is None:
            if self.name != THIS_MACHINE:
                raise ConfigError(f"device {self.name!r} needs an SSH target (--ssh user@host)")
        else:
            _check_ssh(self.name, self.ssh)
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ConfigError(f"device {self.name!r}: port must be an integer in 1-65535, got {self.port!r}")
        for attr in ("identity", "known_hosts"):
            value = getattr(self, attr)
            if value is None:
                continue
            key_like = isinstance(value, str) and ("PRIVATE KEY" in value
                                                   or value.lstrip().startswith(("-----", "ssh-", "ecdsa-")))
            if key_like:
                # never echo it: it may be a real key
                raise ConfigError(f"device {self.name!r}: {attr} looks like key material; give the path of the "
                                  "key file instead (edgewise never stores keys)")
            if not isinstance(value, str) or not value.strip() or "\n" in value or "\x00" in value:
                raise ConfigError(f"device {self.name!r}: {attr} must be a file path, got {value!r}")
        if not isinstance(self.root, str) or not _ROOT.match(self.root) or ".." in self.root.split("/"):
            raise ConfigError(f"device {self.name!r}: root {self.root!r} must be a plain path "
                              "(letters, digits, '._/~-', no '..'), e.g. ~/edgewise")

    @property
    def user(self) -> str | None:
        return self.ssh.rsplit("@", 1)[0] if self.ssh and "@" in self.ssh else None

    @property
    def host(self) -> str | None:
        return self.ssh.rsplit("@", 1)[-1].strip("[]") if self.ssh else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_ssh(name: str, target: str) -> None:
    if not isinstance(target, str) or not target:
        raise ConfigError(f"device {name!r}: ssh must be 'user@host' or 'host', got {target!r}")
    user, _, host = target.rpartition("@")
    if "@" in target and ":" in user:
        raise ConfigError(f"device {name!r}: the SSH target carries a password (user:password@host; not "
                          "repeated here); edgewise uses key-based SSH only and never stores passwords "
                          "(use --identity PATH)")
    if "@" in target and not _USER.match(user):
        raise ConfigError(f"device {name!r}: bad user name {user!r} in the SSH target {target!r} "
                          "(letters, digits, '._-', not starting with '-')")
    if not (_HOSTNAME.match(host) or (":" in host and _IPV6.match(host))):
        raise ConfigError(f"device {name!r}: bad host {host!r} in the SSH target {target!r}; expected a host "
                          "name or an IP address, e.g. pi@pi5-kitchen.local or pi@192.168.1.20")


def config_path() -> Path:
    """``$EDGEWISE_CONFIG``, else ``$XDG_CONFIG_HOME/edgewise/devices.toml`` (``~/.config`` by default)."""
    env = os.environ.get("EDGEWISE_CONFIG")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "edgewise" / "devices.toml"


def _toml():
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError as e:
            raise ConfigError("reading the devices config needs Python >= 3.11 (tomllib) or "
                              "'pip install tomli'") from e
    return tomllib


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    tomllib = _toml()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not valid TOML ({e}); fix or remove the file") from e
    unknown = sorted(set(data) - {"devices", "profiles"})
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {unknown}; the file holds [devices.NAME] and [profiles.NAME]")
    for table in ("devices", "profiles"):
        if not isinstance(data.get(table, {}), dict):
            raise ConfigError(f"{path}: '{table}' must be a table of [{table}.NAME] entries")
    return data


_DEVICE_KEYS = {f.name for f in fields(Device)} - {"name"}
_PROFILE_KEYS = {f.name for f in fields(Profile)} - {"name"}


def _device(path: Path, name: str, entry: Any) -> Device:
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: [devices.{name}] must be a table")
    secret = sorted(set(entry) & _SECRET_KEYS)
    if secret:
        raise ConfigError(f"{path}: [devices.{name}] has {secret}; edgewise never stores passwords or keys "
                          "(key-based SSH only: set 'identity' to the key file's path) — remove them")
    unknown = sorted(set(entry) - _DEVICE_KEYS)
    if unknown:
        raise ConfigError(f"{path}: [devices.{name}] has unknown key(s) {unknown}; allowed: {sorted(_DEVICE_KEYS)}")
    if "profile" not in entry or "ssh" not in entry:
        raise ConfigError(f"{path}: [devices.{name}] needs 'profile' and 'ssh'")
    try:
        return Device(name=name, **entry)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e


def load_profiles(path: str | Path | None = None) -> dict[str, Profile]:
    """User profiles defined in the config (``[profiles.NAME]``), by name.

    Raises:
        ConfigError: a malformed profile, or one that reuses a built-in name.
    """
    path = Path(path) if path is not None else config_path()
    out = {}
    for name, entry in _read(path).get("profiles", {}).items():
        if name in known_profiles():
            raise ConfigError(f"{path}: [profiles.{name}] reuses a built-in profile name; pick another name")
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: [profiles.{name}] must be a table")
        unknown = sorted(set(entry) - _PROFILE_KEYS)
        if unknown:
            raise ConfigError(f"{path}: [profiles.{name}] has unknown key(s) {unknown}; allowed: {sorted(_PROFILE_KEYS)}")
        try:
            out[name] = Profile(name=name, **{**entry, "features": tuple(entry.get("features", ())),
                                               "sources": dict(entry.get("sources") or {"all": f"user profile in {path}"})})
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{path}: [profiles.{name}] is not a valid profile ({e})") from e
    return out


def load_devices(path: str | Path | None = None) -> dict[str, Device]:
    """All devices in the config, plus the implicit ``this-machine`` (first).

    Raises:
        ConfigError: unreadable file or an invalid device entry (the message names the file and the field).
    """
    path = Path(path) if path is not None else config_path()
    out = {THIS_MACHINE: Device(name=THIS_MACHINE, profile="this-machine", ssh=None)}
    for name, entry in _read(path).get("devices", {}).items():
        if name == THIS_MACHINE:
            raise ConfigError(f"{path}: [devices.{THIS_MACHINE}] is reserved for the machine edgewise runs on")
        out[name] = _device(path, name, entry)
    return out


def get_device(name: str, path: str | Path | None = None) -> Device:
    """One device by name.

    Raises:
        UnknownDeviceError: no such device; the message lists the known names and how to add one.
    """
    devices = load_devices(path)
    if name not in devices:
        raise UnknownDeviceError(f"unknown device {name!r}; known devices: {', '.join(devices)} "
                                 f"(add one with `edgewise devices add {name} --profile pi5 --ssh user@host`)")
    return devices[name]


def device_profile(device: Device, path: str | Path | None = None) -> Profile:
    """The ``Profile`` a device names (built-in or a user profile from the same config)."""
    return get_profile(device.profile, extra=load_profiles(path))


def add_device(device: Device, path: str | Path | None = None, *, replace: bool = False) -> Path:
    """Add (or with ``replace`` update) a device in the config; returns the config path.

    Raises:
        ConfigError: the name is taken or reserved, or an identity/known_hosts file does not exist.
        UnknownProfileError: the profile is not known.
    """
    path = Path(path) if path is not None else config_path()
    if device.name == THIS_MACHINE or device.ssh is None:
        raise ConfigError(f"{THIS_MACHINE!r} is implicit and cannot be added; pick another name and give --ssh")
    for attr in ("identity", "known_hosts"):
        value = getattr(device, attr)
        if value is not None and not Path(value).expanduser().is_file():
            raise ConfigError(f"device {device.name!r}: no {attr} file at {value}")
    with _locked(path):
        data = _read(path)
        try:
            get_profile(device.profile, extra=load_profiles(path))
        except UnknownProfileError as e:
            raise UnknownProfileError(f"device {device.name!r}: {e}") from e
        devices = data.setdefault("devices", {})
        if device.name in devices and not replace:
            raise ConfigError(f"device {device.name!r} already exists in {path}; remove it first "
                              f"(`edgewise devices remove {device.name}`)")
        entry = {k: v for k, v in device.as_dict().items() if k != "name" and v is not None}
        devices[device.name] = entry
        _write(path, data)
    return path


def remove_device(name: str, path: str | Path | None = None) -> Path:
    """Remove a device from the config; returns the config path.

    Raises:
        ConfigError: ``this-machine`` (implicit, cannot be removed).
        UnknownDeviceError: no such device.
    """
    path = Path(path) if path is not None else config_path()
    if name == THIS_MACHINE:
        raise ConfigError(f"{THIS_MACHINE!r} is implicit and cannot be removed")
    with _locked(path):
        data = _read(path)
        devices = data.get("devices", {})
        if name not in devices:
            known = [THIS_MACHINE, *devices]
            raise UnknownDeviceError(f"unknown device {name!r}; known devices: {', '.join(known)}")
        del devices[name]
        _write(path, data)
    return path


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------------------------
# writing: a tiny TOML emitter (strings, numbers, booleans, lists of those, one level of tables)
# ----------------------------------------------------------------------------------------------
def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        out = []
        for ch in v:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) to the devices config")


def _key(k: str) -> str:
    return k if re.match(r"^[A-Za-z0-9_-]+$", k) else _value(k)


def _write(path: Path, data: dict[str, Any]) -> None:
    lines = ["# edgewise devices (rewritten by `edgewise devices add/remove`).",
             "# Key-based SSH only: no password, passphrase or key is ever stored here.", ""]
    for table in ("devices", "profiles"):
        for name, entry in data.get(table, {}).items():
            lines.append(f"[{table}.{_key(name)}]")
            lines += [f"{_key(k)} = {_value(v)}" for k, v in entry.items()]
            lines.append("")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
