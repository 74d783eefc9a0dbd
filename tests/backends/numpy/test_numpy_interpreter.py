"""The oracle's interpreter: predicted shapes at every layer of every spec, towers equal to the unsplit network,
initialisation statistics, weight handling, and the backend object."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import alexnet_spec
from alexnet_spec import backends
from alexnet_spec.backends.numpy import backend, interpreter, ops
from alexnet_spec.weights import init_weights, weight_shapes
from alexnet_spec.errors import SpecError
from alexnet_spec.source.loading import load_network
from tests.backends.numpy.tf_lrn_example import TF_INPUT, TF_PRINTED
from tests.conftest import SPEC_FILES, TINY_SPEC, resolve_text, spec_to_run


def scaled_weights(net, seed: int = 0) -> dict[str, np.ndarray]:
    """Quick random weights that keep activations near 1 through deep stacks: U(-1, 1) * sqrt(3 / fan_in).
    (Cheaper than init_weights' normal draws for AlexNet's 61 M parameters.)"""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in weight_shapes(net).items():
        if name.endswith("running_var"):
            weights[name] = rng.uniform(0.5, 2.0, size=shape)
        elif len(shape) == 1:
            weights[name] = rng.uniform(-0.5, 0.5, size=shape) + (1.0 if name.endswith(".weight") else 0.0)
        else:
            weights[name] = (rng.random(size=shape) * 2 - 1) * math.sqrt(3.0 / math.prod(shape[1:]))
    return weights


# ---------------------------------------------------------------- shapes of every spec

@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda path: path.stem)
def test_every_layer_of_every_spec_has_its_predicted_shape(path):
    net = spec_to_run(path)
    weights = {name: np.full(shape, 1.0 / math.prod(shape[1:])) if len(shape) > 1 else np.ones(shape)
               for name, shape in weight_shapes(net).items()}
    x = np.random.default_rng(0).random((1,) + net.input_shape)
    trace = interpreter.run(net, weights, x, intermediates=True)
    assert [name for name, _ in trace] == [layer.name for layer in net.layers]
    for (name, output), layer in zip(trace, net.layers):
        assert output.shape == (1,) + layer.output_shape, name
        assert output.dtype == np.float64, name
        assert np.isfinite(output).all(), name


def test_output_is_the_last_intermediate_and_batches_are_independent():
    net = resolve_text(TINY_SPEC)  # (3, 12, 10) -> (5,)
    weights = scaled_weights(net)
    x = np.random.default_rng(1).normal(size=(2, 3, 12, 10))
    out = interpreter.run(net, weights, x)
    assert out.shape == (2, 5)
    assert_array_equal(out, interpreter.run(net, weights, x, intermediates=True)[-1][1])
    assert_allclose(out[1:], interpreter.run(net, weights, x[1:]), rtol=1e-14)


# ---------------------------------------------------------------- layer wiring

def test_tensorflow_lrn_example_through_a_spec():
    # Source document 000's tf.nn.lrn(a, 2, 0, 1, 1): depth_radius 2, bias 0, alpha 1, beta 1.
    net = resolve_text("""
        name: TfLRN
        input: {channels: 8, height: 2, width: 2}
        layers:
          - {type: lrn, depth_radius: 2, bias: 0, alpha: 1, beta: 1, convention: tf}
    """)
    out = interpreter.run(net, {}, TF_INPUT.transpose(0, 3, 1, 2))
    assert_allclose(out.transpose(0, 2, 3, 1), TF_PRINTED, atol=1e-7, rtol=0)


def test_activation_shorthand_is_applied_right_after_the_layer():
    net = resolve_text("""
        name: Shorthand
        input: {channels: 3, height: 5, width: 7}
        layers:
          - {type: conv, name: conv, out_channels: 4, kernel: [2, 3], stride: [1, 2], activation: tanh}
          - {type: flatten, name: flat}
          - {type: dense, name: fc, out_features: 6, activation: softmax}
    """)
    weights = scaled_weights(net)
    x = np.random.default_rng(2).normal(size=(2, 3, 5, 7))
    conv = np.tanh(ops.conv2d(x, weights["conv.weight"], weights["conv.bias"], stride=(1, 2)))
    logits = ops.flatten(conv) @ weights["fc.weight"].T + weights["fc.bias"]
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    trace = dict(interpreter.run(net, weights, x, intermediates=True))
    assert_allclose(trace["conv"], conv, rtol=1e-14)
    assert_allclose(trace["fc"], expected, rtol=1e-13)


# ---------------------------------------------------------------- towers

PLACED_SPEC = """
    name: Placed
    input: {channels: 3, height: 9, width: 11}
    devices: [d0, d1]
    layers:
      - {type: conv, name: c1, out_channels: 4, kernel: 3, padding: [1, 0, 2, 1], activation: relu}
      - {type: lrn, name: n1, size: 1, alpha: 0.5, beta: 0.75, k: 2, convention: caffe, groups: 2}
      - {type: maxpool, name: p1, kernel: 2, stride: 2, ceil_mode: true}
      - {type: conv, name: c2, out_channels: 6, kernel: 2, groups: 2, dilation: [1, 2]}
      - {type: batchnorm, name: b2}
      - {type: conv, name: c3, out_channels: 4, kernel: 1}
      - {type: tanh, name: t3}
      - {type: conv, name: c4, out_channels: 4, kernel: [1, 2], placement: d1}
      - {type: conv, name: c5, out_channels: 6, kernel: 1, groups: 2, padding: 1}
      - {type: avgpool, name: p5, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
      - {type: lrn, name: n5, size: 3, alpha: 1.0, beta: 0.5, k: 1, convention: paper}
      - {type: adaptive_avgpool, name: a5, output_size: [2, 3]}
      - {type: sigmoid, name: s5}
      - {type: conv, name: c6, out_channels: 4, kernel: 1}
      - {type: flatten, name: f}
      - {type: dense, name: fc1, out_features: 8, activation: sigmoid}
      - {type: dropout, name: drop1, p: 0.3}
      - {type: batchnorm, name: b6}
      - {type: dense, name: fc2, out_features: 6}
      - {type: softmax, name: prob}
"""


def test_the_placed_spec_exercises_every_kind_of_tower():
    net = resolve_text(PLACED_SPEC)
    split = {layer.name for layer in net.layers if layer.placement.split}
    across = {layer.name for layer in net.layers if layer.placement.reads_across}
    assert {"c1", "n1", "c2", "b2", "c3", "c5", "c6", "f", "fc1", "drop1", "b6", "fc2"} <= split
    assert {"n5", "c4", "prob"}.isdisjoint(split)
    assert {"c3", "c4", "c5", "n5", "c6", "fc1", "fc2", "prob"} <= across
    assert {"c1", "c2"}.isdisjoint(across)


@pytest.mark.parametrize("train", [False, True])
def test_towers_equal_the_unsplit_network(train):
    placed = resolve_text(PLACED_SPEC)
    single = resolve_text(PLACED_SPEC, ["devices=null", "c4.placement=null"])
    assert all(layer.placement is None for layer in single.layers)
    weights = scaled_weights(single, seed=3)
    x = np.random.default_rng(4).normal(size=(2, 3, 9, 11))
    placed_buffers, single_buffers = {}, {}
    placed_trace = interpreter.run(placed, weights, x, train=train, rng=5, intermediates=True,
                                   new_buffers=placed_buffers)
    single_trace = interpreter.run(single, weights, x, train=train, rng=5, intermediates=True,
                                   new_buffers=single_buffers)
    for (name, a), (_, b) in zip(placed_trace, single_trace):
        assert a.shape == b.shape, name
        assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=name)
    assert placed_buffers.keys() == single_buffers.keys() == (
        {"b2.running_mean", "b2.running_var", "b6.running_mean", "b6.running_var"} if train else set())
    for name in placed_buffers:
        assert_allclose(placed_buffers[name], single_buffers[name], rtol=1e-12, err_msg=name)


def test_two_gpu_alexnet_equals_its_unplaced_self():
    placed = alexnet_spec.resolve("specs/alexnet.yaml")
    single = load_network("specs/alexnet.yaml", ["devices=null"])
    assert placed.layer("conv3").placement.reads_across and not placed.layer("conv2").placement.reads_across
    weights = scaled_weights(single, seed=6)
    x = np.random.default_rng(7).normal(size=(1, 3, 227, 227))
    placed_trace = interpreter.run(placed, weights, x, intermediates=True)
    single_trace = interpreter.run(single, weights, x, intermediates=True)
    for (name, a), (_, b) in zip(placed_trace, single_trace):
        assert_allclose(a, b, rtol=1e-11, atol=1e-13, err_msg=name)
    assert np.ptp(single_trace[-2][1]) > 1.0  # the logits vary: the comparison is not between constants


# ---------------------------------------------------------------- initialisation

INIT_SPEC = """
    name: Inits
    input: {channels: 30, height: 4, width: 5}
    init: paper
    layers:
      - {type: conv, name: conv1, out_channels: 400, kernel: 3,
         init: {weight: {dist: kaiming}, bias: {dist: uniform, low: -2, high: 3}}}
      - {type: conv, name: conv2, out_channels: 300, kernel: 1, groups: 4}
      - {type: batchnorm, name: bn}
      - {type: conv, name: conv3, out_channels: 200, kernel: [1, 2], padding: [0, 0, 0, 1],
         init: {weight: {dist: kaiming, mode: fan_out, nonlinearity: tanh, distribution: uniform}}}
      - {type: conv, name: conv4, out_channels: 200, kernel: 1, init: torch}
      - {type: flatten}
      - {type: dense, name: fc1, out_features: 100,
         init: {weight: {dist: xavier, gain: 2.0, distribution: normal}, bias: {dist: constant, value: 0.5}}}
      - {type: dense, name: fc2, out_features: 300, init: {weight: {dist: xavier}}}
      - {type: dense, name: fc3, out_features: 500,
         init: {weight: {dist: kaiming, nonlinearity: sigmoid, distribution: uniform, mode: fan_in}}}
"""


def assert_uniform(values: np.ndarray, low: float, high: float):
    assert values.min() >= low and values.max() <= high
    assert values.min() < low + 0.01 * (high - low) and values.max() > high - 0.01 * (high - low)
    assert values.mean() == pytest.approx((low + high) / 2, abs=0.02 * (high - low))
    assert values.std() == pytest.approx((high - low) / math.sqrt(12), rel=0.02)


def assert_normal(values: np.ndarray, mean: float, std: float):
    assert values.mean() == pytest.approx(mean, abs=0.02 * std)
    assert values.std() == pytest.approx(std, rel=0.02)


def test_init_draws_each_declared_distribution():
    net = resolve_text(INIT_SPEC)
    weights = init_weights(net, np.random.default_rng(8))
    assert {name: array.shape for name, array in weights.items()} == weight_shapes(net)
    assert all(array.dtype == np.float64 for array in weights.values())
    # Kaiming normal, fan_in, relu: std sqrt(2) / sqrt(30 * 9).
    assert_normal(weights["conv1.weight"], 0.0, math.sqrt(2.0 / (30 * 9)))
    assert_uniform(weights["conv1.bias"], -2.0, 3.0)
    # paper: N(0, 0.01); bias 1 in the second conv.
    assert_normal(weights["conv2.weight"], 0.0, 0.01)
    assert_array_equal(weights["conv2.bias"], np.ones(300))
    # Kaiming uniform, fan_out = 200 * 1 * 2, tanh gain 5/3: bound gain * sqrt(3 / fan).
    bound = 5 / 3 * math.sqrt(3.0 / (200 * 2))
    assert_uniform(weights["conv3.weight"], -bound, bound)
    assert_array_equal(weights["conv3.bias"], np.zeros(200))  # paper: 0 in the third conv
    # torch: U(+-1/sqrt(fan_in)) for weight and bias.
    bound = 1 / math.sqrt(200)
    assert_uniform(weights["conv4.weight"], -bound, bound)
    assert np.abs(weights["conv4.bias"]).max() <= bound
    # Xavier normal, gain 2: std 2 sqrt(2 / (fan_in + fan_out)).
    fan_in = net.layer("fc1").attrs.in_features
    assert fan_in == 200 * 2 * 3
    assert_normal(weights["fc1.weight"], 0.0, 2.0 * math.sqrt(2.0 / (fan_in + 100)))
    assert_array_equal(weights["fc1.bias"], np.full(100, 0.5))
    # Xavier uniform, gain 1: bound sqrt(6 / (fan_in + fan_out)); paper bias 1 in a hidden dense layer.
    bound = math.sqrt(6.0 / (100 + 300))
    assert_uniform(weights["fc2.weight"], -bound, bound)
    assert_array_equal(weights["fc2.bias"], np.ones(300))
    # Kaiming uniform, sigmoid gain 1; the last dense layer's paper bias is 0.
    bound = math.sqrt(3.0 / 300)
    assert_uniform(weights["fc3.weight"], -bound, bound)
    assert_array_equal(weights["fc3.bias"], np.zeros(500))
    # Batchnorm starts as the identity.
    assert_array_equal(weights["bn.weight"], np.ones(300))
    assert_array_equal(weights["bn.bias"], np.zeros(300))
    assert_array_equal(weights["bn.running_mean"], np.zeros(300))
    assert_array_equal(weights["bn.running_var"], np.ones(300))


def test_init_is_reproducible_from_its_seed():
    net = resolve_text(TINY_SPEC)
    first, again, other = init_weights(net, 11), init_weights(net, np.random.default_rng(11)), init_weights(net, 12)
    for name in first:
        assert_array_equal(first[name], again[name])
        assert not np.array_equal(first[name], other[name])


def test_init_draws_are_numpys_normal_and_uniform_in_64_byte_aligned_arrays():
    """The draws are those of rng.normal / rng.uniform with the same generator, value for value (the published seeds
    keep their weights), in arrays XLA's CPU client can take without a copy."""
    net = resolve_text(INIT_SPEC)
    weights, rng = init_weights(net, 8), np.random.default_rng(8)
    drawn = [layer for layer in net.layers if hasattr(layer.attrs, "weight_init")]
    assert [layer.name for layer in drawn] == ["conv1", "conv2", "conv3", "conv4", "fc1", "fc2", "fc3"]
    for layer in drawn:
        for field in ("weight", "bias") if layer.attrs.bias else ("weight",):
            distribution = getattr(layer.attrs, f"{field}_init")
            shape = weights[f"{layer.name}.{field}"].shape
            if hasattr(distribution, "std"):
                expected = rng.normal(distribution.mean, distribution.std, size=shape)
            elif hasattr(distribution, "low"):
                expected = rng.uniform(distribution.low, distribution.high, size=shape)
            else:
                expected = np.full(shape, float(distribution.value))
            assert_array_equal(weights[f"{layer.name}.{field}"], expected)
            assert weights[f"{layer.name}.{field}"].ctypes.data % 64 == 0


# ---------------------------------------------------------------- weights in, errors

class FakeTensor:
    """Duck-types a torch tensor: the interpreter only calls .detach().cpu().numpy()."""

    def __init__(self, array):
        self.array = array

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.array


def test_weights_may_be_tensors_and_float32_and_extra_entries_are_ignored():
    net = resolve_text(TINY_SPEC)
    weights = init_weights(net, 13)
    x = np.random.default_rng(14).normal(size=(2, 3, 12, 10))
    tensors = {name: FakeTensor(array.astype(np.float32)) for name, array in weights.items()}
    tensors["conv1.num_batches_tracked"] = FakeTensor(np.array(0))
    rounded = {name: array.astype(np.float32).astype(np.float64) for name, array in weights.items()}
    out = interpreter.run(net, tensors, x.astype(np.float32))
    assert out.dtype == np.float64
    assert_array_equal(out, interpreter.run(net, rounded, x.astype(np.float32).astype(np.float64)))


def test_missing_or_misshapen_weights_and_inputs_are_named():
    net = resolve_text(TINY_SPEC)
    weights = init_weights(net, 15)
    x = np.zeros((2, 3, 12, 10))
    with pytest.raises(ValueError, match="fc1.bias"):
        interpreter.run(net, {k: v for k, v in weights.items() if k != "fc1.bias"}, x)
    with pytest.raises(ValueError, match=r"conv1.weight has shape \(4, 3, 3\); expected \(4, 3, 3, 3\)"):
        interpreter.run(net, {**weights, "conv1.weight": weights["conv1.weight"][..., 0]}, x)
    with pytest.raises(ValueError, match=r"expected \(N, 3, 12, 10\)"):
        interpreter.run(net, weights, np.zeros((2, 12, 10, 3)))


def test_train_mode_updates_batchnorm_and_needs_a_generator_for_dropout():
    net = resolve_text("""
        name: Train
        input: {channels: 3, height: 4, width: 5}
        layers:
          - {type: batchnorm, name: bn, momentum: 0.25}
          - {type: flatten}
          - {type: dropout, name: drop, p: 0.5}
    """)
    weights = init_weights(net, 0)
    x = np.random.default_rng(16).normal(loc=3.0, size=(2, 3, 4, 5))
    buffers = {}
    out = interpreter.run(net, weights, x, train=True, rng=17, new_buffers=buffers)
    assert set(np.unique(out == 0)) == {False, True}
    assert_allclose(buffers["bn.running_mean"], 0.25 * x.mean(axis=(0, 2, 3)), rtol=1e-13)
    assert_allclose(buffers["bn.running_var"], 0.75 + 0.25 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-13)
    assert_array_equal(weights["bn.running_mean"], np.zeros(3))  # the caller's weights are left alone
    eval_out = interpreter.run(net, weights, x)
    assert_allclose(eval_out, (x / np.sqrt(1 + 1e-5)).reshape(2, -1), rtol=1e-14)
    with pytest.raises(ValueError, match="Generator"):
        interpreter.run(net, weights, x, train=True)


# ---------------------------------------------------------------- the backend object

def test_backend_is_registered_and_builds_a_model():
    assert backends.get("numpy") is backend
    assert backend.name == "numpy" and backend.generates_source is False
    net = resolve_text(TINY_SPEC)
    model = backend.build(net, dtype="float32")
    weights = model.init_weights(seed=3)
    x = np.random.default_rng(18).normal(size=(2, 3, 12, 10))
    assert_array_equal(model.run(weights, x), interpreter.run(net, init_weights(net, 3), x))
    via_api = alexnet_spec.build("specs/lenet5.yaml", backend="numpy")
    assert via_api.run(via_api.init_weights(0), np.zeros((1,) + via_api.net.input_shape)).shape[1:] == \
        via_api.net.output_shape
    with pytest.raises(TypeError, match="unknown numpy build option"):
        backend.build(net, colour="red")


def test_render_explains_that_there_is_no_source():
    with pytest.raises(SpecError) as caught:
        alexnet_spec.compile_source("specs/lenet5.yaml", backend="numpy")
    [diagnostic] = caught.value.diagnostics
    assert "reference interpreter" in diagnostic.message
    assert "--backend torch" in diagnostic.hint and "jax" in diagnostic.hint


@pytest.mark.parametrize("running_variance", ["unbiased", "biased"])
def test_batchnorm_running_statistics_follow_torch_or_keras(running_variance):
    """Training updates the running variance with the unbiased batch variance (torch.nn.BatchNorm itself is the
    peer) or the biased one (Keras 3's rule, written out in tests/batchnorm_rules.py), as the spec says."""
    pytest.importorskip("torch")
    from tests.batchnorm_rules import expected_running_statistics, spec_text, weights_and_input

    net = resolve_text(spec_text(running_variance))
    weights, x = weights_and_input()
    updated = {}
    interpreter.run(net, weights, x, train=True, new_buffers=updated)
    expected = expected_running_statistics(weights, x, running_variance)
    assert sorted(updated) == sorted(expected)
    for name, value in expected.items():
        assert_allclose(updated[name], value, rtol=1e-12, atol=1e-12, err_msg=name)


def test_batchnorm_running_variance_defaults_to_torchs_and_refuses_other_words():
    assert resolve_text(TINY_BN).layer("bn").attrs.running_variance == "unbiased"
    with pytest.raises(SpecError) as raised:
        resolve_text(TINY_BN.replace("name: bn}", "name: bn, running_variance: keras}"))
    message = str(raised.value)
    assert "test.yaml:4:" in message and "layer bn: running_variance" in message and '"keras"' in message


TINY_BN = """
    name: TinyBN
    input: {channels: 2, height: 3, width: 3}
    layers:
      - {type: batchnorm, name: bn}
"""
