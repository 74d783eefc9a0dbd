"""Per-layer code of the generated module: module constructors, the expressions and statements `forward` applies to
`x`, and the views (LayerView, ClassView) the templates place them in, one template per layer kind."""

from __future__ import annotations

from dataclasses import dataclass, replace

from alexnet_spec.arithmetic import window_output
from alexnet_spec.backends.common.rendering import Statement, aligned_code_width, commented
from alexnet_spec.backends.common.scopes import network_scope, readers
from alexnet_spec.resolved import INPUT, ResolvedLayer, ResolvedNetwork

from .initialisation import number

# Expressions on the tensor `{x}` (see Expression).
ACTIVATIONS = {"tanh": "torch.tanh({x})", "sigmoid": "torch.sigmoid({x})", "softmax": "torch.softmax({x}, dim=1)",
               "silu": "F.silu({x})"}
# Global pooling, (N, C, H, W) -> (N, C): torch.mean and torch.amax over the two spatial axes.
GLOBAL_POOLS = {"global_avgpool": "{x}.mean(dim=(2, 3))", "global_maxpool": "{x}.amax(dim=(2, 3))"}
GLOBAL_POOL_NOTES = {"global_avgpool": "mean", "global_maxpool": "maximum"}
# Layers that hand on the tensor they receive (or a view of it) instead of computing a new one.
PASS_THROUGH = {"dropout", "flatten"}
# Functions whose gradient reads their output: that output must not be overwritten in place (amax's gradient goes
# to the elements equal to its result).
KEEP_OUTPUT = {"tanh", "sigmoid", "softmax", "global_maxpool"}
CAFFE_LOWEST = -3.4028234663852886e38  # -FLT_MAX, where Caffe's max pooling starts each window
CROP_NOTE = "drop the extra window PyTorch's ceil_mode would start in the padding"
FUNCTIONAL = "import torch.nn.functional as F"  # imported by the files whose code calls F.relu or F.pad
BATCHNORM_RESET = "{target}.reset_parameters()  # weight 1, bias 0, running mean 0 and variance 1"
PRELU_RESET = "{target}.reset_parameters()  # every slope its initial value"
# The torch dtype of each low precision; float32 writes no dtype, so float32 files read as they always have.
TORCH_DTYPES = {"bfloat16": "torch.bfloat16", "float16": "torch.float16"}
SOFTMAX_ISLAND = "in float32: its sum of exponentials"
BATCHNORM_ISLAND = "statistics and parameters in float32"
INDENT = 8  # forward's statements sit in a method body
MAX_COLUMN = 64  # comments start here at the latest; longer statements get theirs two spaces after the code


@dataclass(frozen=True)
class Expression:
    """Code applied to a tensor, written with `{x}` where the tensor goes, and the import lines it needs beyond
    torch and nn. The placed class applies it to a share (`x` in a list comprehension) or to the whole activation
    moved to a device (`x.to(...)`, `gather(xs, ...)`): `on` puts the tensor in, so no code is re-parsed."""

    template: str
    imports: tuple[str, ...] = ()

    def on(self, tensor: str) -> str:
        return self.template.format(x=tensor)

    @property
    def code(self) -> str:
        """Applied to `x`."""
        return self.on("x")


def module_call(name: str) -> Expression:
    """The layer's module (self.<name>) applied to the tensor."""
    return Expression(f"self.{name}({{x}})")


FLATTEN = Expression("torch.flatten({x}, 1)")


@dataclass(frozen=True)
class LayerView:
    """What the templates need for one layer; `format_forward` turns its Statements into finished lines."""

    name: str
    template: str  # conv.jinja, pool.jinja ...: one per layer kind
    constructor: str | None = None  # self.<name> = <constructor>
    shares: tuple[str, ...] = ()  # placed: one constructor per device, held in an nn.ModuleList
    init: tuple[str, ...] = ()  # reset_parameters lines; for shares, applied to each `share`
    pad: Statement | str | None = None
    call: Statement | str | None = None
    crop: Statement | str | None = None
    activation: Statement | str | None = None
    target: str = "x"  # the variable its last statement assigns (see backends/common/scopes.py)
    leaf: bool = True  # a layer, whose value `alexspec check` compares; False for a block instance or row

    def statements(self) -> tuple:
        """forward's statements for this layer, in order (Statements before formatting, lines after)."""
        return tuple(s for s in (self.pad, self.call, self.crop, self.activation) if s is not None)


