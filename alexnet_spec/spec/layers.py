"""The layer types of the spec language: a discriminated union on `type`."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AliasChoices, ConfigDict, Field, StrictBool, model_validator

from alexnet_spec.spec.types import (
    Activation,
    Float,
    Init,
    LayerName,
    LayerRef,
    NonNegativeInt,
    Padding,
    Pair,
    PositiveInt,
    StrictModel,
)

NAME = Field(None, description="unique layer name, used as the attribute name in generated code; generated when omitted")
TRUNCATION = Field(None, description="accept PyTorch's floor when the output size is not a whole number "
                                     "(overrides the model-wide setting)")
PLACEMENT = Field(None, description="with model `devices`: `split` (default; output channels divided evenly among "
                                    "the devices, as in the paper) or the name of one device")
INIT = Field(None, description="initialisation of this layer: `torch`, `paper`, or {weight: ..., bias: ...}; "
                               "overrides the model-wide `init`")


INPUTS = Field(None, min_length=1, description="the layers this one reads, by name (`input` is the network's or "
                                               "the block's input); omitted: the layer written before it")
WHEN = Field(True, description="inside a block, usually `$param`: when false the layer is left out and whoever reads "
                               "it reads its input instead (torchvision's optional downsample)")


class LayerBase(StrictModel):
    name: LayerName | None = NAME
    inputs: list[LayerRef] | None = INPUTS
    when: StrictBool = WHEN


class Conv(LayerBase):
    """2-D convolution, cross-correlation as in every framework: (C, H, W) -> (out_channels, H', W')."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: conv, name: conv2, out_channels: 256, kernel: 5, padding: 2, groups: 2}"]})

    type: Literal["conv"] = Field(description="2-D convolution")
    out_channels: PositiveInt = Field(description="number of kernels (output channels)")
    kernel: Pair = Field(description="kernel size: an int, or [height, width]")
    stride: Pair = Field(1, description="stride: an int, or [height, width]")
    padding: Padding = Field(0, description="int, [vertical, horizontal], [top, bottom, left, right], `valid` "
                                            "(no padding) or `same` (TensorFlow's rule, asymmetric at stride > 1)")
    dilation: Pair = Field(1, description="spacing between kernel elements")
    groups: PositiveInt = Field(1, description="channel groups; input and output channels must divide evenly")
    bias: bool = Field(True, description="add a learned bias per output channel")
    activation: Activation | None = Field(None, description="shorthand for an activation applied to the output")
    placement: str | None = PLACEMENT
    allow_truncation: bool | None = TRUNCATION
    init: Init | None = INIT
    scale_width: StrictBool = Field(True, description="whether the model's `width_multiple` scales out_channels "
                                                      "(false for a classifier convolution)")


class LRN(LayerBase):
    """Local response normalisation across channels: b = a / (k + scale * sum of squares in the window)**beta."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: lrn, name: norm1, size: 5, alpha: 1.0e-4, beta: 0.75, k: 2, convention: paper, groups: 2}"]})

    type: Literal["lrn"] = Field(description="local response normalisation across channels")
    size: PositiveInt | None = Field(None, description="window size n (odd), counting the channel itself")
    depth_radius: NonNegativeInt | None = Field(None, description="TensorFlow's half-window r; n = 2r + 1")
    alpha: Float = Field(description="scale of the sum of squares (see `convention`)")
    beta: Float = Field(description="exponent")
    k: Float = Field(ge=0, validation_alias=AliasChoices("k", "bias"),
                     description="additive constant, 0 or more (alias `bias`); TensorFlow's worked example uses 0, "
                                 "where a window of zeros gives 0/0 as in TensorFlow")
    convention: Literal["paper", "tf", "caffe", "torch"] = Field(
        description="`paper`/`tf`: alpha multiplies the plain sum of squares; `caffe`/`torch`: alpha is divided by n")
    groups: PositiveInt = Field(1, description="channel groups; the window never crosses a group boundary "
                                               "(the paper's towers each normalise their own maps)")

    @model_validator(mode="after")
    def _one_window(self) -> "LRN":
        if (self.size is None) == (self.depth_radius is None):
            raise ValueError("give exactly one of `size` (n) and `depth_radius` (r, n = 2r + 1)")
        if self.size is not None and self.size % 2 == 0:
            raise ValueError(f"LRN window size {self.size} is even; the window is centred on each channel, "
                             f"so it must be odd (for example {self.size - 1} or {self.size + 1})")
        return self

    @property
    def window(self) -> int:
        return self.size if self.size is not None else 2 * self.depth_radius + 1


class _Pool(LayerBase):
    kernel: Pair = Field(description="window size: an int, or [height, width]")
    stride: Pair | None = Field(None, description="stride; defaults to the kernel size")
    padding: Padding = Field(0, description="int, [vertical, horizontal], [top, bottom, left, right], `valid` or `same`")
    ceil_mode: StrictBool = Field(False, description="round the output size up instead of down (PyTorch's and Caffe's "
                                               "ceil); which last window is kept is `ceil_rule`")
    ceil_rule: Literal["torch", "caffe"] = Field(
        "torch", description="with ceil_mode: `torch` drops a last window that would start past the input (in the "
                             "right padding or beyond); `caffe` drops it only when the layer has padding, and "
                             "otherwise keeps it empty (max: -3.4028235e38, Caffe's -FLT_MAX; average: 0, an error where "
                             "Caffe divides 0 by 0)")
    allow_truncation: bool | None = TRUNCATION

    @model_validator(mode="after")
    def _rule_needs_ceil(self) -> "_Pool":
        if self.ceil_rule != "torch" and not self.ceil_mode:
            raise ValueError(f"ceil_rule: {self.ceil_rule} needs ceil_mode: true; rounding down is the same in "
                             "PyTorch and Caffe")
        return self


class MaxPool(_Pool):
    """Max pooling over each window: (C, H, W) -> (C, H', W')."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: maxpool, name: pool1, kernel: 3, stride: 2}"]})

    type: Literal["maxpool"] = Field(description="max pooling")


