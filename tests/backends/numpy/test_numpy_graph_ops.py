"""The oracle's graph-network ops (concat, add, global pools, leaky_relu, elu, gelu, silu, prelu) against values
worked out by hand and published figures. Shapes differ on every axis (batch 2, channels 3, height 4, width 5) so a
function working on the wrong axis cannot pass. No torch here: test_numpy_graph_torch.py compares with torch.nn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from alexnet_spec.backends.numpy import ops

RNG = np.random.default_rng(2016)


def arange(*shape: int) -> np.ndarray:
    return np.arange(math.prod(shape), dtype=np.float64).reshape(shape)


def test_concat_puts_each_input_after_the_widths_before_it():
    first, second, third = arange(2, 2, 4, 5), -arange(2, 3, 4, 5) - 1, np.full((2, 1, 4, 5), 0.5)
    out = ops.concat([first, second, third], (2, 3, 1))
    assert out.shape == (2, 6, 4, 5)
    assert_array_equal(out[:, 0:2], first)
    assert_array_equal(out[:, 2:5], second)
    assert_array_equal(out[:, 5:6], third)
    features = ops.concat([arange(2, 3), arange(2, 4) + 100], (3, 4))  # (N, F): along features
    assert_array_equal(features[1], [3, 4, 5, 104, 105, 106, 107])


def test_concat_refuses_inputs_that_do_not_have_the_resolved_widths():
    with pytest.raises(ValueError, match="widths"):
        ops.concat([arange(2, 2, 4, 5), arange(2, 3, 4, 5)], (3, 2))


def test_add_sums_any_number_of_inputs_and_keeps_them_unchanged():
    a, b, c = arange(2, 3, 4, 5), np.ones((2, 3, 4, 5)), np.full((2, 3, 4, 5), -2.0)
    out = ops.add([a, b, c])
    assert_array_equal(out, a - 1.0)
    assert_array_equal(a, arange(2, 3, 4, 5))  # the first input is not written into
    with pytest.raises(ValueError, match="one shape"):
        ops.add([a, np.ones((2, 3, 5, 4))])


def test_global_pools_reduce_each_map():
    x = arange(2, 3, 4, 5)  # map (n, c) holds 20 consecutive numbers starting at 20 * (3n + c)
    starts = 20 * np.arange(6).reshape(2, 3)
    assert_array_equal(ops.global_avg_pool2d(x), starts + 9.5)  # the mean of 0..19 is 9.5
    assert_array_equal(ops.global_max_pool2d(x), starts + 19)
    y = RNG.normal(size=(2, 3, 4, 5))
    assert_allclose(ops.global_avg_pool2d(y)[1, 2], sum(y[1, 2, i, j] for i in range(4) for j in range(5)) / 20)


def test_leaky_relu_and_elu_by_hand():
    x = np.array([[-2.0, -0.5, 0.0, 3.0]])
    assert_array_equal(ops.leaky_relu(x, 0.1), [[-0.2, -0.05, 0.0, 3.0]])
    assert_array_equal(ops.leaky_relu(x, 0.0), [[0.0, 0.0, 0.0, 3.0]])
    # alpha (e^x - 1) below zero, x above.
    assert_allclose(ops.elu(x, 1.5), [[1.5 * (math.exp(-2) - 1), 1.5 * (math.exp(-0.5) - 1), 0.0, 3.0]], rtol=1e-15)
    assert ops.elu(np.array([-1e3]), 1.0)[0] == -1.0  # saturates at -alpha
    assert ops.elu(np.array([1e3]), 1.0)[0] == 1e3  # no overflow from the unused branch


def test_gelu_exact_is_x_times_the_normal_cdf():
    # Phi(1) = 0.8413447460685429, Phi(-1) = 0.15865525393145707, Phi(2) = 0.9772498680518208 (normal tables).
    x = np.array([-1.0, 0.0, 1.0, 2.0])
    expected = [-0.15865525393145707, 0.0, 0.8413447460685429, 2 * 0.9772498680518208]
    assert_allclose(ops.gelu(x, "none"), expected, rtol=1e-15)
    assert ops.gelu(np.array([-40.0]), "none")[0] == 0.0 and ops.gelu(np.array([40.0]), "none")[0] == 40.0


def test_gelu_tanh_approximation_is_its_formula_and_close_to_the_exact_form():
    x = RNG.normal(size=(2, 3, 4, 5)) * 3
    inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
    assert_allclose(ops.gelu(x, "tanh"), 0.5 * x * (1 + np.tanh(inner)), rtol=1e-15)
    # Hendrycks and Gimpel: the approximation is close, not equal (|difference| < 1e-3 everywhere).
    difference = np.abs(ops.gelu(x, "tanh") - ops.gelu(x, "none"))
    assert 0 < difference.max() < 1e-3
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        ops.gelu(x, "sigmoid")


def test_silu_is_x_times_its_sigmoid():
    x = np.array([-800.0, -1.0, 0.0, 2.0, 800.0])
    expected = [0.0, -1 / (1 + math.e), 0.0, 2 / (1 + math.exp(-2)), 800.0]
    assert_allclose(ops.silu(x), expected, rtol=1e-15, atol=1e-300)


def test_prelu_applies_one_slope_per_channel_on_axis_one():
    x = -np.ones((2, 3, 4, 5))
    x[:, :, 0, 0] = 7.0  # positive inputs pass unchanged
    slopes = np.array([0.1, 0.2, 0.3])
    out = ops.prelu(x, slopes)
    for channel in range(3):
        assert_array_equal(out[:, channel, 1:, :], -slopes[channel])
        assert_array_equal(out[:, channel, 0, 0], 7.0)
    assert_array_equal(ops.prelu(x, np.array([0.25]))[:, :, 1:], -0.25)  # one slope for all
    features = ops.prelu(-np.ones((2, 3)), slopes)  # (N, F): one slope per feature
    assert_array_equal(features, [[-0.1, -0.2, -0.3]] * 2)
    with pytest.raises(ValueError, match="expected 1 or 3"):
        ops.prelu(x, np.ones(2))
