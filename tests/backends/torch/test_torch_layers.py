"""Every layer type of the spec, layer by layer against the NumPy oracle (float64), in eval and train mode."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from alexnet_spec.backends.numpy.interpreter import run as oracle
from alexnet_spec.weights import init_weights
from alexnet_spec.backends.torch import backend
from tests.backends.torch.torch_helpers import build_text, layer_outputs
from tests.conftest import resolve_text

EVERY_LAYER = """
    name: Every
    input: {channels: 4, height: 12, width: 10}
    layers:
      - {type: conv, name: conv_same, out_channels: 6, kernel: 3, stride: 2, padding: same, groups: 2,
         activation: relu}
      - {type: lrn, name: norm, size: 3, alpha: 0.5, beta: 0.75, k: 1, convention: tf, groups: 2}
      - {type: avgpool, name: avg_ceil, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
      - {type: maxpool, name: max_crop, kernel: 2, stride: 2, padding: [0, 1, 0, 1], ceil_mode: true}
      - {type: conv, name: conv_pad, out_channels: 5, kernel: 2, padding: [1, 0, 2, 1], bias: false}
      - {type: adaptive_avgpool, name: adaptive, output_size: [3, 2]}
      - {type: batchnorm, name: bn2d, eps: 0.001, momentum: 0.3}
      - {type: relu, name: relu}
      - {type: tanh, name: tanh}
      - {type: flatten, name: flatten}
      - {type: dense, name: fc1, out_features: 7, activation: sigmoid}
      - {type: batchnorm, name: bn1d}
      - {type: sigmoid, name: sigmoid}
      - {type: dropout, name: drop, p: 0.3}
      - {type: dense, name: fc2, out_features: 5, activation: tanh}
      - {type: lrn, name: norm_features, size: 3, alpha: 1.0, beta: 0.5, k: 1, convention: caffe}
      - {type: softmax, name: prob}
"""

CEIL_AND_DILATION = """
    name: Pools
    input: {channels: 3, height: 11, width: 9}
    layers:
      - {type: conv, name: dilated, out_channels: 4, kernel: 3, dilation: 2, padding: [2, 1], activation: tanh}
      - {type: maxpool, name: max_ceil, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
      - {type: avgpool, name: avg_asym, kernel: 3, stride: 2, padding: [1, 0, 0, 1], ceil_mode: true}
      - {type: avgpool, name: avg_plain, kernel: 2, allow_truncation: true}
      - {type: softmax, name: channel_softmax}
"""


def _randomise(model, seed: int):
    """Weights and batchnorm statistics far from their initial values, so that every term matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                values = torch.rand(tensor.shape, generator=generator, dtype=tensor.dtype)
                tensor.copy_(values + 0.5 if name.endswith("running_var") else values * 2 - 1)


@pytest.mark.parametrize("spec", [EVERY_LAYER, CEIL_AND_DILATION], ids=["every_layer", "ceil_and_dilation"])
def test_each_layer_matches_the_oracle(spec):
    net, model = build_text(spec, dtype=torch.float64)
    _randomise(model, seed=0)
    x = torch.randn(3, *net.input_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        actual = layer_outputs(model, net, x)
    expected = oracle(net, model.state_dict(), x.numpy(), intermediates=True)
    assert [name for name, _ in expected] == list(actual)
    for name, value in expected:
        np.testing.assert_allclose(actual[name].numpy(), value, rtol=1e-10, atol=1e-12, err_msg=name)


def test_training_mode_batchnorm_matches_the_oracle():
    spec = EVERY_LAYER.replace("{type: dropout, name: drop, p: 0.3}", "{type: relu, name: no_dropout}")
    net, model = build_text(spec, dtype=torch.float64)
    _randomise(model, seed=2)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    x = torch.randn(6, *net.input_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    model.train()
    with torch.no_grad():
        actual = model(x)
    buffers = {}
    expected = oracle(net, before, x.numpy(), train=True, new_buffers=buffers)
    np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-10, atol=1e-12)
    for name, value in buffers.items():
        np.testing.assert_allclose(model.state_dict()[name].numpy(), value, rtol=1e-10, err_msg=name)


def test_dropout_only_in_training():
    net, model = build_text("""
        name: Drop
        input: {channels: 2, height: 8, width: 8}
        layers:
          - {type: flatten}
          - {type: dropout, p: 0.25}
    """)
    x = torch.rand(64, 2, 8, 8) + 1
    torch.testing.assert_close(model.eval()(x), x.flatten(1))
    y = model.train()(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x.flatten(1)[kept] / 0.75)
    assert 0.2 < 1 - kept.float().mean().item() < 0.3


def test_relu_never_overwrites_the_callers_input_or_a_saved_output():
    net, model = build_text("""
        name: Inplace
        input: {channels: 3, height: 4, width: 4}
        layers:
          - {type: relu, name: first}
          - {type: conv, name: conv, out_channels: 3, kernel: 1, activation: tanh}
          - {type: relu, name: after_tanh}
    """)
    x = torch.randn(2, 3, 4, 4)
    original = x.clone()
    model.train()(x).sum().backward()  # tanh's output is not overwritten: its gradient reads it
    assert torch.equal(x, original)
    forward = inspect.getsource(type(model).forward)
    assert "torch.relu(x)" in forward and "inplace=True" not in forward


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 1e-4)])
def test_evaluate_gives_every_layer_for_alexspec_check(dtype, rtol):
    net = resolve_text(EVERY_LAYER)
    weights = init_weights(net, np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, *net.input_shape))
    actual = backend.evaluate(net, weights, x, dtype=dtype)
    expected = oracle(net, weights, x, intermediates=True)
    assert [name for name, _ in actual] == [name for name, _ in expected]
    for (name, got), (_, want) in zip(actual, expected):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 0.1, err_msg=name)


@pytest.mark.parametrize("running_variance", ["unbiased", "biased"])
def test_batchnorm_running_statistics_follow_torch_or_keras(running_variance):
    """One training step of the generated module: outputs as torch.nn.BatchNorm's, running variance updated with
    the unbiased batch variance (torch itself the peer) or the biased one (Keras 3's rule, tests/batchnorm_rules.py)."""
    from tests.batchnorm_rules import expected_running_statistics, spec_text, weights_and_input

    net = resolve_text(spec_text(running_variance))
    weights, x = weights_and_input()
    model = backend.build(net).double().train()
    model.load_state_dict({name: torch.from_numpy(value) for name, value in weights.items()}, strict=False)
    with torch.no_grad():
        model(torch.from_numpy(x))
    state = model.state_dict()
    for name, value in expected_running_statistics(weights, x, running_variance).items():
        np.testing.assert_allclose(state[name].numpy(), value, rtol=1e-12, atol=1e-12, err_msg=name)
    assert int(state["bn.num_batches_tracked"]) == 1


def test_biased_running_variance_module_still_refuses_one_value_per_channel():
    """torch's own check survives the subclass: the feature batchnorm sees one value per feature at batch 1."""
    from tests.batchnorm_rules import spec_text

    model = backend.build(resolve_text(spec_text("biased"))).double().train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        model(torch.randn(1, 3, 4, 5, dtype=torch.float64))
