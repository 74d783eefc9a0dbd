"""The top-level spec: a network's name, input, devices and layers."""

from __future__ import annotations

import keyword
from typing import Annotated

from pydantic import AfterValidator, Field, PrivateAttr, StringConstraints

from alexnet_spec.limits import MAX_LAYERS
from alexnet_spec.spec.layers import Layer
from alexnet_spec.spec.types import Init, LayerName, PositiveInt, StrictModel

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
    layers: list[Layer] = Field(min_length=1, max_length=MAX_LAYERS, description="the layers, in order")

    # The file the spec was read from and the `--set` edits applied to it, for generated headers; not part of the
    # spec's value.
    _source_file: str | None = PrivateAttr(default=None)
    _overrides: tuple[str, ...] = PrivateAttr(default=())
