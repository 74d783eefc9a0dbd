"""The declared initialisation of a conv or dense layer as explicit `nn.init` calls, one per parameter.

Each distribution in the resolved layer (Normal, Uniform, Kaiming, Xavier, Constant) becomes a call whose numbers a
reader can check: fans are the spec's (`ConvAttrs.fan_in` and `fan_out`, torch.nn.init's rule for the whole layer's
weight), written into the call rather than left to `nn.init.kaiming_*`, which would count a device-split layer's
shares (smaller weights) differently.
"""

from __future__ import annotations

import math

from alexnet_spec.resolved import ConvAttrs, DenseAttrs
from alexnet_spec.spec.types import Constant, Kaiming, Normal, Uniform, Xavier

# gain**2 of each nonlinearity, as torch.nn.init.calculate_gain: the variance factor written into the formula.
GAIN_SQUARED = {"relu": "2", "linear": "1", "sigmoid": "1", "tanh": "(5 / 3) ** 2"}


def number(value: float) -> str:
    """A float as Python reads it back exactly: 0.01, 1e-05, 0.0."""
    return repr(float(value))


def init_calls(attrs: ConvAttrs | DenseAttrs, target: str) -> tuple[str, ...]:
    """The `nn.init` statements for `target.weight` and `target.bias` (target: "self.conv1", or a loop variable)."""
    calls = [_call(attrs.weight_init, f"{target}.weight", attrs)]
    if attrs.bias_init is not None:
        calls.append(_call(attrs.bias_init, f"{target}.bias", attrs))
    return tuple(calls)


def uses_math(attrs: ConvAttrs | DenseAttrs) -> bool:
    return any("math." in call for call in init_calls(attrs, "_"))


def _call(dist, tensor: str, attrs) -> str:
    if isinstance(dist, Constant):
        if dist.value == 0:
            return f"nn.init.zeros_({tensor})"
        return f"nn.init.constant_({tensor}, {number(dist.value)})"
    if isinstance(dist, Normal):
        return f"nn.init.normal_({tensor}, mean={number(dist.mean)}, std={number(dist.std)})"
    if isinstance(dist, Uniform):
        return _uniform(tensor, dist, attrs.fan_in)
    if isinstance(dist, Kaiming):
        fan = attrs.fan_in if dist.mode == "fan_in" else attrs.fan_out
        variance = f"{GAIN_SQUARED[dist.nonlinearity]} / {fan}"
        return _spread(tensor, dist.distribution, variance, f"Kaiming: gain**2 ({dist.nonlinearity}) / {dist.mode}")
    if isinstance(dist, Xavier):
        gain = "" if dist.gain == 1 else f"{number(dist.gain)} ** 2 * "
        variance = f"{gain}2 / ({attrs.fan_in} + {attrs.fan_out})"
        return _spread(tensor, dist.distribution, variance, "Xavier: gain**2 * 2 / (fan_in + fan_out)")
    raise TypeError(f"unknown distribution {dist!r}; expected one of Normal, Uniform, Kaiming, Xavier, Constant")


def _spread(tensor: str, shape: str, variance: str, comment: str) -> str:
    """A zero-mean normal or uniform distribution with the given variance expression."""
    if shape == "normal":
        return f"nn.init.normal_({tensor}, std=math.sqrt({variance}))  # {comment}"
    bound = f"math.sqrt(3 * {variance})"
    return f"nn.init.uniform_({tensor}, -{bound}, {bound})  # {comment}"


def _uniform(tensor: str, dist: Uniform, fan_in: int) -> str:
    bound = 1.0 / math.sqrt(fan_in)
    if dist.low == -bound and dist.high == bound:
        text = f"1 / math.sqrt({fan_in})"
        return f"nn.init.uniform_({tensor}, -{text}, {text})  # PyTorch's default: bound 1/sqrt(fan_in)"
    return f"nn.init.uniform_({tensor}, {number(dist.low)}, {number(dist.high)})"
