"""The oracle's layer functions against hand-computed values and independent formulas.

Shapes have a different size on every axis (batch 2, channels 3, height 4 or 5, width 5, 6 or 7), so that a
function reducing or iterating over the wrong axis cannot pass (onnx/onnx#7805: an LRN over the batch axis went
unnoticed because every test used N = C = 5). No torch here: see test_numpy_torch.py for that extra check.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from alexnet_spec.arithmetic import window_output
from alexnet_spec.backends.numpy import ops
from alexnet_spec.resolved import LRNAttrs
from tests.backends.numpy.tf_lrn_example import TF_INPUT, TF_PRINTED

RNG = np.random.default_rng(20120101)


def arange(*shape: int) -> np.ndarray:
    return np.arange(math.prod(shape), dtype=np.float64).reshape(shape)


# ---------------------------------------------------------------- LRN

def test_lrn_reproduces_the_tensorflow_worked_example():
    # depth_radius 2 (n = 5), bias k = 0, alpha = 1, beta = 1; TensorFlow's alpha multiplies the plain sum.
    attrs = LRNAttrs(size=5, alpha=1.0, beta=1.0, k=0.0, convention="tf", groups=1)
    nchw = TF_INPUT.transpose(0, 3, 1, 2)  # (1, 8, 2, 2)
    out = ops.lrn(nchw, attrs.size, attrs.scale, attrs.beta, attrs.k)
    assert_allclose(out.transpose(0, 2, 3, 1), TF_PRINTED, atol=1e-7, rtol=0)
    # The document's hand derivation of three entries.
    assert out[0, 0, 0, 0] == pytest.approx(1 / (1 + 4 + 9), abs=1e-15)
    assert out[0, 3, 0, 0] == pytest.approx(4 / (4 + 9 + 16 + 25 + 36), abs=1e-15)
    assert out[0, 0, 0, 1] == pytest.approx(8 / (64 + 49 + 36), abs=1e-15)


def sum_of_squares_in_window(x: np.ndarray, size: int, groups: int) -> np.ndarray:
    """An independent formulation: for every pair of channels (c, c'), count a'^2 when |c - c'| <= n//2 and both
    channels are in the same group."""
    channels = x.shape[1]
    per_group = channels // groups
    total = np.zeros_like(x)
    for c in range(channels):
        for other in range(channels):
            if abs(c - other) <= size // 2 and c // per_group == other // per_group:
                total[:, c] += x[:, other] ** 2
    return total


@pytest.mark.parametrize("groups", [1, 2, 3])
def test_lrn_matches_its_formula_with_groups(groups):
    x = RNG.normal(size=(2, 6, 4, 5))
    size, alpha, beta, k = 3, 0.3, 0.75, 2.0
    expected = x / (k + alpha * sum_of_squares_in_window(x, size, groups)) ** beta
    assert_allclose(ops.lrn(x, size, alpha, beta, k, groups), expected, rtol=1e-13)


def test_lrn_windows_stop_at_group_edges():
    # Channel 2 is the first of the second group: with groups=2 it must not see channels 0 and 1.
    x = np.zeros((2, 4, 3, 5))
    x[:, 1] = 10.0
    x[:, 2] = 1.0
    apart = ops.lrn(x, 3, 1.0, 1.0, 1.0, groups=2)
    together = ops.lrn(x, 3, 1.0, 1.0, 1.0, groups=1)
    assert_allclose(apart[:, 2], 1.0 / (1.0 + 1.0))
    assert_allclose(together[:, 2], 1.0 / (1.0 + 1.0 + 100.0))


def test_lrn_on_features_normalises_axis_one():
    x = RNG.normal(size=(3, 7))  # (N, F): three samples, seven features
    expected = x / (1.0 + 0.5 * sum_of_squares_in_window(x, 5, 1)) ** 0.75
    assert_allclose(ops.lrn(x, 5, 0.5, 0.75, 1.0), expected, rtol=1e-13)


def test_lrn_conventions_differ_by_alpha_over_n():
    x = RNG.normal(size=(2, 7, 3, 5))
    size, alpha, beta, k = 5, 1e-2, 0.75, 2.0
    paper = LRNAttrs(size, alpha, beta, k, "paper", 1)
    caffe = LRNAttrs(size, alpha, beta, k, "caffe", 1)
    assert (paper.scale, caffe.scale) == (alpha, alpha / size)
    assert LRNAttrs(size, alpha, beta, k, "tf", 1).scale == alpha
    assert LRNAttrs(size, alpha, beta, k, "torch", 1).scale == alpha / size
    squares = sum_of_squares_in_window(x, size, 1)
    assert_allclose(ops.lrn(x, size, paper.scale, beta, k), x / (k + alpha * squares) ** beta, rtol=1e-13)
    assert_allclose(ops.lrn(x, size, caffe.scale, beta, k), x / (k + alpha / size * squares) ** beta, rtol=1e-13)
    # So the caffe reading of alpha * n is the paper reading of alpha.
    caffe_n = LRNAttrs(size, alpha * size, beta, k, "caffe", 1)
    assert_allclose(ops.lrn(x, size, caffe_n.scale, beta, k), ops.lrn(x, size, paper.scale, beta, k), rtol=1e-14)


# ---------------------------------------------------------------- convolution

def conv_by_definition(x, weight, bias, stride, padding, dilation):
    """out[n, o, i, j] = bias[o] + sum x_padded[n, c, i*s + a*d, j*s + b*d] * weight[o, c, a, b], every index
    spelled out."""
    top, bottom, left, right = padding
    padded = np.zeros((x.shape[0], x.shape[1], x.shape[2] + top + bottom, x.shape[3] + left + right))
    padded[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
    out_h = (padded.shape[2] - dilation[0] * (weight.shape[2] - 1) - 1) // stride[0] + 1
    out_w = (padded.shape[3] - dilation[1] * (weight.shape[3] - 1) - 1) // stride[1] + 1
    out = np.zeros((x.shape[0], weight.shape[0], out_h, out_w))
    for n in range(x.shape[0]):
        for o in range(weight.shape[0]):
            for i in range(out_h):
                for j in range(out_w):
                    total = bias[o]
                    for c in range(weight.shape[1]):
                        for a in range(weight.shape[2]):
                            for b in range(weight.shape[3]):
                                total += (padded[n, c, i * stride[0] + a * dilation[0], j * stride[1] + b * dilation[1]]
                                          * weight[o, c, a, b])
                    out[n, o, i, j] = total
    return out


def test_conv_arange_by_hand():
    x = arange(1, 1, 3, 4)  # [[0 1 2 3] [4 5 6 7] [8 9 10 11]]
    weight = arange(1, 1, 2, 2)  # [[0 1] [2 3]]
    # out[i, j] = x[i, j+1] + 2 x[i+1, j] + 3 x[i+1, j+1]
    assert_array_equal(ops.conv2d(x, weight)[0, 0], [[24, 30, 36], [48, 54, 60]])
    assert_array_equal(ops.conv2d(x, weight, np.array([1.0]))[0, 0], [[25, 31, 37], [49, 55, 61]])
    # One row of zeros on top, one column on the right, stride 2: windows at rows 0, 2 and columns 0, 2.
    assert_array_equal(ops.conv2d(x, weight, stride=(2, 2), padding=(1, 0, 0, 1))[0, 0], [[3, 13], [48, 60]])
    # Dilation 2 across: taps at columns j and j + 2.
    assert_array_equal(ops.conv2d(x, weight, dilation=(1, 2))[0, 0], [[28, 34], [52, 58]])


@pytest.mark.parametrize("stride, padding, dilation", [((1, 1), (0, 0, 0, 0), (1, 1)),
                                                       ((2, 1), (1, 2, 0, 1), (1, 1)),
                                                       ((1, 2), (2, 0, 1, 1), (2, 1))])
def test_conv_matches_its_definition(stride, padding, dilation):
    x = RNG.normal(size=(2, 3, 5, 7))
    weight = RNG.normal(size=(4, 3, 2, 3))
    bias = RNG.normal(size=4)
    out = ops.conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation)
    expected = conv_by_definition(x, weight, bias, stride, padding, dilation)
    assert out.shape == expected.shape
    assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_grouped_conv_is_block_diagonal_and_per_group():
    groups, per_group_in, per_group_out = 3, 5, 4
    x = RNG.normal(size=(2, groups * per_group_in, 6, 7))
    weight = RNG.normal(size=(groups * per_group_out, per_group_in, 3, 2))
    bias = RNG.normal(size=groups * per_group_out)
    grouped = ops.conv2d(x, weight, bias, padding=(1, 0, 1, 0), groups=groups)
    assert grouped.shape == (2, 12, 5, 7)
    # A full convolution whose kernels are zero outside their own group's channels.
    full = np.zeros((groups * per_group_out, groups * per_group_in, 3, 2))
    for g in range(groups):
        full[g * per_group_out:(g + 1) * per_group_out, g * per_group_in:(g + 1) * per_group_in] = \
            weight[g * per_group_out:(g + 1) * per_group_out]
    assert_allclose(grouped, ops.conv2d(x, full, bias, padding=(1, 0, 1, 0)), rtol=1e-12, atol=1e-12)
    # And separate convolutions on each group's slice.
    for g in range(groups):
        inputs = slice(g * per_group_in, (g + 1) * per_group_in)
        outputs = slice(g * per_group_out, (g + 1) * per_group_out)
        alone = ops.conv2d(x[:, inputs], weight[outputs], bias[outputs], padding=(1, 0, 1, 0))
        assert_allclose(grouped[:, outputs], alone, rtol=1e-12, atol=1e-12)


def test_conv_rejects_a_weight_that_does_not_fit_groups():
    with pytest.raises(ValueError, match="groups=2"):
        ops.conv2d(np.zeros((2, 6, 4, 5)), np.zeros((4, 6, 3, 3)), groups=2)


# ---------------------------------------------------------------- pooling

@pytest.mark.parametrize("size, before, after, kernel, stride", [(5, 0, 0, 2, 2), (5, 1, 1, 2, 2), (4, 1, 1, 3, 2),
                                                                  (6, 1, 1, 3, 2), (13, 0, 0, 3, 2), (7, 0, 1, 3, 3)])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pool_output_size_agrees_with_shape_inference(size, before, after, kernel, stride, ceil_mode):
    expected = window_output(size, before, after, kernel, stride, ceil_mode=ceil_mode).size
    assert ops.pool_output_size(size, before, after, kernel, stride, ceil_mode) == expected


def test_ceil_mode_rule_by_hand():
    assert ops.pool_output_size(5, 0, 0, 2, 2, ceil_mode=False) == 2
    assert ops.pool_output_size(5, 0, 0, 2, 2, ceil_mode=True) == 3  # windows [0,2) [2,4) [4,5)
    # ceil((5 + 2 - 2)/2) + 1 = 4, but the 4th window would start at 6 - 1 = 5, past the input: dropped.
    assert ops.pool_output_size(5, 1, 1, 2, 2, ceil_mode=True) == 3


def test_max_pool_ceil_mode_clips_the_last_window():
    x = arange(2, 3, 4, 5)  # increasing along each row and down each column
    out = ops.max_pool2d(x, (2, 2), (2, 2), ceil_mode=True)
    assert out.shape == (2, 3, 2, 3)
    # The largest element of each window is its bottom-right one; the last column window is just column 4.
    assert_array_equal(out, x[:, :, [1, 3]][:, :, :, [1, 3, 4]])
    assert_array_equal(ops.max_pool2d(x, (2, 2), (2, 2)), x[:, :, [1, 3]][:, :, :, [1, 3]])


def test_max_pool_padding_never_wins():
    x = -1.0 - arange(2, 3, 4, 5)  # all negative, decreasing: the top-left element of a window is its largest
    out = ops.max_pool2d(x, (3, 3), (2, 2), padding=(1, 1, 1, 1))
    assert out.shape == (2, 3, 2, 3)
    # Windows start at rows -1, 1 and columns -1, 1, 3: clipped to rows 0, 1 and columns 0, 1, 3.
    assert_array_equal(out, x[:, :, [0, 1]][:, :, :, [0, 1, 3]])
    assert out.max() < 0


def test_avg_pool_counts_padded_zeros():
    ones = np.ones((2, 3, 4, 5))
    out = ops.avg_pool2d(ones, (3, 3), (1, 1), padding=(1, 1, 1, 1))
    assert out.shape == (2, 3, 4, 5)
    expected = np.outer([2 / 3, 1, 1, 2 / 3], [2 / 3, 1, 1, 1, 2 / 3])  # corners 4/9, edges 6/9
    assert_allclose(out, np.broadcast_to(expected, out.shape), rtol=1e-15)


def test_avg_pool_ceil_mode_divides_by_the_window_clipped_at_the_padding():
    # Height 4, kernel 3, stride 2, padding 1: windows at -1, 1, 3 -> [-1,2) 2 of 3 real, [1,4) 3 of 3,
    # [3,6) clipped to [3,5): 1 real of 2. Width 6: windows at -1, 1, 3, 5, the last [5,8) clipped to [5,7).
    ones = np.ones((2, 3, 4, 6))
    out = ops.avg_pool2d(ones, (3, 3), (2, 2), padding=(1, 1, 1, 1), ceil_mode=True)
    assert out.shape == (2, 3, 3, 4)
    expected = np.outer([2 / 3, 1, 1 / 2], [2 / 3, 1, 1, 1 / 2])
    assert_allclose(out, np.broadcast_to(expected, out.shape), rtol=1e-15)


def test_avg_pool_ceil_mode_without_padding():
    x = arange(2, 3, 4, 5)
    out = ops.avg_pool2d(x, (2, 2), (2, 2), ceil_mode=True)
    # Last column window is column 4 alone: the mean of x[r, 4] and x[r + 1, 4].
    assert_allclose(out[..., 2], (x[:, :, [0, 2], 4] + x[:, :, [1, 3], 4]) / 2, rtol=1e-15)
    top, bottom = x[:, :, [0, 2]], x[:, :, [1, 3]]  # the two rows of each window
    assert_allclose(out[..., 0], (top[..., 0] + top[..., 1] + bottom[..., 0] + bottom[..., 1]) / 4, rtol=1e-15)


# ---------------------------------------------------------------- adaptive pooling

def test_adaptive_bins_when_the_size_does_not_divide():
    assert ops.adaptive_bins(5, 3) == [(0, 2), (1, 4), (3, 5)]
    assert ops.adaptive_bins(7, 4) == [(0, 2), (1, 4), (3, 6), (5, 7)]
    assert ops.adaptive_bins(6, 3) == [(0, 2), (2, 4), (4, 6)]
    assert ops.adaptive_bins(13, 6) == [(0, 3), (2, 5), (4, 7), (6, 9), (8, 11), (10, 13)]


def test_adaptive_avg_pool_by_hand():
    x = arange(2, 3, 5, 7)  # x[n, c, h, w] = 35 (3n + c) + 7h + w
    out = ops.adaptive_avg_pool2d(x, (3, 4))
    assert out.shape == (2, 3, 3, 4)
    row_means = np.array([0.5, 2.0, 3.5])  # bins [0,2) [1,4) [3,5)
    col_means = np.array([0.5, 2.0, 4.0, 5.5])  # bins [0,2) [1,4) [3,6) [5,7)
    base = 35.0 * np.arange(6).reshape(2, 3, 1, 1)
    assert_allclose(out, base + 7 * row_means[:, None] + col_means[None, :], rtol=1e-15)


def test_adaptive_avg_pool_equal_sizes_and_divisible_sizes():
    x = RNG.normal(size=(2, 3, 4, 6))
    assert_allclose(ops.adaptive_avg_pool2d(x, (4, 6)), x, rtol=1e-15)
    assert_allclose(ops.adaptive_avg_pool2d(x, (2, 3)), ops.avg_pool2d(x, (2, 2), (2, 2)), rtol=1e-14)


# ---------------------------------------------------------------- dense, flatten, activations

def test_dense_by_hand():
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 2.0]])
    weight = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])  # (out 2, in 3)
    assert_array_equal(ops.dense(x, weight, np.array([0.5, -1.0])), [[-1.5, 3.0], [-1.5, -2.0]])
    assert_array_equal(ops.dense(x, weight), [[-2.0, 4.0], [-2.0, -1.0]])
    with pytest.raises(ValueError, match="expected"):
        ops.dense(x, weight.T)


def test_flatten_is_channel_height_width_order():
    x = RNG.normal(size=(2, 3, 4, 5))
    out = ops.flatten(x)
    assert out.shape == (2, 60)
    for c in range(3):
        for h in range(4):
            for w in range(5):
                assert_array_equal(out[:, c * 20 + h * 5 + w], x[:, c, h, w])


def test_activations_by_hand():
    assert_array_equal(ops.relu(np.array([-2.0, 0.0, 3.0])), [0.0, 0.0, 3.0])
    assert ops.sigmoid(np.array(0.0)) == 0.5
    assert ops.sigmoid(np.array(math.log(3.0))) == pytest.approx(0.75, rel=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning: exp(1000) = inf gives the limit, 0
        assert_array_equal(ops.sigmoid(np.array([-1000.0, 1000.0])), [0.0, 1.0])
    assert ops.tanh(np.array(math.log(2.0))) == pytest.approx(3 / 5, rel=1e-15)  # (2 - 1/2) / (2 + 1/2)


def test_softmax_is_over_axis_one():
    features = np.log(np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 2.0]]))
    assert_allclose(ops.softmax(features), [[1 / 6, 2 / 6, 3 / 6], [1 / 4, 1 / 4, 2 / 4]], rtol=1e-15)
    x = RNG.normal(size=(2, 3, 4, 5)) * 50
    out = ops.softmax(x)
    assert_allclose(out.sum(axis=1), 1.0, rtol=1e-14)
    assert_allclose(out, np.exp(x) / np.exp(x).sum(axis=1, keepdims=True), rtol=1e-12)
    assert_allclose(ops.softmax(np.array([[1000.0, 1000.0]])), [[0.5, 0.5]])


# ---------------------------------------------------------------- batchnorm, dropout

def test_batchnorm_eval_by_hand():
    x = arange(2, 3, 4, 5)
    weight, bias = np.array([1.0, 2.0, 0.5]), np.array([0.0, 1.0, -1.0])
    mean, var = np.array([1.0, 2.0, 3.0]), np.array([4.0, 1.0, 0.25])
    out = ops.batchnorm_eval(x, weight, bias, mean, var, eps=0.0)
    for c in range(3):
        assert_allclose(out[:, c], (x[:, c] - mean[c]) / math.sqrt(var[c]) * weight[c] + bias[c], rtol=1e-15)
    features = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    assert_allclose(ops.batchnorm_eval(features, weight, bias, mean, var, eps=0.0),
                    [[0.0, 1.0, -1.0], [1.0, 1.0, -3.0]], rtol=1e-15)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (5, 3)])
def test_batchnorm_train_uses_batch_statistics_and_updates_running_ones(shape):
    x = RNG.normal(loc=2.0, scale=3.0, size=shape)
    weight, bias = RNG.normal(size=3), RNG.normal(size=3)
    running_mean, running_var = RNG.normal(size=3), RNG.uniform(0.5, 2.0, size=3)
    eps, momentum = 1e-3, 0.1
    y, new_mean, new_var = ops.batchnorm_train(x, weight, bias, running_mean, running_var, eps, momentum)
    for c in range(3):
        values = x[:, c].ravel()  # every value of channel c: N*H*W (or N) of them
        mean, biased, unbiased = values.mean(), values.var(ddof=0), values.var(ddof=1)
        assert_allclose(y[:, c], (x[:, c] - mean) / math.sqrt(biased + eps) * weight[c] + bias[c], rtol=1e-12)
        assert new_mean[c] == pytest.approx(0.9 * running_mean[c] + 0.1 * mean, rel=1e-13)
        assert new_var[c] == pytest.approx(0.9 * running_var[c] + 0.1 * unbiased, rel=1e-13)


def test_batchnorm_train_needs_two_values_per_channel():
    with pytest.raises(ValueError, match="more than one value"):
        ops.batchnorm_train(np.ones((1, 3)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), 1e-5, 0.1)


def test_dropout_eval_is_the_identity_and_train_is_inverted():
    x = RNG.normal(size=(2, 3, 40, 50))
    assert ops.dropout(x, 0.5) is x
    out = ops.dropout(x, 0.25, train=True, rng=np.random.default_rng(0))
    kept = out != 0
    assert_allclose(out[kept], x[kept] / 0.75, rtol=1e-15)
    assert kept.mean() == pytest.approx(0.75, abs=0.02)
    again = ops.dropout(x, 0.25, train=True, rng=np.random.default_rng(0))
    assert_array_equal(out, again)
    assert ops.dropout(x, 0.0, train=True, rng=np.random.default_rng(0)) is x
    with pytest.raises(ValueError, match="Generator"):
        ops.dropout(x, 0.5, train=True)
