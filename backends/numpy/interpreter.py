"""The oracle: a float64 NumPy interpreter over a ResolvedNetwork, one plain function per layer (ops/).

When the spec names devices, split layers are computed as literal towers, as on the paper's two GPUs: device i
holds the i-th share of the layer's kernels (neurons) and computes its share of the output channels (features)
from its own share of the input, or, where the placement says the layer reads across devices, from the input
gathered from all of them. The result must equal the unsplit computation; the tests check that it does.

Graphs: each layer reads the values of `layer.inputs` (qualified names, or "input"), which the layers before it in
`net.layers` have computed; values stay keyed by name until the network's outputs are read.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np
from alexnet_spec.backends.numpy import ops
from alexnet_spec.backends.numpy.weights import canonical_weights, to_float64

from alexnet_spec.resolved import INPUT, ResolvedLayer, ResolvedNetwork
from alexnet_spec.weights import BATCHNORM_BUFFERS, init_weights

__all__ = ["init_weights", "run"]


@dataclasses.dataclass
class Mode:
    train: bool
    rng: np.random.Generator | None


def run(net: ResolvedNetwork, weights: Mapping[str, Any], x: Any, *, train: bool = False,
        rng: np.random.Generator | int | None = None, intermediates: bool = False,
        new_buffers: dict[str, np.ndarray] | None = None):
    """Run `net` on a batch, in float64.

    net: the resolved network. weights: canonical names and layouts (torch state_dict), numpy arrays or torch
    tensors. x: (N, C, H, W), C, H, W those of `net.input_shape`. train: dropout drops (drawing from `rng`, a
    Generator or a seed, layer by layer in the order of `net.layers`) and batchnorm uses batch statistics; otherwise
    eval mode. new_buffers: a dict that, in train mode, receives each batchnorm's updated "{name}.running_mean" and
    "{name}.running_var".
    Returns the output (N, *net.output_shape), or a tuple of them, one per name in `net.output_names`, when the
    network has several outputs; with intermediates=True, the list of (layer name, output) for every layer instead,
    in the order of `net.layers`.
    """
    params = canonical_weights(net, weights)
    x = to_float64(x)
    if x.shape[1:] != tuple(net.input_shape):
        raise ValueError(f"input of shape {x.shape} does not fit {net.name}: expected (N, "
                         f"{', '.join(map(str, net.input_shape))})")
    if rng is not None and not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    mode = Mode(train, rng)
    # Each value is one array, or one share per device after a split layer.
    values: dict[str, list[np.ndarray]] = {INPUT: [x]}
    trace = []
    for layer in net.layers:
        parts, buffers = run_layer(layer, params, [values[name] for name in layer.inputs], mode)
        values[layer.name] = parts
        if new_buffers is not None:
            new_buffers.update({f"{layer.name}.{key}": value for key, value in buffers.items()})
        if intermediates:
            trace.append((layer.name, gather(parts)))
    if intermediates:
        return trace
    outputs = tuple(gather(values[name]) for name in net.output_names)
    return outputs[0] if len(outputs) == 1 else outputs


def gather(parts: list[np.ndarray]) -> np.ndarray:
    """The whole activation: the devices' shares side by side along the channel (feature) axis."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def share(array: np.ndarray, device: int, count: int, axis: int = 1) -> np.ndarray:
    """Device `device`'s contiguous share of `count` equal shares along `axis`."""
    size = array.shape[axis] // count
    index = [slice(None)] * array.ndim
    index[axis] = slice(device * size, (device + 1) * size)
    return array[tuple(index)]


def own_input(parts: list[np.ndarray], device: int, count: int) -> np.ndarray:
    """What a tower reads when it reads only its own channels: its share if the input is split, else its slice of
    the input that one device (or every device, for the model input) holds."""
    return parts[device] if len(parts) == count else share(gather(parts), device, count)


