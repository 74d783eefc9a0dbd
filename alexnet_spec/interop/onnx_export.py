"""Spec -> ONNX, built from the resolved network with onnx.helper, not through torch.onnx: every node is alexspec's
own choice, the export needs no torch, and the weights are the canonical arrays (torch state_dict names and layouts).

    model = export_model(net, weights)      # an onnx.ModelProto, checked (full_check) and shape-inferred

Opset 22 (IR version 10): the first opset whose shape inference applies the ceil_mode rule that PyTorch, Caffe and
onnxruntime all follow (a last window starting in the right padding is dropped); with opsets 17 to 21, onnx infers
one row too many for 126 of 1,136 small ceil_mode pooling cases (measured), while onnxruntime computes the right one.

One node (or a few) per layer, named after it, its output value named after it too:
- conv: Conv with explicit `pads` (top, left, bottom, right: asymmetric padding as it is); dense: Gemm, transB=1.
- lrn: ONNX's LRN, whose formula divides alpha by size, so alpha = scale * size whatever the spec's convention;
  a grouped LRN is Split, one LRN per group, Concat (`<name>_split`, `<name>_group<g>`, `<name>`).
- maxpool/avgpool: MaxPool/AveragePool with `ceil_mode`; AveragePool's count_include_pad from the spec's; Caffe's
  empty last window (`ceil_rule: caffe`) as a Pad after the pooling, filled with Caffe's value.
- adaptive_avgpool: GlobalAveragePool for 1×1, AveragePool when the bins are equal, otherwise two MatMuls with the
  bins' averaging matrices (`<name>_cols`, `<name>`): exact for PyTorch's unequal bins too.
- flatten: Flatten(axis=1), C, H, W order; batchnorm: BatchNormalization (momentum = 1 - the spec's);
  dropout: Dropout with its ratio (the identity in inference), kept so that a round trip keeps the layer;
  an `activation` on a conv or dense layer: its own node `<name>_<activation>`.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import (
    AdaptivePoolAttrs,
    BatchNormAttrs,
    ConvAttrs,
    DenseAttrs,
    DropoutAttrs,
    ELUAttrs,
    GELUAttrs,
    LeakyReLUAttrs,
    LRNAttrs,
    PReLUAttrs,
    PoolAttrs,
    ResolvedLayer,
    ResolvedNetwork,
)

OPSET = 22
IR_VERSION = 10
INPUT = "input"
CAFFE_LOWEST = float(np.finfo(np.float32).min)  # -FLT_MAX, where Caffe's max pooling starts each window
ADAPTIVE_DOC = "alexspec adaptive_avgpool output_size"
ACTIVATION_OPS = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "softmax": "Softmax"}


def adaptive_bins(size: int, output: int) -> np.ndarray:
    """The (output, size) matrix that averages PyTorch's adaptive bins: row i averages [floor(i*size/output),
    ceil((i+1)*size/output))."""
    matrix = np.zeros((output, size), dtype=np.float64)
    for index in range(output):
        start, end = (index * size) // output, -(-((index + 1) * size) // output)
        matrix[index, start:end] = 1.0 / (end - start)
    return matrix


class _Graph:
    """Nodes and initializers under construction."""

    def __init__(self, weights: Mapping[str, np.ndarray]):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.weights, self.nodes, self.initializers = weights, [], []

    def constant(self, name: str, array) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def weight(self, name: str) -> str:
        return self.constant(name, self.weights[name])

    def node(self, op: str, inputs: list[str], output: str, name: str, **attributes) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=name, **attributes))
        return output

    def activation(self, kind: str | None, value: str, name: str) -> str:
        if kind is None:
            return value
        extra = {"axis": 1} if kind == "softmax" else {}
        return self.node(ACTIVATION_OPS[kind], [value], f"{name}_{kind}", f"{name}_{kind}", **extra)


def _pads(padding: tuple[int, int, int, int]) -> list[int]:
    top, bottom, left, right = padding
    return [top, left, bottom, right]  # ONNX: all the begins, then all the ends


def _layer(graph: _Graph, layer: ResolvedLayer, values: list[str]) -> str:
    """Append the nodes of one layer reading `values` (one per input); return the name of its output value."""
    attrs, name, value = layer.attrs, layer.name, values[0]
    if layer.type == "concat":
        return graph.node("Concat", values, name, name, axis=1)
    if layer.type == "add":
        return graph.node("Sum", values, name, name)
    if layer.type in ("global_avgpool", "global_maxpool"):
        op = "GlobalAveragePool" if layer.type == "global_avgpool" else "GlobalMaxPool"
        return graph.node("Flatten", [graph.node(op, [value], f"{name}_pool", f"{name}_pool")], name, name, axis=1)
    if isinstance(attrs, LeakyReLUAttrs):
        return graph.node("LeakyRelu", [value], name, name, alpha=attrs.negative_slope)
    if isinstance(attrs, ELUAttrs):
        return graph.node("Elu", [value], name, name, alpha=attrs.alpha)
    if isinstance(attrs, GELUAttrs):
        return graph.node("Gelu", [value], name, name, approximate=attrs.approximate)
    if layer.type == "silu":
        return graph.node("Mul", [value, graph.node("Sigmoid", [value], f"{name}_sigmoid", f"{name}_sigmoid")],
                          name, name)
    if isinstance(attrs, PReLUAttrs):
        # PRelu broadcasts its slope from the right: one slope per channel of (N, C, H, W) is (C, 1, 1)
        slope = graph.weights[f"{name}.weight"]
        if attrs.num_parameters > 1 and layer.is_spatial:
            slope = slope.reshape(-1, 1, 1)
        return graph.node("PRelu", [value, graph.constant(f"{name}.weight", slope)], name, name)
    if isinstance(attrs, ConvAttrs):
        inputs = [value, graph.weight(f"{name}.weight")] + ([graph.weight(f"{name}.bias")] if attrs.bias else [])
        out = graph.node("Conv", inputs, name, name, kernel_shape=list(attrs.kernel), strides=list(attrs.stride),
                         pads=_pads(attrs.padding), dilations=list(attrs.dilation), group=attrs.groups)
        return graph.activation(attrs.activation, out, name)
    if isinstance(attrs, DenseAttrs):
        inputs = [value, graph.weight(f"{name}.weight")] + ([graph.weight(f"{name}.bias")] if attrs.bias else [])
        return graph.activation(attrs.activation, graph.node("Gemm", inputs, name, name, transB=1), name)
    if isinstance(attrs, PoolAttrs):
        return _pool(graph, layer, value)
    if isinstance(attrs, AdaptivePoolAttrs):
        return _adaptive(graph, layer, value)
    if isinstance(attrs, LRNAttrs):
        lrn = {"size": attrs.size, "alpha": attrs.scale * attrs.size, "beta": attrs.beta, "bias": attrs.k}
        if attrs.groups == 1:
            return graph.node("LRN", [value], name, name, **lrn)
        parts = [f"{name}_group{group}" for group in range(attrs.groups)]
        graph.nodes.append(graph.helper.make_node("Split", [value], [f"{part}_in" for part in parts],
                                                  name=f"{name}_split", axis=1, num_outputs=attrs.groups))
        normalised = [graph.node("LRN", [f"{part}_in"], part, part, **lrn) for part in parts]
        return graph.node("Concat", normalised, name, name, axis=1)
    if isinstance(attrs, BatchNormAttrs):
        inputs = [value] + [graph.weight(f"{name}.{key}") for key in ("weight", "bias", "running_mean", "running_var")]
        return graph.node("BatchNormalization", inputs, name, name, epsilon=attrs.eps, momentum=1 - attrs.momentum)
    if isinstance(attrs, DropoutAttrs):
        return graph.node("Dropout", [value, graph.constant(f"{name}.ratio", attrs.p)], name, name)
    if layer.type == "flatten":
        return graph.node("Flatten", [value], name, name, axis=1)
    extra = {"axis": 1} if layer.type == "softmax" else {}
    return graph.node(ACTIVATION_OPS[layer.type], [value], name, name, **extra)


def _pool(graph: _Graph, layer: ResolvedLayer, value: str) -> str:
    """MaxPool/AveragePool (PyTorch's ceil rule since opset 19); Caffe's empty last window, which no ONNX pooling
    keeps, is a Pad after it with Caffe's value there (max: -FLT_MAX; average: 0, its sum over a negative size)."""
    attrs, name = layer.attrs, layer.name
    op, extra = ("MaxPool", {}) if layer.type == "maxpool" else \
        ("AveragePool", {"count_include_pad": int(attrs.count_include_pad)})
    empty = any(attrs.empty_last)
    pooled = graph.node(op, [value], f"{name}_pool" if empty else name, name, kernel_shape=list(attrs.kernel),
                        strides=list(attrs.stride), pads=_pads(attrs.padding), ceil_mode=int(attrs.ceil_mode), **extra)
    if not empty:
        return pooled
    rows, columns = (int(flag) for flag in attrs.empty_last)
    graph.initializers.append(graph.numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, rows, columns], np.int64),
                                                            f"{name}.empty_pads"))
    fill = graph.constant(f"{name}.empty_value", CAFFE_LOWEST if layer.type == "maxpool" else 0.0)
    return graph.node("Pad", [pooled, f"{name}.empty_pads", fill], name, f"{name}_empty", mode="constant")


