"""Initialisation: turn each layer's declared scheme into explicit weight and bias distributions.

`torch` is PyTorch's default for Conv2d and Linear (kaiming_uniform with a = sqrt(5), which is U(±1/sqrt(fan_in)),
and the bias from the same bound). `paper` is the AlexNet paper's: weights from N(0, 0.01); biases 1 in the second,
fourth and fifth convolutional layers and in the hidden dense layers, 0 elsewhere.
"""

from __future__ import annotations

import dataclasses
import math

from alexnet_spec.resolved import ConvAttrs, DenseAttrs, ResolvedLayer
from alexnet_spec.spec.network import NetworkSpec
from alexnet_spec.spec.types import Constant, Normal, ParameterInit, Uniform

PAPER_WEIGHT = Normal(dist="normal", mean=0.0, std=0.01)
ONE, ZERO = Constant(dist="constant", value=1.0), Constant(dist="constant", value=0.0)
PAPER_BIAS_ONE_CONVS = (2, 4, 5)


def resolve_init(spec: NetworkSpec, layers: tuple[ResolvedLayer, ...]) -> tuple[ResolvedLayer, ...]:
    conv_ordinals, dense_ordinals = {}, {}
    for layer in layers:
        if layer.type == "conv":
            conv_ordinals[layer.name] = len(conv_ordinals) + 1
        elif layer.type == "dense":
            dense_ordinals[layer.name] = len(dense_ordinals) + 1
    last_dense = len(dense_ordinals)
    resolved = []
    for layer_spec, layer in zip(spec.layers, layers):
        if not isinstance(layer.attrs, (ConvAttrs, DenseAttrs)):
            resolved.append(layer)
            continue
        declared = layer_spec.init if layer_spec.init is not None else spec.init
        model_scheme = spec.init if isinstance(spec.init, str) else "torch"
        if layer.type == "conv":
            bias_one = conv_ordinals[layer.name] in PAPER_BIAS_ONE_CONVS
        else:
            bias_one = dense_ordinals[layer.name] < last_dense
        weight, bias = _scheme(declared, model_scheme, layer.attrs.fan_in, bias_one)
        attrs = dataclasses.replace(layer.attrs, weight_init=weight, bias_init=bias if layer.attrs.bias else None)
        resolved.append(dataclasses.replace(layer, attrs=attrs))
    return tuple(resolved)


def _scheme(declared, model_scheme: str, fan_in: int, bias_one: bool):
    if isinstance(declared, ParameterInit):
        default_weight, default_bias = _scheme(model_scheme, model_scheme, fan_in, bias_one)
        return declared.weight or default_weight, declared.bias or default_bias
    if declared == "paper":
        return PAPER_WEIGHT, ONE if bias_one else ZERO
    bound = 1.0 / math.sqrt(fan_in)
    default = Uniform(dist="uniform", low=-bound, high=bound)
    return default, default
