"""ONNX export: onnx.checker passes with full shape inference, onnx infers alexspec's shapes, and onnxruntime computes
what the torch build computes, with the same weights, for every file in specs/."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet_spec.errors import SpecError
from tests.conftest import SPEC_FILES, resolve_text, spec_to_run
from tests.interop.onnx_helpers import (
    EVERY_FORM,
    assert_close,
    onnxruntime_output,
    oracle_output,
    quick_weights,
    torch_output,
)

onnx = pytest.importorskip("onnx", reason="export needs the [onnx] extra")
pytest.importorskip("onnxruntime", reason="the export tests run the models in onnxruntime")

from alexnet_spec.interop.onnx_export import OPSET, export_model  # noqa: E402


def inferred_shapes(model) -> dict[str, tuple]:
    """onnx's shape inference of every value, run on the graph with each weight an input of its shape (the same
    shapes as with the initializers, without copying AlexNet's 240 MB twice more)."""
    graph = onnx.GraphProto()
    graph.CopyFrom(model.graph)
    del graph.initializer[:]
    graph.input.extend(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
                       for tensor in model.graph.initializer)
    skeleton = onnx.helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    inferred = onnx.shape_inference.infer_shapes(skeleton, strict_mode=True)
    return {info.name: tuple(dim.dim_param or dim.dim_value for dim in info.type.tensor_type.shape.dim)
            for info in list(inferred.graph.value_info) + list(inferred.graph.output)}


def layer_values(net) -> dict[str, tuple]:
    """Each layer's output value as the export names it (the layer, or `<layer>_<activation>`), and its shape."""
    values = {}
    for layer in net.layers:
        activation = getattr(layer.attrs, "activation", None)
        values[f"{layer.name}_{activation}" if activation else layer.name] = ("N", *layer.output_shape)
    return values


def export_and_check(net, weights):
    model = export_model(net, weights, check=False)
    onnx.checker.check_model(model, full_check=True)
    shapes = inferred_shapes(model)
    assert {value: shapes.get(value) for value in layer_values(net)} == layer_values(net)
    assert [entry.version for entry in model.opset_import] == [OPSET] and model.producer_name == "alexspec"
    return model


@pytest.mark.parametrize("path", SPEC_FILES, ids=[path.name for path in SPEC_FILES])
def test_every_shipped_spec_runs_in_onnxruntime_as_the_torch_build(path):
    net = spec_to_run(path)
    weights = quick_weights(net)
    model = export_and_check(net, weights)
    x = np.random.default_rng(1).standard_normal((1, *net.input_shape), dtype=np.float32)
    assert_close(onnxruntime_output(model, x), torch_output(net, weights, x))


def test_every_layer_form_runs_in_onnxruntime():
    net = resolve_text(EVERY_FORM)
    assert net.layer("conv1").attrs.padding == (0, 1, 1, 1)  # `same` at stride 2: 14 rows get one more at the bottom
    weights = quick_weights(net, seed=2)
    model = export_and_check(net, weights)
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("LRN") == 3 and "Split" in ops and ops.count("MatMul") == 2 and "Dropout" in ops
    x = np.random.default_rng(3).standard_normal((3, *net.input_shape), dtype=np.float32)
    actual = onnxruntime_output(model, x)
    assert_close(actual, torch_output(net, weights, x))
    assert_close(actual, oracle_output(net, weights, x).astype(np.float32))