@dataclass(frozen=True)
class ClassView:
    """One generated nn.Module class: the single-device one, or the placed one (`devices` set)."""

    class_name: str
    doc: tuple[str, ...]  # the docstring's lines
    definition: str  # `def forward(self, x):  # (N, 3, 227, 227)`
    first: str | None  # forward's first statement: the memory format
    layers: tuple[LayerView, ...]
    output: str  # forward's return statement
    devices: tuple[str, ...] = ()  # placed class: the spec's device names
    split_layers: str = "()"  # placed class: the layers held as one share per device, a tuple literal
    imports: tuple[str, ...] = ()  # what its statements need (statement_imports), gathered before formatting
    reset_doc: tuple[str, ...] = ("Initialise every parameter as the spec declares.",)  # reset_parameters' docstring
    # Modules (a share list or a row of blocks expands with *) that their constructors already initialised: only a
    # later reset redraws them.
    default_drawn: tuple[str, ...] = ()
    weights_format: str | None = None  # __init__'s line putting the convolution weights channels last (the network's)


def format_forward(layers: list[LayerView], first: Statement | None, argument: str = "x",
                   input_shape: str = "") -> tuple[tuple[LayerView, ...], str, str | None]:
    """Every Statement as its finished line, `code  # shape   note`, with comments aligned down `forward`.

    Returns the layers, the `def forward` line (its parameter `argument`, commented with `first`'s shape or else
    `input_shape`) and the line for `first` (which does not widen the column).
    """
    statements = [s for view in layers for s in view.statements()]
    width = aligned_code_width(statements, INDENT, MAX_COLUMN)
    shape_width = max((len(s.shape) for s in statements), default=0)

    def line(s):
        return commented(s, width, shape_width) if isinstance(s, Statement) else s

    views = tuple(replace(view, pad=line(view.pad), call=line(view.call), crop=line(view.crop),
                          activation=line(view.activation)) for view in layers)
    # `def forward` sits 4 columns left of the body: its code width grows by 4 so that its comment lines up.
    header = Statement(f"def forward(self, {argument}):", first.shape if first else input_shape)
    definition = commented(header, width + 4)
    return views, definition, line(first)


def shape_text(shape: tuple[int, ...]) -> str:
    """(N, 96, 55, 55) for a (96, 55, 55) layer output; the batch axis is always N."""
    return "(" + ", ".join(("N",) + tuple(str(size) for size in shape)) + ")"


def size_text(pair: tuple[int, int]) -> str:
    """11 for (11, 11); (11, 5) otherwise."""
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


# ---------------------------------------------------------------- constructors


def conv_constructor(layer: ResolvedLayer, in_channels: int, out_channels: int, groups: int, device: str = "",
                     precision: str = "float32") -> str:
    a = layer.attrs
    args = [str(in_channels), str(out_channels), f"kernel_size={size_text(a.kernel)}"]
    if a.stride != (1, 1):
        args.append(f"stride={size_text(a.stride)}")
    padding = a.symmetric_padding
    if padding is not None and padding != (0, 0):
        args.append(f"padding={size_text(padding)}")
    if a.dilation != (1, 1):
        args.append(f"dilation={size_text(a.dilation)}")
    if groups != 1:
        args.append(f"groups={groups}")
    if not a.bias:
        args.append("bias=False")
    return f"nn.Conv2d({', '.join(args + _device(device) + _dtype(precision))})"


def linear_constructor(layer: ResolvedLayer, in_features: int, out_features: int, device: str = "",
                       precision: str = "float32") -> str:
    """The file's Linear (helpers/dense.jinja): nn.Linear whose backward adds the weight gradient into weight.grad."""
    args = [str(in_features), str(out_features)] + ([] if layer.attrs.bias else ["bias=False"])
    return f"Linear({', '.join(args + _device(device) + _dtype(precision))})"


def batchnorm_constructor(layer: ResolvedLayer, features: int, device: str = "") -> str:
    a = layer.attrs
    args = [str(features)]
    if a.eps != 1e-5:
        args.append(f"eps={number(a.eps)}")
    if a.momentum != 0.1:
        args.append(f"momentum={number(a.momentum)}")
    # torch's own class updates the running variance with the unbiased batch variance; the file's helper subclass
    # (helpers/batchnorm.jinja) with the biased one
    kind = f"BatchNorm{2 if a.spatial else 1}d"
    cls = f"nn.{kind}" if a.running_variance == "unbiased" else f"{kind}BiasedVariance"
    return f"{cls}({', '.join(args + _device(device))})"


