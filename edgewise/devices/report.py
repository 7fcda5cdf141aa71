"""``edgewise bench report``: every stored result per device, next to its roofline estimate, plus estimates
for the built-in profiles nobody measured; with ``html`` an HTML page and a PNG plot.

Measured rows show the latest result of each device x artifact x runtime x threads (``n`` = how many are
stored); ``est`` is the roofline estimate of the model time (``edgewise.devices.estimate``) and ``err`` its
relative error against the measured model time (``model p50``). Emulated results (qemu-user) are flagged:
their latency says nothing about a real chip, they are never used for calibration and get no error.
matplotlib is imported only to draw the plot (a host feature): a device install can print the text report.
"""
from __future__ import annotations

import html as _html
import statistics
from pathlib import Path
from typing import Any

import edgewise
from edgewise.devices.errors import DeviceError
from edgewise.devices.estimate import (
    Calibrations,
    Estimate,
    artifact_cost,
    calibrate,
    estimate,
    measured_here,
    validate,
)
from edgewise.devices.profiles import Profile, get_profile, known_profiles, this_machine
from edgewise.devices.store import ResultsStore, default_db_path

__all__ = ["report", "collect"]

EMULATED_NOTE = "emulated latency is not representative"
_SHIPPED = Path(edgewise.__file__).resolve().parent / "models" / "pretrained"


def _artifact_index(rows: list[dict[str, Any]]) -> dict[str, Path]:
    """sha256 -> a local file with that content: the results' own paths, then the shipped artifacts."""
    index: dict[str, Path] = {}
    candidates = [Path(r["path"]) for r in rows if r.get("path")]
    candidates += sorted(_SHIPPED.glob("*/*.onnx")) + sorted(_SHIPPED.glob("*/*.tflite"))
    wanted = {r.get("sha256") for r in rows}
    for path in candidates:
        if not path.is_file():
            continue
        try:
            sha = artifact_cost(path).sha256
        except (OSError, ValueError):
            continue
        if sha in wanted:
            index.setdefault(sha, path)
    return index


def _profile_of(row: dict[str, Any]) -> Profile | None:
    name = row.get("profile") or "this-machine"
    if name == "this-machine":
        return this_machine() if measured_here(row) else None
    try:
        return get_profile(name)
    except DeviceError:
        from edgewise.devices.config import load_profiles

        try:
            return get_profile(name, extra=load_profiles())
        except DeviceError:
            return None


def collect(db_path: str | Path | None = None) -> dict[str, Any]:
    """The report's data: measured rows with estimates, estimates for unmeasured profiles, calibrations."""
    path = Path(db_path).expanduser() if db_path is not None else default_db_path()
    rows: list[dict[str, Any]] = []
    if path.exists():  # a report never creates a database
        with ResultsStore(path) as store:
            rows = store.query()
    db = str(path)
    index = _artifact_index(rows)
    artifact_for = lambda r: index.get(r.get("sha256"))  # noqa: E731
    profile_for = _profile_of
    cals: Calibrations = calibrate(rows, artifact_for=artifact_for, profile_for=profile_for)
    latest: dict[tuple, dict[str, Any]] = {}
    counts: dict[tuple, int] = {}
    for r in rows:
        key = (r["device"], r.get("fingerprint"), r.get("sha256"), r.get("runtime"), int(r.get("threads") or 1))
        latest[key] = r
        counts[key] = counts.get(key, 0) + 1
    measured = []
    for key, r in sorted(latest.items(), key=lambda kv: (kv[0][0], str(kv[1].get("model")), kv[0][3] or "", kv[0][4])):
        path, profile = artifact_for(r), profile_for(r)
        est: Estimate | None = None
        if path is not None and profile is not None:
            est = estimate(path, profile, threads=int(r.get("threads") or 1), calibrations=cals,
                           runtime=r.get("runtime"))
        model_ms = r.get("model_p50_ms") if r.get("model_p50_ms") is not None else r.get("p50_ms")
        err = None if (est is None or r.get("emulated") or not model_ms) else est.ms / float(model_ms) - 1
        measured.append({"row": r, "n": counts[key], "estimate": est, "error": err, "model_ms": model_ms})
    really_measured = {r.get("profile") for r in rows if not r.get("emulated")}
    artifacts = sorted({str(p) for p in index.values()})
    unmeasured = []
    for name in known_profiles():
        if name in really_measured:
            continue
        profile = get_profile(name)
        for path in artifacts:
            unmeasured.append(estimate(path, profile, threads=1, calibrations=cals))
    checks = validate(rows, artifact_for=artifact_for, profile_for=profile_for)
    return {"db": db, "rows": rows, "measured": measured, "unmeasured": unmeasured, "calibrations": cals,
            "validation": checks}


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


_MEASURED_HEAD = ["device", "emulated", "artifact", "runtime", "prec", "thr", "n", "p50 ms", "p90 ms", "p99 ms",
                  "model p50", "estimate", "err"]


