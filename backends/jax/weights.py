"""The JAX backend's params and state from and to canonical weights (alexnet_spec.weights: PyTorch's layout).

    params, state = torch_to_jax(model.state_dict(), spec)
    state_dict = jax_to_torch(params, spec, state)

conv: (O, I/groups, kh, kw) <-> (kh, kw, I/groups, O). dense: (out, in) <-> (in, out). prelu: weight <->
negative_slope, as it is. Features need no reordering: the JAX module's flatten moves channels first before
reshaping, so it flattens in PyTorch's (C, H, W) order and a dense kernel's rows (or a batchnorm's features) mean the
same in both. A round trip is the identity. Inside block instances the canonical names are qualified
(`layer2.0.conv1.weight`) and params nested (`params["layer2"]["0"]["conv1"]["kernel"]`). A params file (`.npz`, as
`alexspec convert-weights` writes it) holds them flat, as "layer2/0/conv1/kernel" arrays.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import BatchNormAttrs, ConvAttrs, DenseAttrs, PReLUAttrs, ResolvedNetwork
from alexnet_spec.weights import as_array, expect_shape, fit_arrays


def _resolved(spec_or_net) -> ResolvedNetwork:
    if isinstance(spec_or_net, ResolvedNetwork):
        return spec_or_net
    import alexnet_spec

    return alexnet_spec.resolve(spec_or_net)


def _path(name: str) -> tuple[str, ...]:
    """A layer's keys in the nested params: "layer2.0.conv1" -> ("layer2", "0", "conv1")."""
    return tuple(name.split("."))


def _put(tree: dict, name: str, value: dict) -> None:
    *scopes, last = _path(name)
    for key in scopes:
        tree = tree.setdefault(key, {})
    tree[last] = value


def _entry(tree: Mapping[str, Any], name: str):
    """A layer's entry in nested params (or state), None when it is missing."""
    for key in _path(name):
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _get(mapping: Mapping[str, Any], name: str, source: str, layer: str | None = None) -> np.ndarray:
    if name not in mapping:
        name = f"{layer.replace('.', '/')}/{name}" if layer else name
        raise SpecError(Diagnostic(f"missing weight {name!r}", file=source, expected="every parameter of the spec",
                                   hint=f"present: {', '.join(sorted(mapping)[:8])}{' ...' if len(mapping) > 8 else ''}"))
    value = mapping[name]
    return value if _is_jax_array(value) else as_array(value)


def _is_jax_array(value: Any) -> bool:
    """A JAX array or tracer, which stays one: torch_to_jax then lays out the weights inside a traced program."""
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(value, jax.Array)


