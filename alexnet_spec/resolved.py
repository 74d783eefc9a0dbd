"""The resolved network: every shape, size, parameter count and placement, frozen. Backends read only this."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # the spec is kept for the tools that still read it; backends read the plain fields
    from alexnet_spec.spec.network import NetworkSpec

Shape = tuple[int, ...]  # (C, H, W) for images, (F,) for features; the batch axis is never included
Quad = tuple[int, int, int, int]  # top, bottom, left, right


# ---------------------------------------------------------------- initialisation, resolved
# passes/init.py turns every declared scheme (paper, torch, kaiming, xavier, ...) into one of these, with the fans
# already applied: backends draw from concrete numbers and never compute initialisation formulas themselves.
# `formula` says where the numbers come from, for generated comments; it does not take part in equality.


@dataclass(frozen=True)
class Normal:
    """N(mean, std**2)."""

    mean: float
    std: float
    formula: str = field(default="", compare=False)  # e.g. "Kaiming (relu, fan_in): std = sqrt(2) / sqrt(363)"


@dataclass(frozen=True)
class Uniform:
    """U(low, high)."""

    low: float
    high: float
    formula: str = field(default="", compare=False)


@dataclass(frozen=True)
class FrameworkDefault(Uniform):
    """PyTorch's own initialisation of nn.Conv2d and nn.Linear (their reset_parameters): U(±1/sqrt(fan_in)) for the
    weight (kaiming_uniform_ with a = sqrt(5)) and for the bias. A Uniform, so that backends without that default
    draw it like any other; the torch backend leaves it to the module constructors, which already drew it."""


@dataclass(frozen=True)
class Constant:
    """Every element equal to `value`."""

    value: float
    formula: str = field(default="", compare=False)


Distribution = Union[Normal, Uniform, Constant]  # FrameworkDefault is a Uniform


@dataclass(frozen=True)
class ConvAttrs:
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: Quad
    dilation: tuple[int, int]
    groups: int
    bias: bool
    activation: str | None
    weight_init: Distribution
    bias_init: Distribution | None

    # Fans as torch.nn.init._calculate_fan_in_and_fan_out computes them from the (O, I/groups, kh, kw) weight:
    # size(1) * kh * kw and size(0) * kh * kw. With groups, fan_in counts one group's inputs but fan_out every
    # output channel, so a spec that says kaiming or xavier gets what nn.init gives PyTorch users.
    @property
    def fan_in(self) -> int:
        return self.in_channels // self.groups * self.kernel[0] * self.kernel[1]

    @property
    def fan_out(self) -> int:
        return self.out_channels * self.kernel[0] * self.kernel[1]

    @property
    def symmetric_padding(self) -> tuple[int, int] | None:
        """(vertical, horizontal) when top == bottom and left == right, else None."""
        top, bottom, left, right = self.padding
        return (top, left) if top == bottom and left == right else None


@dataclass(frozen=True)
class PoolAttrs:
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: Quad
    ceil_mode: bool
    ceil_rule: str = "torch"  # "caffe": a last window past an unpadded input is kept, empty
    count_include_pad: bool = True  # average pooling: padded zeros count in the divisor
    empty_last: tuple[bool, bool] = (False, False)  # (rows, columns): Caffe's empty last window is there

    @property
    def symmetric_padding(self) -> tuple[int, int] | None:
        top, bottom, left, right = self.padding
        return (top, left) if top == bottom and left == right else None


@dataclass(frozen=True)
class AdaptivePoolAttrs:
    output_size: tuple[int, int]


@dataclass(frozen=True)
class LRNAttrs:
    size: int  # n, the full window, odd
    alpha: float  # as written in the spec
    beta: float
    k: float
    convention: str
    groups: int

    @property
    def scale(self) -> float:
        """What multiplies the plain sum of squares: alpha (paper, tf) or alpha/n (caffe, torch)."""
        return self.alpha if self.convention in ("paper", "tf") else self.alpha / self.size

    @property
    def radius(self) -> int:
        return self.size // 2


@dataclass(frozen=True)
class DenseAttrs:
    in_features: int
    out_features: int
    bias: bool
    activation: str | None
    weight_init: Distribution
    bias_init: Distribution | None

    @property
    def fan_in(self) -> int:
        return self.in_features

    @property
    def fan_out(self) -> int:
        return self.out_features


@dataclass(frozen=True)
class DropoutAttrs:
    p: float


@dataclass(frozen=True)
class BatchNormAttrs:
    num_features: int
    eps: float
    momentum: float  # PyTorch's convention: weight of the batch statistic
    spatial: bool  # True after a conv (normalise channels), False after a dense layer (features)
    running_variance: str = "unbiased"  # the batch variance the running one moves towards: "unbiased" or "biased"


@dataclass(frozen=True)
class ConcatAttrs:
    axis: str  # "channels" (C×H×W inputs) or "features"
    widths: tuple[int, ...]  # each input's channels (features), in order: where each one starts in the output


@dataclass(frozen=True)
class LeakyReLUAttrs:
    negative_slope: float


@dataclass(frozen=True)
class ELUAttrs:
    alpha: float


@dataclass(frozen=True)
class GELUAttrs:
    approximate: str  # "none" (erf) or "tanh"


@dataclass(frozen=True)
class PReLUAttrs:
    num_parameters: int  # 1, or one slope per channel (feature)
    initial_slope: float


LayerAttrs = Union[ConvAttrs, PoolAttrs, AdaptivePoolAttrs, LRNAttrs, DenseAttrs, DropoutAttrs, BatchNormAttrs,
                   ConcatAttrs, LeakyReLUAttrs, ELUAttrs, GELUAttrs, PReLUAttrs, None]


@dataclass(frozen=True)
class Placement:
    """Where a layer runs when the model is split across devices, as in the paper's two GPUs.

    `split`: the output channels (features) are divided evenly, device i holding the i-th share.
    `reads_across`: the layer needs activations that live on other devices (the paper's conv3 and dense layers).
    """

    devices: tuple[str, ...]
    split: bool
    reads_across: bool

    @property
    def label(self) -> str:
        return "split" if self.split else self.devices[0]


INPUT = "input"  # what `inputs` holds for the network's input


@dataclass(frozen=True)
class ResolvedLayer:
    index: int  # position in `ResolvedNetwork.layers`: after every layer it reads
    name: str  # qualified inside block instances: "layer2.0.conv1"
    type: str
    input_shape: Shape  # the first input's
    output_shape: Shape
    params: int
    buffers: int
    macs: int
    equations: tuple[str, ...]  # the arithmetic behind each size that changes, e.g. "(227 + 2*0 - 11)/4 + 1 = 55"
    attrs: LayerAttrs
    placement: Placement | None = None
    inputs: tuple[str, ...] = ()  # the layers it reads (qualified names), or INPUT
    input_shapes: tuple[Shape, ...] = ()  # one per input

    @property
    def is_spatial(self) -> bool:
        return len(self.output_shape) == 3


@dataclass(frozen=True)
class ScopeMember:
    """A layer or a block instance, as its scope sees it."""

    name: str  # the attribute name in its scope: "conv1", "layer2", "0"
    qualified: str  # "layer2.0.conv1"; a leaf layer's ResolvedLayer.name
    is_block: bool  # an instance (or a row of them): its Scope has this qualified name
    inputs: tuple[str, ...]  # members of the same scope it reads (their `name`), or INPUT (the scope's input)


@dataclass(frozen=True)
class Scope:
    """The network, a block instance, or a row of instances (`repeat`): what a backend makes a (nested) module of."""

    name: str  # qualified; "" for the network
    kind: str  # "network", "instance" or "sequence" (members "0", "1" ... each reading the one before)
    block: str | None  # the block definition's name (None for the network)
    args: tuple[tuple[str, object], ...]  # the instance's parameter values, in the block's order
    members: tuple[ScopeMember, ...]  # in an order where each comes after what it reads
    outputs: tuple[str, ...]  # the members whose values the scope returns (one, except a network's `outputs`)


@dataclass(frozen=True)
class Scale:
    """One integer the model-level multiples changed, for `summary`."""

    name: str  # the layer or block instance
    field: str  # "out_channels" or "repeat"
    declared: int
    scaled: int
    multiple: float


@dataclass(frozen=True)
class ResolvedNetwork:
    name: str
    description: str  # what the network is, as the spec writes it ("" when it does not)
    source: str  # the citation: paper, repository, model zoo entry ("" when none)
    devices: tuple[str, ...]  # where the spec places its layers; () on one device
    file: str  # the spec file it was read from, as given ("<spec>" and the like when not read from a file)
    spec_hash: str  # sha256 of the canonical JSON of `spec`, first 16 hex digits
    input_shape: Shape
    layers: tuple[ResolvedLayer, ...]
    spec: "NetworkSpec"  # with every layer named; for the tools that still read it (no backend does)
    overrides: tuple[str, ...] = ()  # the `--set` edits applied to `file`, as given: generated headers repeat them
    outputs: tuple[str, ...] = ()  # the layers the model returns (a tuple when more than one); () means the last
    scopes: tuple[Scope, ...] = ()  # the network's scope first, then every block instance and row
    scaling: tuple[Scale, ...] = ()  # what depth_multiple and width_multiple changed
    logits: bool = False  # the spec's final softmax dropped (alexnet_spec/logits.py): generated headers say --logits
    # The element type of parameters and activations in generated code: "float32", "bfloat16" or "float16" (see
    # alexnet_spec/precision.py); `precision_option`: it was chosen by --precision, not the spec, and headers say so.
    precision: str = "float32"
    precision_option: bool = False

    @property
    def class_name(self) -> str:
        return self.name[0].upper() + self.name[1:]

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.outputs or (self.layers[-1].name,)

    @property
    def output_shape(self) -> Shape:
        """The first output's shape."""
        return self.layer(self.output_names[0]).output_shape

    @property
    def output_shapes(self) -> tuple[Shape, ...]:
        return tuple(self.layer(name).output_shape for name in self.output_names)

    @property
    def is_chain(self) -> bool:
        """Every layer reads the one before it, the last is the only output, and there are no blocks."""
        return len(self.scopes) <= 1 and self.output_names == (self.layers[-1].name,) and all(
            layer.inputs == ((self.layers[index - 1].name,) if index else (INPUT,))
            for index, layer in enumerate(self.layers))

    def scope(self, name: str) -> Scope:
        for scope in self.scopes:
            if scope.name == name:
                return scope
        raise KeyError(name)

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def total_buffers(self) -> int:
        return sum(layer.buffers for layer in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def layer(self, name: str) -> ResolvedLayer:
        index = self._index.get(name)
        if index is None:
            raise KeyError(name)
        return self.layers[index]

    @property
    def _index(self) -> dict[str, int]:
        cached = self.__dict__.get("_layer_index")
        if cached is None:
            cached = {layer.name: index for index, layer in enumerate(self.layers)}
            object.__setattr__(self, "_layer_index", cached)  # frozen: a cache, not part of the value
        return cached
