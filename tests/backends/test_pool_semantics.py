"""Issue 17: pooling against references nobody here wrote, on the oracle and on every backend.

- TensorFlow's avg_pool with 'SAME' leaves the padding out of the divisor (tf.nn.avg_pool2d; TensorFlow is not
  installed, so its rule is written out: windows clipped to the input, divisor = input elements in the window).
- PyTorch's F.max_pool2d / F.avg_pool2d with ceil_mode=True and count_include_pad, run directly.
- Caffe's PoolingLayer (BVLC caffe, src/caffe/layers/pooling_layer.cpp, Reshape and Forward_cpu), transcribed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from alexnet_spec import backends
from alexnet_spec.backends.numpy import ops
from alexnet_spec.weights import init_weights
from tests.conftest import resolve_text

FLT_MAX = 3.4028234663852886e38
RNG = np.random.default_rng(17)


def tensorflow_same_avg_pool(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """tf.nn.avg_pool2d(padding='SAME') on NCHW: output ceil(H/stride); pad_total = max((out - 1)*stride + kernel -
    H, 0), pad_top = pad_total // 2; each window's mean over the input elements it covers."""
    _, _, height, width = x.shape
    outs, starts = [], []
    for size in (height, width):
        out = -(-size // stride)
        outs.append(out)
        starts.append(max((out - 1) * stride + kernel - size, 0) // 2)
    result = np.empty(x.shape[:2] + tuple(outs))
    for i in range(outs[0]):
        for j in range(outs[1]):
            r0, c0 = i * stride - starts[0], j * stride - starts[1]
            window = x[:, :, max(r0, 0):min(r0 + kernel, height), max(c0, 0):min(c0 + kernel, width)]
            result[:, :, i, j] = window.mean(axis=(2, 3))
    return result


def caffe_pool(x: np.ndarray, method: str, kernel: int, stride: int, pad: int) -> np.ndarray:
    """BVLC Caffe, pooling_layer.cpp: Reshape's pooled size, and Forward_cpu's MAX and AVE loops (float32's -FLT_MAX
    as MAX's start value; AVE's pool_size taken before clipping the window to the input)."""
    _, _, height, width = x.shape
    pooled = []
    for size in (height, width):
        p = int(math.ceil(float(size + 2 * pad - kernel) / stride)) + 1
        if pad and (p - 1) * stride >= size + pad:
            p -= 1
        pooled.append(p)
    top = np.zeros(x.shape[:2] + tuple(pooled))
    for ph in range(pooled[0]):
        for pw in range(pooled[1]):
            hstart, wstart = ph * stride - pad, pw * stride - pad
            if method == "MAX":
                hend, wend = min(hstart + kernel, height), min(wstart + kernel, width)
                hstart, wstart = max(hstart, 0), max(wstart, 0)
                value = np.full(x.shape[:2], -FLT_MAX)
                for h in range(hstart, hend):
                    for w in range(wstart, wend):
                        value = np.where(x[:, :, h, w] > value, x[:, :, h, w], value)
            else:
                hend, wend = min(hstart + kernel, height + pad), min(wstart + kernel, width + pad)
                pool_size = (hend - hstart) * (wend - wstart)
                hstart, wstart = max(hstart, 0), max(wstart, 0)
                hend, wend = min(hend, height), min(wend, width)
                value = np.zeros(x.shape[:2])
                for h in range(hstart, hend):
                    for w in range(wstart, wend):
                        value = value + x[:, :, h, w]
                value = value / pool_size
            top[:, :, ph, pw] = value
    return top


def network(size: int, layer: str):
    return resolve_text(f"""
        name: P
        input: {{channels: 2, height: {size}, width: {size}}}
        layers:
          - {layer}
    """)


def every_backend(net, x: np.ndarray) -> dict[str, np.ndarray]:
    """The layer's output from the oracle and from each backend that can evaluate, in float64."""
    weights = init_weights(net, np.random.default_rng(0))
    outputs = {"numpy": backends.get("numpy").evaluate(net, weights, x, dtype="float64")[-1][1]}
    for name in ("torch", "jax"):
        try:
            backend = backends.get(name)
        except Exception:  # framework not installed
            continue
        outputs[name] = np.asarray(backend.evaluate(net, weights, x, dtype="float64")[-1][1])
    return outputs


# ---------------------------------------------------------------- item 2: count_include_pad


def test_same_average_of_ones_is_one_everywhere_as_in_tensorflow():
    ones = np.ones((1, 2, 4, 4))
    net = network(4, "{type: avgpool, kernel: 3, stride: 1, padding: same}")
    for name, out in every_backend(net, ones).items():
        np.testing.assert_allclose(out, tensorflow_same_avg_pool(ones, 3, 1), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(out, 1.0, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("size, kernel, stride", [(5, 3, 1), (6, 3, 2), (7, 2, 2), (5, 4, 3), (6, 1, 2)])
def test_same_average_follows_tensorflow(size, kernel, stride):
    x = RNG.standard_normal((2, 2, size, size))
    net = network(size, f"{{type: avgpool, kernel: {kernel}, stride: {stride}, padding: same}}")
    for name, out in every_backend(net, x).items():
        np.testing.assert_allclose(out, tensorflow_same_avg_pool(x, kernel, stride), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("size, kernel, stride, pad, ceil_mode", [(5, 3, 2, 1, True), (6, 3, 2, 1, False),
                                                                  (7, 2, 2, 1, True), (4, 3, 1, 1, False)])
def test_count_include_pad_is_pytorchs(count_include_pad, size, kernel, stride, pad, ceil_mode):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 2, size, size))
    expected = torch.nn.functional.avg_pool2d(torch.from_numpy(x), kernel, stride, pad, ceil_mode=ceil_mode,
                                              count_include_pad=count_include_pad).numpy()
    net = network(size, f"{{type: avgpool, kernel: {kernel}, stride: {stride}, padding: {pad}, "
                        f"ceil_mode: {str(ceil_mode).lower()}, count_include_pad: {str(count_include_pad).lower()}, "
                        "allow_truncation: true}")
    for name, out in every_backend(net, x).items():
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12, err_msg=name)


def test_count_include_pad_false_with_asymmetric_padding():
    # Padding [top 0, bottom 1, left 1, right 0]: the divisor counts only input elements (PyTorch's
    # count_include_pad=False after cutting the window to the input, written out here).
    x = RNG.standard_normal((1, 2, 5, 5))
    net = network(5, "{type: avgpool, kernel: 2, stride: 2, padding: [0, 1, 1, 0], ceil_mode: true, "
                     "count_include_pad: false}")
    expected = np.empty((1, 2, 3, 3))
    for i in range(3):
        for j in range(3):
            rows, cols = slice(2 * i, min(2 * i + 2, 5)), slice(max(2 * j - 1, 0), min(2 * j + 1, 5))
            expected[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    for name, out in every_backend(net, x).items():
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12, err_msg=name)


# ---------------------------------------------------------------- item 7: ceil rules


@pytest.mark.parametrize("kind, torch_function", [("maxpool", "max_pool2d"), ("avgpool", "avg_pool2d")])
@pytest.mark.parametrize("size, kernel, stride, pad", [(5, 2, 2, 1), (6, 2, 3, 0), (7, 3, 2, 1), (6, 1, 4, 0)])
def test_torch_ceil_rule_is_pytorchs(kind, torch_function, size, kernel, stride, pad):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 2, size, size))
    expected = getattr(torch.nn.functional, torch_function)(torch.from_numpy(x), kernel, stride, pad,
                                                            ceil_mode=True).numpy()
    net = network(size, f"{{type: {kind}, kernel: {kernel}, stride: {stride}, padding: {pad}, ceil_mode: true}}")
    assert net.layers[0].output_shape[1:] == expected.shape[2:]
    for name, out in every_backend(net, x).items():
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("method, kind", [("MAX", "maxpool"), ("AVE", "avgpool")])
@pytest.mark.parametrize("size, kernel, stride, pad", [(6, 2, 3, 0), (7, 1, 4, 0), (6, 2, 3, 1), (5, 3, 2, 1),
                                                       (9, 3, 2, 0), (8, 1, 3, 0)])
