"""Shared by the ONNX tests: weights quick to draw, onnxruntime's and the torch build's outputs, a spec with every
layer form, and a comparison of resolved networks that ignores only what ONNX cannot carry (init, placement)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from alexnet_spec.resolved import BatchNormAttrs, ConvAttrs, DenseAttrs, LRNAttrs, ResolvedNetwork

# Every layer type and form that export has a separate path for: `same` padding that is asymmetric at stride 2,
# dilation, LRN in two conventions and with groups, ceil_mode pooling with padding (max and average: the divisor of
# the clipped last window), batchnorm of channels and of features, adaptive pooling with unequal bins, activations.
EVERY_FORM = """
    name: EveryForm
    input: {channels: 4, height: 14, width: 11}
    layers:
      - {type: conv, name: conv1, out_channels: 6, kernel: 3, stride: 2, padding: same, activation: relu}
      - {type: lrn, name: norm1, size: 3, alpha: 0.3, beta: 0.75, k: 2, convention: paper, groups: 2}
      - {type: maxpool, name: pool1, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
      - {type: batchnorm, name: bn1}
      - {type: conv, name: conv2, out_channels: 8, kernel: [3, 2], dilation: [1, 2], padding: [1, 0, 2, 1], groups: 2}
      - {type: lrn, name: norm2, depth_radius: 2, alpha: 0.05, beta: 0.5, k: 1, convention: tf}
      - {type: avgpool, name: pool2, kernel: 2, stride: 2, padding: 1, ceil_mode: true}
      - {type: sigmoid, name: gate}
      - {type: adaptive_avgpool, name: bins, output_size: [3, 2]}
      - {type: flatten, name: flatten}
      - {type: dropout, name: drop, p: 0.25}
      - {type: dense, name: fc1, out_features: 7, activation: tanh}
      - {type: batchnorm, name: bn2, eps: 0.001, momentum: 0.01}
      - {type: dense, name: fc2, out_features: 5, bias: false}
      - {type: softmax, name: prob}
"""


def quick_weights(net: ResolvedNetwork, seed: int = 0) -> dict[str, np.ndarray]:
    """Canonical float32 weights that keep activations near 1 (fan-in scaled), drawn fast enough for AlexNet."""
    from alexnet_spec.weights import weight_shapes

    rng = np.random.default_rng(seed)
    fans = {layer.name: layer.attrs.fan_in for layer in net.layers if isinstance(layer.attrs, (ConvAttrs, DenseAttrs))}
    weights = {}
    for name, shape in weight_shapes(net).items():
        layer, field = name.rsplit(".", 1)
        if field == "running_var" or (field == "weight" and layer not in fans):
            array = rng.uniform(0.5, 2.0, shape).astype(np.float32)
        elif field == "weight":
            array = rng.standard_normal(shape, dtype=np.float32) * np.float32(1 / math.sqrt(fans[layer]))
        else:
            array = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1)
        weights[name] = array
    return weights


def onnxruntime_output(model, x: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    [output] = session.run(None, {session.get_inputs()[0].name: x})
    return output


def torch_output(net: ResolvedNetwork, weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The torch build (the generated module) in eval mode, with the canonical weights loaded."""
    import torch

    from alexnet_spec import backends

    with torch.device("meta"):  # no time spent initialising what load_state_dict replaces (AlexNet: 0.5 s)
        model = backends.get("torch").build(net).eval()
    missing, unexpected = model.load_state_dict({key: torch.from_numpy(value) for key, value in weights.items()},
                                                strict=False, assign=True)
    assert not unexpected and all(key.endswith("num_batches_tracked") for key in missing)
    assert not any(tensor.is_meta for tensor in list(model.parameters()) + [
        buffer for name, buffer in model.named_buffers() if not name.endswith("num_batches_tracked")])
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def torch_outputs(net: ResolvedNetwork, weights: dict[str, np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """Every output of the torch build (a network with several `outputs` returns a tuple), as float32 arrays."""
    import torch

    from alexnet_spec import backends

    model = backends.get("torch").build(net).eval()
    model.load_state_dict({key: torch.tensor(value) for key, value in weights.items()}, strict=False)
    with torch.no_grad():
        result = model(torch.from_numpy(x))
    return [tensor.numpy() for tensor in (result if isinstance(result, tuple) else (result,))]


def oracle_output(net: ResolvedNetwork, weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    from alexnet_spec import backends

    return backends.get("numpy").build(net).run(weights, np.asarray(x, dtype=np.float64))


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-5) -> None:
    """Within `rtol` relative to each element, with a floor at `rtol` times the output's largest magnitude (float32
    sums of thousands of terms differ in the last bits, which an element near 0 magnifies)."""
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * float(np.abs(expected).max()))


def layer_signature(net: ResolvedNetwork) -> list[tuple]:
    """Every layer's name, type, shapes, counts and attributes, LRN by its effective scale (the import writes ONNX's
    `torch` convention), without what ONNX does not carry: init distributions, device placement and batchnorm's
    training-time running-variance rule (the export is for inference)."""
    rows = []
    for layer in net.layers:
        attrs = layer.attrs
        if isinstance(attrs, (ConvAttrs, DenseAttrs)):
            attrs = dataclasses.replace(attrs, weight_init=None, bias_init=None)
        if isinstance(attrs, BatchNormAttrs):
            attrs = dataclasses.replace(attrs, running_variance=None)
        if isinstance(attrs, LRNAttrs):
            attrs = (attrs.size, float(np.float32(attrs.scale * attrs.size)), attrs.beta, attrs.k, attrs.groups)
        rows.append((layer.name, layer.type, layer.input_shape, layer.output_shape, layer.params, layer.buffers,
                     layer.macs, attrs))
    return rows