def lrn_constructor(layer: ResolvedLayer, groups: int, inplace: bool) -> str:
    a = layer.attrs
    scale = number(a.alpha) if a.scale == a.alpha else f"{number(a.alpha)} / {a.size}"
    args = [str(a.size), f"scale={scale}", f"beta={number(a.beta)}", f"k={number(a.k)}"]
    if groups != 1:
        args.append(f"groups={groups}")
    if inplace:
        args.append("inplace=True")
    return f"LocalResponseNorm({', '.join(args)})"


def prelu_constructor(layer: ResolvedLayer, device: str = "", precision: str = "float32") -> str:
    """nn.PReLU: one slope, or one per channel (feature), which it applies along axis 1."""
    a, args = layer.attrs, []
    if a.num_parameters != 1:
        args.append(f"num_parameters={a.num_parameters}")
    if a.initial_slope != 0.25:
        args.append(f"init={number(a.initial_slope)}")
    return f"nn.PReLU({', '.join(args + _device(device) + _dtype(precision))})"


def simple_constructor(layer: ResolvedLayer) -> str:
    """The parameter-free modules: pooling and dropout."""
    a = layer.attrs
    if layer.type == "adaptive_avgpool":
        return f"nn.AdaptiveAvgPool2d({size_text(a.output_size)})"
    if layer.type == "dropout":
        return f"nn.Dropout(p={number(a.p)})"
    args = [f"kernel_size={size_text(a.kernel)}"]
    if a.stride != a.kernel:
        args.append(f"stride={size_text(a.stride)}")
    padding = a.symmetric_padding
    if padding is not None and padding != (0, 0):
        args.append(f"padding={size_text(padding)}")
    if a.ceil_mode:
        args.append("ceil_mode=True")
    if layer.type == "avgpool" and not a.count_include_pad and padding not in (None, (0, 0)):
        args.append("count_include_pad=False")
    # max pooling: the file's MaxPool2d (helpers/max_pool.jinja), which saves no indices for the backward pass
    return f"{'MaxPool2d' if layer.type == 'maxpool' else 'nn.AvgPool2d'}({', '.join(args)})"


def _device(device: str) -> list[str]:
    return [f"device={device}"] if device else []


def _dtype(precision: str) -> list[str]:
    """Parameters stored in the low precision; batch normalisation is never given one: its statistics and affine
    parameters stay float32, and torch's batch norm takes a bfloat16 (float16) input with them."""
    return [f"dtype={TORCH_DTYPES[precision]}"] if precision in TORCH_DTYPES else []


def precision_note(net: ResolvedNetwork) -> tuple[str, ...]:
    """The header's line on a low precision; none for float32."""
    if net.precision not in TORCH_DTYPES:
        return ()
    return (f"Parameters and activations in {net.precision}; float32 where forward says so (LRN's sum of squares, "
            "softmax) and in batch normalisation (statistics and parameters).",)


def in_float32(expression: Expression, precision: str) -> Expression:
    """`expression` computed in float32 on a low-precision activation, its result rounded back once: where a long
    sum or an exponential in bfloat16 (float16) would lose what the network needs. float32: `expression` itself."""
    if precision not in TORCH_DTYPES:
        return expression
    return Expression(f"{expression.on('{x}.float()')}.to({TORCH_DTYPES[precision]})", expression.imports)


# ---------------------------------------------------------------- forward


def memory_format_statement(net: ResolvedNetwork, variable: str = "x") -> Statement | None:
    """forward's first statement: images channels last in memory and, in a low precision, the input converted to
    it (the caller's float32 batch is accepted as it is). An image read only by convolutions stays in the caller's
    layout (converted to the precision alone, or None in float32): their channels-last weights (weights_format_line)
    make their outputs channels last, a strided conversion to channels last costs more than the convolution saves
    on three channels, and in training it would be one more tensor kept for the backward pass (a convolution keeps
    its input for its weight's gradient)."""
    dtype = TORCH_DTYPES.get(net.precision)
    if len(net.input_shape) != 3 or read_only_by_convolutions(net):
        if dtype is None:
            return None
        return Statement(f"{variable} = {variable}.to({dtype})", shape_text(net.input_shape),
                         f"{net.precision} from here on")
    if dtype is None:
        return Statement(f"{variable} = {variable}.contiguous(memory_format=torch.channels_last)",
                         shape_text(net.input_shape),
                         "channels last in memory: faster convolution and pooling")
    return Statement(f"{variable} = {variable}.to({dtype}, memory_format=torch.channels_last)",
                     shape_text(net.input_shape), f"{net.precision} and channels last from here on")