def test_caffe_ceil_rule_is_caffes(method, kind, size, kernel, stride, pad):
    if method == "AVE" and pad == 0 and (int(math.ceil((size - kernel) / stride))) * stride == size:
        pytest.skip("Caffe divides 0 by 0 there: refused (test_shapes)")
    x = RNG.standard_normal((2, 2, size, size))
    expected = caffe_pool(x, method, kernel, stride, pad)
    net = network(size, f"{{type: {kind}, kernel: {kernel}, stride: {stride}, padding: {pad}, ceil_mode: true, "
                        "ceil_rule: caffe}")
    assert net.layers[0].output_shape[1:] == expected.shape[2:]
    for name, out in every_backend(net, x).items():
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12, err_msg=name)


def test_caffe_keeps_the_empty_window_pytorch_drops():
    # The case: 6x6, kernel 2, stride 3: Caffe 3x3, PyTorch's ceil_mode 2x2.
    caffe = network(6, "{type: maxpool, kernel: 2, stride: 3, ceil_mode: true, ceil_rule: caffe}")
    torch_rule = network(6, "{type: maxpool, kernel: 2, stride: 3, ceil_mode: true}")
    assert caffe.layers[0].output_shape == (2, 3, 3) and torch_rule.layers[0].output_shape == (2, 2, 2)
    out = every_backend(caffe, RNG.standard_normal((1, 2, 6, 6)))
    for name, values in out.items():
        assert (values[:, :, 2, :] == -FLT_MAX).all() and (values[:, :, :, 2] == -FLT_MAX).all(), name


# ---------------------------------------------------------------- item 8: same with kernel < stride


@pytest.mark.parametrize("layer", ["{type: maxpool, kernel: 1, stride: 2, padding: same}",
                                   "{type: conv, out_channels: 2, kernel: 1, stride: 2, padding: same, bias: false}"])
def test_same_with_kernel_smaller_than_stride_samples_every_other_element(layer):
    # TensorFlow: output ceil(6/2) = 3, no padding; a 1x1 window at rows/columns 0, 2, 4.
    x = RNG.standard_normal((1, 2, 6, 6))
    net = network(6, layer)
    assert net.layers[0].output_shape[1:] == (3, 3)
    outputs = every_backend(net, x)
    reference = outputs.pop("numpy")
    if "maxpool" in layer:
        np.testing.assert_array_equal(reference, x[:, :, ::2, ::2])
    for name, out in outputs.items():
        np.testing.assert_allclose(out, reference, rtol=1e-10, atol=1e-12, err_msg=name)


def test_oracle_output_sizes_follow_caffe():
    assert ops.pool_output_size(6, 0, 0, 2, 3, ceil_mode=True, keep_last=True) == 3
    assert ops.pool_output_size(6, 0, 0, 2, 3, ceil_mode=True) == 2
