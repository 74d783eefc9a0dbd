"""`alexspec import caffe`, `alexspec import onnx` and `alexspec export`, run through Typer as cli.py registers them:
exit status 2 with a located message for user errors, nothing half-written, files that the other tools accept."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from alexnet_spec.interop.commands import export_command, import_app
from alexnet_spec.source.loading import load_network
from tests.conftest import ROOT, SPECS_DIR
from tests.interop.caffe_models import ALEXNET, CAFFE_NET, LENET, caffe_net_forward, caffe_net_weights, line_of

app = typer.Typer()
app.add_typer(import_app, name="import")
app.command("export")(export_command)


def invoke(*args: str):
    return CliRunner().invoke(app, list(map(str, args)))


def test_import_caffe_writes_a_spec_that_loads(tmp_path):
    (tmp_path / "deploy.prototxt").write_text(LENET)
    (tmp_path / "specs").mkdir()  # -o writes into an existing directory, as a plain write does (issue 17, item 11)
    result = invoke("import", "caffe", tmp_path / "deploy.prototxt", "-o", tmp_path / "specs" / "lenet.yaml")
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'specs' / 'lenet.yaml'}" in result.stderr
    net = load_network(tmp_path / "specs" / "lenet.yaml")
    assert net.layer("ip1_flatten").output_shape == (1250,)
    printed = invoke("import", "caffe", tmp_path / "deploy.prototxt")
    assert printed.exit_code == 0 and printed.stdout.startswith("# yaml-language-server: $schema=")


def test_import_caffe_error_is_located_and_writes_nothing(tmp_path):
    text = ALEXNET.replace("pool: MAX", "pool: MEDIAN", 1)
    (tmp_path / "bad.prototxt").write_text(text)
    result = invoke("import", "caffe", tmp_path / "bad.prototxt", "-o", tmp_path / "bad.yaml")
    assert result.exit_code == 2 and not (tmp_path / "bad.yaml").exists()
    line, column = line_of(text, "MEDIAN")
    assert f"{tmp_path / 'bad.prototxt'}:{line}:{column}: error: layer pool1: unknown value MEDIAN for pool" \
        in result.stderr
    assert "pooling_param { pool: MEDIAN" in result.stderr and "expected: one of MAX, AVE, STOCHASTIC" in result.stderr
    assert "Traceback" not in result.output


def test_bring_a_caffe_model_and_ship_it_to_onnxruntime(tmp_path):
    """The README's path: import a prototxt, export it with its weights, and onnxruntime computes what Caffe does."""
    pytest.importorskip("onnx")
    from alexnet_spec.interop.weights_io import weights_bytes
    from tests.interop.onnx_helpers import onnxruntime_output

    (tmp_path / "deploy.prototxt").write_text(CAFFE_NET)
    assert invoke("import", "caffe", tmp_path / "deploy.prototxt", "-o", tmp_path / "net.yaml").exit_code == 0
    weights = {key: value.astype(np.float32) for key, value in caffe_net_weights().items()}
    (tmp_path / "trained.npz").write_bytes(weights_bytes(tmp_path / "trained.npz", weights))
    result = invoke("export", tmp_path / "net.yaml", "-o", tmp_path / "net.onnx", "--weights", tmp_path / "trained.npz")
    assert result.exit_code == 0, result.output
    import onnx

    x = np.random.default_rng(9).standard_normal((2, 3, 9, 9)).astype(np.float32)
    actual = onnxruntime_output(onnx.load(str(tmp_path / "net.onnx")), x)
    expected = caffe_net_forward({key: value.astype(np.float64) for key, value in weights.items()}, x)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-7)


def test_export_then_import_onnx_and_back(tmp_path):
    onnx = pytest.importorskip("onnx")
    first = tmp_path / "lenet.onnx"
    result = invoke("export", SPECS_DIR / "lenet5.yaml", "--format", "onnx", "-o", first)
    assert result.exit_code == 0, result.output
    assert "no --weights: weights drawn from the spec's declared init (seed 0)" in result.stderr
    onnx.checker.check_model(onnx.load(str(first)), full_check=True)

    result = invoke("import", "onnx", first, "-o", tmp_path / "back.yaml", "--weights-out",
                    tmp_path / "back.safetensors")
    assert result.exit_code == 0, result.output
    assert load_network(tmp_path / "back.yaml").total_params == 61_706

    second = tmp_path / "again.onnx"
    result = invoke("export", tmp_path / "back.yaml", "-o", second, "--weights", tmp_path / "back.safetensors")
    assert result.exit_code == 0, result.output
    weights = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in onnx.load(str(first)).graph.initializer}
    again = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in onnx.load(str(second)).graph.initializer}
    assert sorted(weights) == sorted(again) and all(np.array_equal(weights[key], again[key]) for key in weights)


