"""A .caffemodel written with BVLC's caffe.proto (fixtures/caffemodel/, made by make_caffemodel.py) imports into
the canonical weights of the spec imported from its prototxt, and the spec with those weights computes what Caffe
computes: checked against a NumPy forward pass written here from Caffe's C++ layers (conv_layer, lrn_layer,
pooling_layer, batch_norm_layer, scale_layer, inner_product_layer, softmax_layer), reading the .caffemodel's blobs
directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alexnet_spec.errors import SpecError
from alexnet_spec.interop.caffe import convert, read_prototxt, resolve_import
from alexnet_spec.interop.caffemodel import blob_array, caffemodel_weights, read_caffemodel
from tests.interop.onnx_helpers import oracle_output

HERE = Path(__file__).parent / "fixtures" / "caffemodel"
PROTOTXT, CAFFEMODEL = HERE / "tiny_alexnet.prototxt", HERE / "tiny_alexnet.caffemodel"


# --- Caffe's forward pass, one function per layer (x: (N, C, H, W) float64) ---

def conv(x, weight, bias, stride, pad, group):
    """conv_layer.cpp: output (H + 2 pad - k)/stride + 1, floored; group g splits input and output channels."""
    n, c, h, w = x.shape
    o, _, k, _ = weight.shape
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out_h, out_w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    y = np.zeros((n, o, out_h, out_w))
    per_in, per_out = c // group, o // group
    for out in range(o):
        g = out // per_out
        for i in range(out_h):
            for j in range(out_w):
                patch = x[:, g * per_in:(g + 1) * per_in, i * stride:i * stride + k, j * stride:j * stride + k]
                y[:, out, i, j] = (patch * weight[out]).sum(axis=(1, 2, 3)) + bias[out]
    return y


def lrn(x, size, alpha, beta, k=1.0):
    """lrn_layer.cpp, ACROSS_CHANNELS: scale = k + alpha/size * sum of squares over size channels centred on c
    (zero beyond the edges); y = x * scale^-beta."""
    pre = (size - 1) // 2
    squares = np.pad(x * x, ((0, 0), (pre, size - pre - 1), (0, 0), (0, 0)))
    window = sum(squares[:, offset:offset + x.shape[1]] for offset in range(size))
    return x * (k + alpha / size * window) ** -beta


def pool(x, kernel, stride, pad, method):
    """pooling_layer.cpp: pooled = ceil((H + 2 pad - k)/stride) + 1, less one if the last window starts past H + pad;
    MAX over the clipped window; AVE divides by the window clipped to H + pad (before clipping to H)."""
    n, c, h, w = x.shape

    def pooled(size):
        result = -(-(size + 2 * pad - kernel) // stride) + 1
        return result - 1 if pad and (result - 1) * stride >= size + pad else result

    y = np.zeros((n, c, pooled(h), pooled(w)))
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            top, left = i * stride - pad, j * stride - pad
            bottom, right = min(top + kernel, h + pad), min(left + kernel, w + pad)
            count = (bottom - top) * (right - left)
            window = x[:, :, max(top, 0):min(bottom, h), max(left, 0):min(right, w)]
            y[:, :, i, j] = window.max(axis=(2, 3)) if method == "MAX" else window.sum(axis=(2, 3)) / count
    return y


def batch_norm(x, mean_sum, var_sum, factor, eps):
    """batch_norm_layer.cpp, use_global_stats: mean and variance are the running sums over the scale factor."""
    scale = 0.0 if factor == 0 else 1.0 / factor
    mean, var = mean_sum * scale, var_sum * scale
    return (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + eps)


def caffe_forward(x: np.ndarray) -> np.ndarray:
    blobs = {layer.name: [blob_array(blob).astype(np.float64) for blob in layer.blobs]
             for layer in read_caffemodel(CAFFEMODEL).layer}
    x = np.maximum(conv(x, *blobs["conv1"], stride=2, pad=1, group=1), 0)
    x = pool(lrn(x, 3, 0.5, 0.75), 3, 2, 0, "MAX")
    x = pool(np.maximum(conv(x, *blobs["conv2"], stride=1, pad=1, group=2), 0), 3, 2, 1, "AVE")
    mean, var, factor = blobs["bn2"]
    x = batch_norm(x, mean, var, factor[0], 0.001)
    gamma, beta = blobs["scale2"]
    x = x * gamma[None, :, None, None] + beta[None, :, None, None]
    weight, bias = blobs["fc6"]
    x = np.maximum(x.reshape(len(x), -1) @ weight.reshape(10, 300).T + bias.ravel(), 0)  # C, H, W; legacy 4-D blobs
    weight, bias = blobs["fc7"]
    x = x @ weight + bias  # transpose: true stores (inputs, outputs)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def imported():
    result = convert(read_prototxt(PROTOTXT), str(PROTOTXT))
    net = resolve_import(result)
    return result, net


def test_caffemodel_weights_compute_what_caffe_computes():
    result, net = imported()
    weights = caffemodel_weights(CAFFEMODEL, result.origins, net)
    assert net.layer("conv2").attrs.groups == 2 and weights["conv2.weight"].shape == (12, 4, 3, 3)
    assert sum(array.size for name, array in weights.items() if "running" not in name) == net.total_params
    x = np.random.default_rng(4).standard_normal((3, 3, 35, 35))
    expected = caffe_forward(x)
    np.testing.assert_allclose(oracle_output(net, weights, x), expected, rtol=1e-5, atol=1e-7)
    assert expected.shape == (3, 5) and not np.allclose(expected, expected[0])


def test_a_caffemodel_of_another_network_is_refused(tmp_path):
    result, net = imported()
    model = read_caffemodel(CAFFEMODEL)
    model.layer[1].blobs[0].shape.dim[0] = 4  # conv1 claims 4 filters
    del model.layer[1].blobs[0].data[4 * 75:]
    (tmp_path / "other.caffemodel").write_bytes(model.SerializeToString())
    with pytest.raises(SpecError) as caught:
        caffemodel_weights(tmp_path / "other.caffemodel", result.origins, net)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.message == "layer 'conv1': blob of shape [4, 3, 5, 5] for conv1.weight"
    assert diagnostic.expected == "shape [8, 3, 5, 5]"
    (tmp_path / "text.caffemodel").write_text(PROTOTXT.read_text())
    with pytest.raises(SpecError, match="cannot read a .caffemodel"):
        caffemodel_weights(tmp_path / "text.caffemodel", result.origins, net)


RESNET_PROTOTXT, RESNET_CAFFEMODEL = HERE / "tiny_resnet.prototxt", HERE / "tiny_resnet.caffemodel"


def caffe_resnet_forward(x: np.ndarray) -> np.ndarray:
    """tiny_resnet.prototxt as Caffe runs it: blobs by name, in-place layers overwriting theirs, Eltwise SUM
    (eltwise_layer.cpp: the coefficient-weighted sum), Split (a copy), Concat on the channels (concat_layer.cpp)."""
    blobs = {layer.name: [blob_array(blob).astype(np.float64) for blob in layer.blobs]
             for layer in read_caffemodel(RESNET_CAFFEMODEL).layer}
    conv1 = conv(x, blobs["conv1"][0], np.zeros(8), stride=1, pad=1, group=1)
    mean, var, factor = blobs["bn1"]
    gamma, beta = blobs["scale1"]
    conv1 = batch_norm(conv1, mean, var, factor[0], 0.001) * gamma[None, :, None, None] + beta[None, :, None, None]
    conv1 = np.maximum(conv1, 0)
    branch = np.maximum(conv(conv1, *blobs["res2a_branch2a"], stride=1, pad=1, group=1), 0)
    branch = conv(branch, *blobs["res2a_branch2b"], stride=1, pad=1, group=1)
    res2a = np.maximum(1.0 * conv1 + 1.0 * branch, 0)
    split_0, split_1 = res2a.copy(), res2a.copy()
    concat = np.concatenate([conv(split_0, *blobs["branch_1x1"], stride=1, pad=0, group=1),
                             pool(split_1, 3, 1, 1, "MAX")], axis=1)
    pooled = concat.mean(axis=(2, 3))  # global_pooling AVE: the kernel is the whole map
    weight, bias = blobs["fc"]
    logits = pooled @ weight.T + bias
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_a_graph_networks_caffemodel_computes_what_caffe_computes():
    result = convert(read_prototxt(RESNET_PROTOTXT), str(RESNET_PROTOTXT))
    net = resolve_import(result)
    assert [layer.type for layer in net.layers if len(layer.inputs) > 1] == ["add", "concat"]
    assert net.layer("branch_pool").inputs == ("res2a_relu",)  # the Split is no layer: its tops are its bottom
    weights = caffemodel_weights(RESNET_CAFFEMODEL, result.origins, net)
    assert sum(array.size for name, array in weights.items() if "running" not in name) == net.total_params
    x = np.random.default_rng(5).standard_normal((2, 3, 12, 12))
    expected = caffe_resnet_forward(x)
    np.testing.assert_allclose(oracle_output(net, weights, x), expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(expected, expected[0])


def test_prelu_slopes_compute_what_caffe_computes(tmp_path):
    """prelu_layer.cpp: max(x, 0) + a[c] * min(x, 0), one slope per channel, or one in all (channel_shared, a blob of
    shape ()); the filler's constant is the spec's initial slope, the .caffemodel's blobs the trained ones."""
    prototxt = tmp_path / "prelu.prototxt"
    prototxt.write_text(
        'name: "p" input: "data" input_shape { dim: 1 dim: 3 dim: 7 dim: 7 }\n'
        'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" '
        'convolution_param { num_output: 4 kernel_size: 3 } }\n'
        'layer { name: "act1" type: "PReLU" bottom: "conv1" top: "conv1" }\n'
        'layer { name: "act2" type: "PReLU" bottom: "conv1" top: "act2" '
        'prelu_param { channel_shared: true filler { type: "constant" value: 0.1 } } }\n')
    result = convert(read_prototxt(prototxt), str(prototxt))
    net = resolve_import(result)
    assert [(layer.attrs.num_parameters, layer.attrs.initial_slope) for layer in net.layers[1:]] == [(4, 0.25), (1, 0.1)]
    rng = np.random.default_rng(5)
    blobs = {"conv1": [rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)],
             "act1": [rng.uniform(0, 0.5, 4)], "act2": [np.asarray(0.3)]}
    model = type(read_caffemodel(CAFFEMODEL))()
    for name, arrays in blobs.items():
        layer = model.layer.add(name=name)
        for array in arrays:
            blob = layer.blobs.add()
            blob.shape.dim.extend(array.shape)
            blob.data.extend(array.ravel().tolist())
    (tmp_path / "prelu.caffemodel").write_bytes(model.SerializeToString())
    weights = caffemodel_weights(tmp_path / "prelu.caffemodel", result.origins, net)
    x = rng.standard_normal((2, 3, 7, 7))
    hidden = conv(x, *blobs["conv1"], 1, 0, 1)
    slopes = blobs["act1"][0].astype(np.float32)[None, :, None, None]
    hidden = np.maximum(hidden, 0) + slopes * np.minimum(hidden, 0)
    expected = np.maximum(hidden, 0) + np.float32(0.3) * np.minimum(hidden, 0)
    np.testing.assert_allclose(oracle_output(net, weights, x), expected, rtol=1e-5, atol=1e-6)
