"""Deploy's default selection: time every deployed artifact on the device, choose per task, record the choice.

``edgewise deploy`` makes one ``Selection`` per device, before anything is copied (a bad ``--default``
fails there), asks it how many runs the self-check must make, and hands it the self-check's results; it
answers with the release's ``defaults.json`` (``edgewise.runtime.defaults``) and one ``Choice`` per task
(``edgewise.devices.choose``).

Where the timings come from, per task (one source for all of a task's artifacts, so like is compared
with like; the output names it):

1. ``stored``: the results database (``edgewise bench`` files every run there, and so does this module)
   holds a 1-thread result of every one of the task's artifacts on this device (same file sha256, same
   runtime version as the bundle's wheel): the newest of each is used.
2. ``measured``: otherwise the self-check itself measures, ``--measure-runs`` (50) runs per artifact at 1
   thread after 5 warm-up runs (it is ``edgewise bench`` on the device), and the results are filed in the
   database for the next deploy.
3. ``estimate``: on an emulated device (the test bed: qemu-user, ~11 s per fp32 ECG unit of work, so 50
   runs of four ECG files would take ~20 minutes) the self-check keeps its single run and the choice
   uses the host's roofline estimate for the device's profile (``edgewise.devices.estimate``, calibrated on
   the database's non-emulated runs) - of the model call, which is what differs between a task's
   artifacts. ``--measure always`` measures even there; ``--measure never`` never measures.

A failure to read the database (refused as corrupt, say) is a warning and the deploy measures instead.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Sequence

from edgewise.devices.choose import Candidate, Choice, Timing, choose, read_candidates
from edgewise.devices.errors import DeviceError
from edgewise.runtime.defaults import DEFAULTS_NAME, DEFAULTS_RULE, DEFAULTS_SCHEMA
from edgewise.runtime.validator import check

__all__ = ["Measure", "SelectConfig", "Selection", "MEASURE_RUNS", "MEASURE_WARMUP", "runtime_versions",
           "stored_timings", "measured_timings", "estimated_timings", "write_defaults"]

MEASURE_RUNS = 50
MEASURE_WARMUP = 5
Log = Callable[[str], None]
_RUNTIME_WHEELS = {"onnxruntime": "onnxruntime", "ai_edge_litert": "litert"}
_RUNTIME_OF_FORMAT = {"onnx": "onnxruntime", "tflite": "litert"}


class Measure(str, Enum):
    """When deploy measures the artifacts on the device."""

    AUTO = "auto"      # unless the database has every artifact's result there; never on an emulated device
    ALWAYS = "always"  # every deploy (emulated devices too)
    NEVER = "never"    # the database's results, else the host's estimate


@dataclass(frozen=True)
class SelectConfig:
    """How deploy chooses each task's default artifact.

    Attributes:
        auto: choose per task (off: record only ``overrides``; the commands keep their usual default).
        measure: when to measure on the device (``Measure``).
        measure_runs: steady-state runs per artifact when measuring.
        overrides: deployed file names (or stems) to record as their task's default, unmeasured.
        db: the results database (default: ``edgewise.devices.store.default_db_path()``).
    """

    auto: bool = True
    measure: Measure = Measure.AUTO
    measure_runs: int = MEASURE_RUNS
    overrides: tuple[str, ...] = ()
    db: Path | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "measure", Measure(self.measure))
        except ValueError:
            raise ValueError(f"measure must be one of {[m.value for m in Measure]}, got {self.measure!r}") from None
        if isinstance(self.measure_runs, bool) or not isinstance(self.measure_runs, int) or self.measure_runs < 1:
            raise ValueError(f"measure_runs must be a positive integer, got {self.measure_runs!r}")
        object.__setattr__(self, "overrides", tuple(self.overrides))


def runtime_versions(wheels: Sequence[str | Path]) -> dict[str, str]:
    """``{"onnxruntime": "1.32.0", "litert": "2.3.0"}`` from a bundle's wheel file names."""
    out = {}
    for w in wheels:
        m = re.match(r"([A-Za-z0-9_]+)-([^-]+)-", Path(w).name)
        if m and m.group(1).lower() in _RUNTIME_WHEELS:
            out[_RUNTIME_WHEELS[m.group(1).lower()]] = m.group(2)
    return out


