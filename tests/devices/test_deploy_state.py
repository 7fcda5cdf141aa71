"""The device-side bookkeeping of deploy, without a device: reading its state, which releases are pruned."""
from __future__ import annotations

import json

from edgewise.devices.deploy import _parse_state, _prune


def _events(*pairs):
    return [{"action": a, "release": r, "previous": p} for a, r, p in pairs]


def test_state_is_read_from_the_shell_listing():
    log = {"schema": "edgewise-deployments/1", "events": _events(("deploy", "r1", None), ("deploy", "r2", "r1"))}
    out = ("current\treleases/r2\nrelease\tr1\tok\nrelease\tr2\tok\nrelease\tr3.partial\tpartial\n"
           "release\tr4\tinstalling\nlog\n" + json.dumps(log) + "\n")
    state = _parse_state(out, "~/edgewise")
    assert state["current"] == "r2"
    assert state["releases"] == {"r1": "ok", "r2": "ok", "r3.partial": "partial", "r4": "installing"}
    assert [e["release"] for e in state["events"]] == ["r1", "r2"]
    assert _parse_state("root-missing\n", "~/e") == {"root": "~/e", "current": None, "releases": {}, "events": []}
    broken = _parse_state("current\t\nlog\n{not json", "~/e")
    assert broken["current"] is None and broken["events"] == [] and "unreadable" in broken["log_error"]


class _FakeDevice:
    """What _prune needs of a device: its state and a shell."""

    name, root, root_text = "pi", '"$HOME"/edgewise', "~/edgewise"

    def __init__(self, state):
        self._state, self.commands, self.s = state, [], self

    def state(self):
        return self._state

    def run(self, command, **kwargs):
        self.commands.append(command)


def test_prune_keeps_the_newest_the_current_and_its_predecessor():
    events = _events(("deploy", "r1", None), ("deploy", "r2", "r1"), ("deploy", "r3", "r2"), ("deploy", "r4", "r3"),
                     ("rollback", "r2", "r4"), ("deploy", "r5", "r2"))
    releases = {r: "ok" for r in ("r1", "r2", "r3", "r4", "r5")} | {"x.partial": "partial"}
    dev = _FakeDevice({"current": "r5", "releases": releases, "events": events})
    # newest 2 (r4, r5), current r5, and r2 (what r5 replaced: the rollback target) stay
    assert _prune(dev, 2) == ["r1", "r3"]
    assert dev.commands == ["cd \"$HOME\"/edgewise/releases && rm -rf r1 r3"]
    dev = _FakeDevice({"current": "r2", "releases": {"r1": "ok", "r2": "ok"}, "events": events[:2]})
    assert _prune(dev, 2) == [] and dev.commands == []
