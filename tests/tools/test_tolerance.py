"""alexnet_spec/tools/tolerance.py: every shipped spec's bfloat16 and float16 builds stay within the documented
per-layer bounds against the float64 oracle, in torch and jax; and the bound is tight enough that a float32 island
done in the low type instead fails it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alexnet_spec import backends
from alexnet_spec.precision import LOW_PRECISIONS, with_precision
from alexnet_spec.tools.tolerance import C, EPSILON, layer_bounds, reduction_size
from alexnet_spec.weights import init_weights
from tests.conftest import SPEC_FILES, resolve_text, spec_to_run

pytest.importorskip("torch")
pytest.importorskip("jax")


def test_reduction_sizes_and_bounds_by_hand():
    net = resolve_text("""
        name: Sizes
        input: {channels: 6, height: 9, width: 10}
        layers:
          - {type: conv, name: conv, out_channels: 8, kernel: [2, 3], groups: 2}
          - {type: relu, name: relu}
          - {type: lrn, name: norm, size: 5, alpha: 1.0e-4, beta: 0.75, k: 2, convention: paper}
          - {type: avgpool, name: pool, kernel: 2}
          - {type: flatten, name: flat}
          - {type: dense, name: fc, out_features: 7}
          - {type: softmax, name: prob}
    """)
    sizes = {layer.name: reduction_size(layer) for layer in net.layers}
    assert sizes == {"conv": 3 * 2 * 3, "relu": 1, "norm": 5, "pool": 4, "flat": 1, "fc": 8 * 4 * 4, "prob": 7}
    bounds = layer_bounds(net, "bfloat16")
    eps = 2.0 ** -7
    assert bounds["conv"] == pytest.approx(C * eps * math.sqrt(18))
    assert bounds["relu"] == bounds["norm"] == bounds["pool"] == bounds["conv"]  # each inherits the larger bound
    assert bounds["fc"] == pytest.approx(C * eps * math.sqrt(128)) and bounds["prob"] == bounds["fc"]
    assert EPSILON["float16"] == np.finfo(np.float16).eps


def _worst(net, precision: str, backend: str, weights, x, expected) -> tuple[float, str]:
    """(largest normwise error / its bound over the layers, that layer's name)."""
    bounds = layer_bounds(net, precision, len(x))
    outputs = dict(backends.get(backend).evaluate(with_precision(net, precision), weights, x, dtype="float32"))
    ratios = {}
    for layer in net.layers:
        want, got = expected[layer.name], outputs[layer.name]
        error, scale = np.abs(got - want).max(), np.abs(want).max()
        if not np.isfinite(got).all() or (scale == 0 and error > 0):
            ratios[layer.name] = math.inf
        else:  # a layer that is all zeros (a relu after a negative map) must stay all zeros
            ratios[layer.name] = 0.0 if error == 0 else error / (bounds[layer.name] * scale)
    name = max(ratios, key=ratios.get)
    return ratios[name], name


# JAX's float16 build is its bfloat16 build with another type: run on the specs that have each island (LRN, softmax,
# batchnorm) and a graph, as compiling every spec twice more costs about 30 s of the suite.
JAX_FLOAT16 = {"alexnet.yaml", "alexnet_keras_bn.yaml", "squeezenet1_0.yaml", "lenet5.yaml"}


@pytest.mark.slow  # about 60 s of CPU in all, most of it JAX compiling every spec
@pytest.mark.parametrize("precision", LOW_PRECISIONS)
@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda path: path.name)
def test_every_shipped_spec_stays_within_its_bounds(path, precision):
    net = spec_to_run(path)
    rng = np.random.default_rng(0)
    weights, x = init_weights(net, rng), rng.standard_normal((1,) + net.input_shape)
    expected = dict(backends.get("numpy").evaluate(net, weights, x))
    for backend in ("torch", "jax") if precision == "bfloat16" or path.name in JAX_FLOAT16 else ("torch",):
        ratio, layer = _worst(net, precision, backend, weights, x, expected)
        assert ratio <= 1.0, f"{backend}: layer {layer} at {ratio:.2f} of its bound"


def _lone_lrn(x_scale: float, precision: str):
    """A network of one LRN (the paper's window) on a large batch, and its output (island, wrong island, oracle):
    the wrong build is the generated source with the island's conversions taken out, so LRN sums in the low type."""
    import torch

    from alexnet_spec.backends.common.source import load_source
    from alexnet_spec.backends.torch.view import render

    net = resolve_text("""
        name: Lone
        input: {channels: 32, height: 16, width: 16}
        layers: [{type: lrn, name: norm, size: 5, alpha: 1.0, beta: 0.75, k: 1, convention: paper}]
    """)
    x = x_scale * np.random.default_rng(0).standard_normal((8, 32, 16, 16))
    source = render(with_precision(net, precision))
    island = f"self.norm(x.float()).to(torch.{precision})"
    assert island in source
    outputs = []
    for label, text in (("island", source), ("wrong", source.replace(island, "self.norm(x)"))):
        model = load_source(text, f"lone_lrn_{label}_{precision}").Lone().eval()
        with torch.no_grad():
            outputs.append(model(torch.as_tensor(x, dtype=torch.float32)).float().numpy())
    oracle = dict(backends.get("numpy").evaluate(net, {}, x))["norm"]
    return layer_bounds(net, precision)["norm"], outputs, oracle


@pytest.mark.parametrize("precision, x_scale", [("bfloat16", 1.0), ("float16", 300.0)])
def test_an_lrn_summed_in_the_low_type_fails_the_bound(precision, x_scale):
    """bfloat16: summing the squares in bfloat16 costs about three times the island's error; float16 on a large
    input: the squares overflow (300 * 4 standard deviations, squared, is past float16's 65504)."""
    bound, (island, wrong), oracle = _lone_lrn(x_scale, precision)
    scale = np.abs(oracle).max()
    assert np.abs(island - oracle).max() <= bound * scale
    assert not np.abs(wrong - oracle).max() <= bound * scale  # NaN or infinity fails too
