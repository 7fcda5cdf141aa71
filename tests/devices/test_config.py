"""The devices config (TOML, XDG paths, validation, no secrets) and the `edgewise devices` CLI leaves."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgewise._cli import devices as cli
from edgewise.devices import config as C
from edgewise.devices.errors import ConfigError, UnknownDeviceError, UnknownProfileError


@pytest.fixture
def cfg(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "conf" / "devices.toml"
    monkeypatch.setenv("EDGEWISE_CONFIG", str(path))
    return path


def test_config_path_env_and_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEWISE_CONFIG", str(tmp_path / "x.toml"))
    assert C.config_path() == tmp_path / "x.toml"
    monkeypatch.delenv("EDGEWISE_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert C.config_path() == tmp_path / "xdg" / "edgewise" / "devices.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert C.config_path() == tmp_path / "home" / ".config" / "edgewise" / "devices.toml"


def test_this_machine_is_implicit(cfg):
    assert not cfg.exists()
    devices = C.load_devices()
    assert list(devices) == ["this-machine"]
    assert devices["this-machine"].ssh is None and devices["this-machine"].profile == "this-machine"
    with pytest.raises(ConfigError, match="implicit and cannot be removed"):
        C.remove_device("this-machine")
    with pytest.raises(ConfigError, match="implicit and cannot be added"):
        C.add_device(C.Device("this-machine", "pi5", None))


def test_add_load_remove_round_trip(cfg, tmp_path):
    key = tmp_path / 'my "odd" key\\file'
    key.write_text("not read by edgewise")
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    dev = C.Device("pi5-kitchen", "pi5", "pi@pi5-kitchen.local", port=2222, identity=str(key),
                   known_hosts=str(kh), root="/opt/edgewise")
    assert C.add_device(dev) == cfg
    C.add_device(C.Device("pi4", "pi4b", "169.254.77.2"))
    loaded = C.load_devices()
    assert list(loaded) == ["this-machine", "pi5-kitchen", "pi4"]
    assert loaded["pi5-kitchen"] == dev  # quotes and backslashes in paths survive the hand-written TOML
    assert loaded["pi4"].port == 22 and loaded["pi4"].root == "~/edgewise" and loaded["pi4"].user is None
    assert C.get_device("pi5-kitchen").host == "pi5-kitchen.local"
    text = cfg.read_text()
    assert "not read by edgewise" not in text and "password" not in text.replace("no password", "")
    with pytest.raises(ConfigError, match="already exists"):
        C.add_device(dev)
    C.add_device(C.Device("pi5-kitchen", "pi5", "pi@10.0.0.5"), replace=True)
    assert C.get_device("pi5-kitchen").ssh == "pi@10.0.0.5"
    C.remove_device("pi4")
    assert "pi4" not in C.load_devices()
    with pytest.raises(UnknownDeviceError, match=r"unknown device 'pi4'; known devices: this-machine, pi5-kitchen"):
        C.remove_device("pi4")
    with pytest.raises(UnknownDeviceError, match=r"unknown device 'nope'.*this-machine, pi5-kitchen.*devices add"):
        C.get_device("nope")


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "Pi5"}, "device name 'Pi5' is not allowed"),
    ({"name": "-pi"}, "device name '-pi' is not allowed"),
    ({"name": "pi 5"}, "device name 'pi 5' is not allowed"),
    ({"ssh": "pi:raspberry@pi5.local"}, "carries a password"),
    ({"ssh": "-oProxyCommand=touch /tmp/x"}, "bad host"),
    ({"ssh": "pi@-oProxyCommand=x"}, "bad host"),
    ({"ssh": "-l@host"}, "bad user name"),
    ({"ssh": "pi@host;reboot"}, "bad host"),
    ({"ssh": "pi@"}, "bad host"),
    ({"ssh": None}, "needs an SSH target"),
    ({"port": 0}, "port must be an integer in 1-65535, got 0"),
    ({"port": 70000}, "port must be an integer in 1-65535"),
    ({"port": True}, "port must be an integer"),
    ({"identity": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc"}, "looks like key material"),
    ({"root": "~/edge wise"}, "must be a plain path"),
    ({"root": "~/../etc"}, "must be a plain path"),
], ids=lambda v: str(v)[:30])
def test_bad_device_definitions(kwargs, match):
    base = {"name": "pi5-kitchen", "profile": "pi5", "ssh": "pi@pi5.local"}
    with pytest.raises(ConfigError, match=match) as e:
        C.Device(**{**base, **kwargs})
    assert "raspberry" not in str(e.value) and "BEGIN" not in str(e.value)  # secrets are never echoed


@pytest.mark.parametrize("target", ["pi@pi5-kitchen.local", "pi5", "user.name@192.168.1.20", "pi@[fe80::1%eth0]",
                                    "pi@fe80::1", "root@169.254.77.2"])
def test_good_ssh_targets(target):
    assert C.Device("d", "pi5", target).ssh == target


def test_add_checks_files_and_profile(cfg, tmp_path):
    with pytest.raises(ConfigError, match="no identity file at"):
        C.add_device(C.Device("d", "pi5", "pi@h", identity=str(tmp_path / "missing")))
    with pytest.raises(UnknownProfileError, match=r"device 'd': unknown device profile 'pi9'.*pi4b"):
        C.add_device(C.Device("d", "pi9", "pi@h"))
    assert not cfg.exists() or "[devices.d]" not in cfg.read_text()


@pytest.mark.parametrize("body, match", [
    ('[devices.a]\nprofile = "pi5"\nssh = "pi@h"\npassword = "x"\n', r"never stores passwords or keys"),
    ('[devices.a]\nprofile = "pi5"\nssh = "pi@h"\nprot = 22\n', r"unknown key\(s\) \['prot'\]"),
    ('[devices.a]\nprofile = "pi5"\n', r"needs 'profile' and 'ssh'"),
    ('[devices.a\nprofile = "pi5"\n', r"is not valid TOML"),
    ('[device.a]\nprofile = "pi5"\n', r"unknown table\(s\) \['device'\]"),
    ('[devices.this-machine]\nprofile = "pi5"\nssh = "h"\n', "reserved"),
    ('[devices.a]\nprofile = "pi5"\nssh = "pi@h"\nport = "22"\n', "port must be an integer"),
    ('[profiles.pi5]\ntitle = "x"\n', "reuses a built-in profile name"),
], ids=["password", "misspelt", "incomplete", "not-toml", "bad-table", "reserved", "port-string", "profile-clash"])
def test_bad_config_files_are_refused_with_the_file_named(cfg, body, match):
    cfg.parent.mkdir(parents=True)
    cfg.write_text(body)
    with pytest.raises(ConfigError, match=match) as e:
        C.load_devices()
        C.load_profiles()
    assert str(cfg) in str(e.value)


def test_user_profiles(cfg):
    cfg.parent.mkdir(parents=True)
    cfg.write_text(textwrap.dedent("""
        [profiles.my-board]
        title = "My RK3588 board"
        arch = "aarch64"
        cores = 4
        core = "cortex-a76"
        clock_ghz = 2.2
        features = ["asimd", "asimddp"]
        memory_gb = 8
        int8_macs_per_cycle_per_core = 32
        fp32_macs_per_cycle_per_core = 8
        mem_bw_gbs = 20
        cache_kb = 3072
    """))
    C.add_device(C.Device("rock", "my-board", "rock@rock5.local"))
    prof = C.device_profile(C.get_device("rock"))
    assert prof.name == "my-board" and prof.isa == "aarch64-dotprod" and prof.peak_gmacs("int8") == pytest.approx(70.4)
    assert "user profile" in prof.sources["all"]
    assert "[profiles.my-board]" in cfg.read_text()  # rewriting the file keeps the user's profiles


def test_concurrent_adds_keep_every_device(cfg):
    code = textwrap.dedent("""
        import sys
        from edgewise.devices.config import Device, add_device
        for i in range(8):
            add_device(Device(f"{sys.argv[1]}-{i}", "pi4b", f"pi@host{i}.local"))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, who]) for who in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    names = set(C.load_devices())
    assert {f"{w}-{i}" for w in "ab" for i in range(8)} <= names


