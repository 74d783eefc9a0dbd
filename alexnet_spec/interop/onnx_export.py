"""Spec -> ONNX, built from the resolved network directly with onnx.helper (not through torch.onnx): every node is
alexspec's own choice, the export does not need torch, and the weights are the canonical numpy arrays.

Opset 17. LRN is ONNX's native `LRN`, whose formula divides alpha by `size`: ONNX alpha = scale * size. A grouped LRN
is Split, one LRN per group, Concat. Pooling keeps `ceil_mode`; padding is explicit `pads` (begin..., end...).
Dropout is the identity in inference and is not exported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import (
    AdaptivePoolAttrs,
    BatchNormAttrs,
    ConvAttrs,
    DenseAttrs,
    LRNAttrs,
    PoolAttrs,
    ResolvedLayer,
    ResolvedNetwork,
)

OPSET = 17
ACTIVATION_OPS = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "softmax": "Softmax"}


class _Graph:
    def __init__(self, weights: Mapping[str, np.ndarray]):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.weights, self.nodes, self.initializers = weights, [], []

    def weight(self, name: str) -> str:
        if name not in self.weights:
            raise SpecError(Diagnostic(f"missing weight {name!r}", file="--weights", expected="every parameter of the "
                                       "spec, with torch state_dict names", hint="were these weights saved from "
                                       "another spec?"))
        self.initializers.append(self.numpy_helper.from_array(np.asarray(self.weights[name], np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, name: str, **attrs) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def activation(self, kind: str | None, value: str, name: str) -> str:
        if kind is None:
            return value
        extra = {"axis": 1} if kind == "softmax" else {}
        return self.node(ACTIVATION_OPS[kind], [value], f"{name}_{kind}", f"{name}_{kind}", **extra)


def _pads(padding) -> list[int]:
    top, bottom, left, right = padding
    return [top, left, bottom, right]


def _layer(graph: _Graph, layer: ResolvedLayer, value: str) -> str:
    attrs, name = layer.attrs, layer.name
    if isinstance(attrs, ConvAttrs):
        inputs = [value, graph.weight(f"{name}.weight")] + ([graph.weight(f"{name}.bias")] if attrs.bias else [])
        out = graph.node("Conv", inputs, name, name, kernel_shape=list(attrs.kernel), strides=list(attrs.stride),
                         pads=_pads(attrs.padding), dilations=list(attrs.dilation), group=attrs.groups)
        return graph.activation(attrs.activation, out, name)
    if isinstance(attrs, DenseAttrs):
        inputs = [value, graph.weight(f"{name}.weight")] + ([graph.weight(f"{name}.bias")] if attrs.bias else [])
        return graph.activation(attrs.activation, graph.node("Gemm", inputs, name, name, transB=1), name)
    if isinstance(attrs, PoolAttrs):
        op, extra = ("MaxPool", {}) if layer.type == "maxpool" else ("AveragePool", {"count_include_pad": 1})
        return graph.node(op, [value], name, name, kernel_shape=list(attrs.kernel), strides=list(attrs.stride),
                          pads=_pads(attrs.padding), ceil_mode=int(attrs.ceil_mode), **extra)
    if isinstance(attrs, AdaptivePoolAttrs):
        (height, width), (out_h, out_w) = layer.input_shape[1:], attrs.output_size
        if (out_h, out_w) == (1, 1):
            return graph.node("GlobalAveragePool", [value], name, name)
        if height % out_h or width % out_w:
            raise SpecError(Diagnostic(f"adaptive pooling {height}×{width} -> {out_h}×{out_w} has unequal bins, which "
                                       "ONNX cannot express", layer=name, file="--format onnx",
                                       hint="choose an output size that divides the input, or an input that it divides"))
        kernel = [height // out_h, width // out_w]
        return graph.node("AveragePool", [value], name, name, kernel_shape=kernel, strides=kernel)
    if isinstance(attrs, LRNAttrs):
        lrn = {"size": attrs.size, "alpha": attrs.scale * attrs.size, "beta": attrs.beta, "bias": float(attrs.k)}
        if attrs.groups == 1:
            return graph.node("LRN", [value], name, name, **lrn)
        parts = [f"{name}_group{g}" for g in range(attrs.groups)]
        graph.nodes.append(graph.helper.make_node("Split", [value], parts, name=f"{name}_split", axis=1,
                                                  num_outputs=attrs.groups) if OPSET >= 18 else
                           graph.helper.make_node("Split", [value], parts, name=f"{name}_split", axis=1))
        normalised = [graph.node("LRN", [part], f"{part}_lrn", f"{part}_lrn", **lrn) for part in parts]
        return graph.node("Concat", normalised, name, name, axis=1)
    if isinstance(attrs, BatchNormAttrs):
        inputs = [value] + [graph.weight(f"{name}.{key}") for key in ("weight", "bias", "running_mean", "running_var")]
        return graph.node("BatchNormalization", inputs, name, name, epsilon=attrs.eps, momentum=1 - attrs.momentum)
    if layer.type == "flatten":
        return graph.node("Flatten", [value], name, name, axis=1)
    if layer.type == "dropout":
        return value
    extra = {"axis": 1} if layer.type == "softmax" else {}
    return graph.node(ACTIVATION_OPS[layer.type], [value], name, name, **extra)


def export_model(net: ResolvedNetwork, weights: Mapping[str, Any]):
    """An onnx.ModelProto of `net` with canonical `weights`, checked with full shape inference."""
    import onnx
    from onnx import TensorProto, helper

    graph = _Graph({key: np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
                    for key, value in weights.items()})
    value = "input"
    for layer in net.layers:
        value = _layer(graph, layer, value)
    if value == "input":
        graph.node("Identity", [value], "output", "output")
        value = "output"
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *net.input_shape])]
    outputs = [helper.make_tensor_value_info(value, TensorProto.FLOAT, ["N", *net.output_shape])]
    model = helper.make_model(helper.make_graph(graph.nodes, net.name, inputs, outputs, graph.initializers),
                              opset_imports=[helper.make_opsetid("", OPSET)], producer_name="alexspec",
                              doc_string=f"{net.name} from {net.file} (resolved spec {net.spec_hash})")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def load_weights(path: str | Path | None, net: ResolvedNetwork) -> dict[str, np.ndarray]:
    """Canonical weights from a torch .pt state dict or a .npz; drawn from the spec's init (seed 0) without a file."""
    if path is None:
        from alexnet_spec.backends.numpy.weights import init_weights

        return init_weights(net, np.random.default_rng(0))
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path) as archive:
            return {key: archive[key] for key in archive.files}
    if path.suffix == ".pt":
        import torch

        return {key: value.numpy() for key, value in torch.load(path, map_location="cpu", weights_only=True).items()}
    raise SpecError(Diagnostic(f"cannot read weights from a {path.suffix or 'suffix-less'} file", file=str(path),
                               expected="a torch state dict (.pt) or a .npz with the canonical names"))