def stored_timings(rows: Sequence[dict[str, Any]], device: str, candidates: Sequence[Candidate],
                   versions: dict[str, str] | None = None) -> dict[str, Timing]:
    """The newest 1-thread result of each candidate on ``device`` among store ``rows`` (by sha256).

    Results of another runtime version than ``versions`` names, failed self-checks and errors are skipped.
    """
    fmt = {c.sha256: c.format for c in candidates}
    newest: dict[str, dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: r.get("id") or 0):  # later rows replace earlier ones
        sha = r.get("sha256")
        if sha not in fmt or r.get("device") != device or int(r.get("threads") or 0) != 1:
            continue
        want = (versions or {}).get(_RUNTIME_OF_FORMAT[fmt[sha]])
        if r.get("error") or r.get("selfcheck") not in ("ok", None) or (want and r.get("runtime_version") != want):
            continue
        if not isinstance(r.get("p50_ms"), (int, float)):
            continue
        newest[sha] = r
    out = {}
    for sha, r in newest.items():
        when = str(r.get("added") or r.get("time") or "")[:10]
        detail = f"{r.get('runs', '?')} runs, {r.get('runtime', '?')} {r.get('runtime_version', '?')}, {when or '?'}"
        out[sha] = Timing(float(r["p50_ms"]), "stored", detail, emulated=bool(r.get("emulated")))
    return out


def measured_timings(results: Sequence[dict[str, Any]]) -> dict[str, Timing]:
    """Timings from ``edgewise bench`` results (1 thread) by sha256."""
    out = {}
    for r in results:
        if r.get("error") or int(r.get("threads") or 1) != 1 or r.get("p50_ms") is None or not r.get("sha256"):
            continue
        out[str(r["sha256"])] = Timing(float(r["p50_ms"]), "measured", f"{r.get('runs', '?')} runs",
                                       emulated=bool(r.get("emulated")))
    return out


