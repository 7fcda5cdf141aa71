"""The SSH wrapper: OpenSSH's failure lines -> one-line errors (unit), and real commands on the emulated device."""
from __future__ import annotations

import time

import pytest

from edgewise.devices.ssh import (
    AuthError,
    HostKeyError,
    RefusedError,
    RemoteCommandError,
    SshError,
    SshSession,
    SshTarget,
    UnreachableError,
    _classify,
    remote_path,
)

T = SshTarget(name="pi0", host="pi@169.254.77.2", identity="/k/id", known_hosts="/k/known_hosts", connect_timeout=3)

CHANGED = """@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Offending ED25519 key in /k/known_hosts:1
Host key verification failed.
"""


@pytest.mark.parametrize("stderr, kind, words", [
    ("ssh: connect to host 169.254.77.2 port 22: Connection timed out\n", UnreachableError, "cannot reach"),
    ("ssh: connect to host 169.254.77.2 port 22: No route to host\n", UnreachableError, "cannot reach"),
    ("ssh: Could not resolve hostname pi5.local: Name or service not known\n", UnreachableError, "cannot reach"),
    ("ssh: connect to host 169.254.77.2 port 22: Connection refused\n", RefusedError, "refused the connection"),
    (CHANGED, HostKeyError, "CHANGED"),
    ("No ED25519 host key is known for 169.254.77.2 and you have requested strict checking.\n"
     "Host key verification failed.\n", HostKeyError, "not recorded"),
    ("pi@169.254.77.2: Permission denied (publickey).\n", AuthError, "refused the key /k/id"),
    ("kex_exchange_identification: read: Connection reset by peer\n", SshError, "SSH to 169.254.77.2:22 failed"),
], ids=["timeout", "no-route", "no-dns", "refused", "key-changed", "key-unknown", "auth", "reset"])
def test_ssh_failures_become_one_line_errors(stderr, kind, words):
    err = _classify(T, stderr)
    assert type(err) is kind
    assert words in str(err) and str(err).startswith("pi0: ")
    assert "\n" not in str(err)


def test_host_key_changed_says_how_to_fix():
    assert "ssh-keygen -R '169.254.77.2' -f /k/known_hosts" in str(_classify(T, CHANGED))
    other = SshTarget(name="pi0", host="pi@169.254.77.2", port=2222, known_hosts="/k/kh")
    assert "ssh-keygen -R '[169.254.77.2]:2222'" in str(_classify(other, CHANGED))


def test_a_command_error_is_not_mistaken_for_ssh():
    assert _classify(T, "tar: Cannot open: No such file or directory\n") is None


@pytest.mark.parametrize("host", ["-oProxyCommand=sh", "pi@host name", ""], ids=["option", "space", "empty"])
def test_target_refuses_bad_hosts(host):
    with pytest.raises(ValueError, match="bad SSH target"):
        SshTarget(name="x", host=host)


def test_options_are_batch_strict_and_key_only():
    opts = " ".join(T.options())
    for o in ("BatchMode=yes", "StrictHostKeyChecking=yes", "ConnectTimeout=3", "IdentitiesOnly=yes",
              "IdentityFile=/k/id", "UserKnownHostsFile=/k/known_hosts", "PasswordAuthentication=no"):
        assert o in opts
    bare = " ".join(SshTarget(name="x", host="pi@h").options())
    assert "IdentitiesOnly" not in bare and "UserKnownHostsFile" not in bare and "StrictHostKeyChecking=yes" in bare


def test_remote_path_keeps_home_expansion_and_quotes_the_rest():
    assert remote_path("~/edgewise") == '"$HOME"/edgewise'
    assert remote_path("~/my dir/x") == "\"$HOME\"/'my dir/x'"
    assert remote_path("/opt/e w") == "'/opt/e w'"


# -- on the emulated device ------------------------------------------------------------------------
@pytest.mark.device
def test_commands_run_on_the_arm64_device(device):
    with SshSession(SshTarget.from_device(device)) as s:
        assert s.run("uname -m").stdout.strip() == "aarch64"
        assert s.run("echo $QEMU_CPU").stdout.strip() == "cortex-a72"
        assert s.run("cat", input="through stdin").stdout == "through stdin"
        t0 = time.monotonic()
        for _ in range(3):  # multiplexed: no new handshake per command
            s.run("true")
        assert time.monotonic() - t0 < 3


@pytest.mark.device
def test_remote_failure_carries_exit_code_and_stderr(device):
    with SshSession(SshTarget.from_device(device)) as s:
        with pytest.raises(RemoteCommandError, match=r"failed \(exit 3\): first \| second") as e:
            s.run("echo first >&2; echo second >&2; exit 3")
        assert e.value.returncode == 3
        assert s.run("exit 4", check=False).returncode == 4


@pytest.mark.device
def test_put_copies_files(device, testbed, tmp_path):
    (tmp_path / "a.txt").write_text("hello device")
    with SshSession(SshTarget.from_device(device)) as s:
        s.run("mkdir -p ~/put-test")
        s.put([tmp_path / "a.txt"], "~/put-test")
    assert (testbed.home / "put-test" / "a.txt").read_text() == "hello device"