class AvgPool(_Pool):
    """Average pooling; whether padded zeros count in the average is `count_include_pad`."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: avgpool, name: s2, kernel: 2, stride: 2}"]})

    type: Literal["avgpool"] = Field(description="average pooling")
    count_include_pad: StrictBool | None = Field(
        None, description="divide by the window's size including padded zeros (`true`: PyTorch's default, Caffe) or "
                          "by the input elements it covers (`false`: TensorFlow's rule); default true for explicit "
                          "padding, false for `same`")


class AdaptiveAvgPool(LayerBase):
    """Average pooling to a fixed output size with PyTorch's bin boundaries (floor start, ceil end)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: adaptive_avgpool, name: avgpool, output_size: 6}"]})

    type: Literal["adaptive_avgpool"] = Field(description="adaptive average pooling")
    output_size: Pair = Field(description="output size: an int, or [height, width]")


class Flatten(LayerBase):
    """(C, H, W) -> (C*H*W,), in C, H, W order (PyTorch's order)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: flatten, name: flatten}"]})

    type: Literal["flatten"] = Field(description="flatten to features")


class Dropout(LayerBase):
    """Zeroes each element with probability p in training and scales the rest by 1/(1-p); identity in eval."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: dropout, name: drop6, p: 0.5}"]})

    type: Literal["dropout"] = Field(description="dropout")
    p: Float = Field(0.5, ge=0.0, lt=1.0, description="probability of zeroing an element")


class Dense(LayerBase):
    """Fully connected layer: (features,) -> (out_features,)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: dense, name: fc6, out_features: 4096, activation: relu}"]})

    type: Literal["dense"] = Field(description="fully connected layer")
    out_features: PositiveInt = Field(description="number of output features (neurons)")
    bias: bool = Field(True, description="add a learned bias per output feature")
    activation: Activation | None = Field(None, description="shorthand for an activation applied to the output")
    placement: str | None = PLACEMENT
    init: Init | None = INIT


class BatchNorm(LayerBase):
    """Batch normalisation: of channels after a conv, of features after a dense layer."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: batchnorm, name: bn1, eps: 0.001, momentum: 0.01}"]})

    type: Literal["batchnorm"] = Field(description="batch normalisation")
    eps: Float = Field(1e-5, gt=0, description="added to the variance")
    momentum: Float = Field(0.1, gt=0, le=1, description="weight of the batch statistic in the running average "
                                                        "(PyTorch's convention; Keras' 0.99 is 0.01 here)")
    running_variance: Literal["unbiased", "biased"] = Field(
        "unbiased", description="which batch variance the running variance moves towards in training: `unbiased` "
                                "(sum of squares / (n - 1), as torch.nn.BatchNorm) or `biased` (/ n, as Keras 3's "
                                "BatchNormalization); both normalise the batch itself with the biased variance")


class ReLU(LayerBase):
    """max(0, x)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: relu, name: relu1}"]})

    type: Literal["relu"] = Field(description="rectified linear unit")


class Tanh(LayerBase):
    """tanh(x)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: tanh}"]})

    type: Literal["tanh"] = Field(description="hyperbolic tangent")


class Sigmoid(LayerBase):
    """1 / (1 + exp(-x))."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: sigmoid}"]})

    type: Literal["sigmoid"] = Field(description="logistic sigmoid")


class Softmax(LayerBase):
    """Softmax over features (or channels, for a C×H×W input)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: softmax, name: prob}"]})

    type: Literal["softmax"] = Field(description="softmax over features")


class Concat(LayerBase):
    """Concatenation of its inputs along channels (C×H×W inputs of one height and width) or features."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: concat, name: out, inputs: [branch1, branch2, branch3, branch4]}"]})

    type: Literal["concat"] = Field(description="concatenation along channels or features")


class Add(LayerBase):
    """Element-wise sum of its inputs, which must have one shape (the residual connection of He et al. 2016)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: add, name: add, inputs: [bn2, input]}"]})

    type: Literal["add"] = Field(description="element-wise sum")