def _measured_cells(m: dict[str, Any]) -> list[str]:
    r, est = m["row"], m["estimate"]
    err = "n/a*" if r.get("emulated") else ("-" if m["error"] is None else f"{m['error'] * 100:+.0f}%")
    return [r["device"], "yes*" if r.get("emulated") else "no", str(r.get("model")), str(r.get("runtime")),
            str(r.get("precision")), str(r.get("threads")), str(m["n"]), _fmt(r.get("p50_ms")), _fmt(r.get("p90_ms")),
            _fmt(r.get("p99_ms")), _fmt(m["model_ms"]), "-" if est is None else f"{est.ms:.3f}", err]


_EST_HEAD = ["profile", "artifact", "runtime", "prec", "thr", "estimate ms", "roofline ms", "bound", "calibration"]


def _estimate_cells(e: Estimate) -> list[str]:
    return [e.profile, e.artifact, e.runtime, e.precision, str(e.threads), f"{e.ms:.3f}", f"{e.roofline_ms:.3f}",
            e.bound, f"x{e.calibration.factor:g} {e.calibration.level}"]


def _pivot(estimates: list[Estimate]) -> tuple[list[str], list[list[str]]]:
    """Artifacts down, profiles across: the estimated model time in ms."""
    profiles = list(dict.fromkeys(e.profile for e in estimates))
    cells: dict[tuple, dict[str, str]] = {}
    for e in estimates:
        cells.setdefault((e.artifact, e.task, e.runtime, e.precision), {})[e.profile] = f"{e.ms:.3g}"
    head = ["artifact", "task", "runtime", "prec"] + profiles
    return head, [[*key] + [row.get(p, "-") for p in profiles] for key, row in cells.items()]