def weights_format_line(net: ResolvedNetwork) -> str | None:
    """__init__'s line that stores the convolution weights channels last, as the activations are: oneDNN would
    otherwise reorder each weight on every call, forward and backward. The values and state dict keys are unchanged."""
    if len(net.input_shape) != 3 or not any(layer.type == "conv" for layer in net.layers):
        return None
    return "self.to(memory_format=torch.channels_last)  # convolution weights in the activations' memory format"


def read_only_by_convolutions(net: ResolvedNetwork) -> bool:
    """Whether every layer reading the network's input is a convolution (not a block, not another kind)."""
    scope = network_scope(net)
    positions = readers(scope)[INPUT]
    return bool(positions) and all(
        position < len(scope.members) and not scope.members[position].is_block
        and net.layer(scope.members[position].qualified).type == "conv" for position in positions)


def overwritable_after(layer: ResolvedLayer, before: bool) -> bool:
    """Whether forward may overwrite the activation after `layer` in place (relu, LRN without gradients): it must
    be a tensor forward made (not the caller's input) and not an output that a gradient reads (tanh's, ...)."""
    if layer.type in PASS_THROUGH:
        return before
    activation = getattr(layer.attrs, "activation", None)
    return layer.type not in KEEP_OUTPUT and activation not in KEEP_OUTPUT


def ends_in_relu(layer: ResolvedLayer, before: bool) -> bool:
    """Whether the activation after `layer` is a relu's output: relu's gradient reads that output, so a second relu
    right after it must not overwrite it in place (found by the torch/jax gradient property)."""
    if layer.type in PASS_THROUGH:
        return before
    return layer.type == "relu" or getattr(layer.attrs, "activation", None) == "relu"


def activation_expression(kind: str, overwritable: bool, attrs=None, precision: str = "float32") -> Expression:
    """relu in place when `x` may be overwritten (see overwritable_after); `attrs`: the layer's, for the activations
    with a parameter (leaky_relu, elu, gelu), written only when it differs from torch.nn.functional's default.
    softmax in a low precision runs in float32 (its sum of exponentials)."""
    if kind == "softmax":
        return in_float32(Expression(ACTIVATIONS[kind]), precision)
    if kind == "relu":
        return Expression("F.relu({x}, inplace=True)", (FUNCTIONAL,)) if overwritable else Expression("torch.relu({x})")
    if kind == "leaky_relu":
        return Expression(f"F.leaky_relu({{x}}, negative_slope={number(attrs.negative_slope)})", (FUNCTIONAL,))
    if kind == "elu":
        alpha = "" if attrs.alpha == 1.0 else f", alpha={number(attrs.alpha)}"
        return Expression(f"F.elu({{x}}{alpha})", (FUNCTIONAL,))
    if kind == "gelu":
        approximate = "" if attrs.approximate == "none" else f', approximate="{attrs.approximate}"'
        return Expression(f"F.gelu({{x}}{approximate})", (FUNCTIONAL,))
    if kind in GLOBAL_POOLS:
        return Expression(GLOBAL_POOLS[kind])
    return Expression(ACTIVATIONS[kind], (FUNCTIONAL,) if ACTIVATIONS[kind].startswith("F.") else ())


def concat_expression(sources: list[str]) -> Expression:
    """torch.cat of the inputs along axis 1: channels of (N, C, H, W), or features of (N, F)."""
    return Expression(f"torch.cat([{', '.join(sources)}], dim=1)")


def add_expression(sources: list[str]) -> Expression:
    return Expression(" + ".join(sources))


def pad_expression(layer: ResolvedLayer) -> Expression | None:
    """F.pad for padding that nn.Conv2d / nn.*Pool2d cannot express (top != bottom or left != right)."""
    a = layer.attrs
    if a.symmetric_padding is not None:
        return None
    top, bottom, left, right = a.padding
    value = ', value=float("-inf")' if layer.type == "maxpool" else ""
    return Expression(f"F.pad({{x}}, ({left}, {right}, {top}, {bottom}){value})", (FUNCTIONAL,))


