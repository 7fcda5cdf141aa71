"""Export to ONNX and TFLite: one file each, self-describing, and proven to compute what torch computes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from edgewise.cli import main  # noqa: E402
from edgewise.export import export_checkpoint, parse_formats  # noqa: E402
from edgewise.export.parity import check_parity  # noqa: E402
from edgewise.models.checkpoint import file_sha256, load_checkpoint  # noqa: E402
from edgewise.runtime.artifact import read_metadata, verify_manifest  # noqa: E402
from edgewise.runtime.backends import load_model  # noqa: E402
from edgewise.runtime.errors import ExportMismatchError  # noqa: E402


def _fixture_module():
    """tests/runtime/fixtures/make_fixtures.py, loaded by path (works under any pytest import mode)."""
    import importlib.util
    import sys

    name = "edgewise_tests_make_fixtures"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "runtime" / "fixtures" / "make_fixtures.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


inputs, save_tiny_checkpoint, register_tiny = (getattr(_fixture_module(), n) for n in
                                               ("inputs", "save_tiny_checkpoint", "register_tiny"))

# one real export (torch + onnx2tf + TensorFlow import) is shared by the module: ~15-30 s on this host
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    ckpt_path = save_tiny_checkpoint(tmp / "tiny.pt")
    arts = export_checkpoint(ckpt_path, to="onnx,tflite", out=tmp / "out", inputs=inputs(6))
    return {"ckpt": ckpt_path, "arts": {a.format: a for a in arts}, "out": tmp / "out"}


def test_writes_one_file_per_format_with_manifest(exported):
    out = exported["out"]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.onnx", "model.tflite"]
    manifest = verify_manifest(out)
    for fmt, art in exported["arts"].items():
        entry = manifest["artifacts"][art.path.name]
        assert entry["sha256"] == art.sha256 == file_sha256(art.path)
        assert entry["parity"]["ok"] and entry["parity"]["backend"] in ("onnxruntime", "litert")
        assert entry["parity"]["outputs"][0]["max_abs"] <= 1e-4


def test_onnx_is_opset_17_one_file_with_metadata(exported):
    proto = onnx.load(str(exported["arts"]["onnx"].path))
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["edgewise"]) == read_metadata(exported["arts"]["onnx"].path)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_metadata_describes_the_model(exported, fmt):
    meta = read_metadata(exported["arts"][fmt].path)
    assert meta["format"] == fmt and meta["precision"] == "fp32"
    assert meta["name"] == "tiny-test-conv" and meta["task"] == "ecg-delineation"
    assert (meta["sample_rate"], meta["window"], meta["hop"], meta["input_layout"]) == (500, 64, 32, "NCW")
    assert meta["input_shape"] == [1, 64] and meta["classes"] == ["none", "p", "qrs", "t"]
    assert meta["preprocessing"] == {"highpass_hz": 0.5, "normalize": "zscore"}
    assert meta["source_checkpoint_sha256"] == file_sha256(exported["ckpt"])
    assert meta["training_data"] == "none (random weights, test fixture)"
    assert meta["edgewise_version"] and meta["exported_at"].endswith("+00:00")
    # one layout per file, recorded: the TFLite is channels-last inside, the ONNX keeps torch's
    assert meta["io"]["input"]["perm"] == ([0, 1, 2] if fmt == "onnx" else [0, 2, 1])


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_artifacts_match_torch_on_fresh_inputs(exported, fmt):
    x = inputs(5, seed=7)
    model = load_checkpoint(exported["ckpt"]).model
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = load_model(exported["arts"][fmt].path).run(x)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_tflite_conversion_leaves_the_onnx_untouched(exported, tmp_path):
    from edgewise.export.tflite import export_tflite

    src = tmp_path / "model.onnx"
    shutil.copyfile(exported["arts"]["onnx"].path, src)
    before = file_sha256(src)
    meta = read_metadata(exported["arts"]["tflite"].path)
    export_tflite(src, tmp_path / "again.tflite", input_shape=(1, 64), layout="NCW", metadata=meta)
    assert file_sha256(src) == before
    assert read_metadata(tmp_path / "again.tflite")["io"] == meta["io"]


def _perturbed(ckpt_path):
    model = load_checkpoint(ckpt_path).model
    with torch.no_grad():
        model.head.bias += torch.tensor([0.0, 0.01, 0.0, -0.02])
    return model


def test_parity_failure_lists_every_failing_output(exported):
    arts = [exported["arts"][f].path for f in ("onnx", "tflite")]
    with pytest.raises(ExportMismatchError) as info:
        check_parity(_perturbed(exported["ckpt"]), arts, inputs(4), atol=1e-4)
    err = info.value
    assert [f["artifact"] for f in err.failures] == ["model.onnx", "model.tflite"]
    for f in err.failures:  # the bias shift is the largest change: 0.02 on class 't'
        np.testing.assert_allclose(f["max_abs"], 0.02, atol=1e-5)
        assert f["max_rel"] > 0
    assert "model.onnx: output 'logits' max abs error 0.02 > 0.0001 (max rel" in str(err)
    assert "model.tflite: output 'logits'" in str(err)


def test_parity_checks_postprocessed_results(exported):
    arts = [exported["arts"]["onnx"].path]

    def argmax(y):
        return [tuple(r) for r in y.argmax(axis=1)]

    rec = check_parity(load_checkpoint(exported["ckpt"]).model, arts, inputs(4), atol=1e-4, postprocess=argmax)
    assert rec["ok"] and rec["artifacts"]["model.onnx"]["outputs"][-1]["mismatched"] == 0
    model = load_checkpoint(exported["ckpt"]).model
    with torch.no_grad():
        model.head.bias += torch.tensor([0.0, 0.0, 0.0, 5.0])  # class 't' wins everywhere
    with pytest.raises(ExportMismatchError, match=r"post-processed results differ from torch on 4 of 4 inputs"):
        check_parity(model, arts, inputs(4), atol=1e9, postprocess=argmax)


def test_bad_format_and_inputs():
    with pytest.raises(ValueError, match=r"unknown export format\(s\) \['tfjs'\]; choose from \['onnx', 'tflite'\]"):
        parse_formats("onnx,tfjs")
    from edgewise.export import representative_inputs

    with pytest.raises(ValueError, match=r"parity inputs must be \[batch, 1, 64\]"):
        representative_inputs(register_tiny(), np.zeros((2, 64, 1)))


def test_cli_export_onnx_checks_parity_on_real_windows(exported, tmp_path, capsys, ludb_dir):
    rc = main(["export", str(exported["ckpt"]), "--to", "onnx", "--out", str(tmp_path / "cli"), "--json"])
    assert rc == 0
    line = json.loads(capsys.readouterr().out)
    assert [a["format"] for a in line["artifacts"]] == ["onnx"] and line["artifacts"][0]["parity"]["ok"]
    parity = line["artifacts"][0]["parity"]
    # the tiny model is an ECG model: parity runs on LUDB lead II cut into its 64-sample windows
    assert parity["inputs"]["source"].startswith("real:") and "lead II" in parity["inputs"]["source"]
    assert parity["inputs"]["shape"][1:] == [1, 64] and parity["inputs"]["shape"][0] > 100
    verify_manifest(tmp_path / "cli")


def test_cli_export_with_given_inputs(exported, tmp_path, capsys):
    np.savez(tmp_path / "x.npz", inputs=inputs(3, seed=5))
    rc = main(["export", str(exported["ckpt"]), "--to", "onnx", "--out", str(tmp_path / "cli"),
               "--inputs", str(tmp_path / "x.npz")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "parity on given: 3 inputs" in out and " ok " in out


def test_synthetic_inputs_without_task_data():
    from edgewise.export import representative_inputs

    spec = register_tiny()
    x, note = representative_inputs(spec.__class__(**{**spec.__dict__, "task": "mosquito-detection"}))
    assert x.shape == (8, 1, 64) and note.startswith("synthetic")
    np.testing.assert_allclose(x, np.random.default_rng(0).standard_normal((8, 1, 64)).astype(np.float32))


@pytest.mark.parametrize("argv,message", [
    (["export", "x.pt", "--to", "onnx,tfjs"], "unknown export format"),
    (["export", "no-such-model"], "neither a checkpoint file nor a shipped model"),
    (["export", "missing.pt"], "no checkpoint at missing.pt"),
], ids=["format", "name", "path"])
def test_cli_user_errors_are_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgewise: error:") and message in err and "\n" not in err


def test_metadata_can_be_added_to_an_onnx_made_elsewhere(tmp_path):
    from edgewise.export.onnx import write_onnx_metadata

    fix = Path(__file__).resolve().parents[1] / "runtime" / "fixtures"
    path = tmp_path / "other.onnx"
    proto = onnx.load(str(fix / "tiny_nometa.onnx"))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "producer_note", "kept"
    onnx.save(proto, str(path))
    meta = read_metadata(fix / "tiny.onnx")
    write_onnx_metadata(path, {**meta, "precision": "int8"})
    got = read_metadata(path)  # with the file's own content hash (verified as it is read)
    assert {k: v for k, v in got.items() if k != "content_sha256"} == {**meta, "precision": "int8"}
    assert len(got["content_sha256"]) == 64
    assert {p.key: p.value for p in onnx.load(str(path)).metadata_props}["producer_note"] == "kept"
    assert load_model(path).metadata["precision"] == "int8"
