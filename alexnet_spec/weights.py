"""Canonical weights: the single-device torch state_dict's names and layouts, as numpy arrays. Every file format and
backend converts to and from this form, every array is checked against the spec before it is used, and fresh
weights are drawn from the resolved initialisation (`init_weights`: one seed, one set, for every backend)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import (
    BatchNormAttrs,
    Constant,
    ConvAttrs,
    DenseAttrs,
    Normal,
    PReLUAttrs,
    ResolvedNetwork,
    Uniform,
)

BATCHNORM_BUFFERS = ("running_mean", "running_var")


def weight_shapes(net: ResolvedNetwork) -> dict[str, tuple[int, ...]]:
    """Every canonical name and its shape: conv (O, I/groups, kh, kw), dense (out, in), batchnorm (C,) x 4, prelu
    (1,) or (C,). Inside block instances the names are qualified: `layer2.0.conv1.weight`, as torch's nested
    modules name them."""
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
        elif isinstance(attrs, PReLUAttrs):
            shapes[f"{layer.name}.weight"] = (attrs.num_parameters,)  # torch.nn.PReLU's slopes
    return shapes


def sample(distribution, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """An array of `shape` drawn from a resolved distribution (its fans already applied by passes/init.py), 64-byte
    aligned (`aligned_empty`). The values are numpy's `rng.normal(mean, std)` and `rng.uniform(low, high)`, which
    compute mean + std * z and low + (high - low) * u from the same standard draws, in the same order. Each step
    is one call over the whole array: `alexspec check` draws in a thread beside imports, and a call per block would
    wait for the interpreter lock at every block."""
    array = aligned_empty(shape)
    if isinstance(distribution, Normal):
        rng.standard_normal(out=array)
        array *= distribution.std
        array += distribution.mean
    elif isinstance(distribution, Uniform):  # FrameworkDefault included
        rng.random(out=array)
        array *= distribution.high - distribution.low
        array += distribution.low
    elif isinstance(distribution, Constant):
        array.fill(float(distribution.value))
    else:
        raise TypeError(f"unknown distribution {distribution!r}; expected Normal, Uniform or Constant")
    return array


def aligned_empty(shape: tuple[int, ...], alignment: int = 64) -> np.ndarray:
    """An uninitialised float64 array whose data starts on an `alignment`-byte boundary: XLA's CPU client takes such
    an array without a copy (jax.device_put), where numpy's own allocation (16-byte aligned) costs a copy of all
    of AlexNet's 61 million weights and the page faults of writing it."""
    size = int(np.prod(shape, dtype=np.int64)) * 8
    raw = np.empty(size + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + size].view(np.float64).reshape(shape)


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
        elif isinstance(attrs, PReLUAttrs):
            weights[f"{layer.name}.weight"] = np.full(attrs.num_parameters, attrs.initial_slope)
    return weights


def as_array(value: Any) -> np.ndarray:
    """A numpy array of a tensor (torch, jax) or array-like."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def expect_shape(name: str, array: np.ndarray, shape: tuple[int, ...], source: str) -> np.ndarray:
    """`array` when it has `shape`; otherwise a SpecError naming the weight and the file it came from."""
    if tuple(array.shape) != tuple(shape):
        raise SpecError(Diagnostic(f"weight {name!r} has shape {tuple(array.shape)}", file=source,
                                   expected=f"shape {tuple(shape)} for this spec",
                                   hint="were these weights saved from another spec or variant?"))
    return array


def canonical_arrays(net: ResolvedNetwork, weights: Mapping[str, Any], source: str = "weights") -> dict[str, np.ndarray]:
    """The canonical weights `net` needs (torch state_dict names and layouts): a missing, unexpected or misshapen
    entry is a SpecError naming `source` and the entry (torch's `num_batches_tracked` counters are ignored)."""
    arrays = {key: as_array(value) for key, value in weights.items() if not key.endswith(".num_batches_tracked")}
    return fit_arrays(arrays, weight_shapes(net), net, source, "canonical entries (torch state_dict names)")


def fit_arrays(arrays: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]], net: ResolvedNetwork, source: str,
               kind: str) -> dict[str, np.ndarray]:
    """`arrays` in the order of `expected` when the names and shapes match exactly; otherwise a SpecError listing
    what is missing or unexpected, or the first misshapen array."""
    missing = [key for key in expected if key not in arrays]
    unexpected = [key for key in arrays if key not in expected]
    wanted = f"the {len(expected)} {kind} of {net.name}: {_few(list(expected))}"
    hint = "were these weights saved from another spec or variant?"
    if missing or unexpected:
        first = f"missing weight {missing[0]!r}" if missing else f"unexpected weight {unexpected[0]!r}"
        details = tuple(f"{label} {_few(keys)}" for label, keys in (("missing", missing), ("unexpected", unexpected))
                        if keys)
        raise SpecError(Diagnostic(first + _and_more(missing + unexpected), file=source, details=details,
                                   expected=wanted, hint=hint))
    for key, shape in expected.items():
        expect_shape(key, arrays[key], shape, source)
    return {key: arrays[key] for key in expected}


def _and_more(keys: list[str]) -> str:
    return f" and {len(keys) - 1} more" if len(keys) > 1 else ""


def _few(keys: list[str], count: int = 6) -> str:
    return ", ".join(keys[:count]) + (f" ... ({len(keys)} in all)" if len(keys) > count else "")