def padded_shape(layer: ResolvedLayer, channels: int) -> tuple[int, int, int]:
    """(channels, height, width) of the layer's input after its explicit padding."""
    top, bottom, left, right = layer.attrs.padding
    return channels, layer.input_shape[1] + top + bottom, layer.input_shape[2] + left + right


def pad_note(layer: ResolvedLayer) -> str:
    top, bottom, left, right = layer.attrs.padding
    return f"padding top {top}, bottom {bottom}, left {left}, right {right}"


def pad_shape(layer: ResolvedLayer) -> str:
    """The shape comment of the explicit padding statement."""
    return shape_text(padded_shape(layer, layer.input_shape[0]))


def pad_statement(layer: ResolvedLayer) -> Statement | None:
    """The explicit padding on the whole activation `x`, or None when the module pads."""
    expression = pad_expression(layer)
    if expression is None:
        return None
    return Statement(f"x = {expression.code}", pad_shape(layer), pad_note(layer), expression.imports)


def pooled_size(layer: ResolvedLayer) -> tuple[int, int]:
    """(height, width) that nn.*Pool2d gives. With asymmetric padding and ceil_mode it sees the padding as input and
    may add a last window starting in the bottom or right padding, which the spec's rule excludes (then a crop
    follows). It never keeps Caffe's empty last window (then a fill follows)."""
    a = layer.attrs
    if a.symmetric_padding is not None or not a.ceil_mode:
        return tuple(size - empty for size, empty in zip(layer.output_shape[1:], a.empty_last))
    top, bottom, left, right = a.padding
    return tuple(window_output(layer.input_shape[1 + axis] + before + after, 0, 0, a.kernel[axis], a.stride[axis],
                               1, True).size
                 for axis, (before, after) in enumerate(((top, bottom), (left, right))))


def lrn_note(layer: ResolvedLayer, groups: int, precision: str = "float32") -> str:
    a = layer.attrs
    scale = "alpha" if a.scale == a.alpha else "alpha / n"
    where = f", within each of {groups} channel groups" if groups > 1 else ""
    island = "; float32: its sum of squares" if precision in TORCH_DTYPES else ""
    return f"LRN n={a.size}, {a.convention} convention (scale = {scale}){where}{island}"


def pool_followup(layer: ResolvedLayer) -> tuple[Expression, str] | None:
    """(expression on `x`, note) that turns nn.*Pool2d's output into the spec's, or None when it already is."""
    a, (height, width) = layer.attrs, layer.output_shape[1:]
    if any(a.empty_last):  # only without padding: no crop and no rescaling
        rows, columns = (int(empty) for empty in a.empty_last)
        value = f", value={CAFFE_LOWEST!r}" if layer.type == "maxpool" else ""
        kept = "-FLT_MAX, its max's start value" if layer.type == "maxpool" else "0 (its sum, 0, over a negative size)"
        return (Expression(f"F.pad({{x}}, (0, {columns}, 0, {rows}){value})", (FUNCTIONAL,)),
                f"Caffe's empty last window: {kept}")
    expression, notes = "{x}", []
    if pooled_size(layer) != (height, width):
        expression, notes = f"{{x}}[:, :, :{height}, :{width}]", [CROP_NOTE]
    factors = _valid_count_factors(layer)
    if factors is not None:
        expression = f"{expression} * torch.outer({{x}}.new_tensor({factors[0]}), {{x}}.new_tensor({factors[1]}))"
        notes.append("count_include_pad false: divide by the input elements of each window, not the padded size")
    return (Expression(expression), "; ".join(notes)) if notes else None


def _valid_count_factors(layer: ResolvedLayer) -> tuple[list[float], list[float]] | None:
    """Per axis, (size of each window clipped at the F.pad-ded input) / (input elements in it): what turns
    AvgPool2d's average over explicitly padded zeros into an average over the input alone. None when the module's
    own count_include_pad=False does it (symmetric padding) or nothing is padded."""
    a = layer.attrs
    if layer.type != "avgpool" or a.count_include_pad or a.symmetric_padding is not None:
        return None
    factors = []
    for axis in range(2):
        size, before, after = layer.input_shape[1 + axis], a.padding[2 * axis], a.padding[2 * axis + 1]
        axis_factors = []
        for index in range(layer.output_shape[1 + axis]):
            start = index * a.stride[axis]  # in the padded input
            padded = min(start + a.kernel[axis], size + before + after) - start
            inside = min(start + a.kernel[axis], size + before) - max(start, before)
            axis_factors.append(padded / inside)
        factors.append(axis_factors)
    return factors[0], factors[1]

