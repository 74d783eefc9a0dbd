"""The resolved initialisation of a conv or dense layer as explicit `nn.init` calls, one per parameter.

Each distribution arrives concrete (passes/init.py applied the fans, torch.nn.init's rule for the whole layer's
weight, so a device-split layer's shares are drawn like the whole layer): the call carries its numbers and, as a
comment, the formula they come from. A FrameworkDefault gets no call: nn.Conv2d's and nn.Linear's constructors
already drew it (their reset_parameters: U(±1/sqrt(fan_in)) for weight and bias, fan_in from the weight, which each
share has like the whole layer).
"""

from __future__ import annotations

import textwrap
from typing import Mapping

from alexnet_spec.resolved import Constant, ConvAttrs, DenseAttrs, FrameworkDefault, Normal, ResolvedLayer, Uniform


def number(value: float) -> str:
    """A float as Python reads it back exactly: 0.01, 1e-05, 0.0."""
    return repr(float(value))


def init_calls(attrs: ConvAttrs | DenseAttrs, target: str) -> tuple[str, ...]:
    """The `nn.init` statements for `target.weight` and `target.bias` (target: "self.conv1", or a loop variable);
    none for a parameter that keeps the constructor's initialisation."""
    parameters = (("weight", attrs.weight_init), ("bias", attrs.bias_init))
    return tuple(_call(dist, f"{target}.{name}") for name, dist in parameters
                 if dist is not None and not keeps_constructor_init(dist))


def keeps_constructor_init(dist) -> bool:
    """Whether the module's constructor already drew this distribution (PyTorch's default)."""
    return isinstance(dist, FrameworkDefault)


def default_drawn_layers(layers: Mapping[str, ResolvedLayer]) -> tuple[str, ...]:
    """The attribute names (of {attribute name: layer}) of the layers with a parameter at PyTorch's default: their
    constructors draw it, and a later reset_parameters() redraws it with the layer's own reset_parameters()."""
    return tuple(name for name, layer in layers.items() if isinstance(layer.attrs, (ConvAttrs, DenseAttrs))
                 and any(dist is not None and keeps_constructor_init(dist)
                         for dist in (layer.attrs.weight_init, layer.attrs.bias_init)))


def reset_doc(layers: Mapping[str, ResolvedLayer], first: str) -> tuple[str, ...]:
    """reset_parameters' docstring: `first`, then the parameters at PyTorch's default (of {attribute name: layer})
    and who draws them."""
    kept = [f"{attribute}.{name}" for attribute, layer in layers.items()
            if isinstance(layer.attrs, (ConvAttrs, DenseAttrs))
            for name, dist in (("weight", layer.attrs.weight_init), ("bias", layer.attrs.bias_init))
            if dist is not None and keeps_constructor_init(dist)]
    if not kept:
        return (first,)
    return (first, "") + tuple(textwrap.wrap(f"{', '.join(kept)}: PyTorch's default, U(±1/sqrt(fan_in)), which "
                                             "their constructors draw (so __init__ does not draw them twice) and "
                                             "their layers' reset_parameters() redraws.", 100))


def _call(dist, tensor: str) -> str:
    comment = f"  # {dist.formula}" if dist.formula else ""
    if isinstance(dist, Constant):
        if dist.value == 0:
            return f"nn.init.zeros_({tensor}){comment}"
        return f"nn.init.constant_({tensor}, {number(dist.value)}){comment}"
    if isinstance(dist, Normal):
        return f"nn.init.normal_({tensor}, mean={number(dist.mean)}, std={number(dist.std)}){comment}"
    if isinstance(dist, Uniform):
        return f"nn.init.uniform_({tensor}, {number(dist.low)}, {number(dist.high)}){comment}"
    raise TypeError(f"unknown distribution {dist!r}; expected Normal, Uniform or Constant")
