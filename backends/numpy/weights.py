"""Weights in the canonical format (the single-device torch state_dict: names, layouts), as float64 numpy arrays:
their expected shapes, conversion of what a caller hands in, and initialisation from the declared distributions."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from alexnet_spec.resolved import BatchNormAttrs, Constant, ConvAttrs, DenseAttrs, Normal, ResolvedNetwork, Uniform

BATCHNORM_BUFFERS = ("running_mean", "running_var")


def weight_shapes(net: ResolvedNetwork) -> dict[str, tuple[int, ...]]:
    """Every canonical name and its shape: conv (O, I/groups, kh, kw), dense (out, in), batchnorm (C,) x 4."""
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in net.layers:
        attrs = layer.attrs
        if isinstance(attrs, ConvAttrs):
            shapes[f"{layer.name}.weight"] = (attrs.out_channels, attrs.in_channels // attrs.groups) + attrs.kernel
            if attrs.bias:
                shapes[f"{layer.name}.bias"] = (attrs.out_channels,)
        elif isinstance(attrs, DenseAttrs):
            shapes[f"{layer.name}.weight"] = (attrs.out_features, attrs.in_features)
            if attrs.bias:
                shapes[f"{layer.name}.bias"] = (attrs.out_features,)
        elif isinstance(attrs, BatchNormAttrs):
            for field in ("weight", "bias") + BATCHNORM_BUFFERS:
                shapes[f"{layer.name}.{field}"] = (attrs.num_features,)
    return shapes


def to_float64(value: Any) -> np.ndarray:
    """`value` as a float64 numpy array: an array (not copied when it already is one; the oracle never writes into
    its inputs) or a torch tensor (duck-typed: anything with .detach(), so torch is never imported here)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def canonical_weights(net: ResolvedNetwork, weights: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The weights `net` needs, as float64 arrays, each checked against its canonical shape.

    Extra entries (torch's `num_batches_tracked`) are ignored; a missing or misshapen one is a ValueError that
    names it and the expected shape.
    """
    expected = weight_shapes(net)
    missing = [name for name in expected if name not in weights]
    if missing:
        raise ValueError(f"weights lack {', '.join(missing)}; expected the canonical (torch state_dict) names: "
                         f"{', '.join(expected)}")
    converted = {}
    for name, shape in expected.items():
        array = to_float64(weights[name])
        if array.shape != shape:
            raise ValueError(f"weight {name} has shape {array.shape}; expected {shape}")
        converted[name] = array
    return converted


def sample(distribution, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """An array of `shape` drawn from a resolved distribution (its fans already applied by passes/init.py)."""
    if isinstance(distribution, Normal):
        return rng.normal(distribution.mean, distribution.std, size=shape)
    if isinstance(distribution, Uniform):  # FrameworkDefault included
        return rng.uniform(distribution.low, distribution.high, size=shape)
    if isinstance(distribution, Constant):
        return np.full(shape, float(distribution.value))
    raise TypeError(f"unknown distribution {distribution!r}; expected Normal, Uniform or Constant")


def init_weights(net: ResolvedNetwork, rng: np.random.Generator | int | None = None) -> dict[str, np.ndarray]:
    """Fresh canonical weights, float64, every parameter drawn from its declared distribution.

    Layers are visited in order, weight before bias, so one seed gives one set of weights. Batchnorm starts at
    weight 1, bias 0, running_mean 0, running_var 1. `rng`: a Generator, or a seed for one.
    """
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    shapes = weight_shapes(net)
    weights: dict[str, np.ndarray] = {}
    for layer in net.layers:
        attrs = layer.attrs
        if isinstance(attrs, (ConvAttrs, DenseAttrs)):
            name = f"{layer.name}.weight"
            weights[name] = sample(attrs.weight_init, shapes[name], rng)
            if attrs.bias:
                name = f"{layer.name}.bias"
                weights[name] = sample(attrs.bias_init, shapes[name], rng)
        elif isinstance(attrs, BatchNormAttrs):
            weights[f"{layer.name}.weight"] = np.ones(attrs.num_features)
            weights[f"{layer.name}.bias"] = np.zeros(attrs.num_features)
            weights[f"{layer.name}.running_mean"] = np.zeros(attrs.num_features)
            weights[f"{layer.name}.running_var"] = np.ones(attrs.num_features)
    return weights
