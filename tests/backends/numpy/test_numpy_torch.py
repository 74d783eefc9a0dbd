"""An extra check of the oracle's layer functions against torch.nn.functional in float64.

The oracle's own tests (test_numpy_ops.py) use hand-computed values and formulas; this file only confirms that
the conventions chosen there (ceil_mode, avgpool divisors, adaptive bins, LRN's alpha/n, batchnorm's momentum and
unbiased running variance) are PyTorch's.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from alexnet_spec.backends.numpy import ops

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(2012)


def t(array: np.ndarray):
    return torch.from_numpy(np.ascontiguousarray(array))


@pytest.mark.parametrize("stride, padding, dilation, groups", [((1, 1), (0, 0, 0, 0), (1, 1), 1),
                                                               ((2, 3), (1, 2, 0, 1), (1, 1), 3),
                                                               ((1, 2), (2, 2, 1, 1), (2, 1), 1)])
def test_conv2d(stride, padding, dilation, groups):
    x = RNG.normal(size=(2, 6, 9, 11))
    weight = RNG.normal(size=(9, 6 // groups, 3, 2))
    bias = RNG.normal(size=9)
    top, bottom, left, right = padding
    expected = F.conv2d(F.pad(t(x), (left, right, top, bottom)), t(weight), t(bias), stride=stride,
                        dilation=dilation, groups=groups).numpy()
    out = ops.conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel, stride, pad, ceil_mode", [
    ((2, 2), (2, 2), (0, 0), True), ((3, 3), (2, 2), (1, 1), True), ((3, 2), (2, 3), (1, 0), True),
    ((3, 3), (2, 2), (0, 1), False), ((2, 3), (3, 2), (1, 1), True),
])
def test_pooling(kernel, stride, pad, ceil_mode):
    x = RNG.normal(size=(2, 3, 7, 10))
    padding = (pad[0], pad[0], pad[1], pad[1])
    expected_max = F.max_pool2d(t(x), kernel, stride, pad, ceil_mode=ceil_mode).numpy()
    expected_avg = F.avg_pool2d(t(x), kernel, stride, pad, ceil_mode=ceil_mode, count_include_pad=True).numpy()
    assert_allclose(ops.max_pool2d(x, kernel, stride, padding, ceil_mode), expected_max, rtol=0, atol=0)
    assert_allclose(ops.avg_pool2d(x, kernel, stride, padding, ceil_mode), expected_avg, rtol=1e-13)


@pytest.mark.parametrize("output_size", [(3, 4), (2, 7), (5, 1), (6, 6)])
def test_adaptive_avg_pool(output_size):
    x = RNG.normal(size=(2, 3, 5, 7))
    expected = F.adaptive_avg_pool2d(t(x), output_size).numpy()
    assert_allclose(ops.adaptive_avg_pool2d(x, output_size), expected, rtol=1e-13)


def test_lrn_caffe_convention_is_torchs():
    x = RNG.normal(size=(2, 7, 4, 5))
    size, alpha, beta, k = 5, 0.3, 0.75, 2.0
    expected = F.local_response_norm(t(x), size, alpha, beta, k).numpy()
    assert_allclose(ops.lrn(x, size, alpha / size, beta, k), expected, rtol=1e-13)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (5, 3)])
def test_batchnorm_train_and_eval(shape):
    x = RNG.normal(loc=1.0, scale=2.0, size=shape)
    weight, bias = RNG.normal(size=3), RNG.normal(size=3)
    mean, var = RNG.normal(size=3), RNG.uniform(0.5, 2.0, size=3)
    running_mean, running_var = t(mean.copy()), t(var.copy())
    expected = F.batch_norm(t(x), running_mean, running_var, t(weight), t(bias), training=True, momentum=0.2,
                            eps=1e-3).numpy()
    y, new_mean, new_var = ops.batchnorm_train(x, weight, bias, mean, var, 1e-3, 0.2)
    assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert_allclose(new_mean, running_mean.numpy(), rtol=1e-13)
    assert_allclose(new_var, running_var.numpy(), rtol=1e-13)
    expected_eval = F.batch_norm(t(x), t(mean), t(var), t(weight), t(bias), training=False, eps=1e-3).numpy()
    assert_allclose(ops.batchnorm_eval(x, weight, bias, mean, var, 1e-3), expected_eval, rtol=1e-12, atol=1e-12)


def test_activations_and_flatten():
    x = RNG.normal(size=(2, 3, 4, 5)) * 4
    assert_allclose(ops.sigmoid(x), torch.sigmoid(t(x)).numpy(), rtol=1e-14)
    assert_allclose(ops.tanh(x), torch.tanh(t(x)).numpy(), rtol=1e-14)
    assert_allclose(ops.softmax(x), torch.softmax(t(x), dim=1).numpy(), rtol=1e-13)
    assert_allclose(ops.flatten(x), torch.flatten(t(x), 1).numpy(), rtol=0)
