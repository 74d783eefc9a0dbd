"""Shape inference: each layer's input and output shape, parameters, MACs and the arithmetic behind each size."""

from __future__ import annotations

import dataclasses

from alexnet_spec.arithmetic import (
    SizeResult,
    nearest_whole_sizes,
    padding_for_whole,
    same_padding,
    window_output,
)
from alexnet_spec.errors import Diagnostic, DiagnosticSink, SpecError
from alexnet_spec.limits import MAX_ADAPTIVE_BINS
from alexnet_spec.passes.graph import Graph, Node
from alexnet_spec.resolved import (
    INPUT,
    AdaptivePoolAttrs,
    BatchNormAttrs,
    ConcatAttrs,
    Constant,
    ConvAttrs,
    DenseAttrs,
    DropoutAttrs,
    ELUAttrs,
    GELUAttrs,
    LeakyReLUAttrs,
    LRNAttrs,
    PoolAttrs,
    PReLUAttrs,
    Quad,
    ResolvedLayer,
    Shape,
)
from alexnet_spec.spec import layers as L
from alexnet_spec.spec.network import NetworkSpec

AXES = ("height", "width")
# Placeholder until passes/init.py resolves the declared scheme; never reaches a backend.
UNRESOLVED_INIT = Constant(0.0)


def pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def explicit_padding(padding, size: tuple[int, int], kernel, stride, dilation=(1, 1)) -> Quad:
    """(top, bottom, left, right) for any padding form of the spec."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        top, bottom = same_padding(size[0], kernel[0], stride[0], dilation[0])
        left, right = same_padding(size[1], kernel[1], stride[1], dilation[1])
        return (top, bottom, left, right)
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    return tuple(padding)


def infer_shapes(spec: NetworkSpec, graph: Graph) -> tuple[ResolvedLayer, ...]:
    """Resolve every layer of the graph, in its order; all independent errors are collected before raising."""
    sink = DiagnosticSink()
    image: Shape = (spec.input.channels, spec.input.height, spec.input.width)
    shapes: dict[str, Shape] = {INPUT: image}
    resolved = []
    state = _ChainState()
    for node in graph.nodes:
        if any(name not in shapes for name in node.inputs):  # what it reads could not be resolved (and was reported)
            continue
        input_shapes = tuple(shapes[name] for name in node.inputs)
        first_spatial = len(input_shapes[0]) == 3 and input_shapes[0][1:] == image[1:]
        context = _Context(spec, node, len(resolved), sink, first_spatial, state)
        out = _resolve(context, input_shapes)
        if out is None:
            continue
        out = dataclasses.replace(out, inputs=node.inputs, input_shapes=input_shapes)
        resolved.append(out)
        shapes[node.name] = out.output_shape
    sink.raise_if_any()
    return tuple(resolved)


class _ChainState:
    inexact = False  # an earlier size was floored without permission (and reported): later errors would repeat it


class _Context:
    def __init__(self, spec: NetworkSpec, node: Node, index: int, sink: DiagnosticSink, first_spatial: bool,
                 state: _ChainState):
        self.spec, self.node, self.layer, self.index, self.sink = spec, node, node.layer, index, sink
        self.first_spatial, self.state = first_spatial, state
        self.input_shapes: tuple[Shape, ...] = ()

    def error(self, message: str, field: str | None = None, **kwargs) -> None:
        path = self.node.path + ((field,) if field else ())
        self.sink.add(Diagnostic(message, layer=self.layer.name, path=path, **kwargs))

    @property
    def allow_truncation(self) -> bool:
        own = getattr(self.layer, "allow_truncation", None)
        return self.spec.allow_truncation if own is None else own


MULTI_INPUT = {"concat", "add"}


def _resolve(ctx: _Context, input_shapes: tuple[Shape, ...]) -> ResolvedLayer | None:
    layer = ctx.layer
    ctx.input_shapes = input_shapes
    if layer.type in MULTI_INPUT:
        return _HANDLERS[layer.type](ctx, input_shapes)
    if len(input_shapes) != 1:
        ctx.error(f"{layer.type} reads {len(input_shapes)} layers ({', '.join(ctx.node.inputs)})", field="inputs",
                  expected="one input", hint="combine them first with a `concat` or an `add` layer")
        return None
    return _HANDLERS[layer.type](ctx, input_shapes[0])


def _show(shape: Shape) -> str:
    return "×".join(map(str, shape))


def _concat(ctx: _Context, shapes: tuple[Shape, ...]) -> ResolvedLayer | None:
    names = ctx.node.inputs
    first = shapes[0]
    for name, shape in zip(names[1:], shapes[1:]):
        if len(shape) != len(first) or shape[1:] != first[1:]:
            what = "height and width" if len(first) == 3 and len(shape) == 3 else "kind (image or features)"
            ctx.error(f"concat inputs differ in {what}: {names[0]} gives {_show(first)}, {name} gives {_show(shape)}",
                      field="inputs" if ctx.layer.inputs else None,
                      details=tuple(f"{n}: {_show(s)}" for n, s in zip(names, shapes)),
                      expected="inputs of one height and width (channels may differ), or all features",
                      hint="pad or pool the branches to one size, or flatten them all before concatenating")
            return None
    widths = tuple(shape[0] for shape in shapes)
    total = sum(widths)
    equation = (f"{' + '.join(map(str, widths))} = {total} {'channels' if len(first) == 3 else 'features'}",)
    attrs = ConcatAttrs("channels" if len(first) == 3 else "features", widths)
    return ResolvedLayer(ctx.index, ctx.layer.name, "concat", first, (total,) + first[1:], 0, 0, 0, equation, attrs)


def _add(ctx: _Context, shapes: tuple[Shape, ...]) -> ResolvedLayer | None:
    names = ctx.node.inputs
    for name, shape in zip(names[1:], shapes[1:]):
        if shape != shapes[0]:
            ctx.error(f"add inputs differ in shape: {names[0]} gives {_show(shapes[0])}, {name} gives {_show(shape)}",
                      field="inputs" if ctx.layer.inputs else None,
                      details=tuple(f"{n}: {_show(s)}" for n, s in zip(names, shapes)),
                      expected="inputs of one shape", hint="a residual connection whose shape changes needs a "
                      "projection on the shortcut (a 1×1 conv with the same stride, as torchvision's downsample)")
            return None
    return ResolvedLayer(ctx.index, ctx.layer.name, "add", shapes[0], shapes[0], 0, 0, 0, (), None)


def _global_pool(ctx: _Context, shape: Shape) -> ResolvedLayer | None:
    if not _needs_image(ctx, shape):
        return None
    equation = (f"{shape[1]}×{shape[2]} -> 1 per channel",)
    return ResolvedLayer(ctx.index, ctx.layer.name, ctx.layer.type, shape, (shape[0],), 0, 0, 0, equation, None)


def _prelu(ctx: _Context, shape: Shape) -> ResolvedLayer | None:
    layer: L.PReLU = ctx.layer
    count = shape[0] if layer.per_channel else 1
    return ResolvedLayer(ctx.index, layer.name, "prelu", shape, shape, count, 0, 0, (),
                         PReLUAttrs(count, layer.initial_slope))


def _parametrised(attrs_of):
    def handler(ctx: _Context, shape: Shape) -> ResolvedLayer | None:
        return ResolvedLayer(ctx.index, ctx.layer.name, ctx.layer.type, shape, shape, 0, 0, 0, (), attrs_of(ctx.layer))

    return handler


def _needs_image(ctx: _Context, shape: Shape) -> bool:
    if len(shape) != 3:
        ctx.error(f"{ctx.layer.type} needs a C×H×W input, but gets {shape[0]} features",
                  expected="a convolutional feature map", hint="move this layer before `flatten` and the dense layers")
        return False
    return True


def _spatial(ctx: _Context, shape: Shape, kernel, stride, padding: Quad, dilation=(1, 1), ceil_mode=False,
             ceil_rule="torch", same=False) -> tuple[tuple[int, int], tuple[str, ...], tuple[SizeResult, ...]] | None:
    results = []
    for axis in range(2):
        size = shape[1 + axis]
        before, after = padding[2 * axis], padding[2 * axis + 1]
        result = window_output(size, before, after, kernel[axis], stride[axis], dilation[axis], ceil_mode, ceil_rule,
                               layer_padded=any(padding))
        if result.size <= 0:
            ctx.error(f"output {AXES[axis]} is not positive", field="kernel", details=(result.equation,),
                      expected=f"a window no larger than the padded input ({size + before + after})",
                      hint="use a smaller kernel or stride, more padding, or a larger input")
            return None
        if same and not result.is_whole and not result.rounded_up:
            result = _same_size(size, stride[axis], result)
        results.append(result)
    square = results[0].equation == results[1].equation
    permitted = ctx.allow_truncation
    for axis, result in enumerate(results[:1] if square else results):
        if _floored(result) and not permitted and not ctx.state.inexact:
            _not_whole(ctx, axis, shape[1 + axis], padding[2 * axis], padding[2 * axis + 1], kernel[axis],
                       stride[axis], dilation[axis], result, both_axes=square)
    if not permitted and any(map(_floored, results)):
        ctx.state.inexact = True  # later sizes follow from this reported one: their errors would only repeat it
    equations = (results[0].equation,) if square else tuple(
        f"{AXES[axis]}: {result.equation}" for axis, result in enumerate(results))
    return (results[0].size, results[1].size), equations, tuple(results)


def _floored(result: SizeResult) -> bool:
    return not result.is_whole and not result.rounded_up


def _same_size(size: int, stride: int, result: SizeResult) -> SizeResult:
    """TensorFlow's `same` defines the output as ceil(size/stride); with a kernel smaller than the stride no padding
    is needed and PyTorch's floor gives that same size, so nothing is truncated."""
    whole = -(-size // stride)
    assert whole == result.size, (size, stride, result)
    return SizeResult(whole, result.exact, f"{result.equation} = ceil({size}/{stride}), TensorFlow's same",
                      rounded_up=True)


def _not_whole(ctx: _Context, axis: int, size: int, before: int, after: int, kernel: int, stride: int,
               dilation: int, result: SizeResult, both_axes: bool) -> None:
    below, above = nearest_whole_sizes(size, before, after, kernel, stride, dilation)
    where = "input" if ctx.first_spatial else "incoming"
    dimension = "size" if both_axes else AXES[axis]
    gives = [f"an {where} {dimension} of {candidate} gives "
             f"{window_output(candidate, before, after, kernel, stride, dilation).size}"
             for candidate in dict.fromkeys((above, below)) if candidate > 0]
    pad = padding_for_whole(size, kernel, stride, dilation)
    if pad is not None and pad != before:
        gives.append(f"padding {pad} gives {window_output(size, pad, pad, kernel, stride, dilation).size}")
    what = "output height and width are not whole numbers" if both_axes else f"output {AXES[axis]} is not a whole number"
    ctx.error(what, field="kernel", details=(result.unrounded,),
              expected=f"({AXES[axis]} + padding - kernel) divisible by the stride, {stride}",
              hint="; ".join(gives) + "; or set allow_truncation: true to floor as PyTorch does")


def _conv(ctx: _Context, shape: Shape) -> ResolvedLayer | None:
    layer: L.Conv = ctx.layer
    if not _needs_image(ctx, shape):
        return None
    channels = shape[0]
    kernel, stride, dilation = pair(layer.kernel), pair(layer.stride), pair(layer.dilation)
    padding = explicit_padding(layer.padding, shape[1:], kernel, stride, dilation)
    for label, width in (("input channels", channels), ("output channels", layer.out_channels)):
        if width % layer.groups:
            ctx.error(f"{width} {label} are not divisible by groups={layer.groups}", field="groups",
                      expected=f"{label} a multiple of {layer.groups}",
                      hint=f"groups must divide both {channels} input and {layer.out_channels} output channels")
    spatial = _spatial(ctx, shape, kernel, stride, padding, dilation, same=layer.padding == "same")
    if spatial is None:
        return None
    (height, width), equations, _ = spatial
    per_group = channels // layer.groups
    weights = layer.out_channels * per_group * kernel[0] * kernel[1]
    attrs = ConvAttrs(channels, layer.out_channels, kernel, stride, padding, dilation, layer.groups, layer.bias,
                      layer.activation, UNRESOLVED_INIT, UNRESOLVED_INIT if layer.bias else None)
    return ResolvedLayer(ctx.index, layer.name, "conv", shape, (layer.out_channels, height, width),
                         params=weights + (layer.out_channels if layer.bias else 0), buffers=0,
                         macs=weights * height * width, equations=equations, attrs=attrs)


def _pool(ctx: _Context, shape: Shape) -> ResolvedLayer | None:
    layer = ctx.layer
    if not _needs_image(ctx, shape):
        return None
    kernel = pair(layer.kernel)
    stride = pair(layer.stride) if layer.stride is not None else kernel
    padding = explicit_padding(layer.padding, shape[1:], kernel, stride)
    for axis in range(2):
        if max(padding[2 * axis], padding[2 * axis + 1]) > kernel[axis] // 2:
            ctx.error(f"padding {padding} is more than half the {kernel[0]}×{kernel[1]} window", field="padding",
                      expected=f"at most {kernel[axis] // 2} on each side of the {AXES[axis]}",
                      hint="a window made mostly of padding has nothing to pool (PyTorch's rule)")
            return None
    spatial = _spatial(ctx, shape, kernel, stride, padding, ceil_mode=layer.ceil_mode, ceil_rule=layer.ceil_rule,
                       same=layer.padding == "same")
    if spatial is None:
        return None
    (height, width), equations, results = spatial
    empty_last = tuple(result.empty_last for result in results)
    if layer.type == "avgpool" and not _caffe_average_defined(ctx, shape, stride, (height, width), empty_last):
        return None
    attrs = PoolAttrs(kernel, stride, padding, layer.ceil_mode, layer.ceil_rule, _count_include_pad(layer),
                      empty_last)
    return ResolvedLayer(ctx.index, layer.name, layer.type, shape, (shape[0], height, width), 0, 0, 0, equations,
                         attrs)


def _count_include_pad(layer) -> bool:
    """PyTorch's default (true) for explicit padding, TensorFlow's rule (false) for `same`; maxpool: unused."""
    if layer.type != "avgpool":
        return True
    return layer.padding != "same" if layer.count_include_pad is None else layer.count_include_pad


def _caffe_average_defined(ctx: _Context, shape: Shape, stride, size: tuple[int, int],
                           empty_last: tuple[bool, ...]) -> bool:
    """Caffe averages an empty last window as 0 / ((size - start) * ...): -0 when it starts past the input's end,
    but 0/0 = NaN when it starts exactly there. Refuse the NaN (pooling_layer.cpp, Forward_cpu, AVE)."""
    for axis in range(2):
        start = (size[axis] - 1) * stride[axis]
        if empty_last[axis] and start == shape[1 + axis]:
            ctx.error(f"Caffe's last window along the {AXES[axis]} starts at {start}, right after the input's "
                      f"{shape[1 + axis]} elements: Caffe averages it as 0/0 (NaN)", field="ceil_rule",
                      details=(f"window {size[axis] - 1}: start ({size[axis]} - 1)*{stride[axis]} = {start}, "
                               f"divisor ({shape[1 + axis]} - {start})*... = 0",),
                      expected="a last window that holds at least one input element",
                      hint="use ceil_rule: torch (drops that window), padding, or a kernel at least the stride")
            return False
    return True


def _adaptive(ctx: _Context, shape: Shape) -> ResolvedLayer | None:
    layer: L.AdaptiveAvgPool = ctx.layer
    if not _needs_image(ctx, shape):
        return None
    size = pair(layer.output_size)
    if max(size) > MAX_ADAPTIVE_BINS:
        ctx.error(f"adaptive pooling to {size[0]}×{size[1]} bins", field="output_size",
                  expected=f"at most {MAX_ADAPTIVE_BINS:,} bins per axis (limits.py; the JAX module lists every bin)",
                  hint=f"the input is {shape[1]}×{shape[2]}; more bins than input pixels only repeat pixels")
        return None
    equations = tuple(f"{AXES[axis]}: {shape[1 + axis]} -> {size[axis]} adaptive bins" for axis in range(2))
    return ResolvedLayer(ctx.index, layer.name, layer.type, shape, (shape[0],) + size, 0, 0, 0, equations,
                         AdaptivePoolAttrs(size))


def _lrn(ctx: _Context, shape: Shape) -> ResolvedLayer | None:
    layer: L.LRN = ctx.layer
    channels = shape[0]
    if channels % layer.groups:
        ctx.error(f"{channels} channels are not divisible by groups={layer.groups}", field="groups",
                  expected=f"channels a multiple of {layer.groups}", hint="groups usually equals the device count")
    elif layer.window > channels // layer.groups:
        ctx.error(f"LRN window {layer.window} is wider than the {channels // layer.groups} channels of each group",
                  field="size" if layer.size is not None else "depth_radius",
                  expected=f"an odd window of at most {channels // layer.groups}", hint="the paper uses n = 5")
    attrs = LRNAttrs(layer.window, layer.alpha, layer.beta, layer.k, layer.convention, layer.groups)
    return ResolvedLayer(ctx.index, layer.name, "lrn", shape, shape, 0, 0, 0, (), attrs)


def _dense(ctx: _Context, shape: Shape) -> ResolvedLayer | None:
    layer: L.Dense = ctx.layer
    if len(shape) != 1:
        ctx.error(f"dense layer fed a {'×'.join(map(str, shape))} tensor", expected="features: put a `flatten` "
                  "layer before the first dense layer", hint=f"flatten gives {shape[0] * shape[1] * shape[2]} features")
        return None
    weights = shape[0] * layer.out_features
    attrs = DenseAttrs(shape[0], layer.out_features, layer.bias, layer.activation, UNRESOLVED_INIT,
                       UNRESOLVED_INIT if layer.bias else None)
    return ResolvedLayer(ctx.index, layer.name, "dense", shape, (layer.out_features,),
                         params=weights + (layer.out_features if layer.bias else 0), buffers=0, macs=weights,
                         equations=(), attrs=attrs)


def _flatten(ctx: _Context, shape: Shape) -> ResolvedLayer | None:
    features = 1
    for size in shape:
        features *= size
    equation = (f"{' * '.join(map(str, shape))} = {features}",) if len(shape) > 1 else ()
    return ResolvedLayer(ctx.index, ctx.layer.name, "flatten", shape, (features,), 0, 0, 0, equation, None)


def _batchnorm(ctx: _Context, shape: Shape) -> ResolvedLayer | None:
    layer: L.BatchNorm = ctx.layer
    attrs = BatchNormAttrs(shape[0], layer.eps, layer.momentum, spatial=len(shape) == 3,
                           running_variance=layer.running_variance)
    return ResolvedLayer(ctx.index, layer.name, "batchnorm", shape, shape, 2 * shape[0], 2 * shape[0], 0, (), attrs)


def _dropout(ctx: _Context, shape: Shape) -> ResolvedLayer | None:
    return ResolvedLayer(ctx.index, ctx.layer.name, "dropout", shape, shape, 0, 0, 0, (), DropoutAttrs(ctx.layer.p))


def _elementwise(ctx: _Context, shape: Shape) -> ResolvedLayer | None:
    return ResolvedLayer(ctx.index, ctx.layer.name, ctx.layer.type, shape, shape, 0, 0, 0, (), None)


_HANDLERS = {
    "conv": _conv, "maxpool": _pool, "avgpool": _pool, "adaptive_avgpool": _adaptive, "lrn": _lrn, "dense": _dense,
    "flatten": _flatten, "batchnorm": _batchnorm, "dropout": _dropout, "relu": _elementwise, "tanh": _elementwise,
    "sigmoid": _elementwise, "softmax": _elementwise, "silu": _elementwise, "concat": _concat, "add": _add,
    "global_avgpool": _global_pool, "global_maxpool": _global_pool, "prelu": _prelu,
    "leaky_relu": _parametrised(lambda layer: LeakyReLUAttrs(layer.negative_slope)),
    "elu": _parametrised(lambda layer: ELUAttrs(layer.alpha)),
    "gelu": _parametrised(lambda layer: GELUAttrs(layer.approximate)),
}

__all__ = ["infer_shapes", "explicit_padding", "pair", "SpecError"]
