"""A self-contained deploy bundle: artifacts + the wheels of edgewise's device install + checksums.

A device needs no internet: the bundle carries every wheel ``pip install --no-index`` needs there.
Layout (``BUNDLE_LAYOUT``)::

    models/<artifact>           the .onnx/.tflite files (and an ONNX file's external weights)
    wheels/*.whl                numpy, onnxruntime, ai-edge-litert and their dependencies for the device's
                                CPU architecture, C library and Python; edgewise itself (built from this
                                checkout with ``pip wheel --no-deps``); pip (it installs the rest into a
                                venv made with ``--without-pip``, so the device needs no ensurepip)
    bundle.json                 the target (arch, Python, glibc), the models, what to install
    manifest.json               sha256 + size of every other file (schema edgewise-bundle/1,
                                ``edgewise.runtime.artifact.write_manifest``)

The device's facts come first (``probe_device``: ``uname -m`` and the Python version over SSH); a device
without Python, or with Python < 3.10, is refused before anything is built or copied. The third-party
wheels are fetched on this machine with ``pip download --only-binary=:all: --platform ... --python-version
...`` (every manylinux tag up to the device's glibc: pip matches tags literally) into a cache keyed by the
target and the requirement list (``$EDGEWISE_WHEEL_CACHE``, default ``$XDG_CACHE_HOME/edgewise/wheels``),
so a second bundle for the same kind of device needs no network. The requirements are edgewise's own
(``Requires-Dist`` of the wheel just built, with the ``tflite`` extra): one source, pyproject.toml.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from edgewise.runtime.artifact import MANIFEST_NAME, detect_format, read_metadata, write_manifest
from edgewise.runtime.validator import Rule, check, load_json
from edgewise.devices._device_scripts import PROBE
from edgewise.devices.errors import DeviceError

__all__ = [
    "BUNDLE_SCHEMA",
    "MIN_PYTHON",
    "EXTRAS",
    "BundleError",
    "PythonMissingError",
    "Target",
    "Bundle",
    "probe_device",
    "build_bundle",
    "open_bundle",
    "wheel_cache_dir",
]

BUNDLE_SCHEMA = "edgewise-bundle/1"
MIN_PYTHON = (3, 10)
EXTRAS = ("tflite",)  # the device install: the base (numpy + onnxruntime) + LiteRT
_ARTIFACT_SUFFIXES = (".onnx", ".tflite")
Log = Callable[[str], None]


# bundle.json (untrusted when a bundle is passed in with --bundle): the same validator as artifact metadata
_REL = r"(?!(.*/)?\.\.(/|$))[^/\\][^\\]*"  # a relative path inside the bundle: no leading /, no '..'
BUNDLE_INFO = Rule("dict", required=("schema", "target", "models", "install", "pip_wheel"), keys={
    "schema": Rule("str", allowed=(BUNDLE_SCHEMA,), what=f'"{BUNDLE_SCHEMA}" (a newer schema needs a newer edgewise)'),
    "target": Rule("dict", required=("arch", "python"), keys={
        "arch": Rule("str", pattern="[a-z0-9_]{1,32}", what="a machine name like 'aarch64'"),
        "python": Rule("str", pattern=r"3\.\d{1,3}", what="a Python version like '3.11'"),
        "glibc": Rule(("str", "null"), pattern=r"\d{1,3}\.\d{1,4}", what="a glibc version like '2.36' or null"),
    }),
    "models": Rule("list", min_len=1, max_len=1000, items=Rule("str", pattern=r"models/" + _REL, max_len=4096,
                                                                what="a path models/<file> inside the bundle")),
    "install": Rule("str", min_len=1, max_len=256),
    "pip_wheel": Rule("str", pattern=r"wheels/pip-[^/\\]+\.whl", what="a path wheels/pip-*.whl"),
    "requirements": Rule("list", max_len=1000, items=Rule("str", max_len=1024)),
    "edgewise_version": Rule("str", max_len=64),
    "created": Rule("str", max_len=64),
})
MAX_BUNDLE_INFO_BYTES = 1 << 20


class BundleError(DeviceError):
    """A bundle cannot be built or does not fit the device."""


class PythonMissingError(BundleError):
    """The device has no Python, or one older than ``MIN_PYTHON``."""


@dataclass(frozen=True)
class Target:
    """What the wheels must fit: the device's CPU architecture, Python and C library.

    Attributes:
        arch: ``uname -m`` (``aarch64``, ``x86_64``, ``armv7l``).
        python: ``"3.11"``.
        glibc: ``"2.36"`` (None: not a glibc system - no manylinux wheels).
    """

    arch: str
    python: str
    glibc: str | None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"3\.\d+", self.python):
            raise ValueError(f"expected a Python version like '3.11', got {self.python!r}")
        if not re.fullmatch(r"[a-z0-9_]+", self.arch):
            raise ValueError(f"expected a machine name like 'aarch64', got {self.arch!r}")

    @property
    def key(self) -> str:
        return f"cp{self.python.replace('.', '')}-{self.arch}-glibc{self.glibc}"

    def pip_args(self) -> list[str]:
        """``pip download`` options selecting wheels for this target (every manylinux tag up to its glibc)."""
        if not self.glibc:
            raise BundleError(f"the device's C library is not glibc (musl?): no manylinux wheels of onnxruntime "
                              f"exist for it; use a glibc system (Raspberry Pi OS, Debian, Ubuntu)")
        major, minor = (int(x) for x in self.glibc.split(".")[:2])
        if major != 2:
            raise BundleError(f"unexpected glibc version {self.glibc!r} on the device")
        first = 5 if self.arch in ("x86_64", "i686") else 17
        tags = [f"manylinux_2_{m}_{self.arch}" for m in range(first, minor + 1)]
        if minor >= 17:
            tags.append(f"manylinux2014_{self.arch}")
        args = ["--only-binary=:all:", "--python-version", self.python, "--implementation", "cp",
                "--abi", f"cp{self.python.replace('.', '')}"]
        for t in tags:
            args += ["--platform", t]
        return args


@dataclass(frozen=True)
class Bundle:
    """A bundle folder on this machine.

    Attributes:
        path: the folder.
        target: the device kind its wheels fit.
        models: artifact paths relative to the folder (``models/<name>``).
        install: the pip requirement installed on the device (``edgewise[tflite]==0.1.0``).
        pip_wheel: the pip wheel (relative path) that installs the rest.
        size_bytes: all files.
    """

    path: Path
    target: Target
    models: tuple[str, ...]
    install: str
    pip_wheel: str
    size_bytes: int
    edgewise_version: str

    @property
    def manifest_sha256(self) -> str:
        from edgewise.runtime.artifact import sha256_file

        return sha256_file(self.path / MANIFEST_NAME)


# -- the device ------------------------------------------------------------------------------------
def probe_device(session, *, python: str = "python3", root: str = "~/edgewise") -> dict[str, Any]:
    """Ask a device (an ``SshSession``) for its architecture, Python, glibc, free space at ``root`` and CPU model.

    Raises:
        PythonMissingError: no ``python`` on the device, or older than 3.10 (before anything is copied).
    """
    from edgewise.devices.ssh import remote_path

    name = session.target.name
    py = remote_path(python)
    # the version first, with code any Python understands, so an old one gets a clear message
    out = session.run(f"command -v {py} >/dev/null 2>&1 || {{ echo NO-PYTHON; exit 0; }}; "
                      f"{py} -c 'import sys; print(\"%d.%d.%d\" % tuple(sys.version_info[:3]))'",
                      what="asking for the Python version", check=False)
    text = out.stdout.strip()
    if text == "NO-PYTHON" or out.returncode == 127:
        raise PythonMissingError(f"{name}: no {python} on the device; edgewise needs Python >= 3.10 there "
                                 f"(Debian/Raspberry Pi OS: sudo apt install python3)")
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", text.splitlines()[-1] if text else "")
    if out.returncode != 0 or not m:
        raise PythonMissingError(f"{name}: {python} on the device does not run (exit {out.returncode}: "
                                 f"{(out.stderr.strip().splitlines() or [text or 'no output'])[-1]})")
    version = tuple(int(x) for x in m.groups())
    if version[:2] < MIN_PYTHON:
        raise PythonMissingError(f"{name}: Python {m.group(0)} on the device is too old; edgewise needs >= "
                                 f"{'.'.join(map(str, MIN_PYTHON))} (install a newer python3, or point --python at one)")
    facts = session.run(f"{py} - {remote_path(root)}", input=PROBE, what="probing the device")
    try:
        info = json.loads(facts.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        raise BundleError(f"{name}: unreadable answer to the device probe: {facts.stdout[-200:]!r}") from e
    info["python_version"] = ".".join(info["python"].split(".")[:2])
    return info


def target_of(info: dict[str, Any]) -> Target:
    """The ``Target`` of a ``probe_device`` answer."""
    return Target(arch=str(info["arch"]), python=str(info["python_version"]), glibc=info.get("glibc"))


# -- wheels ----------------------------------------------------------------------------------------
def wheel_cache_dir() -> Path:
    env = os.environ.get("EDGEWISE_WHEEL_CACHE")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "edgewise" / "wheels"


def _project_root() -> Path:
    import edgewise

    root = Path(edgewise.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise BundleError(f"building a bundle needs edgewise's source checkout (pyproject.toml beside the package); "
                          f"none at {root}: run deploy from a checkout, or pass a prebuilt bundle")
    return root


def _pip(args: list[str], what: str, *, timeout: float = 1800) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise BundleError(f"{what}: pip did not finish within {timeout:g} s") from e
    if p.returncode != 0:
        lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip() and not ln.startswith("WARNING: Location")]
        raise BundleError(f"{what} failed (pip exit {p.returncode}): {' | '.join(lines[-2:]) or 'no message'}")


def _build_edgewise_wheel(out: Path) -> Path:
    """``pip wheel --no-deps`` of this checkout, built from a copy (the checkout gets no build/ or egg-info)."""
    root = _project_root()
    with tempfile.TemporaryDirectory(prefix="ew-src-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for f in root.iterdir():
            if f.is_file() and (f.name in ("pyproject.toml", "README.md", "setup.cfg", "MANIFEST.in")
                                or f.name.upper().startswith(("LICEN", "NOTICE", "COPYING"))):
                shutil.copy2(f, src / f.name)
        shutil.copytree(root / "edgewise", src / "edgewise",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        _pip(["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
             "building the edgewise wheel")
    wheels = sorted(out.glob("edgewise-*.whl"))
    if not wheels:
        raise BundleError(f"building the edgewise wheel left no edgewise-*.whl in {out}")
    return wheels[-1]


def _requirements(wheel: Path, extras: Sequence[str] = EXTRAS) -> list[str]:
    """The wheel's ``Requires-Dist`` for the base install + ``extras`` (markers on the extra removed)."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    reqs = []
    for line in text.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req, _, marker = line.split(":", 1)[1].strip().partition(";")
        marker = marker.strip()
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if extra:
            if extra.group(1) not in extras:
                continue
            marker = re.sub(r"""\s*(and\s+)?extra\s*==\s*["'][^"']+["']\s*(and\s+)?""", " ", marker).strip()
        reqs.append(f"{req.strip()}; {marker}" if marker else req.strip())
    return sorted(set(reqs))


