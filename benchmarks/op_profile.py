"""Where each runtime spends one ECG call, op by op, here and on an emulated arm64 Pi (issue 25).

    sudo .venv/bin/python benchmarks/op_profile.py [--arm-cpus cortex-a72,cortex-a76] [--runs 20] [A.onnx B.tflite ...]

For every artifact (default: the shipped ECG files), one 10-s LUDB strip (standardised, zero-padded to the
file's window) is run ``--runs`` times at 1 thread:
- ONNX: onnxruntime's own profiler (``SessionOptions.enable_profiling``): time per op type, the execution
  provider of every node, and the share of the call in int8 kernels (QLinear*/ConvInteger/MatMulInteger) versus
  float ones. onnxruntime's CPU provider picks its MLAS kernels by the CPU's features (AVX2/AVX-512/VNNI on x86,
  NEON/dot-product on arm64); the profile names the op, not the kernel, so "no reference kernel" is read from the
  provider (CPUExecutionProvider's MLAS paths have no scalar fallback for these ops on these ISAs).
- TFLite: LiteRT applies its default XNNPACK delegate (NEON/dot-product kernels on arm64); the report says
  whether one XNNPACK partition takes the whole graph or some ops stay on TFLite's built-in kernels. The
  Python API has no per-op timer, so this part counts ops, not time.
The same worker runs natively and, with root, in the arm64 Debian rootfs of scripts/testbed/arm64-rootfs.sh
under qemu-aarch64 (``QEMU_CPU``). Emulated times are not device times: read the shares and the placement.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "edgewise" / "models" / "pretrained" / "ecg"
DEFAULT_ARTIFACTS = ["ecg-unet-int8.onnx", "ecg-unet-int8.tflite", "ecg-unet.onnx", "ecg-unet.tflite"]
INT8_OPS = ("QLinear", "ConvInteger", "MatMulInteger", "DynamicQuantize")


def _strip(data: Path, window: int):
    import numpy as np

    from edgewise.runtime.ecg.io import read_wfdb_signal
    from edgewise.runtime.ecg.preprocess import standardized_window

    sig = read_wfdb_signal(data / "1")
    x = sig.signal[sig.leads.index("ii")].astype(np.float32)[None, : min(window, sig.signal.shape[1])]
    return standardized_window(x, window)[None].astype(np.float32)


def _onnx(path: Path, x, runs: int) -> dict:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = str(Path(tempfile.mkdtemp(prefix="edgewise-prof-")) / "ort")
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for _ in range(runs + 3):
        sess.run(None, {name: x})
    events = json.loads(Path(sess.end_profiling()).read_text())
    by_op, providers, total = defaultdict(float), defaultdict(int), 0.0
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            a = e.get("args", {})
            by_op[a.get("op_name", "?")] += float(e["dur"])
            providers[a.get("provider", "?")] += 1
            total += float(e["dur"])
    int8 = sum(v for k, v in by_op.items() if k.startswith(INT8_OPS))
    top = sorted(by_op.items(), key=lambda kv: -kv[1])
    return {"total_us_per_call": total / (runs + 3), "int8_share": int8 / total if total else 0.0,
            "ops": [(k, v / total) for k, v in top],
            "providers": {k: v // (runs + 3) for k, v in providers.items()}}  # nodes per call


def _tflite(path: Path) -> dict:
    """Op counts and the XNNPACK partitions. ``_get_ops_details`` lists every node of the graph, the
    delegated ones too, plus one DELEGATE node per partition; a partition that takes the graph's inputs and
    gives its outputs holds every op (LiteRT's Python API offers no per-node placement otherwise)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=1)  # LiteRT's default XNNPACK delegate
    it.allocate_tensors()
    ops = it._get_ops_details()  # noqa: SLF001 - LiteRT's only op listing
    parts = [o for o in ops if o["op_name"] == "DELEGATE"]
    graph_in = {d["index"] for d in it.get_input_details()}
    graph_out = {d["index"] for d in it.get_output_details()}
    whole = (len(parts) == 1 and graph_in <= set(parts[0]["inputs"].tolist())
             and graph_out == set(parts[0]["outputs"].tolist()))
    kinds = sorted({o["op_name"] for o in ops if o["op_name"] != "DELEGATE"})
    return {"ops_in_graph": len(ops) - len(parts), "xnnpack_partitions": len(parts), "whole_graph_in_xnnpack": whole,
            "op_kinds": kinds}


def worker(artifacts: list[str], data: str, runs: int, out: str) -> None:
    """Runtime only: the profile of every artifact on this CPU, written as JSON."""
    import onnxruntime

    from edgewise.runtime.artifact import read_metadata
    from edgewise.runtime.platform import cpu_info

    folder = Path(data)
    folder = folder / "data" if (folder / "data").is_dir() else folder
    result = {"isa": cpu_info().isa, "onnxruntime": onnxruntime.__version__, "artifacts": {}}
    for art in artifacts:
        path = Path(art)
        x = _strip(folder, int(read_metadata(path)["window"]))
        result["artifacts"][path.name] = _onnx(path, x, runs) if path.suffix == ".onnx" else _tflite(path)
    Path(out).write_text(json.dumps(result))


def run_arm64(artifacts: list[Path], data: Path, runs: int, cpu: str, tmp: Path) -> Path:
    from _arm64 import arm64_work, run_inside  # benchmarks/_arm64.py (this folder is on sys.path)

    with arm64_work("edgewise-prof-") as (rootfs, work, inside):
        shutil.copy(__file__, work / "op_profile.py")
        for a in artifacts:
            shutil.copy(a, work / a.name)
        (work / "ludb").mkdir()
        for f in data.glob("1.*"):
            shutil.copy(f, work / "ludb" / f.name)
        p = run_inside(rootfs, inside, cpu, [f"{inside}/op_profile.py", "--worker", f"{inside}/out.json", "--data",
                                             f"{inside}/ludb", "--runs", str(runs),
                                             *[f"{inside}/{a.name}" for a in artifacts]])
        if p.returncode:
            raise SystemExit(f"arm64 ({cpu}) worker failed:\n{p.stderr[-3000:]}")
        out = tmp / f"arm64-{cpu}.json"
        shutil.copy(work / "out.json", out)
        return out


def report(name: str, res: dict) -> None:
    print(f"\n## {name}: {res['isa']}, onnxruntime {res['onnxruntime']}")
    for art, r in res["artifacts"].items():
        if "ops" in r:
            top = ", ".join(f"{k} {v:.0%}" for k, v in r["ops"][:5])
            print(f"{art:24} {r['total_us_per_call'] / 1e3:8.2f} ms/call in kernels; int8 kernels {r['int8_share']:.0%} "
                  f"of it; nodes per provider {r['providers']}; top: {top}")
        else:
            where = "every op inside it" if r["whole_graph_in_xnnpack"] else "NOT the whole graph: some ops run on " \
                "TFLite's built-in kernels"
            print(f"{art:24} {r['ops_in_graph']} ops ({', '.join(r['op_kinds'])}) -> {r['xnnpack_partitions']} "
                  f"XNNPACK partition(s), {where}")


def main() -> None:
    from edgewise.data.paths import default_dataset_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("artifacts", nargs="*")
    ap.add_argument("--worker", metavar="OUT")
    ap.add_argument("--data", default=None)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--arm-cpus", default="cortex-a72,cortex-a76", help="QEMU_CPU values ('' to skip arm64)")
    args = ap.parse_args()
    if args.worker:
        worker(args.artifacts, args.data, args.runs, args.worker)
        return
    data = Path(args.data or default_dataset_dir("ludb"))
    data = data / "data" if (data / "data").is_dir() else data
    arts = [Path(a) for a in args.artifacts] or [SHIPPED / a for a in DEFAULT_ARTIFACTS]
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        worker([str(a) for a in arts], str(data), args.runs, str(tmp / "native.json"))
        report("this machine", json.loads((tmp / "native.json").read_text()))
        for cpu in [c for c in args.arm_cpus.split(",") if c]:
            report(f"arm64 {cpu} (qemu)", json.loads(run_arm64(arts, data, args.runs, cpu, tmp).read_text()))


if __name__ == "__main__":
    sys.exit(main())
