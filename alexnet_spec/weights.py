"""Weights between PyTorch's layout (the canonical one) and the JAX backend's params.

    params, state = torch_to_jax(model.state_dict(), spec)
    state_dict = jax_to_torch(params, spec, state)

conv: (O, I/groups, kh, kw) <-> (kh, kw, I/groups, O). dense: (out, in) <-> (in, out). Features need no
reordering: the JAX module's flatten moves channels first before reshaping, so it flattens in PyTorch's (C, H, W)
order and a dense kernel's rows (or a batchnorm's features) mean the same in both. A round trip is the identity.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import BatchNormAttrs, ConvAttrs, DenseAttrs, ResolvedNetwork


def _resolved(spec_or_net) -> ResolvedNetwork:
    if isinstance(spec_or_net, ResolvedNetwork):
        return spec_or_net
    import alexnet_spec

    return alexnet_spec.resolve(spec_or_net)


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _expect(name: str, array: np.ndarray, shape: tuple[int, ...], source: str) -> np.ndarray:
    if tuple(array.shape) != tuple(shape):
        raise SpecError(Diagnostic(f"weight {name!r} has shape {tuple(array.shape)}", file=source,
                                   expected=f"shape {tuple(shape)} for this spec",
                                   hint="were these weights saved from another spec or variant?"))
    return array


def _get(mapping: Mapping[str, Any], name: str, source: str, layer: str | None = None) -> np.ndarray:
    if name not in mapping:
        name = f"{layer}/{name}" if layer else name
        raise SpecError(Diagnostic(f"missing weight {name!r}", file=source, expected="every parameter of the spec",
                                   hint=f"present: {', '.join(sorted(mapping)[:8])}{' ...' if len(mapping) > 8 else ''}"))
    return _array(mapping[name])


def torch_to_jax(state_dict: Mapping[str, Any], spec_or_net, source: str = "state dict") -> tuple[dict, dict]:
    """(params, state) for the JAX module from canonical weights (numpy arrays or torch tensors)."""
    net = _resolved(spec_or_net)
    params, state = {}, {}
    for layer in net.layers:
        attrs, name = layer.attrs, layer.name
        if isinstance(attrs, ConvAttrs):
            weight = _expect(f"{name}.weight", _get(state_dict, f"{name}.weight", source),
                             (attrs.out_channels, attrs.in_channels // attrs.groups) + attrs.kernel, source)
            params[name] = {"kernel": weight.transpose(2, 3, 1, 0)}
        elif isinstance(attrs, DenseAttrs):
            weight = _expect(f"{name}.weight", _get(state_dict, f"{name}.weight", source),
                             (attrs.out_features, attrs.in_features), source)
            params[name] = {"kernel": weight.T}
        elif isinstance(attrs, BatchNormAttrs):
            params[name] = {"scale": _get(state_dict, f"{name}.weight", source),
                            "bias": _get(state_dict, f"{name}.bias", source)}
            state[name] = {"mean": _get(state_dict, f"{name}.running_mean", source),
                           "var": _get(state_dict, f"{name}.running_var", source)}
            continue
        else:
            continue
        if attrs.bias:
            params[name]["bias"] = _get(state_dict, f"{name}.bias", source)
    return params, state


def jax_to_torch(params: Mapping[str, Any], spec_or_net, state: Mapping[str, Any] | None = None,
                 source: str = "params") -> dict[str, np.ndarray]:
    """Canonical weights (numpy arrays, torch state_dict names and layouts) from JAX params and state."""
    net = _resolved(spec_or_net)
    result = {}
    for layer in net.layers:
        attrs, name = layer.attrs, layer.name
        entry = params.get(name)
        if isinstance(attrs, (ConvAttrs, DenseAttrs, BatchNormAttrs)) and entry is None:
            raise SpecError(Diagnostic(f"missing params of layer {name!r}", file=source, layer=name))
        if isinstance(attrs, ConvAttrs):
            kernel = _expect(f"{name}/kernel", _get(entry, "kernel", source, name),
                             attrs.kernel + (attrs.in_channels // attrs.groups, attrs.out_channels), source)
            result[f"{name}.weight"] = kernel.transpose(3, 2, 0, 1)
        elif isinstance(attrs, DenseAttrs):
            kernel = _expect(f"{name}/kernel", _get(entry, "kernel", source, name),
                             (attrs.in_features, attrs.out_features), source)
            result[f"{name}.weight"] = kernel.T
        elif isinstance(attrs, BatchNormAttrs):
            running = (state or {}).get(name, {"mean": np.zeros(attrs.num_features), "var": np.ones(attrs.num_features)})
            width = (attrs.num_features,)
            for key, field, values in (("weight", "scale", entry), ("bias", "bias", entry),
                                       ("running_mean", "mean", running), ("running_var", "var", running)):
                result[f"{name}.{key}"] = _expect(f"{name}/{field}", _get(values, field, source, name), width,
                                                  source)
            continue
        else:
            continue
        if attrs.bias:
            result[f"{name}.bias"] = _expect(f"{name}/bias", _get(entry, "bias", source, name),
                                             (attrs.out_channels if isinstance(attrs, ConvAttrs)
                                              else attrs.out_features,), source)
    return result


def canonical_arrays(net: ResolvedNetwork, weights: Mapping[str, Any], source: str = "weights") -> dict[str, np.ndarray]:
    """The canonical weights `net` needs (torch state_dict names and layouts): a missing, unexpected or misshapen
    entry is a SpecError naming `source` and the entry (torch's `num_batches_tracked` counters are ignored)."""
    from alexnet_spec.backends.numpy.weights import weight_shapes

    arrays = {key: _array(value) for key, value in weights.items() if not key.endswith(".num_batches_tracked")}
    return _fitted(arrays, weight_shapes(net), net, source, "canonical entries (torch state_dict names)")


def jax_param_shapes(net: ResolvedNetwork) -> dict[str, tuple[int, ...]]:
    """Every "layer/field" of a `.npz` of JAX params (as convert-weights writes it) and its shape."""
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in net.layers:
        attrs, name = layer.attrs, layer.name
        if isinstance(attrs, ConvAttrs):
            shapes[f"{name}/kernel"] = attrs.kernel + (attrs.in_channels // attrs.groups, attrs.out_channels)
            if attrs.bias:
                shapes[f"{name}/bias"] = (attrs.out_channels,)
        elif isinstance(attrs, DenseAttrs):
            shapes[f"{name}/kernel"] = (attrs.in_features, attrs.out_features)
            if attrs.bias:
                shapes[f"{name}/bias"] = (attrs.out_features,)
        elif isinstance(attrs, BatchNormAttrs):
            shapes.update({f"{name}/{field}": (attrs.num_features,) for field in ("scale", "bias", "mean", "var")})
    return shapes


def jax_file_to_torch(arrays: Mapping[str, np.ndarray], net: ResolvedNetwork, source: str) -> dict[str, np.ndarray]:
    """Canonical weights from the flat "layer/field" arrays of a JAX params file, every name and shape checked."""
    arrays = _fitted(dict(arrays), jax_param_shapes(net), net, source, "JAX params (layer/field names)")
    params, state = {}, {}
    for key, value in arrays.items():
        layer, _, field = key.partition("/")
        (state if field in ("mean", "var") else params).setdefault(layer, {})[field] = value
    return jax_to_torch(params, net, state, source)


def _fitted(arrays: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]], net: ResolvedNetwork, source: str,
            kind: str) -> dict[str, np.ndarray]:
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
        _expect(key, arrays[key], shape, source)
    return {key: arrays[key] for key in expected}