def _text(data: dict[str, Any]) -> str:
    out = [f"edgewise bench report — {data['db']} ({len(data['rows'])} stored result(s))", ""]
    if not data["measured"]:
        out += ["no stored results yet: run `edgewise bench MODEL...` (it stores into this database)", ""]
    by_device: dict[tuple[str, str], list] = {}
    for m in data["measured"]:
        by_device.setdefault((m["row"]["device"], str(m["row"].get("hostname") or "?")), []).append(m)
    for (device, host), ms in by_device.items():
        prof = ms[0]["row"].get("profile")
        if device == "this-machine":
            prof = f"{prof}, host {host}" + ("" if measured_here(ms[0]["row"]) else ": not this machine, no estimate")
        emulated = any(m["row"].get("emulated") for m in ms)
        out.append(f"{device} (profile {prof})" + (f" — emulated: {EMULATED_NOTE}" if emulated else ""))
        out += _table(_MEASURED_HEAD, [_measured_cells(m) for m in ms])
        out.append("")
    if any(m["row"].get("emulated") for m in data["measured"]):
        out.append(f"* {EMULATED_NOTE} (qemu-user runs every instruction in software); not used for calibration")
    out.append("p50/p90/p99: the whole unit of work (pre/post-processing included); model p50: the model call alone; "
               "estimate: roofline estimate of the model call (an estimate, not a measurement); err = estimate / "
               "model p50 - 1")
    checks = data["validation"]
    if checks:
        ins = [abs(c["in_sample_err"]) for c in checks]
        loo = [abs(c["loo_err"]) for c in checks]
        out.append(f"estimate error over {len(checks)} non-emulated run(s): in-sample median "
                   f"{statistics.median(ins) * 100:.0f}% "
                   f"max {max(ins) * 100:.0f}%; leaving each artifact's runs out of the calibration: median "
                   f"{statistics.median(loo) * 100:.0f}% max {max(loo) * 100:.0f}%")
    if data["unmeasured"]:
        out += ["", "Estimates for built-in profiles not measured: model time in ms, 1 thread "
                    "(roofline x calibration; ESTIMATES, not measurements)"]
        head, rows = _pivot(data["unmeasured"])
        out += _table(head, rows)
    used: dict[tuple, set[str]] = {}
    for e in [m["estimate"] for m in data["measured"] if m["estimate"]] + data["unmeasured"]:
        c = e.calibration
        key = (e.precision, e.runtime, f"{c.factor:g}", c.level, c.source.split(" (transferred")[0])
        used.setdefault(key, set()).add(e.isa)
    if used:
        out += ["", "Calibrations used (estimate = factor x roofline)"]
        out += _table(["prec", "runtime", "factor", "for ISA", "level", "source"],
                      [[k[0], k[1], k[2], ", ".join(sorted(isas)), k[3], k[4]] for k, isas in sorted(used.items())])
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------------------------
# HTML + plot
# ----------------------------------------------------------------------------------------------
def _plot(data: dict[str, Any], png: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
        from matplotlib.ticker import FuncFormatter
    except ImportError as e:
        raise DeviceError("the HTML report's plot needs matplotlib (a host feature): "
                          "pip install 'edgewise[host]', or run the report without --html") from e
    panels: dict[str, list[tuple[str, float, str, float | None]]] = {}
    for m in data["measured"]:
        r, est = m["row"], m["estimate"]
        key = f"{r.get('model')} — {r.get('task') or '?'} ({r.get('runtime')}, {r.get('precision')})"
        who = r["device"]
        if who == "this-machine" and not measured_here(r):
            who += f" @{r.get('hostname')}"
        label = f"{who} [{r.get('profile')}] · {r.get('threads')} thr"
        label += " (emulated)" if r.get("emulated") else ""
        kind = "emulated" if r.get("emulated") else "measured"
        panels.setdefault(key, []).append((label, float(m["model_ms"] or 0), kind, est.ms if est else None))
    for e in data["unmeasured"]:
        key = f"{e.artifact} — {e.task or '?'} ({e.runtime}, {e.precision})"
        panels.setdefault(key, []).append((f"{e.profile} · {e.threads} thr (estimate)", e.ms, "estimate", None))
    if not panels:
        panels["no results"] = []
    colors = {"measured": "#1f77b4", "emulated": "#b0b0b0", "estimate": "#ffbf80"}
    heights = [max(len(v), 1) * 0.32 + 0.9 for v in panels.values()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9.5, sum(heights) + 0.6),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (title, bars) in zip(axes[:, 0], panels.items()):
        bars = sorted(bars, key=lambda b: (b[2] == "estimate", b[1]))
        ys = list(range(len(bars)))[::-1]
        for y, (label, ms, kind, est) in zip(ys, bars):
            ax.barh(y, ms, color=colors[kind], hatch="//" if kind == "estimate" else None,
                    edgecolor="#7a4a00" if kind == "estimate" else "none", height=0.7)
            ax.text(ms * 1.04, y, f"{ms:.3g} ms", va="center", fontsize=8)
            if est is not None and kind == "measured":
                ax.plot([est, est], [y - 0.38, y + 0.38], color="black", lw=2)
        ax.set_yticks(ys)
        ax.set_yticklabels([b[0] for b in bars], fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(axis="x", which="both", alpha=0.25)
        lo = min((b[1] for b in bars if b[1] > 0), default=0.01)
        hi = max((b[1] for b in bars), default=1.0)
        ax.set_xlim(lo / 2.5, hi * 3)
    axes[-1, 0].set_xlabel("model time per unit of work (ms, log scale)")
    handles = [Patch(color=colors["measured"], label="measured (model p50)"),
               Patch(facecolor=colors["estimate"], hatch="//", edgecolor="#7a4a00", label="roofline ESTIMATE"),
               Patch(color=colors["emulated"], label=f"emulated: {EMULATED_NOTE}"),
               plt.Line2D([], [], color="black", lw=2, label="estimate for a measured row")]
    fig.legend(handles=handles, loc="upper center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.55 / (sum(heights) + 0.6)))
    fig.savefig(png, dpi=110)
    plt.close(fig)


def _html_page(data: dict[str, Any], text: str, png: Path) -> str:
    def table(head: list[str], rows: list[list[str]]) -> str:
        th = "".join(f"<th>{_html.escape(h)}</th>" for h in head)
        trs = "".join("<tr>" + "".join(f"<td>{_html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><tr>{th}</tr>{trs}</table>"

    parts = [f"<h1>edgewise bench report</h1><p>{_html.escape(data['db'])}</p>",
             f'<img src="{_html.escape(png.name)}" alt="latency by device, artifact, runtime and threads">',
             "<h2>Measured</h2>", table(_MEASURED_HEAD, [_measured_cells(m) for m in data["measured"]]),
             f"<p>* {EMULATED_NOTE}. Estimates are roofline estimates of the model call, never measurements.</p>"]
    if data["unmeasured"]:
        parts += ["<h2>Estimates for built-in profiles not measured (model time, ms; ESTIMATES)</h2>",
                  table(*_pivot(data["unmeasured"])),
                  "<h3>Every estimate with its roofline and calibration</h3>",
                  table(_EST_HEAD, [_estimate_cells(e) for e in data["unmeasured"]])]
    parts += ["<h2>Text report</h2>", f"<pre>{_html.escape(text)}</pre>"]
    style = ("body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>edgewise bench report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def report(db_path: str | Path | None = None, *, html: Path | None = None) -> str:
    """The text report of the results database; with ``html``, also write that page and a PNG beside it.

    Raises:
        StoreError: the database is corrupt or not an edgewise results store (it is left untouched).
        DeviceError: ``html`` was asked for but matplotlib is not installed.
    """
    data = collect(db_path)
    text = _text(data)
    if html is not None:
        html = Path(html)
        png = html.with_suffix(".png")
        html.parent.mkdir(parents=True, exist_ok=True)
        _plot(data, png)
        html.write_text(_html_page(data, text, png), encoding="utf-8")
        text += f"\nwrote {html} and {png}\n"
    return text
