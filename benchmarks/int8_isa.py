"""Do the shipped ECG artifacts give the same waves on every ISA? Held-out LUDB lead II, compared across
this machine, an AVX2-only x86 CPU and an arm64 Pi, wave list by wave list.

    .venv/bin/python benchmarks/int8_isa.py [--isa native,avx2,arm64] [--arm-cpus cortex-a72,cortex-a76]
                                            [A.onnx B.tflite ...] [--records N] [--json OUT] [--stamp]

Each ISA runs the same runtime-only worker (this file with ``--worker``; numpy + onnxruntime/LiteRT, the
held-out record ids read from the artifacts' own metadata) and writes every record's wave list and model
scores; the table then counts the records and waves that differ from this machine's, the largest score
difference and the lead II F1 on each ISA.
- ``native``: this process's CPU (its ISA label is printed: x86_64-avx512vnni on the development machine).
- ``avx2``: the same venv under ``qemu-x86_64-static -cpu max``: qemu's TCG implements AVX2/FMA but no
  AVX-512, so CPUID reports an AVX2-only x86 and onnxruntime's MLAS and XNNPACK take their AVX2 kernels
  (checked: the worker prints the ISA it saw). Slow (~10x), exact.
- ``oldest``: this CPU with the oldest device runtimes pyproject.toml allows (.venv-bare-oldest).
- ``arm64``: the arm64 Debian rootfs of scripts/testbed/arm64-rootfs.sh under qemu-aarch64 (Cortex-A72
  and, with ``--arm-cpus``, others), with its own aarch64 wheels of the same runtime versions.
Needs root for the arm64 chroot; ``apt-get install qemu-user-static`` for both emulated ISAs.

``--stamp`` (maintainers, host venv): every artifact whose wave lists were identical on all runs gets
``metrics.verified_isa`` (the ISA labels, sorted) and ``metrics.verified_runtimes`` in its metadata, and
the folder's manifest.json is rewritten with the new checksums.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "edgewise" / "models" / "pretrained" / "ecg"
DEFAULT_ARTIFACTS = ["ecg-unet-int8.onnx", "ecg-unet-int8.tflite", "ecg-unet.onnx", "ecg-unet.tflite"]


def worker(artifacts: list[str], data: str, n_records: int, out: str) -> None:
    """Runtime only: every artifact's waves and scores on its held-out records (lead II)."""
    import hashlib

    import numpy as np

    from edgewise.runtime.artifact import read_metadata
    from edgewise.runtime.ecg.delineate import delineate
    from edgewise.runtime.ecg.io import read_wfdb_signal
    from edgewise.runtime.ecg.metrics import DelineationScore, score_waves
    from edgewise.runtime.ecg.model import load_artifact_fn
    from edgewise.runtime.ecg.selftest import read_annotated_lead
    from edgewise.runtime.platform import cpu_info

    import onnxruntime

    try:
        from ai_edge_litert import __version__ as litert_version
    except ImportError:  # pragma: no cover
        litert_version = "?"
    folder = Path(data)
    folder = folder / "data" if (folder / "data").is_dir() else folder
    result = {"cpu": cpu_info().as_dict(), "onnxruntime": onnxruntime.__version__, "litert": litert_version,
              "artifacts": {}}
    scores_npz = {}
    for art in artifacts:
        ids = read_metadata(art)["training"]["test_records"][:n_records]
        fn, info = load_artifact_fn(art, threads=1)
        total, recs = DelineationScore(), {}
        for rec in ids:
            base = folder / str(rec)
            sig = read_wfdb_signal(base)
            truth, span = read_annotated_lead(base, "ii")
            res = delineate(sig.signal[sig.leads.index("ii")], sig.fs, fn, model_fs=info.sample_rate,
                            window=info.window, hop=info.hop, post=info.post)
            total.add(score_waves(truth, res.waves, sig.fs, span=span))
            scores = np.ascontiguousarray(res.scores, np.float32)
            recs[str(rec)] = {"waves": [[w.kind, w.onset, w.offset] for w in res.waves],
                              "scores_sha256": hashlib.sha256(scores.tobytes()).hexdigest()}
            scores_npz[f"{Path(art).name}:{rec}"] = scores
        result["artifacts"][Path(art).name] = {"records": recs, "f1": {k: total.wave_f1(k) for k in ("P", "QRS", "T")}}
    Path(out).write_text(json.dumps(result))
    np.savez_compressed(str(out) + ".npz", **scores_npz)