def test_weights_as_a_torch_state_dict(tmp_path):
    pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    model = tmp_path / "lenet.onnx"
    assert invoke("export", SPECS_DIR / "lenet5.yaml", "-o", model).exit_code == 0
    refused = invoke("import", "onnx", model, "-o", tmp_path / "back.yaml", "--weights-out", tmp_path / "back.pt")
    assert refused.exit_code == 2 and "cannot write weights to a .pt file" in refused.output
    result = invoke("import", "onnx", model, "-o", tmp_path / "back.yaml", "--weights-out",
                    tmp_path / "back.safetensors")
    assert result.exit_code == 0, result.output
    from alexnet_spec.tools.convert_weights import convert_file

    convert_file(SPECS_DIR / "lenet5.yaml", tmp_path / "back.safetensors", tmp_path / "back.pt")
    state = torch.load(tmp_path / "back.pt", weights_only=True)
    assert state["c1.weight"].shape == (6, 1, 5, 5)
    result = invoke("export", SPECS_DIR / "lenet5.yaml", "-o", tmp_path / "from_pt.onnx", "--weights",
                    tmp_path / "back.pt", "--set", "c1.out_channels=6")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("args, message", [
    (["--format", "tflite"], "unknown format 'tflite'"),
    (["--weights", "missing.npz"], "missing.npz: error: no such file"),
    (["--set", "c1.out_channels=8", "--weights", "WEIGHTS"], "weight 'c1.weight' has shape (6, 1, 5, 5)"),
])
def test_export_errors_write_nothing(tmp_path, args, message):
    pytest.importorskip("onnx")
    from alexnet_spec.interop.weights_io import weights_bytes

    net = load_network(SPECS_DIR / "lenet5.yaml")
    from alexnet_spec.weights import init_weights

    (tmp_path / "w.npz").write_bytes(weights_bytes(tmp_path / "w.npz", init_weights(net, 0)))
    args = [str(tmp_path / "w.npz") if arg == "WEIGHTS" else arg for arg in args]
    result = invoke("export", SPECS_DIR / "lenet5.yaml", "-o", tmp_path / "out.onnx", *args)
    assert result.exit_code == 2 and message in result.stderr and not (tmp_path / "out.onnx").exists()


def test_import_onnx_errors(tmp_path):
    (tmp_path / "x.onnx").write_bytes(b"not a model")
    result = invoke("import", "onnx", tmp_path / "x.onnx", "-o", tmp_path / "x.yaml")
    assert result.exit_code == 2 and "cannot read an ONNX model" in result.stderr
    result = invoke("import", "onnx", tmp_path / "x.onnx", "--weights-out", tmp_path / "w.h5")
    assert result.exit_code == 2 and "cannot write weights to a .h5 file" in result.stderr
    assert not (tmp_path / "x.yaml").exists()


def test_commands_module_imports_no_framework():
    code = ("import sys, alexnet_spec.interop.commands; "
            "print(sorted(m for m in ('onnx', 'torch', 'jax', 'onnxruntime') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_torch_graph_and_its_weights_through_the_commands(tmp_path):
    """A ResNet exported by torch.onnx.export: `import onnx --weights-out` writes the spec and its safetensors, and
    `export --weights` gives back a model that onnxruntime runs to the original file's outputs."""
    onnx = pytest.importorskip("onnx")
    from tests.interop.onnx_helpers import onnxruntime_output

    original = ROOT / "tests" / "interop" / "fixtures" / "onnx" / "resnet_legacy_opset17.onnx"
    result = invoke("import", "onnx", original, "-o", tmp_path / "resnet.yaml", "--weights-out",
                    tmp_path / "resnet.safetensors")
    assert result.exit_code == 0, result.output
    result = invoke("export", tmp_path / "resnet.yaml", "-o", tmp_path / "again.onnx", "--weights",
                    tmp_path / "resnet.safetensors")
    assert result.exit_code == 0, result.output
    x = np.random.default_rng(11).standard_normal((2, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(onnxruntime_output(onnx.load(str(tmp_path / "again.onnx")), x),
                               onnxruntime_output(onnx.load(str(original)), x), rtol=1e-5, atol=1e-6)


def test_a_graph_import_error_names_the_node_and_writes_nothing(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["a"], name="r"),
                               helper.make_node("Mul", ["a", "x"], ["y"], name="gate")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "m.onnx"))
    result = invoke("import", "onnx", tmp_path / "m.onnx", "-o", tmp_path / "m.yaml", "--weights-out",
                    tmp_path / "m.safetensors")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "node 1 gate (Mul): op type Mul is not supported" in result.stderr
    assert not (tmp_path / "m.yaml").exists() and not (tmp_path / "m.safetensors").exists()
