"""Caffe deploy prototxt -> alexspec spec, with what Caffe leaves implicit written down as explicit spec fields.

    text = import_prototxt("deploy.prototxt")      # YAML, validated; SpecError at the prototxt's line otherwise

Made explicit, and listed in the spec's header:
- LRN: `convention: caffe` (Caffe divides alpha by local_size) and Caffe's defaults (local_size 5, alpha 1,
  beta 0.75, k 1) where the file leaves them out.
- Pooling: Caffe rounds output sizes up, `ceil_mode: true`, and with padding drops a last window that would start
  past the input; without padding it keeps that window, empty: `ceil_rule: caffe` on every pooling layer
  (src/caffe/layers/pooling_layer.cpp, Reshape). An empty AVE window that Caffe divides 0 by 0 is an error.
  `global_pooling` is `adaptive_avgpool` to 1 (AVE) or a max pool over the whole map (MAX).
- InnerProduct flattens a C×H×W input (C, H, W order): a `flatten` layer before it.
- Convolution sizes that Caffe floors: `allow_truncation: true` on that layer.
- BatchNorm + Scale: one `batchnorm` (Caffe's moving_average_fraction f is momentum 1 - f).
- Weight fillers: the spec's `init` (Caffe's xavier is uniform ±sqrt(3/n), msra normal with std sqrt(2/n), n its
  fan; a filler left out next to one given is Caffe's default, constant 0).

Graphs: a layer reads any earlier top (`inputs` written where that is not the previous layer), Concat and Eltwise
SUM merge, a Split's tops are its bottom, and the blobs no layer reads are the outputs. Everything else the spec
language cannot express (Eltwise PROD or MAX, WITHIN_CHANNEL LRN, a filler it has no form for, a field it does not
know) is a SpecError at the prototxt's line, naming the layer.
The field names and enums read are those of BVLC Caffe's src/caffe/proto/caffe.proto (caffe_proto.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.interop.common import Namer, model_name, one_minus, renamed_note, spec_header, spec_yaml
from alexnet_spec.interop.caffe_deploy import DATA_TYPES, data_input, deploy_layers, upgrade_v1
from alexnet_spec.interop.caffe_proto import PARAMS, Block, located
from alexnet_spec.interop.prototxt import Field, Message, parse

# Split copies its bottom to every top (Caffe inserts it where a blob has several readers): a spec layer's output
# can be read by any number of layers, so a Split is no layer.
SUPPORTED = (*(name for name in PARAMS if name != "Input"), "Split")
MERGES = ("Concat", "Eltwise")  # the layer types that read several bottoms
UNSUPPORTED_HINTS = {
    "Data": "this looks like a train_val prototxt; import the deploy.prototxt that comes with the model",
    "ImageData": "this looks like a train_val prototxt; import the deploy.prototxt that comes with the model",
    "SoftmaxWithLoss": "this looks like a train_val prototxt; import the deploy.prototxt that comes with the model",
    "Accuracy": "this looks like a train_val prototxt; import the deploy.prototxt that comes with the model",
}
# The layer types whose spec name prefix alexspec uses for unnamed layers.
PREFIX = {"Convolution": "conv", "Pooling": "pool", "LRN": "norm", "InnerProduct": "fc", "BatchNorm": "bn",
          "Scale": "scale", "Dropout": "drop", "Softmax": "prob", "ReLU": "relu", "Sigmoid": "sigmoid",
          "TanH": "tanh", "Flatten": "flatten", "Concat": "concat", "Eltwise": "add", "ELU": "elu",
          "PReLU": "prelu"}


@dataclass(frozen=True)
class Origin:
    """Where a spec layer came from: the prototxt layer's position and Caffe name, and where its parameters are."""

    line: int
    column: int
    caffe_name: str
    fields: dict[str, tuple[int, int]] = field(default_factory=dict)  # Caffe parameter -> (line, column)


# A spec field -> the Caffe parameters it comes from, to point alexspec's errors at the right one.
SPEC_TO_CAFFE = {"out_channels": ("num_output",), "out_features": ("num_output",), "groups": ("group",),
                 "kernel": ("kernel_size", "kernel_h"), "stride": ("stride", "stride_h"), "padding": ("pad", "pad_h"),
                 "dilation": ("dilation",), "size": ("local_size",), "alpha": ("alpha",), "beta": ("beta",),
                 "k": ("k",), "p": ("dropout_ratio",), "eps": ("eps",), "momentum": ("moving_average_fraction",),
                 "negative_slope": ("negative_slope",)}


@dataclass
class CaffeImport:
    """A converted prototxt: the spec as plain data, what was made explicit, and where each layer came from."""

    file: str
    data: dict
    explicit: list[str]
    origins: dict[str, Origin]  # spec layer name ("input" for the input) -> its prototxt layer
    shapes: dict[str, tuple[int, ...]]  # spec layer name -> its output shape by Caffe's arithmetic


# --- Caffe's arithmetic, written out here so that the import checks alexspec's against it ---

def caffe_conv_size(size: int, pad: int, kernel: int, stride: int, dilation: int) -> tuple[int, bool]:
    """(output size, whether the division was exact): src/caffe/layers/conv_layer.cpp, compute_output_shape."""
    span = size + 2 * pad - (dilation * (kernel - 1) + 1)
    return span // stride + 1, span % stride == 0