class GlobalAvgPool(LayerBase):
    """(C, H, W) -> (C,): the mean of each map (Keras' GlobalAveragePooling2D; torch: adaptive_avg_pool2d to 1×1,
    flattened)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: global_avgpool, name: avgpool}"]})

    type: Literal["global_avgpool"] = Field(description="mean of each feature map")


class GlobalMaxPool(LayerBase):
    """(C, H, W) -> (C,): the maximum of each map (Keras' GlobalMaxPooling2D)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: global_maxpool, name: maxpool}"]})

    type: Literal["global_maxpool"] = Field(description="maximum of each feature map")


class LeakyReLU(LayerBase):
    """x for x >= 0, negative_slope * x below (torch.nn.LeakyReLU)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: leaky_relu, negative_slope: 0.1}"]})

    type: Literal["leaky_relu"] = Field(description="leaky rectified linear unit")
    negative_slope: Float = Field(0.01, ge=0, description="slope below zero (torch's default 0.01)")


class ELU(LayerBase):
    """x for x > 0, alpha * (exp(x) - 1) below (Clevert et al. 2016; torch.nn.ELU)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: elu, alpha: 1.0}"]})

    type: Literal["elu"] = Field(description="exponential linear unit")
    alpha: Float = Field(1.0, gt=0, description="saturation value for negative inputs")


class GELU(LayerBase):
    """x * Phi(x), Phi the standard normal CDF (Hendrycks and Gimpel 2016; torch.nn.GELU)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: gelu, approximate: none}"]})

    type: Literal["gelu"] = Field(description="Gaussian error linear unit")
    approximate: Literal["none", "tanh"] = Field("none", description="`none`: the exact erf form; `tanh`: the tanh "
                                                                     "approximation")


class SiLU(LayerBase):
    """x * sigmoid(x) (swish; torch.nn.SiLU)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: silu}"]})

    type: Literal["silu"] = Field(description="sigmoid linear unit (swish)")


class PReLU(LayerBase):
    """x for x >= 0, a * x below, with `a` learned (He et al. 2015; torch.nn.PReLU)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: prelu, per_channel: true}"]})

    type: Literal["prelu"] = Field(description="parametric ReLU")
    per_channel: StrictBool = Field(False, description="one slope per channel (feature) instead of one in all")
    initial_slope: Float = Field(0.25, description="initial slope (torch's default 0.25)")


class Block(LayerBase):
    """An instance of a block defined under `blocks:`; its layers are named `<name>.<layer>`."""

    model_config = ConfigDict(json_schema_extra={"examples": ["{type: block, block: basic, name: layer2, repeat: 2, args: {channels: 128}, first: {stride: 2, downsample: true}}"]})

    type: Literal["block"] = Field(description="an instance of a block")
    block: LayerName = Field(description="the name of a block defined under `blocks:`")
    args: dict[LayerName, Any] = Field(default_factory=dict, description="values of the block's parameters")
    repeat: PositiveInt = Field(1, description="instances in a row, named `<name>.0`, `<name>.1` ... (scaled by the "
                                               "model's `depth_multiple`)")
    first: dict[LayerName, Any] = Field(default_factory=dict, description="with `repeat`: arguments for the first "
                                        "instance only (torchvision's stride-2, downsampling first block of a stage)")


LAYER_CLASSES = (Conv, LRN, MaxPool, AvgPool, AdaptiveAvgPool, Flatten, Dropout, Dense, BatchNorm, ReLU, Tanh, Sigmoid,
                 Softmax, Concat, Add, GlobalAvgPool, GlobalMaxPool, LeakyReLU, ELU, GELU, SiLU, PReLU, Block)

Layer = Annotated[
    Union[Conv, LRN, MaxPool, AvgPool, AdaptiveAvgPool, Flatten, Dropout, Dense, BatchNorm, ReLU, Tanh, Sigmoid, Softmax,
          Concat, Add, GlobalAvgPool, GlobalMaxPool, LeakyReLU, ELU, GELU, SiLU, PReLU, Block],
    Field(discriminator="type"),
]

LAYER_TYPES: dict[str, type[LayerBase]] = {
    cls.model_fields["type"].annotation.__args__[0]: cls for cls in LAYER_CLASSES
}

# Prefixes of generated names, in the paper's vocabulary: conv1, relu1, norm1, pool1, fc6, drop6 ...
NAME_PREFIX = {
    "conv": "conv", "lrn": "norm", "maxpool": "pool", "avgpool": "pool", "adaptive_avgpool": "avgpool",
    "flatten": "flatten", "dropout": "drop", "dense": "fc", "batchnorm": "bn", "relu": "relu", "tanh": "tanh",
    "sigmoid": "sigmoid", "softmax": "softmax", "concat": "concat", "add": "add", "global_avgpool": "avgpool",
    "global_maxpool": "maxpool", "leaky_relu": "relu", "elu": "elu", "gelu": "gelu", "silu": "silu", "prelu": "prelu",
    "block": "block",
}