def _adaptive(graph: _Graph, layer: ResolvedLayer, value: str) -> str:
    (height, width), (out_h, out_w), name = layer.input_shape[1:], layer.attrs.output_size, layer.name
    if (out_h, out_w) == (1, 1):
        return graph.node("GlobalAveragePool", [value], name, name)
    if height % out_h == 0 and width % out_w == 0:  # the doc string lets the import give back adaptive_avgpool
        kernel = [height // out_h, width // out_w]
        graph.node("AveragePool", [value], name, name, kernel_shape=kernel, strides=kernel)
        graph.nodes[-1].doc_string = f"{ADAPTIVE_DOC} {out_h} {out_w}"
        return name
    # Unequal bins: (N, C, H, W) @ cols (W, out_w), then rows (out_h, H) @ that: each output averages its bin.
    columns = graph.node("MatMul", [value, graph.constant(f"{name}.cols", adaptive_bins(width, out_w).T)],
                         f"{name}_cols", f"{name}_cols")
    return graph.node("MatMul", [graph.constant(f"{name}.rows", adaptive_bins(height, out_h)), columns], name, name)


def checked_weights(net: ResolvedNetwork, weights: Mapping[str, Any], source: str = "weights") -> dict[str, np.ndarray]:
    """The canonical weights `net` needs, as float32 arrays: a missing, misshapen or unexpected entry is a SpecError
    (torch's `num_batches_tracked` buffers are ignored)."""
    from alexnet_spec.weights import canonical_arrays

    return {key: array.astype(np.float32, copy=False) for key, array in canonical_arrays(net, weights, source).items()}


def export_model(net: ResolvedNetwork, weights: Mapping[str, Any], source: str = "weights", check: bool = True):
    """An onnx.ModelProto of `net` with canonical `weights` (numpy arrays or torch tensors), input "input" of shape
    (N, C, H, W) float32. onnx's shape inference gives alexspec's shape for every layer's output, and with `check`,
    onnx.checker passes with full_check."""
    import onnx
    from onnx import TensorProto, helper

    import alexnet_spec

    graph = _Graph(checked_weights(net, weights, source))
    values = {"input": INPUT}  # each layer's output value, by layer name
    outputs = {}
    for layer in net.layers:
        value = _layer(graph, layer, [values[name] for name in layer.inputs])
        values[layer.name] = value
        outputs[value] = layer.output_shape
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", *net.input_shape])]
    result = [helper.make_tensor_value_info(values[name], TensorProto.FLOAT, ["N", *shape])
              for name, shape in zip(net.output_names, net.output_shapes)]

    def model_of(graph_proto):
        return helper.make_model(graph_proto, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="alexspec",
                                 producer_version=alexnet_spec.__version__, ir_version=IR_VERSION,
                                 doc_string=f"{net.name}, exported by alexspec from {net.file} (resolved spec "
                                            f"{net.spec_hash})")

    # Shapes first, on the graph without the weights' bytes (each weight an input of its shape): fast for AlexNet.
    declared = [helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
                for tensor in graph.initializers]
    edges = _check_shapes(model_of(helper.make_graph(graph.nodes, net.name, inputs + declared, result)), net, outputs)
    # Every edge's shape in value_info, so that a viewer (Netron) shows it on each arrow without running inference.
    model = model_of(helper.make_graph(graph.nodes, net.name, inputs, result, graph.initializers,
                                       doc_string=net.description or None, value_info=edges))
    helper.set_model_props(model, {"alexspec.spec_name": net.name, "alexspec.spec_hash": net.spec_hash,
                                   "alexspec.spec_file": net.file, "alexspec.source": net.source,
                                   "alexspec.conventions": CONVENTIONS})
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model


CONVENTIONS = ("input (N, C, H, W) float32; flatten in C, H, W order; LRN alpha = the spec's scale × size (ONNX "
               "divides alpha by size); BatchNormalization momentum = 1 - the spec's (PyTorch's convention); "
               "Dropout is the identity in inference; Gemm weights (out, in) with transB = 1")


def _check_shapes(model, net: ResolvedNetwork, outputs: dict[str, tuple[int, ...]]) -> list:
    """onnx's shape inference must agree with alexspec on every layer's output: a disagreement is a bug here.
    Returns the inferred value_info of every intermediate value."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {info.name: tuple(dim.dim_value for dim in info.type.tensor_type.shape.dim)[1:]
              for info in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for value, shape in outputs.items():
        if shapes.get(value) != shape:
            raise SpecError(Diagnostic(f"onnx infers {shapes.get(value)} for {value!r}, alexspec {shape}",
                                       file=net.file, layer=value,
                                       hint="this is a bug in alexspec's ONNX export; please report it"))
    return list(inferred.graph.value_info)
