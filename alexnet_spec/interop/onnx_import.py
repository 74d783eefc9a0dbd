"""ONNX -> spec and canonical weights, for graphs of the spec's layer types.

    imported = import_onnx("model.onnx")        # .data (the spec as plain data), .weights, .explicit

The graph is read in its (topological) node order: a node that reads a layer's output is a layer, or starts a
pattern that is one; shape and constant computations are folded where a layer reads them. A layer lists its
`inputs` only where it does not read the layer written before it (so a chain imports as it always has), and a graph
with several outputs gets the spec's `outputs`.

Read: Conv, Relu, Tanh, Sigmoid, Softmax, LeakyRelu, Elu, Gelu, PRelu, LRN, MaxPool, AveragePool,
GlobalAveragePool, GlobalMaxPool, ReduceMean over H and W, Flatten or a Reshape to (N, features), Gemm or MatMul
(+ Add), Concat, Add and Sum of layer outputs, Dropout, BatchNormalization, Identity, constants (initializers or
Constant nodes), and these patterns as one layer: Split, LRN per part, Concat (a grouped LRN); two MatMuls with
PyTorch's adaptive-pooling bin matrices (how `alexspec export` writes adaptive pooling with unequal bins); torch's
LocalResponseNorm and GELU decompositions and x * Sigmoid(x) (onnx_patterns.py); `alexspec export`'s global pooling
and Flatten pair.

Made explicit in the spec's header: LRN in the `torch` convention (ONNX's LRN divides alpha by size, as PyTorch
does), sizes ONNX floors as `allow_truncation: true` on that layer, `auto_pad` as explicit padding, ONNX's
BatchNormalization momentum m as the spec's 1 - m. A node named `<layer>_<activation>` right after a conv or dense
layer (as the export writes them) becomes that layer's `activation`. Anything else is a SpecError naming the node
(its index, name and op type).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alexnet_spec.arithmetic import window_output
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.limits import MAX_ONNX_BYTES
from alexnet_spec.interop.common import Namer, model_name, one_minus, renamed_note, short_float, spec_header, spec_yaml
from alexnet_spec.interop.onnx_export import ADAPTIVE_DOC, adaptive_bins
from alexnet_spec.interop.onnx_graph import BATCH, Graph, node_inputs
from alexnet_spec.interop.onnx_patterns import module_scope, silu_end, torch_gelu, torch_lrn, torch_lrn_end
from alexnet_spec.spec.layers import NAME_PREFIX

SUPPORTED = ("Transpose", "Conv", "Relu", "Tanh", "Sigmoid", "Softmax", "LRN", "MaxPool", "AveragePool", "GlobalAveragePool",
             "GlobalMaxPool", "Flatten", "Reshape", "Gemm", "MatMul", "Add", "Sum", "Concat", "Dropout",
             "BatchNormalization", "Identity", "Split", "LeakyRelu", "Elu", "Gelu", "PRelu", "Div", "ReduceMean",
             "Constant")
MERGES = ("Concat", "Sum")  # and Add of two layer outputs (an Add of a constant is a MatMul's bias)
# Graph names that exporters give every model (torch.onnx: "main_graph"; older: "torch_jit", "torch-jit-export"):
# the file's name says more.
EXPORTER_GRAPH_NAMES = frozenset({"main_graph", "torch_jit", "torch-jit-export", "tf2onnx", "graph"})
ACTIVATIONS = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softmax": "softmax"}


@dataclass
class OnnxImport:
    """An imported model: the spec as plain data, its canonical float32 weights, and what was made explicit."""

    file: str
    data: dict
    weights: dict[str, np.ndarray]
    explicit: list[str]
    nodes: dict[str, str] = field(default_factory=dict)  # spec layer name -> "node (OpType)", for errors


class _Reader:
    def __init__(self, model, file: str):
        from onnx import helper

        self.helper, self.file = helper, file
        self.g = Graph(model)
        self.graph, self.opset, self.constants = model.graph, self.g.opset, self.g.constants
        self.all_nodes, self.visited, self.consumers = self.g.nodes, self.g.visited, self.g.consumers
        for node in self.all_nodes:  # topological order: a constant's producer comes first
            if node.op_type in ("Constant", "Identity"):  # torch.onnx shares equal tensors through Identity
                self.g.value(node.output[0])
        self.namer = Namer()
        self.keras = model.producer_name == "tf2onnx"  # node names `model/layer/Op`: the Keras layer names them
        self.scopes_named: set[str] = set()
        self.notes: dict[str, list[str]] = {}
        self.layers: list[dict] = []
        self.weights: dict[str, np.ndarray] = {}
        self.nodes: dict[str, str] = {}
        self.original: dict[str, str] = {}  # spec layer name -> its node's name

    # Errors and notes.
    def error(self, node, message: str, **kwargs) -> SpecError:
        return SpecError(Diagnostic(f"{self.g.describe(node)}: {message}", file=self.file, **kwargs))

    def note(self, text: str, layer: str | None = None) -> None:
        self.notes.setdefault(text, [])
        if layer is not None:
            self.notes[text].append(layer)

    # Reading nodes.
    def attrs(self, node) -> dict:
        values = {attribute.name: self.helper.get_attribute_value(attribute) for attribute in node.attribute}
        return {key: value.decode() if isinstance(value, bytes) else value for key, value in values.items()}

    def const(self, node, index: int, what: str) -> np.ndarray:
        if index >= len(node.input) or not node.input[index]:
            raise self.error(node, f"has no {what}")
        value = self.g.value(node.input[index])
        if value is None:
            raise self.error(node, f"its {what} ({node.input[index]!r}) is computed, not a constant",
                             expected="an initializer, a Constant node, or a computation from constants and sizes",
                             hint="fold constants first (onnxsim)")
        return value

    def optional_const(self, node, index: int, what: str) -> np.ndarray | None:
        return self.const(node, index, what) if index < len(node.input) and node.input[index] else None

    def only_user(self, value: str, reader) -> object:
        """The one node that reads `value` inside a pattern; another reader or none is an error."""
        users = self.g.readers(value)
        if len(users) != 1:
            found = ", ".join(self.g.describe(user) for user in users) or "no node"
            raise self.error(reader, f"its output {value!r} is read by {found}",
                             expected="exactly one reader: a value inside a pattern that is one layer")
        return users[0]

    def unused_outputs(self, node, keep: int = 1) -> None:
        for value in node.output[keep:]:
            if value and (self.consumers.get(value) or value in {output.name for output in self.graph.output}):
                raise self.error(node, f"its extra output {value!r} is used", expected="only the first output used")

    # The walk over the graph, in its (topological) node order, from the input to the outputs.
    def read(self) -> dict:
        inputs = [value for value in self.graph.input if value.name not in self.constants]
        if len(inputs) != 1:
            raise SpecError(Diagnostic(f"the graph has {len(inputs)} inputs", file=self.file,
                                       expected="one input (N, C, H, W)"))
        dims = [dim.dim_value if dim.HasField("dim_value") else None for dim in inputs[0].type.tensor_type.shape.dim]
        if len(dims) != 4 or not all(dims[1:]):
            raise SpecError(Diagnostic(f"the input {inputs[0].name!r} has shape {dims}", file=self.file,
                                       expected="(N, C, H, W) with known C, H and W"))
        self.batch = dims[0]
        if self.batch is None:
            self.note(f"the input's batch dimension is dynamic ({_dim_text(inputs[0])}): a spec has no batch size")
        value, shape = inputs[0].name, tuple(dims[1:])
        self.hwc = None  # (C, H, W) of a map flattened in H, W, C order, until the dense layer that reads it
        first = self.g.readers(value)
        if len(first) == 1 and self._nhwc_to_nchw(first[0], dims):
            self.visited.add(id(first[0]))  # tf2onnx's Keras models: an NHWC input, transposed to NCHW first
            value, shape = first[0].output[0], (dims[3], dims[1], dims[2])
            self.g.shapes[inputs[0].name] = tuple(dims[1:])
            self.note(f"the ONNX input is NHWC, (N, {', '.join(map(str, dims[1:]))}), and its first node a "
                      f"{first[0].op_type} to NCHW: the spec's input is (C, H, W) = {shape}; feed the torch module "
                      "NCHW, the JAX module NHWC (its default layout)")
        channels, height, width = shape
        self.g.shapes[value] = shape
        self.layer_of = {value: "input"}  # an ONNX value -> the spec layer whose output it is
        for node in self.all_nodes:
            if id(node) in self.visited:
                continue
            data = [name for name in node_inputs(node) if name in self.layer_of]
            # A size (Shape reads only that) or a constant computation is folded when a layer reads it; a node not
            # reached from the input is named by the check below.
            if data and node.op_type != "Shape":
                self._node(node, data)
        if self.hwc is not None:
            raise SpecError(Diagnostic("the output is a map flattened in H, W, C order", file=self.file,
                                       expected="a dense layer after a channels-last flatten (the spec flattens in "
                                                "C, H, W order; a dense layer's weights can be reordered, an output "
                                                "cannot)"))
        stray = [node for node in self.all_nodes if id(node) not in self.visited]
        if stray:
            raise self.error(stray[0], "is not on a path from the input to an output",
                             expected="every node computes a layer from the input, or a constant")
        if not self.layers:
            raise SpecError(Diagnostic("the graph has no layers", file=self.file))
        body = {"input": {"channels": channels, "height": height, "width": width}, "layers": self.layers}
        outputs = self._outputs()
        if outputs != [self.layers[-1]["name"]]:
            body["outputs"] = outputs
        return body

    def _outputs(self) -> list[str]:
        """The spec layers of the graph's outputs, in the graph's order."""
        names = []
        for output in self.graph.output:
            layer = self.layer_of.get(output.name)
            if layer is None or layer == "input":
                raise SpecError(Diagnostic(f"the graph output {output.name!r} is " + (
                    "the input itself" if layer else "not computed from the input by the nodes read"),
                    file=self.file, expected="outputs computed by layers"))
            if layer in names:
                raise SpecError(Diagnostic(f"the graph outputs {output.name!r} and another one are the same layer "
                                           f"{layer}'s output", file=self.file, expected="distinct outputs"))
            names.append(layer)
        return names

    def _node(self, node, data: list[str]) -> None:
        """Read one node (with the pattern it starts) whose inputs `data` are layer outputs; record what its output
        value is: the layer it added, or the layer it read (a node that adds none, such as Identity)."""
        lrn = torch_lrn_end(self.g.readers(data[0]), data[0])
        if lrn is not None:
            self.reading = [self.layer_of[data[0]]]
            before = len(self.layers)
            self._produced(self._torch_lrn(data[0], lrn, self.g.shapes[data[0]]), data[0], before)
            return
        self.visited.add(id(node))
        op = node.op_type
        if op in MERGES or (op == "Add" and len(data) > 1):
            if any(value not in self.layer_of for value in node.input):
                raise self.error(node, "merges layer outputs with a constant or a value not computed by a layer",
                                 expected=f"{op} of layer outputs only")
            self.reading = [self.layer_of[value] for value in node.input]
            shapes = [self.g.shapes[value] for value in node.input]
            before = len(self.layers)
            self._produced(getattr(self, f"_{op.lower()}_layers")(node, shapes), node.input[0], before)
            return
        if op not in SUPPORTED or op in ("Add", "Constant"):
            raise self.error(node, f"op type {op} is not supported" if op not in SUPPORTED
                             else "not part of a supported pattern",
                             expected=f"one of {', '.join(op for op in SUPPORTED if op != 'Constant')}")
        if data != [node.input[0]]:
            other = next(value for value in data if value != node.input[0])
            raise self.error(node, f"reads the layer output {other!r} as input {list(node.input).index(other)}",
                             expected=f"a {op} whose only computed input is its first (the others constants)")
        self.reading = [self.layer_of[node.input[0]]]
        before = len(self.layers)
        self._produced(getattr(self, f"_{op.lower()}")(node, self.g.shapes[node.input[0]]), node.input[0], before)

    def _produced(self, result: tuple[str, tuple], source: str, before: int) -> None:
        """`result` (value, shape) is the output of the layer added last if the node added one (the layers were
        `before` long), else of the layer that `source` is the output of."""
        value, shape = result
        self.layer_of[value] = self.layers[-1]["name"] if len(self.layers) > before else self.layer_of[source]
        self.g.shapes[value] = shape

    def add(self, node, layer: dict, name_from=None) -> str:
        if self.hwc is not None and layer["type"] not in ("flatten", "dense", "dropout", "relu", "tanh", "sigmoid"):
            raise self.error(name_from or node, f"a {layer['type']} layer on features flattened in H, W, C order",
                             expected="only a dense layer (after dropout or an activation) reads a channels-last "
                                      "flatten: its weights can be reordered to the spec's C, H, W order")
        """Append a spec layer for `node` (named after `name_from`, the node that ends a pattern, if given): after
        the module that made it where the exporter says so (torch's `/features/features.0/Conv` and the dynamo
        exporter's name scopes: `features_0`), else after the node."""
        named = name_from or node
        original = named.name
        name = self.namer.name(original, NAME_PREFIX[layer["type"]], base=self._scope(named, layer["type"]))
        previous = self.layers[-1]["name"] if self.layers else "input"
        reads = {"inputs": list(self.reading)} if self.reading != [previous] or len(self.reading) > 1 else {}
        self.layers.append({"type": layer.pop("type"), "name": name, **reads, **layer})
        self.nodes[name] = self.g.describe(named)
        self.original[name] = original
        return name

    def _scope(self, node, kind: str) -> str | None:
        """The readable name of what made `node`: torch's module (module_scope) or, in tf2onnx's files, the Keras
        layer (`branches/conv2d_5/BiasAdd`: conv2d_5); a second spec layer from one Keras layer (the activation of
        Conv2D(activation="relu")) adds its kind: conv2d_5_relu."""
        if not self.keras:
            return module_scope(node)
        parts = node.name.split("/")
        if len(parts) < 3 or not parts[1]:
            return None
        scope = parts[1] if parts[1] not in self.scopes_named else f"{parts[1]}_{kind}"
        self.scopes_named.add(parts[1])
        return scope

    def _weights(self, name: str, **arrays) -> None:
        for key, value in arrays.items():
            if value is not None:
                self.weights[f"{name}.{key}"] = np.asarray(value, dtype=np.float32)

    def _spatial(self, node, shape, kernel, attrs, ceil: bool = False, dilation=(1, 1)):
        """(stride, (top, bottom, left, right), output (H, W), floored) for a window op, auto_pad made explicit."""
        stride = tuple(attrs.get("strides", (1, 1)))
        auto_pad = attrs.get("auto_pad", "NOTSET")
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            pads = []
            for axis in range(2):
                size = shape[1 + axis]
                total = max((-(-size // stride[axis]) - 1) * stride[axis] + dilation[axis] * (kernel[axis] - 1) + 1
                            - size, 0)
                small, large = total // 2, total - total // 2
                pads.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
            padding = (*pads[0], *pads[1])
        elif auto_pad == "VALID":
            padding = (0, 0, 0, 0)
        elif auto_pad == "NOTSET":
            begin_h, begin_w, end_h, end_w = attrs.get("pads", (0, 0, 0, 0))
            padding = (begin_h, end_h, begin_w, end_w)
        else:
            raise self.error(node, f"auto_pad {auto_pad!r} is unknown")
        results = [window_output(shape[1 + axis], padding[2 * axis], padding[2 * axis + 1], kernel[axis],
                                 stride[axis], dilation[axis], ceil) for axis in range(2)]
        if any(result.size <= 0 for result in results):
            raise self.error(node, f"the window is larger than the padded input {shape}")
        floored = any(not result.is_whole and not result.rounded_up for result in results)
        return stride, padding, (results[0].size, results[1].size), floored

    def _explicit_padding(self, name: str, attrs: dict, floored: bool, layer: dict) -> None:
        if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            self.note(f"auto_pad {attrs['auto_pad']} written as explicit padding", name)
        if floored:
            layer["allow_truncation"] = True
            self.note("ONNX floors an inexact size: allow_truncation: true", name)

    # One method per op type: (node, input shape) -> (output value, output shape).
    def _conv(self, node, shape):
        attrs = self.attrs(node)
        weight = self.const(node, 1, "weight")
        groups = int(attrs.get("group", 1))
        if weight.ndim != 4:
            raise self.error(node, f"a {weight.ndim - 2}-D convolution", expected="a 2-D convolution (4-D weight)")
        if weight.shape[1] * groups != shape[0]:
            raise self.error(node, f"weight {weight.shape} with group {groups} does not read {shape[0]} channels")
        kernel = tuple(weight.shape[2:])
        if tuple(attrs.get("kernel_shape", kernel)) != kernel:
            raise self.error(node, f"kernel_shape {attrs['kernel_shape']} differs from the weight's {kernel}")
        dilation = tuple(attrs.get("dilations", (1, 1)))
        stride, padding, size, floored = self._spatial(node, shape, kernel, attrs, dilation=dilation)
        bias = self.optional_const(node, 2, "bias")
        layer = {"type": "conv", "out_channels": int(weight.shape[0]), "kernel": _compact(kernel),
                 "stride": _compact(stride), "padding": _padding(padding), "dilation": _compact(dilation),
                 "groups": groups, "bias": bias is not None}
        name = self.add(node, layer)
        self._explicit_padding(name, attrs, floored, self.layers[-1])
        self._weights(name, weight=weight, bias=bias)
        return node.output[0], (int(weight.shape[0]), *size)

    def _pool(self, node, shape, kind: str):
        attrs = self.attrs(node)
        self.unused_outputs(node)
        kernel = tuple(attrs.get("kernel_shape", ()))
        if len(kernel) != 2:
            raise self.error(node, f"kernel_shape {list(kernel)}", expected="a 2-D window")
        if any(value != 1 for value in attrs.get("dilations", (1, 1))):
            raise self.error(node, "dilated pooling is not in the spec language", expected="dilations 1")
        ceil = bool(attrs.get("ceil_mode", 0))
        stride, padding, size, floored = self._spatial(node, shape, kernel, attrs, ceil=ceil)
        layer = {"type": kind, "kernel": _compact(kernel), "stride": _compact(stride), "padding": _padding(padding)}
        if ceil:
            layer["ceil_mode"] = True
        if kind == "avgpool" and any(padding):  # ONNX's default, 0, leaves the padded zeros out of the average
            layer["count_include_pad"] = bool(attrs.get("count_include_pad", 0))
        name = self.add(node, layer)
        self._explicit_padding(name, attrs, floored, self.layers[-1])
        return node.output[0], (shape[0], *size)

    def _maxpool(self, node, shape):
        return self._pool(node, shape, "maxpool")

    def _averagepool(self, node, shape):
        if node.doc_string.startswith(ADAPTIVE_DOC):  # `alexspec export`'s adaptive_avgpool with equal bins
            out = tuple(int(value) for value in node.doc_string.split()[-2:])
            attrs = self.attrs(node)
            kernel = [shape[1] // out[0], shape[2] // out[1]]
            if shape[1] % out[0] == 0 and shape[2] % out[1] == 0 and list(attrs.get("kernel_shape", ())) == kernel \
                    and list(attrs.get("strides", ())) == kernel and not any(attrs.get("pads", ())) \
                    and not attrs.get("ceil_mode", 0) and attrs.get("auto_pad", "NOTSET") == "NOTSET":
                self.add(node, {"type": "adaptive_avgpool", "output_size": _compact(out)})
                return node.output[0], (shape[0], *out)
        return self._pool(node, shape, "avgpool")

    def _nhwc_to_nchw(self, node, dims) -> bool:
        """The input's first node takes NHWC to NCHW: a Transpose, or, for one channel, the Reshape to
        (N, 1, H, W) that tf2onnx writes in its place."""
        if node.op_type == "Transpose":
            return self.attrs(node).get("perm") == [0, 3, 1, 2]
        if node.op_type != "Reshape" or dims[3] != 1 or len(node.input) < 2 or node.input[1] not in self.constants:
            return False
        target = [int(value) for value in np.ravel(self.const(node, 1, "shape"))]
        return len(target) == 4 and target[0] in (-1, 0, BATCH, self.batch) and target[1:] == [1, *dims[1:3]]

    def _global_squeeze(self, node):
        """The Squeeze of the two 1×1 axes after a global pooling (tf2onnx's GlobalAveragePooling2D): features."""
        readers = self.g.readers(node.output[0])
        if len(readers) != 1 or readers[0].op_type != "Squeeze":
            return None
        squeeze = readers[0]
        axes = self.attrs(squeeze).get("axes") if self.opset < 13 else self.optional_const(squeeze, 1, "axes")
        return squeeze if axes is not None and sorted(int(axis) % 4 for axis in np.ravel(axes)) == [2, 3] else None

    def _global_flatten(self, node):
        """The Flatten after a global pooling named `<name>_pool`, as `alexspec export` writes the spec's
        global_avgpool/global_maxpool `<name>` (the pooling alone is adaptive_avgpool or a whole-map maxpool)."""
        readers = self.g.readers(node.output[0])
        if len(readers) == 1 and readers[0].op_type == "Flatten" and self.attrs(readers[0]).get("axis", 1) == 1 \
                and node.name == f"{readers[0].name}_pool":
            return readers[0]
        return None

    def _global_features(self, node, kind: str, shape):
        """A global pooling whose 1×1 map is flattened (`alexspec export`'s `<name>_pool` + Flatten, named after
        the Flatten) or squeezed (tf2onnx) right after it: one spec layer of `kind` giving (C,); None otherwise."""
        flatten = self._global_flatten(node)
        end = flatten or self._global_squeeze(node)
        if end is None:
            return None
        self.visited.add(id(end))
        self.add(node, {"type": kind}, name_from=flatten)
        return end.output[0], (shape[0],)

    def _globalaveragepool(self, node, shape):
        features = self._global_features(node, "global_avgpool", shape)
        if features is not None:
            return features
        self.add(node, {"type": "adaptive_avgpool", "output_size": 1})
        return node.output[0], (shape[0], 1, 1)

    def _reducemean(self, node, shape):
        """The mean over both spatial axes, as the dynamo exporter writes AdaptiveAvgPool2d((1, 1))."""
        attrs = self.attrs(node)
        axes = attrs.get("axes") if self.opset < 18 else self.optional_const(node, 1, "axes")
        axes = sorted(int(axis) % 4 for axis in np.ravel(axes)) if axes is not None else None
        if len(shape) != 3 or axes != [2, 3]:
            raise self.error(node, f"a mean over axes {axes} of a {shape} tensor",
                             expected="a mean over the height and width of a C×H×W map (axes [2, 3] or [-2, -1])")
        if attrs.get("keepdims", 1):
            name = self.add(node, {"type": "adaptive_avgpool", "output_size": 1})
            self.note("ReduceMean over the height and width: adaptive_avgpool to 1×1", name)
            return node.output[0], (shape[0], 1, 1)
        self.add(node, {"type": "global_avgpool"})
        return node.output[0], (shape[0],)

    def _globalmaxpool(self, node, shape):
        features = self._global_features(node, "global_maxpool", shape)
        if features is not None:
            return features
        name = self.add(node, {"type": "maxpool", "kernel": _compact(shape[1:]), "stride": 1})
        self.note("GlobalMaxPool: a maxpool whose kernel is the whole input map", name)
        return node.output[0], (shape[0], 1, 1)

    def _lrn_layer(self, node, attrs: dict) -> dict:
        size = int(attrs.get("size", 0))
        if size % 2 == 0:
            raise self.error(node, f"LRN size {size} is even", expected="an odd size (a window centred on each "
                             "channel, as the spec's lrn has)")
        return {"type": "lrn", "size": size, "alpha": short_float(attrs.get("alpha", 1e-4)),
                "beta": short_float(attrs.get("beta", 0.75)), "k": short_float(attrs.get("bias", 1.0)),
                "convention": "torch"}

    def _lrn(self, node, shape):
        name = self.add(node, self._lrn_layer(node, self.attrs(node)))
        self.note("convention: torch (ONNX's LRN divides alpha by size, as PyTorch does)", name)
        return node.output[0], shape

    def _torch_lrn(self, value: str, division, shape):
        """torch's LocalResponseNorm decomposition (onnx_patterns.py) as one lrn, named after its module."""
        if len(shape) != 3:
            raise self.error(division, f"torch's LocalResponseNorm of a {shape} tensor", expected="a C×H×W map")
        layer, region = torch_lrn(self.g, value, division, shape[0], self.error)
        self.visited.update(id(node) for node in region)
        name = self.add(division, layer)
        self.note(f"torch's LocalResponseNorm decomposition (Mul, Pad, AveragePool, Pow, Div ...: {len(region)} nodes) "
                  "read as one lrn, convention: torch (alpha divided by size)", name)
        return division.output[0], shape

    def _split(self, node, shape):
        """Split on channels, one LRN per part with the same attributes, Concat in order: a grouped LRN."""
        attrs = self.attrs(node)
        groups = len(node.output)
        sizes = self.optional_const(node, 1, "split") if self.opset >= 13 else attrs.get("split")
        if attrs.get("axis", 0) != 1 or len(shape) != 3 or shape[0] % groups or (
                sizes is not None and any(int(size) != shape[0] // groups for size in np.ravel(sizes))):
            raise self.error(node, "only an equal Split of the channels, as in a grouped LRN, is supported")
        lrns = [self.only_user(part, node) for part in node.output]
        for index, lrn in enumerate(lrns):
            self.visited.add(id(lrn))
            if lrn.op_type != "LRN" or self.attrs(lrn) != self.attrs(lrns[0]):
                raise self.error(lrn, f"part {index} of Split {node.name!r} is not an LRN like the others",
                                 expected="Split, then one LRN per part (same attributes), then Concat")
        concat = self.only_user(lrns[0].output[0], lrns[0])
        self.visited.add(id(concat))
        if concat.op_type != "Concat" or list(concat.input) != [lrn.output[0] for lrn in lrns] or \
                self.attrs(concat).get("axis") != 1:
            raise self.error(concat, "does not concatenate the Split's LRNs in order on the channels",
                             expected="Split, then one LRN per part (same attributes), then Concat(axis=1)")
        layer = self._lrn_layer(lrns[0], self.attrs(lrns[0]))
        layer["groups"] = groups
        name = self.add(node, layer, name_from=concat)
        self.note("convention: torch (ONNX's LRN divides alpha by size, as PyTorch does)", name)
        self.note("Split, LRN per part, Concat: one lrn with groups", name)
        return concat.output[0], shape

    def _flatten(self, node, shape):
        axis = self.attrs(node).get("axis", 1)
        if axis != 1:
            raise self.error(node, f"Flatten with axis {axis}", expected="axis 1: (N, C, H, W) -> (N, C*H*W)")
        return self._to_features(node, shape)

    def _reshape(self, node, shape):
        target = [int(value) for value in np.ravel(self.const(node, 1, "shape"))]
        features = math.prod(shape)
        fits = len(target) == 2 and (target[1] == -1 and target[0] in (0, BATCH, self.batch) or
                                     target[1] == features and target[0] in (0, -1, BATCH, self.batch))
        if not fits or (self.attrs(node).get("allowzero", 0) and 0 in target):
            shown = ", ".join("N" if value == BATCH else str(value) for value in target)
            raise self.error(node, f"a Reshape to [{shown}] is not a flatten",
                             expected=f"(N, -1), (0, -1) or (-1, {features})")
        return self._to_features(node, shape)

    def _to_features(self, node, shape):
        if len(shape) == 1:
            self.note(f"{node.op_type} node {node.name!r} of features already flat: left out")
            return node.output[0], shape
        self.add(node, {"type": "flatten"})
        return node.output[0], (math.prod(shape),)

    def _transpose(self, node, shape):
        """Transpose(perm=[0, 2, 3, 1]) right before a flatten: a Keras model flattening channels last."""
        readers = self.g.readers(node.output[0])
        if self.attrs(node).get("perm") != [0, 2, 3, 1] or len(shape) != 3 or len(readers) != 1 or \
                readers[0].op_type not in ("Flatten", "Reshape"):
            raise self.error(node, f"Transpose with perm {self.attrs(node).get('perm')} on a {shape} tensor",
                             expected="an NHWC input's first Transpose (perm [0, 3, 1, 2]), or one to channels "
                                      "last (perm [0, 2, 3, 1]) right before a flatten")
        self.hwc = shape
        return node.output[0], (shape[1], shape[2], shape[0])

    def _dense(self, node, shape, weight: np.ndarray, bias: np.ndarray | None, output: str, name_from=None):
        if self.hwc is not None and weight.ndim == 2 and weight.shape[1] == math.prod(self.hwc):
            channels, height, width = self.hwc
            # Column j of the weight reads feature j of the H, W, C order; the spec's flatten gives C, H, W.
            weight = weight[:, np.arange(weight.shape[1]).reshape(height, width, channels).transpose(2, 0, 1).ravel()]
            self.hwc = None
            self.note("a map flattened channels last (H, W, C): the spec flattens C, H, W, so the next dense "
                      "layer's weight columns are reordered to match (the same function)")
        if len(shape) != 1:
            raise self.error(node, f"a dense layer on a {shape} map", expected="its input flattened first",
                             hint="the spec's flatten is ONNX's Flatten(axis=1)")
        if weight.ndim != 2 or weight.shape[1] != shape[0]:
            raise self.error(node, f"weight {weight.shape} does not read {shape[0]} features")
        out = weight.shape[0]
        if bias is not None:
            if bias.size not in (1, out) or bias.ndim > 2:
                raise self.error(node, f"bias of shape {bias.shape} for {out} outputs")
            bias = np.broadcast_to(np.ravel(bias), (out,))
        name = self.add(node, {"type": "dense", "out_features": int(out), "bias": bias is not None},
                        name_from=name_from)
        self._weights(name, weight=weight, bias=bias)
        return output, (int(out),)

    def _gemm(self, node, shape):
        attrs = self.attrs(node)
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            raise self.error(node, "only Gemm with alpha = beta = 1 and transA = 0 is a dense layer")
        weight = self.const(node, 1, "weight")
        weight = weight if attrs.get("transB", 0) else weight.T
        return self._dense(node, shape, weight, self.optional_const(node, 2, "bias"), node.output[0])

    def _matmul(self, node, shape):
        if len(shape) == 3:
            return self._adaptive(node, shape)
        if self.g.value(node.input[1]) is None:
            raise self.error(node, "only MatMul(features, constant weight) is a dense layer")
        weight = self.const(node, 1, "weight").T
        users = self.g.readers(node.output[0])
        if len(users) == 1 and users[0].op_type == "Add":
            add = users[0]
            other = [value for value in add.input if value != node.output[0]]
            if len(other) == 1 and self.g.value(other[0]) is not None:
                self.visited.add(id(add))
                return self._dense(node, shape, weight, self.g.value(other[0]), add.output[0])
        return self._dense(node, shape, weight, None, node.output[0])

    def _adaptive(self, node, shape):
        """MatMul(x, cols (W, out_w)), then MatMul(rows (out_h, H), that): adaptive average pooling's bins."""
        columns = self.const(node, 1, "bin matrix")
        second = self.only_user(node.output[0], node)
        self.visited.add(id(second))
        if second.op_type != "MatMul" or second.input[1] != node.output[0]:
            raise self.error(node, "a MatMul on a C×H×W map is only read as adaptive pooling (MatMul(x, cols), "
                             "then MatMul(rows, that))")
        rows = self.const(second, 0, "row bin matrix")
        height, width = shape[1:]
        if columns.ndim != 2 or rows.ndim != 2 or columns.shape[0] != width or rows.shape[1] != height or \
                not np.allclose(columns, adaptive_bins(width, columns.shape[1]).T, atol=1e-6) or \
                not np.allclose(rows, adaptive_bins(height, rows.shape[0]), atol=1e-6):
            raise self.error(node, "the matrices are not adaptive pooling's bins",
                             expected="PyTorch's adaptive average pooling bins")
        out = (int(rows.shape[0]), int(columns.shape[1]))
        self.add(node, {"type": "adaptive_avgpool", "output_size": _compact(out)}, name_from=second)
        return second.output[0], (shape[0], *out)

    def _batchnormalization(self, node, shape):
        attrs = self.attrs(node)
        self.unused_outputs(node)
        if attrs.get("training_mode", 0) or attrs.get("spatial", 1) != 1:
            raise self.error(node, "only inference-mode, per-channel batch normalisation is supported")
        arrays = {key: self.const(node, index, key) for index, key in
                  enumerate(("weight", "bias", "running_mean", "running_var"), start=1)}
        momentum = attrs.get("momentum", 0.9)
        layer = {"type": "batchnorm", "eps": short_float(attrs.get("epsilon", 1e-5)), "momentum": one_minus(momentum)}
        name = self.add(node, layer)
        self.note("ONNX's BatchNormalization momentum m is the spec's momentum 1 - m (PyTorch's convention)", name)
        self._weights(name, **arrays)
        return node.output[0], shape

    def _dropout(self, node, shape):
        self.unused_outputs(node)
        if self.opset >= 12:
            ratio = self.optional_const(node, 1, "ratio")
            ratio = 0.5 if ratio is None else float(ratio)
            training = self.optional_const(node, 2, "training_mode")
            if training is not None and bool(training):
                raise self.error(node, "Dropout in training mode", expected="training_mode absent or false")
        else:
            ratio = self.attrs(node).get("ratio", 0.5)
        self.add(node, {"type": "dropout", "p": short_float(ratio)})
        return node.output[0], shape

    def _identity(self, node, shape):
        return node.output[0], shape

    def _activation(self, node, shape):
        kind = ACTIVATIONS[node.op_type]
        if kind == "softmax":
            self._softmax_axis(node, shape)
        if kind == "sigmoid":
            multiply = silu_end(self.g, node)
            if multiply is not None:  # x * sigmoid(x), as torch and `alexspec export` write SiLU
                self.visited.add(id(multiply))
                self.add(node, {"type": "silu"}, name_from=multiply)
                return multiply.output[0], shape
        previous = self.layers[-1] if self.layers else None
        if previous is not None and previous["type"] in ("conv", "dense") and "activation" not in previous and \
                self.reading == [previous["name"]] and self.g.readers(node.input[0]) == [node] and \
                node.name == f"{self.original[previous['name']]}_{kind}":
            previous["activation"] = kind
            return node.output[0], shape
        self.add(node, {"type": kind})
        return node.output[0], shape

    _relu = _tanh = _sigmoid = _softmax = _activation

    def _leakyrelu(self, node, shape):
        self.add(node, {"type": "leaky_relu", "negative_slope": short_float(self.attrs(node).get("alpha", 0.01))})
        return node.output[0], shape

    def _elu(self, node, shape):
        self.add(node, {"type": "elu", "alpha": short_float(self.attrs(node).get("alpha", 1.0))})
        return node.output[0], shape

    def _gelu(self, node, shape):
        self.add(node, {"type": "gelu", "approximate": self.attrs(node).get("approximate", "none")})
        return node.output[0], shape

    def _div(self, node, shape):
        """x / sqrt(2), the start of torch's GELU decomposition (onnx_patterns.py) below opset 20."""
        nodes = torch_gelu(self.g, node, self.error)
        self.visited.update(id(part) for part in nodes)
        name = self.add(node, {"type": "gelu", "approximate": "none"}, name_from=nodes[-1])
        self.note("torch's GELU decomposition (Div by sqrt(2), Erf, Add 1, Mul x, Mul 0.5) read as one gelu", name)
        return nodes[-1].output[0], shape

    def _prelu(self, node, shape):
        """PRelu's slope broadcasts from the right: one slope, or one per channel ((C, 1, 1) on a map, (C,) on
        features), as torch.nn.PReLU exports it."""
        slope = self.const(node, 1, "slope")
        channels = shape[0]
        along_channels = (channels, *[1] * (len(shape) - 1))
        per_channel = slope.size > 1 and tuple(slope.shape) in (along_channels, (1, *along_channels))
        if slope.size != 1 and not per_channel:
            raise self.error(node, f"a slope of shape {list(slope.shape)} on a {shape} input",
                             expected=f"one slope, or one per channel ({channels}, shaped to broadcast on axis 1)")
        name = self.add(node, {"type": "prelu", "per_channel": bool(per_channel)})
        self._weights(name, weight=np.ravel(slope))
        return node.output[0], shape

    def _concat_layers(self, node, shapes):
        rank = len(shapes[0]) + 1
        axis = self.attrs(node).get("axis", 1)
        axis = axis + rank if axis < 0 else axis
        if axis != 1 or any(len(shape) != len(shapes[0]) or shape[1:] != shapes[0][1:] for shape in shapes):
            raise self.error(node, f"a Concat on axis {axis} of {', '.join(map(str, shapes))}",
                             expected="a Concat on axis 1: channels of maps of one height and width, or features")
        if len(shapes) == 1:
            return node.output[0], shapes[0]
        self.add(node, {"type": "concat"})
        return node.output[0], (sum(shape[0] for shape in shapes), *shapes[0][1:])

    def _sum_layers(self, node, shapes):
        if any(shape != shapes[0] for shape in shapes):
            raise self.error(node, f"adds tensors of shapes {', '.join(map(str, shapes))}",
                             expected="one shape (the spec's add does not broadcast)")
        if len(shapes) == 1:
            return node.output[0], shapes[0]
        self.add(node, {"type": "add"})
        return node.output[0], shapes[0]

    _add_layers = _sum_layers

    def _softmax_axis(self, node, shape):
        rank = len(shape) + 1
        axis = self.attrs(node).get("axis", -1 if self.opset >= 13 else 1)
        axis = axis + rank if axis < 0 else axis
        if axis != 1 or (self.opset < 13 and rank == 4 and shape[1:] != (1, 1)):
            raise self.error(node, f"softmax over axis {axis} of a rank-{rank} input (opset {self.opset})",
                             expected="softmax over the features, or the channels of a C×H×W map (axis 1; opset "
                                      "13 or later for a map)")


def _dim_text(value) -> str:
    dim = value.type.tensor_type.shape.dim[0]
    return repr(dim.dim_param) if dim.dim_param else "unknown"


def _compact(pair) -> int | list[int]:
    pair = tuple(int(value) for value in pair)
    return pair[0] if pair[0] == pair[1] else list(pair)


def _padding(padding: tuple[int, int, int, int]) -> int | list[int]:
    top, bottom, left, right = (int(value) for value in padding)
    if top == bottom == left == right:
        return top
    if top == bottom and left == right:
        return [top, left]
    return [top, bottom, left, right]


def load_model(path: str | Path):
    import onnx

    file = str(path)
    if not Path(path).is_file():
        raise SpecError(Diagnostic("no such file" if not Path(path).exists() else "not a file", file=file,
                                   expected="an ONNX model (.onnx)"))
    if Path(path).stat().st_size > MAX_ONNX_BYTES:
        raise SpecError(Diagnostic(f"the file is larger than {MAX_ONNX_BYTES:,} bytes", file=file,
                                   expected="an ONNX model of at most 2 GiB (protobuf's limit; larger models keep "
                                            "their weights in external data files)"))
    try:
        return onnx.load(file)
    except Exception as error:  # onnx raises DecodeError, OSError, ... for what is not a model
        raise SpecError(Diagnostic(f"cannot read an ONNX model ({type(error).__name__})", file=file,
                                   expected="an ONNX model (.onnx), as onnx.save writes it"))


def import_onnx(path: str | Path) -> OnnxImport:
    """The spec data and canonical weights of an ONNX model file (not yet validated: see `import_onnx_text`)."""
    file = str(path)
    model = load_model(path)
    reader = _Reader(model, file)
    body = reader.read()
    graph_name = "" if model.graph.name in EXPORTER_GRAPH_NAMES else model.graph.name
    name = model_name(graph_name, Path(file).stem)
    if graph_name and name != graph_name:
        reader.note(f"model name {model.graph.name!r} written as {name}")
    producer = f", by {model.producer_name}" if model.producer_name else ""
    data = {"name": name, "description": model.graph.doc_string or f"Imported from the ONNX model {Path(file).name}.",
            "source": f"ONNX model {file} (opset {reader.opset}{producer})", **body}
    explicit = [f"{', '.join(layers)}: {text}" if layers else text for text, layers in reader.notes.items()]
    return OnnxImport(file, data, reader.weights, explicit + renamed_note(reader.namer), reader.nodes)


def resolve_onnx_import(result: OnnxImport):
    """The ResolvedNetwork of an imported model; alexspec's errors name the node they concern."""
    import dataclasses

    from alexnet_spec.source.dump import to_yaml_text
    from alexnet_spec.source.loading import parse_network

    try:
        return parse_network(to_yaml_text(result.data), "<imported spec>")
    except SpecError as error:
        raise SpecError([dataclasses.replace(d, file=result.file, line=None, column=None,
                                             message=(f"{result.nodes[d.layer]}: " if d.layer in result.nodes
                                                      else "") + d.message)
                         for d in error.diagnostics]) from None


def import_onnx_text(path: str | Path, directory: str | Path | None = None) -> tuple[str, dict[str, np.ndarray]]:
    """The YAML text of the validated spec, with its header, and its canonical float32 weights; `directory` is
    where the spec will be written (for the header's schema path)."""
    result = import_onnx(path)
    net = resolve_onnx_import(result)
    title = (f"Imported by alexspec from the ONNX model {path}: {net.total_params:,} parameters. The weights are not "
             "part of a spec: `alexspec import onnx MODEL --weights-out FILE` writes them (canonical names).")
    return spec_header(title, result.explicit, directory) + spec_yaml(net.spec), result.weights