@pytest.mark.parametrize("convention, alpha, size, onnx_alpha", [
    ("paper", 1e-4, 5, 5e-4), ("tf", 1e-4, 5, 5e-4), ("caffe", 1e-4, 5, 1e-4), ("torch", 2e-4, 3, 2e-4),
])
def test_lrn_alpha_becomes_onnxs(convention, alpha, size, onnx_alpha):
    """ONNX's LRN: y = x / (bias + alpha/size * sum of squares)^beta; the spec's scale multiplies the plain sum."""
    net = resolve_text(f"""
        name: OneLRN
        input: {{channels: 7, height: 2, width: 3}}
        layers:
          - {{type: lrn, size: {size}, alpha: {alpha}, beta: 0.75, k: 2, convention: {convention}}}
    """)
    model = export_model(net, {})
    [node] = model.graph.node
    attributes = {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}
    assert attributes["alpha"] == pytest.approx(onnx_alpha, rel=1e-7) and attributes["size"] == size
    x = np.random.default_rng(0).standard_normal((1, 7, 2, 3)).astype(np.float32) * 30
    squares = np.pad(x.astype(np.float64) ** 2, ((0, 0), (size // 2, size // 2), (0, 0), (0, 0)))
    window = np.stack([squares[:, c:c + size].sum(axis=1) for c in range(7)], axis=1)
    scale = alpha if convention in ("paper", "tf") else alpha / size
    expected = x / (2 + scale * window) ** 0.75
    assert_close(onnxruntime_output(model, x), expected.astype(np.float32))


def test_weights_that_do_not_fit_are_errors():
    net = resolve_text(EVERY_FORM)
    weights = quick_weights(net)
    with pytest.raises(SpecError, match=r"missing conv1\.weight"):
        export_model(net, {key: value for key, value in weights.items() if key != "conv1.weight"})
    with pytest.raises(SpecError, match=r"unexpected conv9\.weight"):
        export_model(net, {**weights, "conv9.weight": np.zeros(3)})
    with pytest.raises(SpecError, match=r"weight 'fc1\.weight' has shape \(7, 5\)"):
        export_model(net, {**weights, "fc1.weight": np.zeros((7, 5))})
    export_model(net, {**weights, "bn1.num_batches_tracked": np.array(3)}, check=False)  # torch's counter: ignored


@pytest.mark.parametrize("layer", [
    "{type: avgpool, kernel: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false}",
    "{type: avgpool, kernel: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: true}",
    "{type: avgpool, kernel: 3, stride: 2, padding: same}",  # count_include_pad false by default (TensorFlow)
    "{type: avgpool, kernel: 3, stride: 2, padding: same, count_include_pad: true}",
    "{type: maxpool, kernel: 1, stride: 4, ceil_mode: true, ceil_rule: caffe}",  # Caffe's empty last window
    "{type: avgpool, kernel: 1, stride: 4, ceil_mode: true, ceil_rule: caffe}",
])
def test_pooling_semantics_run_in_onnxruntime_as_the_oracle(layer):
    net = resolve_text(f"""
        name: P
        input: {{channels: 2, height: 7, width: 7}}
        layers:
          - {layer}
    """)
    model = export_and_check(net, {})
    x = np.random.default_rng(4).standard_normal((2, *net.input_shape), dtype=np.float32)
    expected = oracle_output(net, {}, x)
    np.testing.assert_allclose(onnxruntime_output(model, x), expected, rtol=1e-6, atol=1e-6)
    if "caffe" in layer:
        assert net.layers[0].output_shape == (2, 3, 3) and [node.op_type for node in model.graph.node][-1] == "Pad"


def test_every_edge_has_its_shape_and_the_model_says_what_it_is():
    """Netron shows value_info on the arrows: every node output carries alexspec's shape, without inference run."""
    import alexnet_spec

    net = resolve_text(EVERY_FORM)
    model = export_model(net, quick_weights(net))
    declared = {info.name: tuple(dim.dim_param or dim.dim_value for dim in info.type.tensor_type.shape.dim)
                for info in list(model.graph.value_info) + list(model.graph.output)}
    produced = {output for node in model.graph.node for output in node.output}
    assert produced == set(declared)
    assert {value: declared[value] for value in layer_values(net)} == layer_values(net)
    props = {prop.key: prop.value for prop in model.metadata_props}
    assert props["alexspec.spec_name"] == "EveryForm" and props["alexspec.spec_hash"] == net.spec_hash
    assert "LRN alpha = the spec's scale × size" in props["alexspec.conventions"]
    assert (model.producer_name, model.producer_version) == ("alexspec", alexnet_spec.__version__)


def test_a_graph_with_every_new_layer_kind_runs_in_onnxruntime_as_the_oracle():
    import onnxruntime

    from backends.numpy.interpreter import run as oracle_run
    from tests.conftest import GRAPH_SPEC

    net = resolve_text(GRAPH_SPEC)
    weights = quick_weights(net, seed=4)
    model = export_and_check(net, weights)
    ops = {node.op_type for node in model.graph.node}
    assert {"Concat", "Sum", "GlobalAveragePool", "GlobalMaxPool", "LeakyRelu", "Elu", "Gelu", "PRelu"} <= ops
    x = np.random.default_rng(5).standard_normal((2, *net.input_shape), dtype=np.float32)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    actual = session.run(None, {"input": x})
    assert len(actual) == len(net.output_names)
    expected = oracle_run(net, {k: np.asarray(v, np.float64) for k, v in weights.items()}, x.astype(np.float64))
    expected = expected if isinstance(expected, tuple) else (expected,)
    for got, want in zip(actual, expected):
        assert_close(got, want.astype(np.float32))
