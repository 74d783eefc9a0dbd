"""Field types shared by the layer models: sizes, padding forms, initialisation distributions."""

from __future__ import annotations

import keyword
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

PositiveInt = Annotated[int, Strict(), Field(gt=0)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]

# One int for both axes, or [height, width].
Pair = Union[PositiveInt, Annotated[tuple[PositiveInt, PositiveInt], Field(description="[height, width]")]]

# int, [vertical, horizontal], [top, bottom, left, right], or a named form.
Padding = Union[
    NonNegativeInt,
    tuple[NonNegativeInt, NonNegativeInt],
    tuple[NonNegativeInt, NonNegativeInt, NonNegativeInt, NonNegativeInt],
    Literal["valid", "same"],
]

Activation = Literal["relu", "tanh", "sigmoid", "softmax"]

# Names that would shadow what generated modules need (nn.Module attributes, the jax module's functions).
RESERVED_NAMES = frozenset(
    """
    forward training eval train to cuda cpu half float double bfloat16 type parameters named_parameters buffers
    named_buffers children named_children modules named_modules state_dict load_state_dict register_buffer
    register_parameter register_module add_module apply zero_grad requires_grad_ share_memory extra_repr
    get_submodule get_parameter get_buffer dump_patches call_super_init compile ipu xpu mtia init x key params
    state train_mode layout torch jnp jax lax np nn F math dtype self reset_parameters devices split_layers
    load_single_state_dict single_state_dict
    """.split()
)


def _check_layer_name(name: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"layer name {name!r} is not a Python identifier; generated code uses it as an attribute name "
                         "(use letters, digits and underscores, not starting with a digit)")
    if name in RESERVED_NAMES or name.startswith("_"):
        raise ValueError(f"layer name {name!r} is reserved: it would shadow an attribute of the generated module; "
                         f"try {name}_1 or a more specific name")
    return name


LayerName = Annotated[str, Strict(), AfterValidator(_check_layer_name)]


class StrictModel(BaseModel):
    """Unknown keys are errors; models are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Normal(StrictModel):
    """Weights drawn from N(mean, std**2)."""

    dist: Literal["normal"] = Field(description="normal distribution")
    mean: float = Field(0.0, description="mean")
    std: float = Field(gt=0, description="standard deviation (the paper uses 0.01)")


class Uniform(StrictModel):
    """Weights drawn from U(low, high)."""

    dist: Literal["uniform"] = Field(description="uniform distribution")
    low: float = Field(description="lower bound")
    high: float = Field(description="upper bound")


FANS = ("fans as torch.nn.init computes them from the weight: a conv's fan_in = in_channels / groups × kh × kw, "
        "fan_out = out_channels × kh × kw (every output channel, grouped or not); a dense layer's in and out features")


class Kaiming(StrictModel):
    """He et al. 2015: std = gain / sqrt(fan), gain = sqrt(2) for relu. Fans as torch.nn.init's: for a conv,
    fan_in = in_channels / groups × kh × kw and fan_out = out_channels × kh × kw."""

    dist: Literal["kaiming"] = Field(description="He (Kaiming) initialisation")
    mode: Literal["fan_in", "fan_out"] = Field("fan_in", description=f"which fan scales the variance; {FANS}")
    nonlinearity: Literal["relu", "linear", "tanh", "sigmoid"] = Field("relu", description="sets the gain")
    distribution: Literal["normal", "uniform"] = Field("normal", description="shape of the distribution")


class Xavier(StrictModel):
    """Glorot and Bengio 2010: variance 2 / (fan_in + fan_out), times gain squared. Fans as torch.nn.init's: for a
    conv, fan_in = in_channels / groups × kh × kw and fan_out = out_channels × kh × kw."""

    dist: Literal["xavier"] = Field(description="Glorot (Xavier) initialisation")
    gain: float = Field(1.0, gt=0, description="multiplies the standard deviation")
    distribution: Literal["normal", "uniform"] = Field("uniform", description="shape of the distribution")


class Constant(StrictModel):
    """Every element equal to `value`."""

    dist: Literal["constant"] = Field(description="constant")
    value: float = Field(description="the value of every element")


Distribution = Annotated[Union[Normal, Uniform, Kaiming, Xavier, Constant], Field(discriminator="dist")]


class ParameterInit(StrictModel):
    """Explicit initialisation of one layer's weight and bias; an omitted one keeps the model-wide scheme."""

    weight: Distribution | None = Field(None, description="distribution of the weight")
    bias: Distribution | None = Field(None, description="distribution of the bias")


InitScheme = Literal["torch", "paper"]
Init = Union[InitScheme, ParameterInit]