def _run(cmd: list[str], env: dict | None = None, label: str = "") -> None:
    t = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode:
        err = "\n".join(line for line in p.stderr.splitlines() if "TCG doesn't support" not in line)
        raise SystemExit(f"{label}: worker failed ({p.returncode}):\n{err[-3000:]}")
    print(f"  {label}: {time.time() - t:.0f} s", file=sys.stderr)


def run_native(py: str, args, tmp: Path, name: str = "native") -> Path:
    out = tmp / f"{name}.json"
    _run([py, __file__, "--worker", str(out), "--data", args.data, "--records", str(args.records), *args.artifacts],
         label=name)
    return out


def run_avx2(py: str, args, tmp: Path) -> Path:
    qemu = shutil.which("qemu-x86_64-static") or shutil.which("qemu-x86_64")
    if qemu is None:
        raise SystemExit("avx2: qemu-x86_64-static not found (apt-get install qemu-user-static)")
    out = tmp / "avx2.json"
    # -cpu max: every feature qemu's TCG implements -- AVX2 and FMA, no AVX-512 (so no VNNI)
    _run([qemu, "-cpu", "max", py, __file__, "--worker", str(out), "--data", args.data,
          "--records", str(args.records), *args.artifacts], label="avx2 (qemu-x86_64 -cpu max)")
    return out


def run_arm64(args, tmp: Path, cpu: str) -> Path:
    from _arm64 import arm64_work, run_inside  # benchmarks/_arm64.py (this folder is on sys.path)

    with arm64_work("edgewise-isa-") as (rootfs, work, inside):
        shutil.copy(__file__, work / "int8_isa.py")
        arts = []
        for a in args.artifacts:
            shutil.copy(a, work / Path(a).name)
            arts.append(f"{inside}/{Path(a).name}")
        shutil.copytree(Path(args.data) / "data" if (Path(args.data) / "data").is_dir() else args.data, work / "ludb")
        t = time.time()
        p = run_inside(rootfs, inside, cpu, [f"{inside}/int8_isa.py", "--worker", f"{inside}/arm64.json",
                                             "--data", f"{inside}/ludb", "--records", str(args.records), *arts])
        if p.returncode:
            err = "\n".join(line for line in p.stderr.splitlines() if "TCG doesn't support" not in line)
            raise SystemExit(f"arm64 ({cpu}): worker failed ({p.returncode}):\n{err[-3000:]}")
        print(f"  arm64 ({cpu}): {time.time() - t:.0f} s", file=sys.stderr)
        out = tmp / f"arm64-{cpu}.json"
        shutil.copy(work / "arm64.json", out)
        shutil.copy(work / "arm64.json.npz", str(out) + ".npz")
        return out


