"""Initialisation: turn each layer's declared scheme into concrete weight and bias distributions (resolved.py's
Normal, Uniform, Constant, FrameworkDefault), the fans already applied, so that no backend computes them.

`torch` is PyTorch's default for Conv2d and Linear (kaiming_uniform with a = sqrt(5), which is U(±1/sqrt(fan_in)),
and the bias from the same bound): a FrameworkDefault. `paper` is the AlexNet paper's: weights from N(0, 0.01);
biases 1 in the second, fourth and fifth convolutional layers and in the hidden dense layers, 0 elsewhere. Kaiming
and Xavier become the Normal or Uniform that torch.nn.init's kaiming_* and xavier_* draw, with the same arithmetic.
"""

from __future__ import annotations

import dataclasses
import math

from alexnet_spec.passes.graph import Graph
from alexnet_spec.resolved import (
    Constant,
    ConvAttrs,
    DenseAttrs,
    Distribution,
    FrameworkDefault,
    Normal,
    ResolvedLayer,
    Uniform,
)
from alexnet_spec.spec import types as declared_types
from alexnet_spec.spec.network import NetworkSpec

PAPER_WEIGHT = Normal(mean=0.0, std=0.01)
ONE, ZERO = Constant(1.0), Constant(0.0)
PAPER_BIAS_ONE_CONVS = (2, 4, 5)
# torch.nn.init.calculate_gain for the nonlinearities a Kaiming distribution may name, and as formulas show them.
KAIMING_GAIN = {"relu": (math.sqrt(2.0), "sqrt(2)"), "linear": (1.0, "1"), "sigmoid": (1.0, "1"),
                "tanh": (5.0 / 3, "5 / 3")}


def resolve_init(spec: NetworkSpec, graph: Graph, layers: tuple[ResolvedLayer, ...]) -> tuple[ResolvedLayer, ...]:
    conv_ordinals, dense_ordinals = {}, {}
    for layer in layers:
        if layer.type == "conv":
            conv_ordinals[layer.name] = len(conv_ordinals) + 1
        elif layer.type == "dense":
            dense_ordinals[layer.name] = len(dense_ordinals) + 1
    last_dense = len(dense_ordinals)
    resolved = []
    nodes = {node.name: node.layer for node in graph.nodes}
    for layer in layers:
        layer_spec = nodes[layer.name]
        if not isinstance(layer.attrs, (ConvAttrs, DenseAttrs)):
            resolved.append(layer)
            continue
        declared = layer_spec.init if layer_spec.init is not None else spec.init
        model_scheme = spec.init if isinstance(spec.init, str) else "torch"
        if layer.type == "conv":
            bias_one = conv_ordinals[layer.name] in PAPER_BIAS_ONE_CONVS
        else:
            bias_one = dense_ordinals[layer.name] < last_dense
        weight, bias = _scheme(declared, model_scheme, layer.attrs, bias_one)
        attrs = dataclasses.replace(layer.attrs, weight_init=weight, bias_init=bias if layer.attrs.bias else None)
        resolved.append(dataclasses.replace(layer, attrs=attrs))
    return tuple(resolved)


def _scheme(declared, model_scheme: str, attrs: ConvAttrs | DenseAttrs,
            bias_one: bool) -> tuple[Distribution, Distribution]:
    """(weight, bias) distributions of a layer declaring `declared` (a scheme name or a ParameterInit)."""
    if isinstance(declared, declared_types.ParameterInit):
        default_weight, default_bias = _scheme(model_scheme, model_scheme, attrs, bias_one)
        weight = default_weight if declared.weight is None else concrete(declared.weight, attrs.fan_in, attrs.fan_out)
        bias = default_bias if declared.bias is None else concrete(declared.bias, attrs.fan_in, attrs.fan_out)
        return weight, bias
    if declared == "paper":
        return PAPER_WEIGHT, ONE if bias_one else ZERO
    default = framework_default(attrs.fan_in)
    return default, default


def framework_default(fan_in: int) -> FrameworkDefault:
    """torch's nn.Conv2d and nn.Linear reset_parameters: U(±1/sqrt(fan_in)) for the weight and the bias."""
    bound = 1.0 / math.sqrt(fan_in)
    return FrameworkDefault(-bound, bound, f"PyTorch's default: bound = 1 / sqrt(fan_in) = 1 / sqrt({fan_in})")


def concrete(declared, fan_in: int, fan_out: int) -> Distribution:
    """A declared distribution (spec.types) with the layer's fans applied, computed as torch.nn.init computes it."""
    if isinstance(declared, declared_types.Normal):
        return Normal(declared.mean, declared.std)
    if isinstance(declared, declared_types.Uniform):
        return Uniform(declared.low, declared.high)
    if isinstance(declared, declared_types.Constant):
        return Constant(declared.value)
    if isinstance(declared, declared_types.Kaiming):
        return _kaiming(declared, fan_in if declared.mode == "fan_in" else fan_out)
    if isinstance(declared, declared_types.Xavier):
        return _xavier(declared, fan_in, fan_out)
    raise TypeError(f"unknown distribution {declared!r}; expected Normal, Uniform, Kaiming, Xavier or Constant")


def _kaiming(declared, fan: int) -> Distribution:
    # torch.nn.init.kaiming_normal_: std = gain / sqrt(fan); kaiming_uniform_: bound = sqrt(3) * std
    gain, gain_text = KAIMING_GAIN[declared.nonlinearity]
    std = gain / math.sqrt(fan)
    what = f"Kaiming ({declared.nonlinearity}, {declared.mode})"
    if declared.distribution == "normal":
        return Normal(0.0, std, f"{what}: std = gain / sqrt({declared.mode}) = {gain_text} / sqrt({fan})")
    bound = math.sqrt(3.0) * std
    return Uniform(-bound, bound,
                   f"{what}: bound = sqrt(3) * gain / sqrt({declared.mode}) = sqrt(3) * {gain_text} / sqrt({fan})")


def _xavier(declared, fan_in: int, fan_out: int) -> Distribution:
    # torch.nn.init.xavier_normal_: std = gain * sqrt(2 / (fan_in + fan_out)); xavier_uniform_: bound = sqrt(3) * std
    std = declared.gain * math.sqrt(2.0 / float(fan_in + fan_out))
    gain = "" if declared.gain == 1 else f"{declared.gain!r} * "
    if declared.distribution == "normal":
        return Normal(0.0, std, f"Xavier: std = gain * sqrt(2 / (fan_in + fan_out)) = "
                                f"{gain}sqrt(2 / ({fan_in} + {fan_out}))")
    bound = math.sqrt(3.0) * std
    return Uniform(-bound, bound, f"Xavier: bound = gain * sqrt(6 / (fan_in + fan_out)) = "
                                  f"{gain}sqrt(6 / ({fan_in} + {fan_out}))")