def _and_more(keys: list[str]) -> str:
    return f" and {len(keys) - 1} more" if len(keys) > 1 else ""


def _few(keys: list[str], count: int = 6) -> str:
    return ", ".join(keys[:count]) + (f" ... ({len(keys)} in all)" if len(keys) > count else "")


def convert_file(spec_path: str | Path, in_path: str | Path, out_path: str | Path) -> None:
    """A torch `.pt` state dict to a `.npz` of JAX params (keys "conv1/kernel", "bn1/mean" ...), or back; the
    direction follows the suffixes. Every array is checked against the spec before anything is written; the output
    file appears whole or not at all."""
    from alexnet_spec.files import write_bytes
    from alexnet_spec.interop.weights_io import load_npz, load_pt
    from alexnet_spec.source.loading import load_network

    source, target = Path(in_path), Path(out_path)
    direction = (source.suffix, target.suffix)
    if direction not in ((".pt", ".npz"), (".npz", ".pt")):
        raise SpecError(Diagnostic(f"cannot convert {source.suffix or 'no suffix'} to {target.suffix or 'no suffix'}",
                                   file=str(source), expected="IN.pt OUT.npz (torch to jax) or IN.npz OUT.pt (jax to "
                                   "torch)", hint="the direction follows the file suffixes"))
    net = load_network(spec_path)
    buffer = io.BytesIO()
    if direction == (".pt", ".npz"):
        state_dict = canonical_arrays(net, load_pt(source), str(source))
        params, state = torch_to_jax(state_dict, net, str(source))
        flat = {f"{layer}/{key}": value for layer, entries in params.items() for key, value in entries.items()}
        flat.update({f"{layer}/{key}": value for layer, entries in state.items() for key, value in entries.items()})
        np.savez(buffer, **flat)
    else:
        import torch

        state_dict = jax_file_to_torch(load_npz(source), net, str(source))
        torch.save({name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in state_dict.items()}, buffer)
    write_bytes(target, buffer.getvalue())
