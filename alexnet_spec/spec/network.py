"""The top-level spec: a network's name, input, devices and layers."""

from __future__ import annotations

import keyword
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PrivateAttr, StringConstraints

from alexnet_spec.limits import MAX_LAYERS
from alexnet_spec.spec.layers import Layer
from alexnet_spec.spec.types import Float, Init, LayerName, PositiveInt, StrictModel

# Generated classes are named after the model, so the name must not shadow what the generated file imports.
RESERVED_MODEL_NAMES = frozenset({"F", "LocalResponseNorm", "Tensor", "Module"})


# Python's constants: `None`, `True` and `False` cannot be class names, and the other spellings read as them.
PYTHON_CONSTANTS = frozenset({"none", "true", "false"})


def _check_model_name(name: str) -> str:
    if name.lower() in PYTHON_CONSTANTS or keyword.iskeyword(name):
        raise ValueError(f"model name {name!r} is a Python keyword or constant (any case); generated classes are "
                         f"named after the model: try {name.capitalize()}Net")
    if name in RESERVED_MODEL_NAMES:
        raise ValueError(f"model name {name!r} would shadow a name the generated module uses; try {name}Net")
    return name


ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$"), AfterValidator(_check_model_name)]


class InputShape(StrictModel):
    """The shape of one input image, channels first."""

    channels: PositiveInt = Field(description="image channels (3 for RGB)")
    height: PositiveInt = Field(description="image height in pixels")
    width: PositiveInt = Field(description="image width in pixels")


class BlockSpec(StrictModel):
    """A named group of layers with parameters, defined once and instantiated by `type: block` layers."""

    params: dict[LayerName, Any] = Field(default_factory=dict, description="parameter names and their defaults "
                                         "(null: every instance must give it); a layer field written `$name` takes "
                                         "the instance's value")
    layers: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_LAYERS, description="the block's layers, as in "
                                         "`layers:`; `input` names the instance's input; checked for each instance")
    output: LayerName | None = Field(None, description="the layer whose output the instance returns (default: the "
                                                      "last)")


class NetworkSpec(StrictModel):
    """A convolutional network, layer by layer."""

    name: ModelName = Field(description="the model's name; generated classes are named after it")
    description: str = Field("", description="what this network is")
    source: str = Field("", description="citation: where the numbers come from")
    input: InputShape = Field(description="shape of one input image")
    devices: list[LayerName] | None = Field(None, min_length=1, description="device names for model-parallel "
                                            "placement, as the paper's two GPUs (for example [gpu0, gpu1])")
    allow_truncation: bool = Field(False, description="accept PyTorch's floor wherever an output size is not a whole "
                                                      "number (otherwise that is an error)")
    init: Init = Field("torch", description="initialisation: `torch` (framework defaults), `paper` (N(0, 0.01); "
                                            "biases 1 in conv2, conv4, conv5 and hidden dense layers), or explicit")
    precision: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="the element type generated code stores parameters and activations in; bfloat16 and "
                               "float16 keep float32 where the numerics need it (LRN's sum of squares, softmax, "
                               "batch-normalisation statistics); `--precision` overrides it")
    layers: list[Layer] = Field(min_length=1, max_length=MAX_LAYERS, description="the layers, in order")
    blocks: dict[LayerName, BlockSpec] = Field(default_factory=dict, description="reusable blocks, by name")
    outputs: list[LayerName] | None = Field(None, min_length=1, description="the layers whose outputs the built model "
                                            "returns, in order (a tuple when more than one); default: the last layer")
    depth_multiple: Float = Field(1.0, gt=0, description="scales every block's `repeat` (Ultralytics' rule: "
                                                        "max(round(n × depth_multiple), 1) for n > 1)")
    width_multiple: Float = Field(1.0, gt=0, description="scales every convolution's out_channels, rounded up to a "
                                                        "multiple of 8 (Ultralytics' make_divisible), unless the "
                                                        "layer says scale_width: false")

    # The file the spec was read from and the `--set` edits applied to it, for generated headers; not part of the
    # spec's value.
    _source_file: str | None = PrivateAttr(default=None)
    _overrides: tuple[str, ...] = PrivateAttr(default=())