def caffe_pool_size(size: int, pad: int, kernel: int, stride: int, ceil: bool, any_pad: bool) -> int:
    """src/caffe/layers/pooling_layer.cpp, Reshape: ceil (or floor) of (size + 2 pad - kernel)/stride, plus one; with
    padding on either axis, a last window starting at or beyond size + pad is dropped."""
    span = size + 2 * pad - kernel
    pooled = (-(-span // stride) if ceil else span // stride) + 1
    if any_pad and (pooled - 1) * stride >= size + pad:
        pooled -= 1
    return pooled


# --- the conversion ---

@dataclass
class _State:
    blob: str  # the input's blob
    shape: tuple[int, ...]  # the input's (C, H, W), then the shape a layer reads: (C, H, W) or (F,)
    layers: list[dict] = field(default_factory=list)
    origins: dict[str, Origin] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # spec layer ("input") -> its output shape
    batchnorm: tuple[dict, Field, str] | None = None  # a BatchNorm waiting for its Scale
    blobs: dict[str, str] = field(default_factory=dict)  # a blob -> the spec layer ("input") whose output it is now
    read: set[str] = field(default_factory=set)  # the spec layers some layer reads
    reading: list[tuple[int, ...]] = field(default_factory=list)  # the shapes a merge layer reads

    def __post_init__(self):
        self.blobs[self.blob] = "input"
        self.shapes["input"] = self.shape

    @property
    def last(self) -> str:
        return self.layers[-1]["name"] if self.layers else "input"


class _Converter:
    def __init__(self, file: str, input_shape: tuple[int, int, int] | None = None):
        self.file = file
        self.input_shape = input_shape
        self.namer = Namer()
        self.notes: dict[str, list[str]] = {}  # explanation -> the layers it applies to

    def note(self, text: str, layer: str | None = None) -> None:
        self.notes.setdefault(text, [])
        if layer is not None:
            self.notes[text].append(layer)

    def explicit(self) -> list[str]:
        lines = []
        for text, layers in self.notes.items():
            lines.append(f"{', '.join(layers)}: {text}" if layers else text)
        return lines + renamed_note(self.namer)

    # The network: header, then one layer at a time along the chain of blobs.
    def convert(self, text: str) -> CaffeImport:
        root = Block(self.file, parse(text, self.file), "NetParameter")
        if root.has("layers") and root.has("layer"):
            raise root.error(root.field("layers"), "both V1 `layers` and `layer` blocks", at_value=False,
                             expected="one format (Caffe refuses a mixture too)")
        if root.has("layers"):
            every = [upgrade_v1(block) for block in root.blocks("layers")]
            self.note("V1 `layers` blocks upgraded as Caffe's UpgradeV1Net does (CONVOLUTION is Convolution, ...; "
                      "blobs_lr and weight_decay are training settings)")
        else:
            every = root.blocks("layer")
        layers = [layer for layer in every if self._included(layer)]
        skipped = [f"{layer.get('name')!r}" for layer in every if not self._included(layer)]
        if skipped:
            self.note(f"layers that Caffe leaves out of the TEST phase (include/exclude rules) not imported: "
                      f"{', '.join(skipped)}")
        layers = deploy_layers(self.file, layers, self.note)
        state, input_origin, input_shape, layers = self._input(root, layers)
        for layer in layers:
            self._layer(state, layer)
        if state.batchnorm is not None:
            _, at, caffe_name = state.batchnorm
            raise located(self.file, at, "a BatchNorm must be followed by its Scale layer", layer=caffe_name,
                          hint="the spec's batchnorm learns a scale and a shift, which Caffe keeps in a Scale layer")
        if not state.layers:
            raise located(self.file, root.message, "the network has no layers after its input",
                          expected="a deploy prototxt with layers")
        outputs = [layer["name"] for layer in state.layers if layer["name"] not in state.read]
        network_name = root.get("name")
        name = model_name(network_name, Path(self.file).stem)
        if network_name and name != network_name:
            self.note(f"model name {network_name!r} written as {name} (a letter, then letters, digits, underscores)")
        data = {"name": name, "description": f"Imported from the Caffe prototxt {Path(self.file).name}.",
                "source": f"Caffe prototxt {self.file}",
                "input": dict(zip(("channels", "height", "width"), input_shape)),
                "layers": state.layers}
        if outputs != [state.last]:  # Caffe's net outputs: the blobs no layer reads
            data["outputs"] = outputs
            self.note(f"the blobs that no layer reads are the network's outputs: {', '.join(outputs)}")
        state.origins["input"] = input_origin
        return CaffeImport(self.file, data, self.explicit(), state.origins, state.shapes)

    def _included(self, layer: Block) -> bool:
        """Caffe's StateMeetsRule for a deploy net: phase TEST, level 0, no stages (src/caffe/net.cpp)."""
        def meets(rule: Block) -> bool:
            return (rule.get("phase", "TEST") == "TEST" and rule.get("min_level", 0) <= 0 <= rule.get("max_level", 0)
                    and not rule.all("stage"))
        if layer.get("phase", "TEST") != "TEST":
            return False
        includes = layer.blocks("include")
        if includes:
            return any(meets(rule) for rule in includes)
        return not any(meets(rule) for rule in layer.blocks("exclude"))

    def _input(self, root: Block, layers: list[Block]):
        """The state after the input, where the input is declared, its (C, H, W), and the layers after it."""
        if root.has("input"):
            blobs = root.all("input")
            at = root.field("input")
            if len(blobs) != 1:
                raise located(self.file, root.message.all("input")[1], f"the network has {len(blobs)} inputs",
                              expected="one input (the spec language is a chain of layers)")
            shapes = root.blocks("input_shape")
            if shapes and root.has("input_dim"):
                raise located(self.file, root.field("input_dim"), "both input_shape and input_dim are given",
                              expected="one of them (Caffe refuses both)")
            dims, dims_at = (shapes[0].all("dim"), shapes[0].owner) if shapes else \
                (root.all("input_dim"), root.field("input_dim") or at)
            if len(shapes) > 1:
                raise located(self.file, shapes[1].owner, "more than one input_shape", expected="one input")
            origin = Origin(at.line, at.column, "input")
            self.note("the legacy header's `input`/`input_dim` is the spec's input; its batch size is not part of "
                      f"a spec (N = {dims[0] if dims else '?'})")
            return self._start(blobs[0], dims, dims_at, origin), origin, tuple(dims[1:]), layers
        if layers and layers[0].get("type") in DATA_TYPES:
            layer = layers[0]
            name = layer.get("name") or "data"
            dims, at = data_input(self.file, layer, self.input_shape, self.note)
            tops = layer.all("top")
            origin = Origin(layer.owner.line, layer.owner.column, name)
            if len(tops) > 2 or not tops:
                raise layer.error(layer.owner, f"the {layer.get('type')} layer has {len(tops)} tops", at_value=False,
                                  expected="data, and optionally label")
            return self._start(tops[0], dims, at, origin), origin, tuple(dims[1:]), layers[1:]
        if self.input_shape is not None:
            raise located(self.file, layers[0].owner if layers else root.message, "--input is given but the network "
                          "states its input size", expected="--input only for train_val files whose data layer "
                          "reads its size from a database")
        if layers and layers[0].get("type") == "Input":
            layer = layers[0]
            name = layer.get("name", "input")
            params = layer.block("input_param", "InputParameter")
            shapes = params.blocks("shape") if params else []
            if len(shapes) != 1:
                raise layer.error(layer.owner, f"the Input layer gives {len(shapes)} shapes", at_value=False,
                                  expected="input_param { shape { dim: N dim: C dim: H dim: W } }")
            tops = layer.all("top")
            if len(tops) != 1:
                raise layer.error(layer.owner, f"the Input layer has {len(tops)} tops", at_value=False,
                                  expected="one top")
            dims = shapes[0].all("dim")
            origin = Origin(layer.owner.line, layer.owner.column, name)
            self.note(f"the Input layer {name!r} is the spec's input; its batch size is not part of a spec "
                      f"(N = {dims[0] if dims else '?'})")
            return self._start(tops[0], dims, shapes[0].owner, origin), origin, tuple(dims[1:]), layers[1:]
        at = layers[0].owner if layers else root.message
        raise located(self.file, at, "no input: neither an Input layer first nor a top-level `input:`",
                      expected='layer { type: "Input" input_param { shape { dim: 1 dim: 3 dim: 227 dim: 227 } } } '
                               'or input: "data" with four input_dim',
                      hint="import the deploy.prototxt of the model (train_val files start with data layers)")

    def _start(self, blob: str, dims: list[int], at: Field, origin: Origin) -> _State:
        if len(dims) != 4 or any(dim <= 0 for dim in dims):
            raise located(self.file, at, f"the input shape is {dims}", layer=origin.caffe_name,
                          expected="four positive dimensions: N, C, H, W")
        return _State(blob=blob, shape=tuple(dims[1:]))

    def _layer(self, state: _State, layer: Block) -> None:
        kind = layer.get("type")
        caffe_name = layer.get("name") or f"({kind or 'unnamed'} layer at line {layer.owner.line})"
        layer.layer = caffe_name
        if kind is None:
            raise layer.error(layer.owner, "the layer has no type", at_value=False,
                              expected=f'type: "..." (one of {", ".join(SUPPORTED)})')
        if state.batchnorm is not None and kind != "Scale":
            _, at, bn_name = state.batchnorm
            raise located(self.file, at, "a BatchNorm must be followed by its Scale layer", layer=bn_name,
                          hint=f"the next layer, {caffe_name!r}, is a {kind}; the spec's batchnorm learns a scale "
                               "and a shift, which Caffe keeps in a Scale layer")
        if kind not in SUPPORTED:
            raise layer.error(layer.field("type"), f"layer type {kind!r} is not supported",
                              expected=f"one of {', '.join(SUPPORTED)}", hint=UNSUPPORTED_HINTS.get(kind))
        bottoms, tops = layer.all("bottom"), layer.all("top")
        reads = self._bottoms(state, layer, kind, bottoms)
        if kind == "Split":
            for top in tops:
                state.blobs[top] = reads[0]
            return
        if len(tops) != 1:
            raise layer.error(layer.message.all("top")[1] if tops else layer.owner, f"the layer has {len(tops)} tops",
                              expected="exactly one top")
        if state.batchnorm is not None and reads != [state.batchnorm[0]["name"]]:
            _, at, bn_name = state.batchnorm
            raise layer.error(layer.message.all("bottom")[0], f"the Scale after BatchNorm {bn_name!r} reads "
                              f"{bottoms[0]!r}, not the BatchNorm's output", expected="BatchNorm, then its Scale")
        param_field, schema = PARAMS[kind]
        params = layer.block(param_field, schema) or Block(self.file, Message(), schema, layer.owner, caffe_name)
        name = self.namer.name(layer.get("name"), PREFIX[kind])
        state.shape = state.shapes[reads[0]]
        state.reading = [state.shapes[read] for read in reads]
        handler = getattr(self, f"_{kind.lower()}")
        produced = handler(state, layer, params, name)
        positions = {item.name: (item.line, item.column) for item in reversed(params.message.fields)}
        origin = Origin(layer.owner.line, layer.owner.column, caffe_name, positions)
        if produced and (reads != [state.last] or kind in MERGES):
            produced[0] = {"type": produced[0]["type"], "name": produced[0]["name"], "inputs": reads,
                           **{key: value for key, value in produced[0].items() if key not in ("type", "name")}}
        state.read.update([*reads, *(spec_layer["name"] for spec_layer in produced[:-1])])  # a flatten before a dense
        for spec_layer in produced:
            state.layers.append(spec_layer)
            state.origins[spec_layer["name"]] = origin
            state.shapes.setdefault(spec_layer["name"], state.shape)
        state.blobs[tops[0]] = produced[-1]["name"] if produced else reads[0]

    def _bottoms(self, state: _State, layer: Block, kind: str, bottoms: list[str]) -> list[str]:
        """The spec layers that a layer's bottoms are the outputs of: each must be a blob an earlier layer wrote;
        a merge (Concat, Eltwise) reads several, every other layer one."""
        at = layer.message.all("bottom")
        if not bottoms:
            raise layer.error(layer.owner, "the layer has no bottom", at_value=False,
                              expected=f'bottom: "{state.last}" or another earlier top')
        for index, bottom in enumerate(bottoms):
            if bottom not in state.blobs:
                known = ", ".join(repr(blob) for blob in state.blobs)
                raise layer.error(at[index], f"the layer reads {bottom!r}, which no earlier layer writes",
                                  expected=f"one of the blobs written so far: {known}",
                                  hint="Caffe runs the layers in file order: a bottom must be an earlier layer's "
                                       "top (or the input)")
        if kind not in MERGES and len(bottoms) != 1:
            raise layer.error(at[1], f"a {kind} layer with {len(bottoms)} bottoms", expected="one bottom",
                              hint="only Concat and Eltwise read several")
        return [state.blobs[bottom] for bottom in bottoms]

    # One method per Caffe layer type: (state, layer, its params, spec name) -> the spec layers it becomes.
    def _convolution(self, state, layer, params, name):
        image = self._image(state, layer, "Convolution")
        if not params.has("num_output"):
            raise params.error(None, "convolution_param has no num_output", at_value=False,
                               expected="convolution_param { num_output: N kernel_size: K ... }")
        if params.get("axis", 1) != 1:
            raise params.error(params.field("axis"), "only axis 1 (channels) is supported", expected="axis: 1")
        kernel = self._pair(params, "kernel_size", "kernel_h", "kernel_w", None, repeated=True)
        if kernel is None:
            raise params.error(None, "convolution_param has no kernel_size", at_value=False,
                               expected="kernel_size: K, or kernel_h and kernel_w")
        pad = self._pair(params, "pad", "pad_h", "pad_w", (0, 0), repeated=True)
        stride = self._pair(params, "stride", "stride_h", "stride_w", (1, 1), repeated=True)
        dilation = self._pair(params, "dilation", None, None, (1, 1), repeated=True)
        out_channels, groups = params.get("num_output"), params.get("group", 1)
        self._positive(params, kernel=kernel, stride=stride, dilation=dilation, group=(groups, groups))
        sizes = [caffe_conv_size(image[1 + axis], pad[axis], kernel[axis], stride[axis], dilation[axis])
                 for axis in range(2)]
        if any(size <= 0 for size, _ in sizes):
            raise params.error(None, "the kernel is larger than the padded input", at_value=False,
                               details=(f"input {image[1]}×{image[2]}, padding {_text(pad)}, kernel {_text(kernel)}",))
        result = {"type": "conv", "name": name, "out_channels": out_channels, "kernel": _compact(kernel),
                  "stride": _compact(stride), "padding": _compact(pad), "dilation": _compact(dilation),
                  "groups": groups, "bias": params.get("bias_term", True)}
        if not all(exact for _, exact in sizes):
            result["allow_truncation"] = True
            self.note("Caffe floors an inexact convolution size: allow_truncation: true", name)
        init = self._init(params, name, groups,
                          weight=(out_channels, image[0] // groups, *kernel), bias=result["bias"])
        if init:
            result["init"] = init
        state.shape = (out_channels, sizes[0][0], sizes[1][0])
        return [result]

    def _pooling(self, state, layer, params, name):
        image = self._image(state, layer, "Pooling")
        method = params.get("pool", "MAX")
        if method == "STOCHASTIC":
            raise params.error(params.field("pool"), "pool: STOCHASTIC is not supported", expected="MAX or AVE",
                               hint="the spec's pooling layers are maxpool, avgpool and adaptive_avgpool")
        if params.get("global_pooling", False):
            return self._global_pooling(state, params, name, method, image)
        kernel = self._pair(params, "kernel_size", "kernel_h", "kernel_w", None)
        if kernel is None:
            raise params.error(None, "pooling_param has no kernel_size", at_value=False,
                               expected="kernel_size: K, or kernel_h and kernel_w, or global_pooling: true")
        pad = self._pair(params, "pad", "pad_h", "pad_w", (0, 0))
        stride = self._pair(params, "stride", "stride_h", "stride_w", (1, 1))
        self._positive(params, kernel=kernel, stride=stride)
        if any(pad[axis] >= kernel[axis] for axis in range(2)) and any(pad):
            raise params.error(None, f"padding {_text(pad)} is not smaller than the kernel {_text(kernel)}",
                               at_value=False, expected="pad < kernel_size (Caffe checks this)")
        ceil = params.get("round_mode", "CEIL") == "CEIL"
        sizes = []
        for axis in range(2):
            size = image[1 + axis]
            if size + 2 * pad[axis] < kernel[axis]:
                raise params.error(None, "the window is larger than the padded input", at_value=False,
                                   details=(f"input {image[1]}×{image[2]}, padding {_text(pad)}, "
                                            f"kernel {_text(kernel)}",))
            caffe = caffe_pool_size(size, pad[axis], kernel[axis], stride[axis], ceil, any(pad))
            start = (caffe - 1) * stride[axis] - pad[axis]
            if method == "AVE" and start == size:
                raise params.error(None, f"Caffe's last pooling window starts at {start}, right after the input's "
                                         f"{size} rows/columns: Caffe averages it as 0/0 (NaN)", at_value=False,
                                   details=(f"ceil(({size} + 2*{pad[axis]} - {kernel[axis]})/{stride[axis]}) + 1 = "
                                            f"{caffe}; divisor ({size} - {start})*... = 0",),
                                   expected="a pooling whose windows all hold an input element",
                                   hint="Caffe keeps such a window only without padding; a stride larger than the "
                                        "kernel causes it")
            sizes.append(caffe)
        result = {"type": "maxpool" if method == "MAX" else "avgpool", "name": name, "kernel": _compact(kernel),
                  "stride": _compact(stride), "padding": _compact(pad)}
        if ceil:
            result["ceil_mode"] = True
            result["ceil_rule"] = "caffe"
            floors = [(image[1 + axis] + 2 * pad[axis] - kernel[axis]) // stride[axis] + 1 for axis in range(2)]
            changed = f" (it changes the size: {_text(sizes)} instead of floor's {_text(floors)})" \
                if floors != sizes else ""
            self.note("Caffe rounds pooling sizes up: ceil_mode: true, ceil_rule: caffe", name + changed)
        elif any((image[1 + axis] + 2 * pad[axis] - kernel[axis]) % stride[axis] for axis in range(2)):
            result["allow_truncation"] = True
            self.note("round_mode: FLOOR floors an inexact size: allow_truncation: true", name)
        if method == "AVE" and any(pad):
            self.note("Caffe's average pooling counts the padded zeros, as the spec's avgpool does", name)
        state.shape = (image[0], sizes[0], sizes[1])
        return [result]

    def _global_pooling(self, state, params, name, method, image):
        for key in ("kernel_size", "kernel_h", "kernel_w"):
            if params.has(key):
                raise params.error(params.field(key), "global_pooling takes no kernel size", at_value=False,
                                   expected="global_pooling: true alone (the kernel is the whole map)")
        if self._pair(params, "pad", "pad_h", "pad_w", (0, 0)) != (0, 0) or \
                self._pair(params, "stride", "stride_h", "stride_w", (1, 1)) != (1, 1):
            raise params.error(None, "global_pooling needs pad 0 and stride 1", at_value=False,
                               expected="global_pooling: true without pad or stride (Caffe checks this)")
        state.shape = (image[0], 1, 1)
        if method == "AVE":
            self.note("global_pooling AVE: adaptive_avgpool with output_size 1", name)
            return [{"type": "adaptive_avgpool", "name": name, "output_size": 1}]
        self.note("global_pooling MAX: a maxpool whose kernel is the whole input map", name)
        return [{"type": "maxpool", "name": name, "kernel": _compact(image[1:]), "stride": 1}]

    def _lrn(self, state, layer, params, name):
        self._image(state, layer, "LRN")
        region = params.get("norm_region", "ACROSS_CHANNELS")
        if region != "ACROSS_CHANNELS":
            raise params.error(params.field("norm_region"), f"norm_region: {region} is not supported",
                               expected="ACROSS_CHANNELS",
                               hint="the spec's lrn normalises across channels; WITHIN_CHANNEL normalises over a "
                                    "spatial window, which the spec language has no layer for")
        size = params.get("local_size", 5)
        if size % 2 == 0:
            raise params.error(params.field("local_size"), f"local_size {size} is even",
                               expected="an odd local_size (Caffe's LRN refuses even ones)")
        defaulted = [f"{key} {value:g}" for key, value in (("local_size", 5), ("alpha", 1.0), ("beta", 0.75),
                                                           ("k", 1.0)) if not params.has(key)]
        self.note("convention: caffe (Caffe divides alpha by local_size)", name)
        if defaulted:
            self.note(f"Caffe's defaults written out: {', '.join(defaulted)}", name)
        return [{"type": "lrn", "name": name, "size": size, "alpha": params.get("alpha", 1.0),
                 "beta": params.get("beta", 0.75), "k": params.get("k", 1.0), "convention": "caffe"}]

    def _innerproduct(self, state, layer, params, name):
        if not params.has("num_output"):
            raise params.error(None, "inner_product_param has no num_output", at_value=False,
                               expected="inner_product_param { num_output: N }")
        if params.get("axis", 1) != 1:
            raise params.error(params.field("axis"), "only axis 1 is supported (flatten C, H, W)", expected="axis: 1")
        produced = []
        if len(state.shape) == 3:
            flatten = self.namer.name(f"{name}_flatten", "flatten")
            produced.append({"type": "flatten", "name": flatten})
            state.shapes[flatten] = (math.prod(state.shape),)
            self.note("InnerProduct flattens its C×H×W input in C, H, W order: a flatten layer before it", flatten)
            state.shape = (math.prod(state.shape),)
        out = params.get("num_output")
        result = {"type": "dense", "name": name, "out_features": out, "bias": params.get("bias_term", True)}
        shape = (state.shape[0], out) if params.get("transpose", False) else (out, state.shape[0])
        init = self._init(params, name, 1, weight=shape, bias=result["bias"], spec_fans=(state.shape[0], out))
        if init:
            result["init"] = init
        state.shape = (out,)
        return produced + [result]

    def _flatten(self, state, layer, params, name):
        if params.get("axis", 1) != 1 or params.get("end_axis", -1) not in (-1, 3):
            raise params.error(None, "only a Flatten of axes 1 to the last is supported", at_value=False,
                               expected="axis: 1 and end_axis: -1 (the defaults)")
        if len(state.shape) == 1:
            raise layer.error(layer.owner, "Flatten of features that are already flat", at_value=False,
                              hint="remove this layer")
        state.shape = (math.prod(state.shape),)
        return [{"type": "flatten", "name": name}]

    def _batchnorm(self, state, layer, params, name):
        fraction = params.get("moving_average_fraction", 0.999)
        if not 0 <= fraction < 1:
            raise params.error(params.field("moving_average_fraction"), f"moving_average_fraction {fraction} is "
                               "outside [0, 1)", expected="a fraction below 1 (Caffe's default is 0.999)")
        result = {"type": "batchnorm", "name": name, "eps": params.get("eps", 1e-5), "momentum": one_minus(fraction)}
        self.note("BatchNorm + its Scale are one batchnorm; Caffe's moving_average_fraction f is the momentum 1 - f "
                  "of PyTorch's convention (Caffe also divides its running sums by the sum of the decay weights, "
                  "which only matters in the first 1/(1 - f) training iterations)", name)
        state.batchnorm = (result, layer.owner, layer.layer)
        return [result]

    def _scale(self, state, layer, params, name):
        if state.batchnorm is None:
            raise layer.error(layer.field("type"), "a Scale layer is only supported right after a BatchNorm",
                              hint="alone it is a per-channel scale, which the spec language has no layer for")
        state.batchnorm = None
        if params.get("axis", 1) != 1 or params.get("num_axes", 1) != 1:
            raise params.error(None, "only a per-channel Scale is supported", at_value=False,
                               expected="axis: 1 and num_axes: 1 (the defaults)")
        if not params.get("bias_term", False):
            raise params.error(params.field("bias_term"), "a Scale without bias_term: true has no shift",
                               at_value=False, expected="scale_param { bias_term: true }",
                               hint="the spec's batchnorm always learns a shift (Caffe's default is no bias term)")
        for key, value in (("filler", 1.0), ("bias_filler", 0.0)):
            filler = params.block(key)
            if filler is not None and (filler.get("type", "constant") != "constant"
                                       or filler.get("value", 0.0) != value):
                raise filler.error(None, f"Scale's {key} must be constant {value:g}", at_value=False,
                                   hint="the spec's batchnorm starts at scale 1 and shift 0")
        return []

    def _dropout(self, state, layer, params, name):
        ratio = params.get("dropout_ratio", 0.5)
        if not 0 <= ratio < 1:
            raise params.error(params.field("dropout_ratio"), f"dropout_ratio {ratio} is outside [0, 1)")
        return [{"type": "dropout", "name": name, "p": ratio}]

    def _softmax(self, state, layer, params, name):
        if params.get("axis", 1) != 1:
            raise params.error(params.field("axis"), f"softmax over axis {params.get('axis')} is not supported",
                               expected="axis: 1 (features, or channels of a C×H×W map)")
        return [{"type": "softmax", "name": name}]

    def _relu(self, state, layer, params, name):
        slope = params.get("negative_slope", 0.0)
        if slope != 0:  # relu_layer.cpp: max(x, 0) + negative_slope * min(x, 0)
            self.note("ReLU with negative_slope: leaky_relu", name)
            return [{"type": "leaky_relu", "name": name, "negative_slope": slope}]
        return [{"type": "relu", "name": name}]

    def _elu(self, state, layer, params, name):
        return [{"type": "elu", "name": name, "alpha": params.get("alpha", 1.0)}]

    def _prelu(self, state, layer, params, name):
        """prelu_layer.cpp: max(x, 0) + a * min(x, 0), one slope per channel unless channel_shared; the slopes start
        at the filler's constant (Caffe's default: 0.25)."""
        filler = params.block("filler")
        slope = 0.25
        if filler is not None:
            if filler.get("type", "constant") != "constant":
                raise filler.error(None, f"a PReLU filler of type {filler.get('type')!r}", at_value=False,
                                   expected="a constant filler (the spec's prelu starts every slope at one value)",
                                   hint="trained slopes come from the .caffemodel whatever the filler")
            slope = filler.get("value", 0.0)
        return [{"type": "prelu", "name": name, "per_channel": not params.get("channel_shared", False),
                 "initial_slope": slope}]

    def _concat(self, state, layer, params, name):
        """Concat along the channels of C×H×W maps or along features: axis 1 (or concat_dim 1, its old name)."""
        rank = len(state.reading[0]) + 1
        if params.has("axis") and params.has("concat_dim"):
            raise params.error(params.field("concat_dim"), "both axis and concat_dim are given", at_value=False,
                               expected="axis (concat_dim is its deprecated name; Caffe refuses both)")
        key = "concat_dim" if params.has("concat_dim") else "axis"
        axis = params.get(key, 1)
        if axis != 1 and axis + rank != 1:
            raise params.error(params.field(key), f"Concat along {key} {axis} of (N, "
                               f"{', '.join(map(str, state.reading[0]))}) blobs", expected=f"{key}: 1 (channels, or "
                               "features)", hint="the spec's concat joins channels (or features)")
        if any(len(shape) != rank - 1 or shape[1:] != state.reading[0][1:] for shape in state.reading):
            raise layer.error(layer.field("type"), "Concat of blobs of shapes "
                              f"{', '.join(_shape(shape) for shape in state.reading)}",
                              expected="blobs of one height and width (or all features)")
        state.shape = (sum(shape[0] for shape in state.reading), *state.reading[0][1:])
        return [{"type": "concat", "name": name}]

    def _eltwise(self, state, layer, params, name):
        """Eltwise SUM with every coeff 1 (the residual connection): the spec's add."""
        operation = params.get("operation", "SUM")
        if operation != "SUM":
            raise params.error(params.field("operation"), f"Eltwise operation {operation} is not supported",
                               expected="operation: SUM", hint="the spec's add is the element-wise sum; it has no "
                               "element-wise product or maximum")
        coeffs = params.all("coeff")
        if coeffs and (len(coeffs) != len(state.reading) or any(coeff != 1 for coeff in coeffs)):
            at = params.message.all("coeff")[next((index for index, coeff in enumerate(coeffs) if coeff != 1), 0)]
            raise params.error(at, f"Eltwise coefficients {coeffs} for {len(state.reading)} bottoms",
                               expected="no coeff, or 1 for each bottom",
                               hint="the spec's add sums its inputs unweighted")
        if any(shape != state.reading[0] for shape in state.reading):
            raise layer.error(layer.field("type"), "Eltwise of blobs of shapes "
                              f"{', '.join(_shape(shape) for shape in state.reading)}",
                              expected="blobs of one shape (Caffe does not broadcast either)")
        return [{"type": "add", "name": name}]

    def _sigmoid(self, state, layer, params, name):
        return [{"type": "sigmoid", "name": name}]

    def _tanh(self, state, layer, params, name):
        return [{"type": "tanh", "name": name}]

    # Helpers.
    def _image(self, state: _State, layer: Block, kind: str) -> tuple[int, int, int]:
        if len(state.shape) != 3:
            raise layer.error(layer.owner, f"a {kind} layer after an InnerProduct (its input is {state.shape[0]} "
                                           "features)", at_value=False, expected="a C×H×W input",
                              hint="the spec's convolutions and pools come before the dense layers")
        return state.shape

    def _positive(self, params: Block, **pairs) -> None:
        """Caffe refuses a zero kernel size, stride, dilation or group (and so does the spec)."""
        for key, pair in pairs.items():
            if min(pair) <= 0:
                at = next((params.field(name) for name in (key, f"{key}_size", f"{key}_h", f"{key}_w")
                           if params.has(name)), None)
                raise params.error(at, f"{key} {_text(pair)} is not positive", expected=f"a {key} of 1 or more")

    def _pair(self, params: Block, both: str, height: str | None, width: str | None, default, repeated=False):
        """(h, w) from Caffe's `pad: 2`, `pad: 1 pad: 2` (convolutions) or `pad_h: 1 pad_w: 2`, with its checks."""
        given = params.all(both) if params.has(both) else []
        if height is not None and (params.has(height) or params.has(width)):
            if given:
                raise params.error(params.field(height) or params.field(width),
                                   f"both {both} and {height}/{width} are given", at_value=False,
                                   expected=f"{both}, or {height} and {width} (Caffe refuses both)")
            if not (params.has(height) and params.has(width)):
                raise params.error(params.field(height) or params.field(width),
                                   f"{height} and {width} go together", at_value=False,
                                   expected=f"both {height} and {width}")
            return params.get(height), params.get(width)
        if not given:
            return default
        if len(given) > 2 or (len(given) == 2 and not repeated):
            raise params.error(params.message.all(both)[-1], f"{both} is given {len(given)} times", at_value=False,
                               expected=f"one {both} for both axes" + (", or two (height, width)" if repeated else ""))
        return (given[0], given[0]) if len(given) == 1 else (given[0], given[1])

    def _init(self, params: Block, name: str, groups: int, weight: tuple[int, ...], bias: bool,
              spec_fans: tuple[int, int] | None = None) -> dict | None:
        """The spec's `init` for a layer's weight_filler and bias_filler; None when it gives neither."""
        weight_filler, bias_filler = params.block("weight_filler"), params.block("bias_filler") if bias else None
        if weight_filler is None and bias_filler is None:
            return None
        if spec_fans is None:  # conv: (O, I/g, kh, kw); the spec's fans are torch.nn.init's (ConvAttrs.fan_in/out)
            receptive = math.prod(weight[2:])
            spec_fans = (weight[1] * receptive, weight[0] * receptive)
        init = {"weight": self._distribution(weight_filler, weight, spec_fans, name, "weight")}
        if bias:
            init["bias"] = self._distribution(bias_filler, (_bias_size(weight, params),), spec_fans, name, "bias")
        return init

    def _distribution(self, filler: Block | None, blob: tuple[int, ...], spec_fans: tuple[int, int], name: str,
                      which: str) -> dict:
        """A FillerParameter as a spec distribution; `blob` is the shape Caffe fills (its fans come from it)."""
        if filler is None:
            self.note(f"the {which} filler Caffe defaults to, constant 0, next to the one given", name)
            return {"dist": "constant", "value": 0.0}
        kind = filler.get("type", "constant")
        if filler.get("sparse", -1) != -1:
            raise filler.error(filler.field("sparse"), "a sparse gaussian filler is not supported",
                               expected="no sparse field", hint="the spec's distributions fill every weight")
        if kind == "constant":
            return {"dist": "constant", "value": filler.get("value", 0.0)}
        if kind == "gaussian":
            mean, std = filler.get("mean", 0.0), filler.get("std", 1.0)
            if std < 0:
                raise filler.error(filler.field("std"), f"std {std} is negative")
            if std == 0:
                self.note("a gaussian filler with std 0 is the constant of its mean", name)
                return {"dist": "constant", "value": mean}
            return {"dist": "normal", "mean": mean, "std": std}
        if kind == "uniform":
            low, high = filler.get("min", 0.0), filler.get("max", 1.0)
            if low > high:
                raise filler.error(filler.field("min"), f"uniform filler with min {low} > max {high}")
            return {"dist": "uniform", "low": low, "high": high}
        if kind in ("xavier", "msra"):
            return self._fan_filler(filler, kind, blob, spec_fans, name)
        raise filler.error(filler.field("type"), f"filler type {kind!r} has no spec equivalent",
                           expected="constant, gaussian, uniform, xavier or msra",
                           hint="write the layer's `init` in the spec by hand, or change the filler")

    def _fan_filler(self, filler: Block, kind: str, blob: tuple[int, ...], spec_fans: tuple[int, int],
                    name: str) -> dict:
        """xavier: U(±sqrt(3/n)); msra: N(0, 2/n); n is Caffe's fan_in (count / shape[0]), fan_out (count /
        shape[1]) or their mean (include/caffe/filler.hpp)."""
        count = math.prod(blob)
        fan_in, fan_out = count // blob[0], (count // blob[1] if len(blob) > 1 else count)
        norm = filler.get("variance_norm", "FAN_IN")
        n = {"FAN_IN": Fraction(fan_in), "FAN_OUT": Fraction(fan_out), "AVERAGE": Fraction(fan_in + fan_out, 2)}[norm]
        spec_in, spec_out = spec_fans
        uniform = kind == "xavier"
        shape = "uniform" if uniform else "normal"
        nonlinearity = "linear" if uniform else "relu"
        if n == spec_in:
            return {"dist": "kaiming", "mode": "fan_in", "nonlinearity": nonlinearity, "distribution": shape}
        if n == spec_out:
            return {"dist": "kaiming", "mode": "fan_out", "nonlinearity": nonlinearity, "distribution": shape}
        if n == Fraction(spec_in + spec_out, 2):
            return {"dist": "xavier", "distribution": shape} if uniform else \
                {"dist": "xavier", "gain": math.sqrt(2.0), "distribution": "normal"}
        self.note(f"the {kind} filler's fan ({norm}, n = {n}) is not one the spec counts: its distribution "
                  "written as numbers", name)
        if uniform:
            bound = math.sqrt(3 / n)
            return {"dist": "uniform", "low": -bound, "high": bound}
        return {"dist": "normal", "mean": 0.0, "std": math.sqrt(2 / n)}


def _bias_size(weight: tuple[int, ...], params: Block) -> int:
    """The bias length: the layer's outputs (an InnerProduct with transpose stores its weight as (in, out))."""
    transposed = params.schema == "InnerProductParameter" and params.get("transpose", False)
    return weight[1] if transposed else weight[0]


def _compact(pair) -> int | list[int]:
    pair = tuple(pair)
    return pair[0] if pair[0] == pair[1] else list(pair)


def _text(pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


# --- from a file to validated spec text ---

def read_prototxt(path: str | Path) -> str:
    """The prototxt's text: a regular UTF-8 file of at most MAX_PROTOTXT_BYTES (limits.py), or a SpecError."""
    from alexnet_spec.limits import MAX_PROTOTXT_BYTES
    from alexnet_spec.source.yaml_source import read_text

    return read_text(path, max_bytes=MAX_PROTOTXT_BYTES, what="prototxt")


def convert(text: str, file: str = "<prototxt>", input_shape: tuple[int, int, int] | None = None) -> CaffeImport:
    """The spec data of a prototxt (deploy, or train_val's TEST phase; `input_shape` (C, H, W) for a data layer
    that reads its size from a database), not yet validated by alexspec (see `import_prototxt`)."""
    return _Converter(file, input_shape).convert(text)


def resolve_import(result: CaffeImport):
    """The ResolvedNetwork of a converted prototxt: alexspec's validation, with any error located at the prototxt
    layer it concerns; then every size checked against Caffe's arithmetic."""
    from alexnet_spec.source.dump import to_yaml_text
    from alexnet_spec.source.loading import parse_network

    try:
        net = parse_network(to_yaml_text(result.data), "<imported spec>")
    except SpecError as error:
        raise SpecError([_at_origin(diagnostic, result) for diagnostic in error.diagnostics]) from None
    for layer in net.layers:
        caffe = result.shapes.get(layer.name)
        if caffe is not None and caffe != layer.output_shape:  # a bug in the import or in alexspec: say so
            origin = result.origins[layer.name]
            raise SpecError(Diagnostic(f"alexspec computes {layer.output_shape} but Caffe's arithmetic gives {caffe}",
                                       file=result.file, line=origin.line, column=origin.column,
                                       layer=origin.caffe_name, details=layer.equations,
                                       hint="this is a bug in alexspec's Caffe import; please report it"))
    return net


def _at_origin(diagnostic: Diagnostic, result: CaffeImport) -> Diagnostic:
    import dataclasses

    key = diagnostic.layer if diagnostic.layer in result.origins else (
        "input" if diagnostic.path[:1] == ("input",) else None)
    origin = result.origins.get(key) if key else None
    if origin is None:
        return dataclasses.replace(diagnostic, file=result.file, line=None, column=None)
    spec_field = diagnostic.path[2] if len(diagnostic.path) > 2 and diagnostic.path[0] == "layers" else None
    where = next((origin.fields[name] for name in SPEC_TO_CAFFE.get(spec_field, ()) if name in origin.fields),
                 (origin.line, origin.column))
    return dataclasses.replace(diagnostic, file=result.file, line=where[0], column=where[1],
                               layer=origin.caffe_name if diagnostic.layer else None)


def import_prototxt(path: str | Path, directory: str | Path | None = None,
                    input_shape: tuple[int, int, int] | None = None) -> str:
    """The YAML text of a validated spec for a Caffe prototxt, with a header naming the file and listing what was
    made explicit; `directory` is where the spec will be written (for the header's schema path)."""
    return import_with_weights(path, directory, input_shape)[0]


def import_with_weights(path: str | Path, directory: str | Path | None = None,
                        input_shape: tuple[int, int, int] | None = None,
                        caffemodel: str | Path | None = None) -> tuple[str, dict]:
    """`import_prototxt`'s text, and the canonical weights of `caffemodel` ({} without one)."""
    result = convert(read_prototxt(path), str(path), input_shape)
    net = resolve_import(result)
    weights = {}
    if caffemodel is not None:
        from alexnet_spec.interop.caffemodel import caffemodel_weights

        weights = caffemodel_weights(caffemodel, result.origins, net)
    title = (f"Imported by alexspec from the Caffe prototxt {path}. Sizes follow Caffe's arithmetic (checked: "
             f"{', '.join(f'{layer.name} {_shape(layer.output_shape)}' for layer in net.layers if _resizes(layer))}); "
             f"{net.total_params:,} parameters.")
    if caffemodel is not None:
        title += f" Weights: {caffemodel} (`--weights-out FILE.safetensors` writes them, canonical names)."
    return spec_header(title, result.explicit, directory) + spec_yaml(net.spec), weights


def _resizes(layer) -> bool:
    return layer.type in ("conv", "maxpool", "avgpool", "adaptive_avgpool", "flatten", "dense", "concat")


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))
