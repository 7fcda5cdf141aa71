"""CLI leaves: ``edgewise devices list|show|add|remove [--json]``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="devices config file (default: $EDGEWISE_CONFIG or "
                                                "~/.config/edgewise/devices.toml)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def list_devices_args(p: argparse.ArgumentParser) -> None:
    _config_arg(p)


def list_devices(args: argparse.Namespace) -> int:
    """list your devices and the device profiles (cores, clock, peak MAC rates, memory bandwidth)"""
    from edgewise.devices import get_profile, known_profiles, load_devices, load_profiles

    devices = load_devices(args.config)
    user_profiles = load_profiles(args.config)
    profiles = [get_profile(n) for n in known_profiles()] + list(user_profiles.values())
    if args.json:
        print(json.dumps({"devices": [d.as_dict() for d in devices.values()],
                          "profiles": [p.as_dict() for p in profiles]}))
        return 0
    print(f"{'device':20} {'profile':14} {'ssh':32} root")
    for d in devices.values():
        target = f"{d.ssh}:{d.port}" if d.ssh else "(local)"
        print(f"{d.name:20} {d.profile:14} {target:32} {d.root if d.ssh else '-'}")
    print()
    print(f"{'profile':14} {'cores':>5} {'core':18} {'GHz':>5} {'isa':18} {'int8 GMAC/s':>11} {'fp32 GMAC/s':>11} "
          f"{'mem GB/s':>8} {'RAM GB':>6}  title")
    for p in profiles:
        print(f"{p.name:14} {p.cores:>5} {p.core[:18]:18} {p.clock_ghz:>5.2f} {p.isa:18} "
              f"{p.peak_gmacs('int8', p.cores):>11.1f} {p.peak_gmacs('fp32', p.cores):>11.1f} {p.mem_bw_gbs:>8.1f} "
              f"{p.memory_gb:>6.1f}  {p.title}")
    print("\npeak rates are nominal or derived (see `edgewise devices show NAME` for the source of every figure)")
    return 0


def show_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a device name or a profile name")
    p.add_argument("--no-remote", action="store_true", help="do not contact the device (skip what is deployed)")
    _config_arg(p)


def _deployed(device) -> dict | str | None:
    """What helper module ``edgewise.devices.deploy`` reports as deployed, if that module exists."""
    try:
        from edgewise.devices.deploy import deployed
    except ImportError:
        return None
    from edgewise.runtime.errors import EdgewiseError

    try:
        return deployed(device)
    except (EdgewiseError, OSError) as e:
        return f"unknown ({e})"


def show(args: argparse.Namespace) -> int:
    """show a device or profile: every figure with its source, and what is deployed on the device"""
    from edgewise.devices import get_profile, load_devices, load_profiles
    from edgewise.devices.errors import UnknownProfileError

    devices = load_devices(args.config)
    user_profiles = load_profiles(args.config)
    device = devices.get(args.name)
    try:
        profile = get_profile(device.profile if device else args.name, extra=user_profiles)
    except UnknownProfileError as e:
        if device is not None:
            raise
        raise UnknownProfileError(f"{args.name!r} is neither a device ({', '.join(devices)}) nor a profile; "
                                  f"{e}") from e
    deployed = _deployed(device) if device is not None and device.ssh and not args.no_remote else None
    if args.json:
        print(json.dumps({"device": device.as_dict() if device else None, "profile": profile.as_dict(),
                          "deployed": deployed}, default=str))
        return 0
    if device is not None:
        print(f"device   {device.name}")
        print(f"ssh      {device.ssh + ':' + str(device.port) if device.ssh else '(this machine, no SSH)'}")
        if device.identity:
            print(f"identity {device.identity}")
        if device.known_hosts:
            print(f"known_hosts {device.known_hosts}")
        if device.ssh:
            print(f"root     {device.root}")
        print()
    d = profile.as_dict()
    print(f"profile  {profile.name}: {profile.title}")
    rows = [("cores", d["cores"]), ("core", d["core"]), ("clock_ghz", d["clock_ghz"]),
            ("features", ", ".join(d["features"]) or "-"), ("memory_gb", d["memory_gb"]),
            ("fp32_macs_per_cycle_per_core", d["fp32_macs_per_cycle_per_core"]),
            ("int8_macs_per_cycle_per_core", d["int8_macs_per_cycle_per_core"]),
            ("mem_bw_gbs", d["mem_bw_gbs"]), ("cache_kb", d["cache_kb"])]
    for key, value in rows:
        print(f"  {key:30} {str(value):24} {d['sources'].get(key, '')}")
    print(f"  {'peak (all cores)':30} int8 {d['peak_int8_gmacs']} GMAC/s, fp32 {d['peak_fp32_gmacs']} GMAC/s "
          f"(isa {d['isa']})")
    if profile.notes:
        print(f"  notes: {profile.notes}")
    if device is not None and device.ssh:
        print()
        _print_deployed(deployed, skipped=args.no_remote)
    return 0


def _print_deployed(deployed: dict | str | None, *, skipped: bool) -> None:
    if skipped:
        print("deployed: not asked (--no-remote)")
    elif deployed is None:
        print("deployed: (deploy support is not installed here)")
    elif isinstance(deployed, str):
        print(f"deployed: {deployed}")
    elif isinstance(deployed.get("releases"), list):
        releases = deployed["releases"]
        print(f"deployed under {deployed.get('root', '?')}: {len(releases)} release(s), current "
              f"{deployed.get('current') or 'none'}")
        for r in releases:
            models = ", ".join(str(m) for m in r.get("models") or []) or "-"
            mark = "*" if r.get("current") else " "
            print(f"  {mark} {r.get('id')}  {r.get('state', '')}  {r.get('time') or ''}  {models}")
    else:
        print("deployed: " + json.dumps(deployed, indent=2, default=str))


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a new device name: lower-case letters, digits and '-' (e.g. pi5-kitchen)")
    p.add_argument("--profile", required=True, help="a device profile (see `edgewise devices list`), e.g. pi5")
    p.add_argument("--ssh", required=True, help="SSH target user@host (key-based; no password is ever stored)")
    p.add_argument("--port", type=int, default=22, help="SSH port (default 22)")
    p.add_argument("--identity", help="path of the private key file to use (the path only is stored)")
    p.add_argument("--known-hosts", help="a known_hosts file to check the device's host key against")
    p.add_argument("--root", default="~/edgewise", help="where bundles live on the device (default ~/edgewise)")
    p.add_argument("--replace", action="store_true", help="replace an existing device of that name")
    _config_arg(p)


def add(args: argparse.Namespace) -> int:
    """add a device: a profile + an SSH target (key-based), kept in the devices config"""
    from edgewise.devices import Device, add_device

    device = Device(name=args.name, profile=args.profile, ssh=args.ssh, port=args.port, identity=args.identity,
                    known_hosts=args.known_hosts, root=args.root)
    path = add_device(device, args.config, replace=args.replace)
    if args.json:
        print(json.dumps({"added": device.as_dict(), "config": str(path)}))
    else:
        print(f"added {device.name} ({device.profile}, {device.ssh}:{device.port}) to {path}")
    return 0


def remove_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="the device to remove")
    _config_arg(p)


def remove(args: argparse.Namespace) -> int:
    """remove a device from the devices config (nothing on the device is touched)"""
    from edgewise.devices import remove_device

    path = remove_device(args.name, args.config)
    if args.json:
        print(json.dumps({"removed": args.name, "config": str(path)}))
    else:
        print(f"removed {args.name} from {path}")
    return 0