def layer_params(params: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    """One layer's entries, keyed without the layer name: {"weight": ..., "bias": ...}."""
    prefix = name + "."
    return {key[len(prefix):]: value for key, value in params.items() if key.startswith(prefix)}


def run_layer(layer: ResolvedLayer, params: dict[str, np.ndarray], inputs: list[list[np.ndarray]], mode: Mode
              ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """One layer: its output parts and, for batchnorm in training, its new running statistics. `inputs`: the parts
    of each value it reads, in the order of `layer.inputs`."""
    compute = LAYERS[layer.type]
    own = layer_params(params, layer.name)
    placement = layer.placement
    if placement is None or not placement.split:  # on one device: gather what lives elsewhere
        y, buffers = compute(layer.attrs, own, _arguments(layer, [gather(parts) for parts in inputs]), mode)
        return [y], buffers
    count = len(placement.devices)
    if layer.type == "dropout":
        # One mask for the whole activation, so that the draws do not depend on the placement.
        y, buffers = compute(layer.attrs, own, gather(inputs[0]), mode)
        return [share(y, device, count) for device in range(count)], buffers
    if layer.type in MULTI_INPUT:  # a split add: each device adds its own shares
        towers = [compute(layer.attrs, own, [own_input(parts, device, count) for parts in inputs], mode)[0]
                  for device in range(count)]
        return towers, {}
    parts = inputs[0]
    towers, tower_buffers = [], []
    for device in range(count):
        attrs, tower_params, tower_input = tower(layer, own, parts, device, count)
        y, buffers = compute(attrs, tower_params, tower_input, mode)
        towers.append(y)
        tower_buffers.append(buffers)
    buffers = {key: np.concatenate([b[key] for b in tower_buffers]) for key in tower_buffers[0]}
    return towers, buffers


def _arguments(layer: ResolvedLayer, arrays: list[np.ndarray]):
    """What the layer's function takes: the list of inputs for concat and add, the one input otherwise."""
    return arrays if layer.type in MULTI_INPUT else arrays[0]


def tower(layer: ResolvedLayer, own: dict[str, np.ndarray], parts: list[np.ndarray], device: int, count: int):
    """Device `device`'s part of a split layer: (its attrs, its slice of the parameters, its input)."""
    attrs = layer.attrs
    mine = {key: share(value, device, count, axis=0) for key, value in own.items()}  # its kernels, neurons, channels
    if layer.type == "conv" and attrs.groups == 1:  # every kernel sees every input channel
        return dataclasses.replace(attrs, out_channels=attrs.out_channels // count), mine, read_all(layer, parts)
    if layer.type == "conv":  # the device holds whole groups: its own input channels suffice
        smaller = dataclasses.replace(attrs, in_channels=attrs.in_channels // count,
                                      out_channels=attrs.out_channels // count, groups=attrs.groups // count)
        return smaller, mine, own_input(parts, device, count)
    if layer.type == "dense":
        return dataclasses.replace(attrs, out_features=attrs.out_features // count), mine, read_all(layer, parts)
    if layer.type == "lrn":  # the device holds whole groups of channels
        return dataclasses.replace(attrs, groups=attrs.groups // count), mine, own_input(parts, device, count)
    if layer.type == "batchnorm":
        smaller = dataclasses.replace(attrs, num_features=attrs.num_features // count)
        return smaller, mine, own_input(parts, device, count)
    if layer.type == "prelu" and attrs.num_parameters == 1:  # one slope for all: every device holds it
        return attrs, own, own_input(parts, device, count)
    if layer.type == "prelu":
        smaller = dataclasses.replace(attrs, num_parameters=attrs.num_parameters // count)
        return smaller, mine, own_input(parts, device, count)
    return attrs, mine, own_input(parts, device, count)  # channel by channel: activations, pooling, flatten


def read_all(layer: ResolvedLayer, parts: list[np.ndarray]) -> np.ndarray:
    """The whole input, for a tower whose kernels see every channel: read across devices if it is split."""
    if len(parts) > 1 and not layer.placement.reads_across:
        raise RuntimeError(f"layer {layer.name}: its towers need every input channel, but its placement says it "
                           f"does not read across devices ({layer.placement})")
    return gather(parts)


# One function per layer type: (attrs, the layer's parameters, input, mode) -> (output, new buffers).

def _activate(activation: str | None, y: np.ndarray) -> np.ndarray:
    return y if activation is None else ops.ACTIVATIONS[activation](y)


def _conv(attrs, params, x, mode):
    y = ops.conv2d(x, params["weight"], params.get("bias"), stride=attrs.stride, padding=attrs.padding,
                   dilation=attrs.dilation, groups=attrs.groups)
    return _activate(attrs.activation, y), {}


def _dense(attrs, params, x, mode):
    return _activate(attrs.activation, ops.dense(x, params["weight"], params.get("bias"))), {}


def _maxpool(attrs, params, x, mode):
    return ops.max_pool2d(x, attrs.kernel, attrs.stride, attrs.padding, attrs.ceil_mode, attrs.ceil_rule), {}


def _avgpool(attrs, params, x, mode):
    return ops.avg_pool2d(x, attrs.kernel, attrs.stride, attrs.padding, attrs.ceil_mode, attrs.count_include_pad,
                          attrs.ceil_rule), {}


def _adaptive_avgpool(attrs, params, x, mode):
    return ops.adaptive_avg_pool2d(x, attrs.output_size), {}


def _lrn(attrs, params, x, mode):
    return ops.lrn(x, attrs.size, attrs.scale, attrs.beta, attrs.k, attrs.groups), {}


def _batchnorm(attrs, params, x, mode):
    running = [params[key] for key in BATCHNORM_BUFFERS]
    if not mode.train:
        return ops.batchnorm_eval(x, params["weight"], params["bias"], *running, attrs.eps), {}
    y, mean, var = ops.batchnorm_train(x, params["weight"], params["bias"], *running, attrs.eps, attrs.momentum,
                                       attrs.running_variance)
    return y, {"running_mean": mean, "running_var": var}


def _dropout(attrs, params, x, mode):
    return ops.dropout(x, attrs.p, train=mode.train, rng=mode.rng), {}


def _flatten(attrs, params, x, mode):
    return ops.flatten(x), {}


def _elementwise(function):
    return lambda attrs, params, x, mode: (function(x), {})


def _concat(attrs, params, inputs, mode):
    return ops.concat(inputs, attrs.widths), {}


def _add(attrs, params, inputs, mode):
    return ops.add(inputs), {}


def _leaky_relu(attrs, params, x, mode):
    return ops.leaky_relu(x, attrs.negative_slope), {}


def _elu(attrs, params, x, mode):
    return ops.elu(x, attrs.alpha), {}


def _gelu(attrs, params, x, mode):
    return ops.gelu(x, attrs.approximate), {}


def _prelu(attrs, params, x, mode):
    return ops.prelu(x, params["weight"]), {}


MULTI_INPUT = {"concat", "add"}  # their functions take the list of inputs

LAYERS = {
    "conv": _conv, "dense": _dense, "maxpool": _maxpool, "avgpool": _avgpool, "adaptive_avgpool": _adaptive_avgpool,
    "lrn": _lrn, "batchnorm": _batchnorm, "dropout": _dropout, "flatten": _flatten,
    "relu": _elementwise(ops.relu), "tanh": _elementwise(ops.tanh), "sigmoid": _elementwise(ops.sigmoid),
    "softmax": _elementwise(ops.softmax),
    "concat": _concat, "add": _add, "global_avgpool": _elementwise(ops.global_avg_pool2d),
    "global_maxpool": _elementwise(ops.global_max_pool2d), "leaky_relu": _leaky_relu, "elu": _elu, "gelu": _gelu,
    "silu": _elementwise(ops.silu), "prelu": _prelu,
}