def torch_to_jax(state_dict: Mapping[str, Any], spec_or_net, source: str = "state dict") -> tuple[dict, dict]:
    """(params, state) for the JAX module from canonical weights (numpy arrays, torch tensors, or JAX arrays and
    tracers, which it lays out with JAX's own operations)."""
    net = _resolved(spec_or_net)
    params, state = {}, {}
    for layer in net.layers:
        attrs, name = layer.attrs, layer.name
        if isinstance(attrs, ConvAttrs):
            weight = expect_shape(f"{name}.weight", _get(state_dict, f"{name}.weight", source),
                                  (attrs.out_channels, attrs.in_channels // attrs.groups) + attrs.kernel, source)
            entry = {"kernel": weight.transpose(2, 3, 1, 0)}
        elif isinstance(attrs, DenseAttrs):
            weight = expect_shape(f"{name}.weight", _get(state_dict, f"{name}.weight", source),
                                  (attrs.out_features, attrs.in_features), source)
            entry = {"kernel": weight.T}
        elif isinstance(attrs, BatchNormAttrs):
            _put(params, name, {"scale": _get(state_dict, f"{name}.weight", source),
                                "bias": _get(state_dict, f"{name}.bias", source)})
            _put(state, name, {"mean": _get(state_dict, f"{name}.running_mean", source),
                               "var": _get(state_dict, f"{name}.running_var", source)})
            continue
        elif isinstance(attrs, PReLUAttrs):
            _put(params, name, {"negative_slope": expect_shape(f"{name}.weight", _get(state_dict, f"{name}.weight",
                                                                                       source),
                                                               (attrs.num_parameters,), source)})
            continue
        else:
            continue
        if attrs.bias:
            entry["bias"] = _get(state_dict, f"{name}.bias", source)
        _put(params, name, entry)
    return params, state


def jax_to_torch(params: Mapping[str, Any], spec_or_net, state: Mapping[str, Any] | None = None,
                 source: str = "params") -> dict[str, np.ndarray]:
    """Canonical weights (numpy arrays, torch state_dict names and layouts) from JAX params and state."""
    net = _resolved(spec_or_net)
    result = {}
    for layer in net.layers:
        attrs, name = layer.attrs, layer.name
        flat = name.replace(".", "/")  # the flat params-file name
        entry = _entry(params, name)
        if isinstance(attrs, (ConvAttrs, DenseAttrs, BatchNormAttrs, PReLUAttrs)) and entry is None:
            raise SpecError(Diagnostic(f"missing params of layer {name!r}", file=source, layer=name))
        if isinstance(attrs, ConvAttrs):
            kernel = expect_shape(f"{flat}/kernel", _get(entry, "kernel", source, name),
                                  attrs.kernel + (attrs.in_channels // attrs.groups, attrs.out_channels), source)
            result[f"{name}.weight"] = kernel.transpose(3, 2, 0, 1)
        elif isinstance(attrs, DenseAttrs):
            kernel = expect_shape(f"{flat}/kernel", _get(entry, "kernel", source, name),
                                  (attrs.in_features, attrs.out_features), source)
            result[f"{name}.weight"] = kernel.T
        elif isinstance(attrs, PReLUAttrs):
            result[f"{name}.weight"] = expect_shape(f"{flat}/negative_slope", _get(entry, "negative_slope", source,
                                                                                   name), (attrs.num_parameters,),
                                                    source)
            continue
        elif isinstance(attrs, BatchNormAttrs):
            running = _entry(state or {}, name)
            if running is None:
                running = {"mean": np.zeros(attrs.num_features), "var": np.ones(attrs.num_features)}
            width = (attrs.num_features,)
            for key, field, values in (("weight", "scale", entry), ("bias", "bias", entry),
                                       ("running_mean", "mean", running), ("running_var", "var", running)):
                result[f"{name}.{key}"] = expect_shape(f"{flat}/{field}", _get(values, field, source, name), width,
                                                       source)
            continue
        else:
            continue
        if attrs.bias:
            result[f"{name}.bias"] = expect_shape(f"{flat}/bias", _get(entry, "bias", source, name),
                                                  (attrs.out_channels if isinstance(attrs, ConvAttrs)
                                                   else attrs.out_features,), source)
    return result


def jax_param_shapes(net: ResolvedNetwork) -> dict[str, tuple[int, ...]]:
    """Every "layer/field" of a `.npz` of JAX params (as convert-weights writes it; "layer2/0/conv1/kernel" inside
    block instances) and its shape."""
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in net.layers:
        attrs, name = layer.attrs, layer.name
        flat = name.replace(".", "/")  # the flat params-file name
        if isinstance(attrs, ConvAttrs):
            shapes[f"{flat}/kernel"] = attrs.kernel + (attrs.in_channels // attrs.groups, attrs.out_channels)
            if attrs.bias:
                shapes[f"{flat}/bias"] = (attrs.out_channels,)
        elif isinstance(attrs, DenseAttrs):
            shapes[f"{flat}/kernel"] = (attrs.in_features, attrs.out_features)
            if attrs.bias:
                shapes[f"{flat}/bias"] = (attrs.out_features,)
        elif isinstance(attrs, BatchNormAttrs):
            shapes.update({f"{flat}/{field}": (attrs.num_features,) for field in ("scale", "bias", "mean", "var")})
        elif isinstance(attrs, PReLUAttrs):
            shapes[f"{flat}/negative_slope"] = (attrs.num_parameters,)
    return shapes


def jax_file_to_torch(arrays: Mapping[str, np.ndarray], net: ResolvedNetwork, source: str) -> dict[str, np.ndarray]:
    """Canonical weights from the flat "layer/field" arrays of a JAX params file, every name and shape checked."""
    arrays = fit_arrays(dict(arrays), jax_param_shapes(net), net, source, "JAX params (layer/field names)")
    params, state = {}, {}
    for key, value in arrays.items():
        layer, _, field = key.rpartition("/")
        tree = state if field in ("mean", "var") else params
        for scope in layer.split("/"):
            tree = tree.setdefault(scope, {})
        tree[field] = value
    return jax_to_torch(params, net, state, source)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params (or state) as flat "layer2/0/conv1/kernel" entries."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[prefix + key] = value
    return flat


def canonical_to_flat(state_dict: Mapping[str, Any], net: ResolvedNetwork, source: str) -> dict[str, np.ndarray]:
    """The flat "layer/field" arrays of a params file from canonical weights."""
    params, state = torch_to_jax(state_dict, net, source)
    return {**flatten(params), **flatten(state)}