# ----------------------------------------------------------------------------------------------
# the CLI leaves, through a parser built the way edgewise/cli.py builds one
# ----------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgewise devices")
    sub = parser.add_subparsers(dest="leaf", required=True)
    for leaf, func in (("list", "list_devices"), ("show", "show"), ("add", "add"), ("remove", "remove")):
        p = sub.add_parser(leaf)
        getattr(cli, f"{func}_args")(p)
        p.set_defaults(_func=getattr(cli, func))
    return parser


def _run(argv: list[str], capsys) -> str:
    args = _parser().parse_args(argv)
    assert args._func(args) == 0
    return capsys.readouterr().out


def test_cli_add_list_show_remove(cfg, capsys):
    out = _run(["add", "pi5-kitchen", "--profile", "pi5", "--ssh", "pi@pi5-kitchen.local", "--port", "2200"], capsys)
    assert "added pi5-kitchen" in out and str(cfg) in out
    out = _run(["list"], capsys)
    assert "pi5-kitchen" in out and "pi@pi5-kitchen.local:2200" in out and "this-machine" in out
    for name in ("pi-zero-2w", "pi3b+", "pi4b", "pi5", "phone-a76", "phone-a55"):
        assert name in out
    listed = json.loads(_run(["list", "--json"], capsys))
    assert [d["name"] for d in listed["devices"]] == ["this-machine", "pi5-kitchen"]
    pi5 = next(p for p in listed["profiles"] if p["name"] == "pi5")
    assert pi5["peak_int8_gmacs"] == pytest.approx(307.2) and pi5["sources"]["clock_ghz"].startswith("vendor")
    out = _run(["show", "pi5-kitchen", "--no-remote"], capsys)  # tests never contact a real host
    assert "cortex-a76" in out and "Software Optimization Guide" in out and "not asked (--no-remote)" in out
    shown = json.loads(_run(["show", "pi4b", "--json"], capsys))  # a profile name works too
    assert shown["device"] is None and shown["profile"]["core"] == "cortex-a72"
    out = _run(["remove", "pi5-kitchen"], capsys)
    assert "removed pi5-kitchen" in out and "pi5-kitchen" not in C.load_devices()


