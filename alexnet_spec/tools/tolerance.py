"""How far a bfloat16 or float16 build may stray from the float64 oracle, layer by layer (docs/precision.md).

A layer's error is measured normwise: max |low - oracle| / max |oracle| over the layer's output. Each layer is
allowed

    bound(layer) = max(bound of its inputs, C * eps * sqrt(K))

eps: the dtype's machine epsilon (2**-7 bfloat16, 2**-10 float16). K: the number of products or terms the layer
adds up per output element (in_channels / groups * kh * kw for a convolution, in_features for a dense layer, the
window for LRN and average pooling, the classes for softmax, the batch elements per channel for batch
normalisation's statistics; 1 for elementwise layers and for the exact ones: relu, max pooling, flatten, dropout).
sqrt(K): K roundings of random sign add up like a random walk, so a sum of K rounded terms carries about sqrt(K)
roundings of the largest term. A layer that adds up nothing hands on its input's error (rounding its own result
costs eps / 2 at most, which the inherited bound already holds). C = 1/2 (the unit roundoff, eps / 2): the
measured errors of every shipped spec sit at 0.4 to 1.3 eps, and a float32 island done in the low precision
instead (tests/tools/test_tolerance.py) exceeds the bound.
"""

from __future__ import annotations

import math

from alexnet_spec.resolved import (
    INPUT,
    BatchNormAttrs,
    ConvAttrs,
    DenseAttrs,
    LRNAttrs,
    PoolAttrs,
    ResolvedLayer,
    ResolvedNetwork,
)

EPSILON = {"bfloat16": 2.0 ** -7, "float16": 2.0 ** -10, "float32": 2.0 ** -23}  # numpy.finfo(...).eps
C = 0.5  # the unit roundoff per sqrt(K): see the module docstring and docs/precision.md


def reduction_size(layer: ResolvedLayer, batch: int = 1) -> int:
    """K: the terms the layer adds up for each output element."""
    attrs = layer.attrs
    if isinstance(attrs, ConvAttrs):
        return attrs.fan_in
    if isinstance(attrs, DenseAttrs):
        return attrs.in_features
    if isinstance(attrs, LRNAttrs):
        return attrs.size
    if isinstance(attrs, PoolAttrs) and layer.type == "avgpool":
        return attrs.kernel[0] * attrs.kernel[1]
    if layer.type in ("adaptive_avgpool", "global_avgpool"):
        height, width = layer.input_shape[1:]
        out = layer.output_shape[1:] if layer.type == "adaptive_avgpool" else (1, 1)
        return math.ceil(height / out[0]) * math.ceil(width / out[1])
    if isinstance(attrs, BatchNormAttrs):
        return batch * (layer.input_shape[1] * layer.input_shape[2] if attrs.spatial else 1)
    if layer.type == "softmax" or getattr(attrs, "activation", None) == "softmax":
        return layer.output_shape[0]
    if layer.type == "add":
        return len(layer.inputs)
    return 1


def layer_bounds(net: ResolvedNetwork, precision: str, batch: int = 1) -> dict[str, float]:
    """{layer name: the normwise relative error it may show against the oracle}, in `precision`."""
    eps, bounds = EPSILON[precision], {}
    for layer in net.layers:
        inherited = max((bounds[name] for name in layer.inputs if name != INPUT), default=C * eps)
        bounds[layer.name] = max(inherited, C * eps * math.sqrt(reduction_size(layer, batch)))
    return bounds
