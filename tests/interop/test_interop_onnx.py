"""ONNX export: the checker passes with full shape inference, and onnxruntime computes what the NumPy oracle does."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet_spec import backends
from alexnet_spec.errors import SpecError
from alexnet_spec.interop.onnx_export import export_model
from alexnet_spec.loading import load_network
from tests.conftest import SPECS_DIR, resolve_text, run_cli

onnx = pytest.importorskip("onnx", reason="export needs the [onnx] extra")
ort = pytest.importorskip("onnxruntime", reason="export tests run the model in onnxruntime")

EVERY_FORM = """
    name: EveryForm
    input: {channels: 4, height: 13, width: 11}
    layers:
      - {type: conv, out_channels: 6, kernel: 3, stride: 2, padding: same, activation: relu}
      - {type: lrn, size: 3, alpha: 0.3, beta: 0.75, k: 2, convention: paper, groups: 2}
      - {type: maxpool, kernel: 2, stride: 2, ceil_mode: true}
      - {type: batchnorm}
      - {type: conv, out_channels: 4, kernel: 1, groups: 2}
      - {type: avgpool, kernel: 2, stride: 1, padding: 1}
      - {type: adaptive_avgpool, output_size: 1}
      - {type: flatten}
      - {type: dropout, p: 0.5}
      - {type: dense, out_features: 5, activation: tanh}
      - {type: softmax}
"""


def run_both(net, tmp_path):
    from alexnet_spec.backends.numpy.weights import init_weights

    rng = np.random.default_rng(0)
    weights = init_weights(net, rng)
    for name in weights:
        if name.endswith("running_var"):
            weights[name] = rng.uniform(0.5, 2, weights[name].shape)
    model = export_model(net, weights)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {info.name: [d.dim_value for d in info.type.tensor_type.shape.dim][1:] for info in inferred.graph.value_info}
    for layer in net.layers:
        if layer.name in shapes:
            assert tuple(shapes[layer.name]) == layer.output_shape, layer.name
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    x = rng.standard_normal((2,) + net.input_shape).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [actual] = session.run(None, {"input": x})
    expected = backends.get("numpy").evaluate(net, weights, x.astype(np.float64))[-1][1]
    return actual, expected


def test_every_layer_form_runs_in_onnxruntime(tmp_path):
    actual, expected = run_both(resolve_text(EVERY_FORM), tmp_path)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spec", ["lenet5.yaml", "alexnet_keras_bn.yaml", "caffenet.yaml", "alexnet.yaml",
                                  "alexnet_torchvision.yaml"])
def test_shipped_specs_run_in_onnxruntime(tmp_path, spec):
    actual, expected = run_both(load_network(SPECS_DIR / spec), tmp_path)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_unequal_adaptive_bins_are_refused():
    from alexnet_spec.backends.numpy.weights import init_weights

    net = resolve_text(EVERY_FORM.replace("output_size: 1", "output_size: 2"))
    with pytest.raises(SpecError, match="unequal bins"):
        export_model(net, init_weights(net, np.random.default_rng(0)))
    with pytest.raises(SpecError, match="missing weight 'conv1.weight'"):
        export_model(net, {})


def test_cli_export(tmp_path):
    result = run_cli("export", "specs/lenet5.yaml", "--format", "onnx", "-o", str(tmp_path / "lenet.onnx"))
    assert result.returncode == 0, result.stderr
    onnx.checker.check_model(onnx.load(str(tmp_path / "lenet.onnx")), full_check=True)
    bad = run_cli("export", "specs/lenet5.yaml", "--format", "tflite", "-o", str(tmp_path / "x"))
    assert bad.returncode == 2 and "unknown format 'tflite'" in bad.stderr and not (tmp_path / "x").exists()


@pytest.mark.parametrize("spec", ["lenet5.yaml", "alexnet.yaml", "alexnet_keras_bn.yaml"])
def test_spec_to_onnx_to_spec_round_trip(tmp_path, spec):
    from alexnet_spec.backends.numpy.weights import init_weights
    from alexnet_spec.interop.onnx_import import import_onnx_text
    from alexnet_spec.loading import parse_network

    net = load_network(SPECS_DIR / spec)
    weights = init_weights(net, np.random.default_rng(3))
    path = tmp_path / "model.onnx"
    path.write_bytes(export_model(net, weights).SerializeToString())
    text, imported_weights = import_onnx_text(path)
    back = parse_network(text, str(tmp_path / "back.yaml"))
    kept = [layer for layer in net.layers if layer.type != "dropout"]  # dropout is not exported
    assert [(l.name, l.type, l.output_shape, l.params, l.macs) for l in back.layers] == \
        [(l.name, l.type, l.output_shape, l.params, l.macs) for l in kept]
    x = np.random.default_rng(4).standard_normal((1,) + net.input_shape)
    oracle = backends.get("numpy")
    np.testing.assert_allclose(oracle.evaluate(back, imported_weights, x)[-1][1], oracle.evaluate(net, weights, x)[-1][1],
                               rtol=1e-5, atol=1e-7)


def test_unsupported_op_names_the_node(tmp_path):
    from onnx import TensorProto, helper

    from alexnet_spec.interop.onnx_import import import_onnx

    graph = helper.make_graph([helper.make_node("Sin", ["input"], ["y"], name="wobble")], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])])
    path = tmp_path / "sin.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(SpecError, match=r"node wobble \(Sin\): op type Sin is not supported"):
        import_onnx(path)
    result = run_cli("import", "onnx", str(path))
    assert result.returncode == 2 and "wobble" in result.stderr
