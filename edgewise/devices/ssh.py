"""Talk to a device over the system's OpenSSH client (``ssh``/``scp`` as subprocesses; no SSH library).

Key-based only and never interactive: every call passes ``BatchMode=yes`` (no password or passphrase
prompt, no "trust this host?" question), ``ConnectTimeout`` (an unreachable device fails in seconds, not
after the kernel's two minutes), ``StrictHostKeyChecking=yes`` with the device's own known_hosts file
when one is configured, and ``IdentitiesOnly=yes`` with the device's identity file when one is given
(otherwise the user's ssh config and agent decide). Nothing here reads, stores or forwards key material:
a device config holds the path of a private key, never the key.

One connection per ``SshSession`` is shared by all its commands (OpenSSH connection multiplexing,
``ControlMaster``/``ControlPersist`` on a socket in a private temp folder): a deploy runs a dozen
commands, and a key exchange costs seconds on a small device (minutes of CPU under emulation).

OpenSSH reports its own failures with exit status 255 and a line on stderr; ``_classify`` maps those lines
to one-line errors a person can act on (unreachable, refused, host key changed or unknown, key refused).
A remote command that fails raises ``RemoteCommandError`` with its exit code and last stderr lines.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Sequence

from edgewise.devices.errors import DeviceError

__all__ = [
    "SshError",
    "UnreachableError",
    "RefusedError",
    "HostKeyError",
    "AuthError",
    "RemoteCommandError",
    "SshTarget",
    "SshSession",
    "remote_path",
]

CONNECT_TIMEOUT_S = 5.0


class SshError(DeviceError):
    """A device could not be talked to over SSH (the message says why and what to do)."""


class UnreachableError(SshError):
    """No answer: timeout, no route, unknown host name."""


class RefusedError(SshError):
    """The host answered but nothing listens on the SSH port."""


class HostKeyError(SshError):
    """The host key changed since it was recorded, or is not recorded at all."""


class AuthError(SshError):
    """The device refused the key."""


class RemoteCommandError(SshError):
    """A command on the device exited non-zero.

    Attributes:
        returncode: the remote exit status (negative: killed by that signal on this side).
        stderr: the command's whole stderr.
    """

    def __init__(self, message: str, *, returncode: int, stderr: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class SshTarget:
    """Where and how to reach a device.

    Attributes:
        name: the device's name (for messages).
        host: ``user@host`` or ``host`` (the user's ssh config may supply the rest).
        port: SSH port.
        identity: path of a private key file to offer (and only it); None: ssh's defaults/agent.
        known_hosts: a known_hosts file to check the host key against; None: the user's.
        connect_timeout: seconds to wait for the TCP connection and the SSH handshake.
    """

    name: str
    host: str
    port: int = 22
    identity: str | None = None
    known_hosts: str | None = None
    connect_timeout: float = CONNECT_TIMEOUT_S

    def __post_init__(self) -> None:
        if not self.host or self.host.startswith("-") or any(c.isspace() for c in self.host):
            raise ValueError(f"device {self.name!r}: bad SSH target {self.host!r}; expected user@host")
        if not 0 < int(self.port) < 65536:
            raise ValueError(f"device {self.name!r}: SSH port {self.port} is not in 1..65535")

    @classmethod
    def from_device(cls, device, *, connect_timeout: float = CONNECT_TIMEOUT_S) -> "SshTarget":
        """From an ``edgewise.devices.config.Device`` (anything with name, ssh, port, identity, known_hosts)."""
        if not getattr(device, "ssh", None):
            raise SshError(f"device {device.name!r} has no SSH target; add one with "
                           f"`edgewise devices add {device.name} --profile PROFILE --ssh user@host`")
        expand = lambda p: os.path.expanduser(p) if p else None  # noqa: E731
        return cls(name=device.name, host=device.ssh, port=int(getattr(device, "port", 22) or 22),
                   identity=expand(getattr(device, "identity", None)),
                   known_hosts=expand(getattr(device, "known_hosts", None)), connect_timeout=connect_timeout)

    @property
    def hostname(self) -> str:
        return self.host.rsplit("@", 1)[-1]

    @property
    def user(self) -> str | None:
        return self.host.rsplit("@", 1)[0] if "@" in self.host else None

    def options(self) -> list[str]:
        """``-o`` options shared by ssh and scp (port excluded: ``-p`` vs ``-P``)."""
        opts = {"BatchMode": "yes", "ConnectTimeout": str(max(1, round(self.connect_timeout))),
                "StrictHostKeyChecking": "yes", "ServerAliveInterval": "10", "ServerAliveCountMax": "3",
                "PasswordAuthentication": "no", "KbdInteractiveAuthentication": "no"}
        if self.known_hosts:
            opts["UserKnownHostsFile"] = self.known_hosts
            opts["GlobalKnownHostsFile"] = os.devnull
        if self.identity:
            opts["IdentitiesOnly"] = "yes"
            opts["IdentityFile"] = self.identity
        return [a for k, v in opts.items() for a in ("-o", f"{k}={v}")]


def remote_path(path: str) -> str:
    """A device path as one shell word; a leading ``~/`` becomes ``"$HOME"/`` (quoting stops ``~`` expansion)."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def _tail(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and not ln.startswith("@@@")]
    return " | ".join(lines[-n:]) or "no message"


def _classify(t: SshTarget, stderr: str) -> SshError | None:
    """Map OpenSSH's own failure lines to an error; None when stderr is not ssh's (the command's)."""
    where = f"{t.hostname}:{t.port}"
    low = stderr.lower()
    kh = t.known_hosts or "~/.ssh/known_hosts"
    host_pattern = t.hostname if t.port == 22 else f"[{t.hostname}]:{t.port}"
    if "remote host identification has changed" in low:
        return HostKeyError(f"{t.name}: the host key of {where} has CHANGED since it was recorded in {kh} (the device "
                            f"was reinstalled, or someone is intercepting the connection); if you trust the new key: "
                            f"ssh-keygen -R '{host_pattern}' -f {kh}")
    if "host key verification failed" in low or "no matching host key" in low:
        return HostKeyError(f"{t.name}: the host key of {where} is not recorded in {kh}; check it and add it "
                            f"(ssh-keyscan -p {t.port} {t.hostname} >> {kh}) or connect once with ssh")
    if "permission denied" in low and ("publickey" in low or "password" in low):
        key = t.identity or "ssh's default keys"
        return AuthError(f"{t.name}: {t.host} refused the key {key} (Permission denied); put its public key in "
                         f"~/.ssh/authorized_keys of {t.user or 'the user'} on the device")
    if "connection refused" in low:
        return RefusedError(f"{t.name}: {where} refused the connection: no SSH server listening on port {t.port}")
    for marker in ("timed out", "no route to host", "network is unreachable", "could not resolve hostname",
                   "name or service not known", "temporary failure in name resolution"):
        if marker in low:
            return UnreachableError(f"{t.name}: cannot reach {where} ({_ssh_line(stderr)}; connect timeout "
                                    f"{t.connect_timeout:g} s); is the device on and on this network?")
    if stderr.lstrip().startswith(("ssh:", "kex_exchange_identification", "Connection closed", "Connection reset",
                                   "banner exchange", "mux_client", "Control socket")):
        return SshError(f"{t.name}: SSH to {where} failed: {_ssh_line(stderr)}")
    return None


def _ssh_line(stderr: str) -> str:
    for ln in stderr.strip().splitlines():
        if ln.startswith(("ssh:", "kex_", "Connection ")):
            return ln.strip()
    return _tail(stderr, 1)


class SshSession:
    """Commands on one device over one multiplexed SSH connection. Use as a context manager.

    Args:
        target: where and how.
        multiplex: share one connection between the commands (a ControlMaster process that ``close``
            ends; it also exits by itself after ``ControlPersist`` seconds idle).
    """

    def __init__(self, target: SshTarget, *, multiplex: bool = True):
        if shutil.which("ssh") is None:
            raise SshError("the OpenSSH client `ssh` is not installed (Debian: apt-get install openssh-client)")
        self.target = target
        # the control socket's path must stay under the 108 bytes of a unix socket address
        base = None if len(tempfile.gettempdir()) <= 40 or not os.path.isdir("/tmp") else "/tmp"
        self._dir = tempfile.mkdtemp(prefix="ew-ssh-", dir=base) if multiplex else None
        self._master = False

    # -- plumbing ---------------------------------------------------------------------------------
    def _mux(self) -> list[str]:
        if self._dir is None:
            return []
        return ["-o", "ControlMaster=auto", "-o", f"ControlPath={self._dir}/%C", "-o", "ControlPersist=120"]

    def ssh_argv(self, command: str) -> list[str]:
        """The full ``ssh`` command line that runs ``command`` (a shell string) on the device."""
        return ["ssh", *self.target.options(), *self._mux(), "-p", str(self.target.port), self.target.host, "--",
                command]

    def _error(self, command: str, rc: int, stderr: str, what: str | None = None) -> SshError:
        if rc == 255 or rc < 0:
            err = _classify(self.target, stderr)
            if err is not None:
                return err
        if rc < 0:
            return RemoteCommandError(f"{self.target.name}: {what or _short(command)} was interrupted (ssh killed by "
                                      f"signal {-rc})", returncode=rc, stderr=stderr)
        return RemoteCommandError(f"{self.target.name}: {what or _short(command)} failed (exit {rc}): {_tail(stderr)}",
                                  returncode=rc, stderr=stderr)

    # -- public -----------------------------------------------------------------------------------
    def run(self, command: str, *, input: bytes | str | None = None, timeout: float | None = 600,
            check: bool = True, what: str | None = None) -> subprocess.CompletedProcess:
        """Run a shell command on the device; return its CompletedProcess (text stdout/stderr).

        Raises:
            SshError (a subclass naming the cause) when ssh fails or, with ``check``, the command exits non-zero.
        """
        data = input.encode() if isinstance(input, str) else input
        try:
            p = subprocess.run(self.ssh_argv(command), input=data, capture_output=True, timeout=timeout,
                               stdin=None if data is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise SshError(f"{self.target.name}: {what or _short(command)} did not finish within {timeout:g} s") from e
        out = subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode(errors="replace"),
                                          p.stderr.decode(errors="replace"))
        if p.returncode == 255 and out.stderr:
            err = _classify(self.target, out.stderr)
            if err is not None:  # ssh's own failure: raise even without check
                raise err
        if check and p.returncode != 0:
            raise self._error(command, p.returncode, out.stderr, what)
        return out

    def popen(self, command: str, *, stdin: int | IO | None = subprocess.PIPE) -> subprocess.Popen:
        """Start ``command`` on the device with a pipe to its stdin (bytes); finish with ``check_popen``.

        Its stdout/stderr go to temporary files, so a chatty command cannot block the writer on a full pipe.
        """
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        proc = subprocess.Popen(self.ssh_argv(command), stdin=stdin, stdout=out, stderr=err)
        proc.output_files = (out, err)  # Popen keeps no handle on files it was given
        return proc

    def check_popen(self, proc: subprocess.Popen, command: str, *, what: str | None = None,
                    timeout: float | None = None) -> str:
        """Wait for a ``popen`` process; raise the mapped error if it failed; return its stdout."""
        if proc.stdin is not None and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            proc.kill()
            proc.wait()
            raise SshError(f"{self.target.name}: {what or _short(command)} did not finish within {timeout:g} s") from e
        out, err = (self._read(f) for f in getattr(proc, "output_files", (proc.stdout, proc.stderr)))
        if proc.returncode != 0:
            raise self._error(command, proc.returncode, err, what)
        return out

    @staticmethod
    def _read(f) -> str:
        if f is None:
            return ""
        f.seek(0)
        text = f.read().decode(errors="replace")
        f.close()
        return text

    def put(self, local: Sequence[str | Path], remote_dir: str, *, timeout: float | None = 600) -> None:
        """Copy local files/folders into ``remote_dir`` on the device with ``scp -r``."""
        if shutil.which("scp") is None:
            raise SshError("the OpenSSH client `scp` is not installed (Debian: apt-get install openssh-client)")
        dest = remote_dir[2:] if remote_dir.startswith("~/") else remote_dir  # scp paths are relative to $HOME
        argv = ["scp", "-q", "-r", *self.target.options(), *self._mux(), "-P", str(self.target.port),
                *[str(p) for p in local], f"{self.target.host}:{dest}"]
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise SshError(f"{self.target.name}: scp to {remote_dir} did not finish within {timeout:g} s") from e
        if p.returncode != 0:
            raise _classify(self.target, p.stderr) or RemoteCommandError(
                f"{self.target.name}: scp to {remote_dir} failed (exit {p.returncode}): {_tail(p.stderr)}",
                returncode=p.returncode, stderr=p.stderr)

    def close(self) -> None:
        """End the shared connection (if one was opened) and remove its socket folder."""
        if self._dir is None:
            return
        sock_dir, self._dir = self._dir, None
        if any(Path(sock_dir).iterdir()):
            argv = ["ssh", *self.target.options(), "-o", f"ControlPath={sock_dir}/%C", "-O", "exit",
                    "-p", str(self.target.port), self.target.host]
            try:
                subprocess.run(argv, capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(sock_dir, ignore_errors=True)

    def __enter__(self) -> "SshSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _short(command: str, n: int = 60) -> str:
    one = " ".join(command.split())
    return f"`{one[:n]}{'...' if len(one) > n else ''}`"


def json_lines(text: str) -> list[dict]:
    """The JSON objects of a remote command's output, one per line (other lines, e.g. logs, skipped)."""
    import json

    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out