def _fetch_wheels(reqs: list[str], target: Target, log: Log | None) -> Path:
    """The wheels for ``reqs`` (+ pip) on ``target``, from the cache or downloaded once into it."""
    import hashlib

    key = hashlib.sha256("\n".join([*reqs, "pip"]).encode()).hexdigest()[:12]
    folder = wheel_cache_dir() / f"{target.key}-{key}"
    if (folder / ".complete").is_file():
        return folder
    if log:
        log(f"downloading the device wheels for {target.key} (once; cached in {folder})")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".partial-", dir=folder.parent))
    try:
        _pip(["download", "-q", *target.pip_args(), "-d", str(tmp), *reqs, "pip"],
             f"fetching wheels of {', '.join(r.split(';')[0] for r in reqs)} for {target.arch} / Python {target.python} "
             f"/ glibc {target.glibc}")
        (tmp / ".complete").write_text(json.dumps({"target": asdict(target), "requirements": reqs}) + "\n")
        try:
            tmp.rename(folder)
        except OSError:  # another process filled the cache meanwhile
            if not (folder / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# -- the bundle ------------------------------------------------------------------------------------
def _model_facts(path: Path) -> dict[str, Any]:
    fmt = detect_format(path)
    meta = read_metadata(path) or {}
    return {"kind": "model", "format": fmt, "name": meta.get("name"), "task": meta.get("task"),
            "precision": meta.get("precision")}


def build_bundle(artifacts: Sequence[str | Path], target: Target, out: str | Path, *,
                 log: Log | None = None) -> Bundle:
    """Write a bundle for ``target`` into the new or empty folder ``out``.

    Args:
        artifacts: .onnx/.tflite files (basenames must differ).
        target: the device kind (``target_of(probe_device(...))``).
        out: the bundle folder.
        log: called with one line per step.

    Raises:
        BundleError / FileNotFoundError / ArtifactError with what to do.
    """
    from edgewise.runtime.artifact import check_onnx_external_data

    from edgewise import __version__

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"bundle folder {out} is not empty")
    paths = [Path(a) for a in artifacts]
    if not paths:
        raise BundleError("no artifacts to bundle")
    seen: dict[str, Path] = {}
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"no artifact at {p}")
        if p.suffix.lower() not in _ARTIFACT_SUFFIXES:
            raise BundleError(f"{p}: only .onnx/.tflite artifacts are deployed (export a checkpoint first: "
                              f"edgewise export {p})")
        if p.name in seen:
            raise BundleError(f"two artifacts are both named {p.name} ({seen[p.name]} and {p}); rename one")
        seen[p.name] = p
    (out / "models").mkdir(parents=True, exist_ok=True)
    (out / "wheels").mkdir()
    entries: dict[str, dict[str, Any]] = {}
    for p in paths:
        entries[f"models/{p.name}"] = _model_facts(p)
        shutil.copy2(p, out / "models" / p.name)
        if detect_format(p) == "onnx":
            for loc in check_onnx_external_data(p):
                (out / "models" / loc).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p.parent / loc, out / "models" / loc)
                entries[f"models/{loc}"] = {"kind": "external-data", "of": p.name}
    if log:
        log("building the edgewise wheel from this checkout")
    own = _build_edgewise_wheel(out / "wheels")
    reqs = _requirements(own)
    cache = _fetch_wheels(reqs, target, log)
    for w in sorted(cache.glob("*.whl")):
        if not w.name.startswith("edgewise-"):
            _link_or_copy(w, out / "wheels" / w.name)
    pip_wheel = sorted((out / "wheels").glob("pip-*.whl"))
    if not pip_wheel:
        raise BundleError(f"no pip wheel among the device wheels in {cache}")
    for w in sorted((out / "wheels").glob("*.whl")):
        entries[f"wheels/{w.name}"] = {"kind": "wheel"}
    install = f"edgewise[{','.join(EXTRAS)}]=={__version__}"
    info = {"schema": BUNDLE_SCHEMA, "target": asdict(target), "models": [f"models/{p.name}" for p in paths],
            "install": install, "pip_wheel": f"wheels/{pip_wheel[-1].name}", "requirements": reqs,
            "edgewise_version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    check(info, BUNDLE_INFO, key="", where=str(out / "bundle.json"), error=BundleError, noun="bundle.json key")
    (out / "bundle.json").write_text(json.dumps(info, indent=2) + "\n")
    entries["bundle.json"] = {"kind": "bundle"}
    write_manifest(out, entries)
    return open_bundle(out)


def open_bundle(path: str | Path) -> Bundle:
    """Read a bundle folder written by ``build_bundle`` (checksums are verified on the device, not here)."""
    path = Path(path)
    where = path / "bundle.json"
    try:
        if where.stat().st_size > MAX_BUNDLE_INFO_BYTES:
            raise BundleError(f"{where} is {where.stat().st_size} bytes, not a bundle description; build the bundle again")
        info = load_json(where.read_bytes(), where=str(where), what="the bundle description",
                         max_bytes=MAX_BUNDLE_INFO_BYTES, error=BundleError)
    except FileNotFoundError as e:
        raise BundleError(f"{path} is not an edgewise bundle (no bundle.json)") from e
    check(info, BUNDLE_INFO, key="", where=str(where), error=BundleError, noun="bundle.json key")
    t = info["target"]
    try:
        target = Target(arch=t["arch"], python=t["python"], glibc=t.get("glibc"))
    except ValueError as e:
        raise BundleError(f"{where}: {e}; build the bundle again") from e
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return Bundle(path=path, target=target, models=tuple(info["models"]), install=info["install"],
                  pip_wheel=info["pip_wheel"], size_bytes=size, edgewise_version=str(info.get("edgewise_version", "?")))


def wheel_bytes(bundle: Bundle) -> int:
    return sum(f.stat().st_size for f in (bundle.path / "wheels").glob("*.whl"))
