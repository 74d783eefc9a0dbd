"""Field types shared by the layer models: sizes, padding forms, initialisation distributions."""

from __future__ import annotations

import keyword
import math
import unicodedata
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, model_validator

from alexnet_spec.limits import MAX_SIZE

# Sizes: strict (a boolean or a string is never a size) and bounded (limits.py), so that no spec makes alexspec
# compute, print or generate numbers without end.
PositiveInt = Annotated[int, Strict(), Field(gt=0, le=MAX_SIZE)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0, le=MAX_SIZE)]


def _real_number(value: object) -> float:
    """An int or float as a float; booleans, strings, NaN and infinities are errors (YAML's `true`, `"0.5"`, `.nan`
    and `1e999` are not numbers a network can use)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        how = "write it without quotes, e.g. 0.5" if isinstance(value, str) else "write a number, e.g. 0.5"
        raise ValueError(f"a number is expected, not {_kind(value)} ({how})")
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            raise ValueError("the number is too large for a float") from None
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number; NaN and infinities are not allowed")
    return value


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    return {list: "a list", dict: "a mapping", type(None): "null"}.get(type(value), type(value).__name__)


# A finite float; ints are accepted (`k: 2`), as every framework does, and nothing else is converted.
Float = Annotated[float, BeforeValidator(_real_number)]

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

# Names that would shadow what generated modules need: every public attribute of torch.nn.Module (tests compare this
# list with torch's; the core does not import torch), then the names the generated torch and JAX modules use.
NN_MODULE_ATTRIBUTES = frozenset(
    """
    T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double dump_patches
    eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu
    load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters
    register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
    register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty
    train training type xpu zero_grad
    """.split()
)
GENERATED_CODE_NAMES = frozenset(
    """
    init x key params state train_mode layout torch jnp jax lax np nn F math dtype self reset_parameters devices input
    split_layers load_single_state_dict single_state_dict
    """.split()
)
RESERVED_NAMES = NN_MODULE_ATTRIBUTES | GENERATED_CODE_NAMES


def _check_normal_form(name: str, what: str) -> None:
    """Python reads identifiers in NFKC form (`ｆｏｒｗａｒｄ` is `forward`, `ﬁ` is `fi`), so a name that is not in it
    would be another name in generated code: checks for reserved and duplicate names must see the name Python sees."""
    normal = unicodedata.normalize("NFKC", name)
    if normal != name:
        raise ValueError(f"{what} {name!r} is not in Unicode normal form NFKC: Python reads it as {normal!r}; "
                         f"write {normal!r}")


def _check_layer_name(name: str) -> str:
    _check_normal_form(name, "layer name")
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"layer name {name!r} is not a Python identifier; generated code uses it as an attribute name "
                         "(use letters, digits and underscores, not starting with a digit)")
    if name in RESERVED_NAMES or name.startswith("_"):
        raise ValueError(f"layer name {name!r} is reserved: it would shadow an attribute of the generated module; "
                         f"try {name}_1 or a more specific name")
    return name


LayerName = Annotated[str, Strict(), AfterValidator(_check_layer_name)]

# The name every scope gives its own input (the network's image, or a block instance's argument).
INPUT_REF = "input"


def _check_layer_ref(name: str) -> str:
    return name if name == INPUT_REF else _check_layer_name(name)


# What `inputs:` lists: a layer of the same scope (network or block), or `input`.
LayerRef = Annotated[str, Strict(), AfterValidator(_check_layer_ref)]


class StrictModel(BaseModel):
    """Unknown keys are errors; models are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Normal(StrictModel):
    """Weights drawn from N(mean, std**2)."""

    dist: Literal["normal"] = Field(description="normal distribution")
    mean: Float = Field(0.0, description="mean")
    std: Float = Field(gt=0, description="standard deviation (the paper uses 0.01)")


class Uniform(StrictModel):
    """Weights drawn from U(low, high)."""

    dist: Literal["uniform"] = Field(description="uniform distribution")
    low: Float = Field(description="lower bound")
    high: Float = Field(description="upper bound, above `low`")

    @model_validator(mode="after")
    def _low_below_high(self) -> "Uniform":
        if not self.low < self.high:
            raise ValueError(f"uniform distribution with low {self.low} not below high {self.high}; "
                             "U(low, high) needs low < high (for a single value use dist: constant)")
        return self


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
    gain: Float = Field(1.0, gt=0, description="multiplies the standard deviation")
    distribution: Literal["normal", "uniform"] = Field("uniform", description="shape of the distribution")


class Constant(StrictModel):
    """Every element equal to `value`."""

    dist: Literal["constant"] = Field(description="constant")
    value: Float = Field(description="the value of every element")


Distribution = Annotated[Union[Normal, Uniform, Kaiming, Xavier, Constant], Field(discriminator="dist")]


class ParameterInit(StrictModel):
    """Explicit initialisation of one layer's weight and bias; an omitted one keeps the model-wide scheme."""

    weight: Distribution | None = Field(None, description="distribution of the weight")
    bias: Distribution | None = Field(None, description="distribution of the bias")


InitScheme = Literal["torch", "paper"]
Init = Union[InitScheme, ParameterInit]