def test_cli_errors_are_edgewise_errors(cfg):
    from edgewise.runtime.errors import EdgewiseError

    with pytest.raises(EdgewiseError, match="neither a device .* nor a profile"):
        cli.show(_parser().parse_args(["show", "kitchen"]))
    with pytest.raises(EdgewiseError, match="unknown device profile 'pi9'"):
        cli.add(_parser().parse_args(["add", "x", "--profile", "pi9", "--ssh", "pi@h"]))
    with pytest.raises(EdgewiseError, match="carries a password"):
        cli.add(_parser().parse_args(["add", "x", "--profile", "pi5", "--ssh", "pi:pw@h"]))


def test_cli_show_lists_what_is_deployed(cfg, capsys, monkeypatch):
    C.add_device(C.Device("pi4", "pi4b", "pi@169.254.77.2"))
    seen = []

    def fake(device):
        seen.append(device.name)
        return {"device": device.name, "root": "~/edgewise", "current": "r2",
                "releases": [{"id": "r1", "state": "ok", "current": False, "time": "t1", "models": ["a.onnx"]},
                             {"id": "r2", "state": "ok", "current": True, "time": "t2", "models": ["b.tflite"]}]}

    monkeypatch.setattr(cli, "_deployed", fake)
    out = _run(["show", "pi4"], capsys)
    assert seen == ["pi4"]
    assert "2 release(s), current r2" in out and "* r2" in out and "b.tflite" in out
    out = _run(["show", "this-machine"], capsys)  # no SSH: nothing to ask
    assert seen == ["pi4"] and "this machine, no SSH" in out


def test_through_the_command_table(cfg, capsys, monkeypatch):
    """The entries the owner adds to edgewise/cli.py's COMMANDS; errors become one line and exit code 2."""
    from edgewise import cli as top

    for leaf, func in (("list", "list_devices"), ("show", "show"), ("add", "add"), ("remove", "remove")):
        monkeypatch.setitem(top.COMMANDS, f"devices {leaf}", f"devices:{func}")
    assert top.main(["devices", "add", "pi4", "--profile", "pi4b", "--ssh", "pi@169.254.77.2"]) == 0
    assert "added pi4" in capsys.readouterr().out
    assert top.main(["devices", "list", "--json"]) == 0
    assert [d["name"] for d in json.loads(capsys.readouterr().out)["devices"]] == ["this-machine", "pi4"]
    assert top.main(["devices", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgewise: error: 'nope' is neither a device") and err.count("\n") == 1
    assert top.main(["devices", "remove", "pi4"]) == 0