def estimated_timings(folder: Path, candidates: Sequence[Candidate], profile: Any, *,
                      measurements: Sequence[dict[str, Any]] = (), emulated: bool = False) -> dict[str, Timing]:
    """The host's roofline estimate of each candidate's model call on ``profile``, calibrated on
    ``measurements`` (store rows of these artifacts; emulated ones are ignored by the calibration)."""
    from edgewise.devices.estimate import calibrate, estimate

    paths = {c.sha256: folder / c.model for c in candidates}
    cals = calibrate(measurements, artifact_for=lambda r: paths.get(r.get("sha256")))
    out = {}
    for c in candidates:
        e = estimate(paths[c.sha256], profile, threads=1, calibrations=cals)
        detail = f"for {profile.name}, model call, {e.calibration.level} factor"
        out[c.sha256] = Timing(e.ms, "estimate", detail + ("; the device is emulated" if emulated else ""))
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Selection:
    """One deploy's default selection on one device (see the module docstring).

    Args:
        config: the user's choices (``SelectConfig``).
        folder: the bundle folder (the artifacts' host copies: same bytes as the device's).
        models: the bundle's ``models/<file>`` paths.
        wheels: the bundle's wheel files (runtime versions).
        device: the ``Device`` (name, profile).
        emulated: the device probe found qemu.
        log: one line per step.

    Raises:
        ValueError: an override names no deployed artifact, or two overrides share a task.
    """

    def __init__(self, config: SelectConfig, folder: Path, models: Sequence[str], wheels: Sequence[Path], device: Any,
                 *, emulated: bool, log: Log | None = None):
        self.config, self.folder, self.device, self.emulated = config, Path(folder), device, emulated
        self.say = log or (lambda _t: None)
        self.warnings: list[str] = []
        # before anything is copied: a file the host cannot read is left to the device's checksum check to report
        self.unreadable: list[str] = []
        self.candidates = read_candidates(self.folder, models, unreadable=self.unreadable)
        self.tasks: dict[str, list[Candidate]] = {}
        for c in self.candidates:
            self.tasks.setdefault(c.task, []).append(c)
        self.overrides = self._overrides(config.overrides)
        self.versions = runtime_versions(wheels)
        self.db = config.db
        self.stored: dict[str, Timing] = {}
        self.rows: list[dict[str, Any]] = []
        timed = [c for t, cs in self.tasks.items() if config.auto and t not in self.overrides and len(cs) > 1 for c in cs]
        if timed and config.measure is not Measure.ALWAYS:
            self._read_store(timed)
        missing = [c for c in timed if c.sha256 not in self.stored]
        self.measure = bool(timed) and (config.measure is Measure.ALWAYS or (
            config.measure is Measure.AUTO and bool(missing) and not emulated))

    def _overrides(self, names: Sequence[str]) -> dict[str, Candidate]:
        out: dict[str, Candidate] = {}
        for name in names:
            hits = [c for c in self.candidates if c.name == name] or [c for c in self.candidates
                                                                      if Path(c.name).stem == name]
            if len(hits) > 1:
                raise ValueError(f"--default {name}: names several deployed artifacts "
                                 f"({', '.join(sorted(c.name for c in hits))}); give the file name")
            if not hits:
                known = ", ".join(sorted(c.name for c in self.candidates)) or "none"
                raise ValueError(f"--default {name}: is not one of the deployed artifacts ({known})")
            c = hits[0]
            if c.task in out:
                raise ValueError(f"--default {out[c.task].name} and {c.name} are both {c.task} artifacts; name one")
            out[c.task] = c
        return out

    def _db_path(self) -> Path:
        from edgewise.devices.store import default_db_path

        return Path(self.db).expanduser() if self.db is not None else default_db_path()

    def _read_store(self, cands: Sequence[Candidate]) -> None:
        """Every stored result of these files (any device: the estimate's calibration uses them too)."""
        from edgewise.devices.errors import StoreError
        from edgewise.devices.store import ResultsStore

        path = self._db_path()
        if not path.exists():  # nothing measured yet; a lookup never creates the database
            return
        try:
            with ResultsStore(path) as store:
                self.rows = store.query(sha256=sorted({c.sha256 for c in cands}))
        except StoreError as e:
            self.warn(f"bench results not read ({e})")
            return
        self.stored = stored_timings(self.rows, self.device.name, cands, self.versions)

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        self.say(f"warning: {text}")

    @property
    def selfcheck_runs(self) -> int | None:
        """Runs the self-check must make (None: its usual count)."""
        return self.config.measure_runs if self.measure else None

    @property
    def warmup(self) -> int:
        return MEASURE_WARMUP if self.measure else 0

    def finish(self, results: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Choice]]:
        """The release's defaults document and the choice per task, given the self-check's bench results."""
        measured = measured_timings(results) if self.measure else {}
        if measured:
            self._file(results)
        choices: dict[str, Choice] = {}
        for task, cands in sorted(self.tasks.items()):
            if task in self.overrides:
                c = self.overrides[task]
                choices[task] = Choice(task, c.model, c.sha256, "override", None,
                                       f"chose {c.name}: named with --default", None)
            elif not self.config.auto:
                continue
            else:
                try:
                    choices[task] = choose(task, cands, self._timings(cands, measured, results))
                except (ValueError, OSError, DeviceError) as e:  # never lose a good release over its default
                    self.warn(f"no default recorded for {task} ({e}); the commands use their usual default")
        doc = {"schema": DEFAULTS_SCHEMA, "device": self.device.name, "created": _now(), "auto_select": self.config.auto,
               "tasks": {t: c.entry() for t, c in choices.items()}}
        if self.warnings:
            doc["note"] = "; ".join(self.warnings)[:4000]
        check(doc, DEFAULTS_RULE, key="", where=DEFAULTS_NAME, error=DeviceError, noun="defaults key")
        return doc, choices

    def _timings(self, cands: Sequence[Candidate], measured: dict[str, Timing],
                 results: Sequence[dict[str, Any]]) -> dict[str, Timing]:
        if len(cands) == 1:
            return {}
        if self.config.measure is not Measure.ALWAYS and all(c.sha256 in self.stored for c in cands):
            return {c.sha256: self.stored[c.sha256] for c in cands}
        if all(c.sha256 in measured for c in cands):
            return {c.sha256: measured[c.sha256] for c in cands}
        profile = self._profile()
        if profile is not None:
            return estimated_timings(self.folder, cands, profile, measurements=self.rows, emulated=self.emulated)
        once = {sha: Timing(t.ms, "measured", "the self-check's single run", t.emulated)
                for sha, t in measured_timings(results).items()}
        self.warn(f"no profile {self.device.profile!r} to estimate with: the self-check's single run decides")
        return {c.sha256: once[c.sha256] for c in cands if c.sha256 in once}

    def _profile(self) -> Any:
        from edgewise.devices.config import device_profile

        try:
            return device_profile(self.device)
        except (DeviceError, ValueError, OSError):
            return None

    def _file(self, results: Sequence[dict[str, Any]]) -> None:
        from edgewise.devices.errors import StoreError
        from edgewise.devices.store import ResultsStore, fingerprint

        try:
            with ResultsStore(self._db_path()) as store:
                for r in results:
                    r = {**r, "device": self.device.name}
                    store.add(r, device=self.device.name, profile=self.device.profile, fingerprint=fingerprint(r))
            self.say(f"filed {len(results)} bench result(s) in {self._db_path()}")
        except StoreError as e:
            self.warn(f"the measurements were not filed ({e})")


def write_defaults(dev: Any, release: str, doc: dict[str, Any]) -> None:
    """Write ``doc`` as ``<release>/defaults.json`` on the device (temp file + rename). ``release``: a shell word."""
    text = json.dumps(doc, indent=1) + "\n"
    tmp = f"{release}/{DEFAULTS_NAME}.tmp"
    dev.s.run(f"cat > {tmp} && mv -f {tmp} {release}/{shlex.quote(DEFAULTS_NAME)}", input=text,
              what="recording the default artifacts")