def compare(results: dict[str, Path]) -> dict:
    import numpy as np

    loaded = {k: (json.loads(p.read_text()), np.load(str(p) + ".npz")) for k, p in results.items()}
    ref_name = next(iter(loaded))
    ref, ref_scores = loaded[ref_name]
    table = {}
    for name, (res, scores) in loaded.items():
        for art, a in res["artifacts"].items():
            r = ref["artifacts"][art]["records"]
            diff_recs = [k for k, v in a["records"].items() if v["waves"] != r[k]["waves"]]
            n_waves = sum(len(v["waves"]) for v in a["records"].values())
            diff_waves = sum(len({tuple(w) for w in v["waves"]} ^ {tuple(w) for w in r[k]["waves"]})
                             for k, v in a["records"].items())
            max_diff = max(float(np.abs(scores[f"{art}:{k}"] - ref_scores[f"{art}:{k}"]).max()) for k in a["records"])
            bitwise = all(v["scores_sha256"] == r[k]["scores_sha256"] for k, v in a["records"].items())
            table.setdefault(art, {})[name] = {
                "isa": res["cpu"]["isa"], "onnxruntime": res["onnxruntime"], "litert": res["litert"],
                "records": len(a["records"]), "waves": n_waves, "records_differing": len(diff_recs),
                "waves_differing": diff_waves, "max_score_diff": max_diff, "bit_identical": bitwise, "f1": a["f1"]}
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("artifacts", nargs="*")
    ap.add_argument("--worker", metavar="OUT")
    ap.add_argument("--data", default=None)
    ap.add_argument("--records", type=int, default=32, help="held-out records per artifact (default: all 32)")
    ap.add_argument("--isa", default="native,avx2,arm64")
    ap.add_argument("--arm-cpus", default="cortex-a72", help="QEMU_CPU values for arm64 (e.g. cortex-a72,cortex-a76)")
    ap.add_argument("--python", default=None, help="interpreter for native/avx2 (default: .venv-bare, else this one)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--stamp", action="store_true", help="record the ISAs with identical waves in each artifact")
    args = ap.parse_args()
    if args.worker:
        worker(args.artifacts, args.data, args.records, args.worker)
        return
    if args.data is None:
        from edgewise.data.paths import default_dataset_dir

        args.data = str(default_dataset_dir("ludb"))
    args.artifacts = [str(Path(a).resolve()) for a in args.artifacts] or [str(SHIPPED / a) for a in DEFAULT_ARTIFACTS]
    bare = REPO / ".venv-bare" / "bin" / "python"
    py = args.python or (str(bare) if bare.exists() else sys.executable)
    results = {}
    with tempfile.TemporaryDirectory(prefix="edgewise-isa-") as t:
        tmp = Path(t)
        for isa in args.isa.split(","):
            if isa == "native":
                results["native"] = run_native(py, args, tmp)
            elif isa == "oldest":  # this CPU with the oldest runtimes pyproject.toml allows (scripts/test-bare.sh)
                old = REPO / ".venv-bare-oldest" / "bin" / "python"
                if not old.exists():
                    raise SystemExit("oldest: run scripts/test-bare.sh first (it builds .venv-bare-oldest)")
                results["native-oldest"] = run_native(str(old), args, tmp, "native-oldest")
            elif isa == "avx2":
                results["avx2"] = run_avx2(py, args, tmp)
            elif isa == "arm64":
                for cpu in args.arm_cpus.split(","):
                    results[f"arm64-{cpu}"] = run_arm64(args, tmp, cpu)
            else:
                raise SystemExit(f"unknown --isa {isa!r}: choose from native, oldest, avx2, arm64")
        table = compare(results)
    first = next(iter(results))
    print(f"held-out LUDB lead II; every run compared with '{first}'\n")
    print(f"{'artifact':30} {'run':18} {'ISA':18} {'ort':7} {'litert':7} {'rec':>4} {'waves':>6} {'rec≠':>5}"
          f" {'waves≠':>6} {'max|Δscore|':>11} {'bits':>5}  P / QRS / T F1")
    for art, rows in table.items():
        for name, r in rows.items():
            f = r["f1"]
            print(f"{art:30} {name:18} {r['isa']:18} {r['onnxruntime']:7} {r['litert']:7} {r['records']:4d} "
                  f"{r['waves']:6d} {r['records_differing']:5d} {r['waves_differing']:6d} {r['max_score_diff']:11.3g} "
                  f"{'same' if r['bit_identical'] else 'diff':>5}  {f['P']:.4f} / {f['QRS']:.4f} / {f['T']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    if args.stamp:
        stamp(args.artifacts, table)


def stamp(artifacts: list[str], table: dict) -> None:
    """Write the verified ISAs into each artifact whose waves agreed everywhere; refresh manifest.json."""
    from edgewise.export.metadata import update_metadata
    from edgewise.runtime.artifact import MANIFEST_NAME, read_metadata, write_manifest

    folders = set()
    for art in artifacts:
        rows = table[Path(art).name]
        if any(r["waves_differing"] for r in rows.values()):
            print(f"not stamped: {Path(art).name} (wave lists differ between ISAs)")
            continue
        isas = sorted({r["isa"] for r in rows.values()})
        runtimes = sorted({f"onnxruntime {r['onnxruntime']}" if art.endswith(".onnx") else f"ai-edge-litert {r['litert']}"
                           for r in rows.values()})
        update_metadata(art, {"metrics": {"verified_isa": isas, "verified_runtimes": runtimes}})
        print(f"stamped {Path(art).name}: identical waves on {', '.join(isas)} ({', '.join(runtimes)})")
        if (Path(art).parent / MANIFEST_NAME).is_file():
            folders.add(Path(art).parent)
    for folder in folders:
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        entries = {name: {**{k: v for k, v in e.items() if k not in ("sha256", "size_bytes")},
                          "metadata": read_metadata(folder / name)} for name, e in manifest["artifacts"].items()}
        write_manifest(folder, entries)
        print(f"rewrote {folder / MANIFEST_NAME}")


if __name__ == "__main__":
    main()
