"""Caffe deploy prototxts for the tests, written here from Caffe's documented text format (caffe.proto's
LayerParameter and its *_param messages; the layer catalogue at caffe.berkeleyvision.org/tutorial/layers.html).

ALEXNET is the paper's two-tower AlexNet as BVLC's models/bvlc_alexnet/deploy.prototxt lays it out (grouped conv2,
conv4, conv5; LRN before pooling), in the modern header (an Input layer). LENET is Caffe's examples/mnist LeNet in
the legacy header (top-level input and four input_dim) at 30×30, where Caffe's round-up changes the size of pool2.
"""

from __future__ import annotations

import numpy as np

from alexnet_spec.interop.caffe import caffe_pool_size


def conv(name, bottom, num, kernel, stride=1, pad=0, group=1, bias_value=None, filler='type: "gaussian" std: 0.01'):
    bias = f' bias_filler {{ type: "constant" value: {bias_value} }}' if bias_value is not None else ""
    return (f'layer {{\n  name: "{name}"\n  type: "Convolution"\n  bottom: "{bottom}"\n  top: "{name}"\n'
            f"  convolution_param {{\n    num_output: {num}\n    kernel_size: {kernel}\n    stride: {stride}\n"
            f"    pad: {pad}\n    group: {group}\n    weight_filler {{ {filler} }}{bias}\n  }}\n}}\n")


def relu(name, blob):
    return f'layer {{ name: "{name}" type: "ReLU" bottom: "{blob}" top: "{blob}" }}\n'


def pool(name, bottom, kernel=3, stride=2, method="MAX", pad=0):
    padding = f" pad: {pad}" if pad else ""
    return (f'layer {{\n  name: "{name}"\n  type: "Pooling"\n  bottom: "{bottom}"\n  top: "{name}"\n'
            f"  pooling_param {{ pool: {method} kernel_size: {kernel} stride: {stride}{padding} }}\n}}\n")


def lrn(name, bottom):
    return (f'layer {{\n  name: "{name}"\n  type: "LRN"\n  bottom: "{bottom}"\n  top: "{name}"\n'
            "  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }\n}\n")


def fc(name, bottom, num, bias_value=None):
    bias = f' bias_filler {{ type: "constant" value: {bias_value} }}' if bias_value is not None else ""
    return (f'layer {{\n  name: "{name}"\n  type: "InnerProduct"\n  bottom: "{bottom}"\n  top: "{name}"\n'
            f'  inner_product_param {{ num_output: {num} weight_filler {{ type: "gaussian" std: 0.005 }}{bias} }}\n'
            "}\n")


def dropout(name, blob):
    return (f'layer {{ name: "{name}" type: "Dropout" bottom: "{blob}" top: "{blob}" '
            "dropout_param { dropout_ratio: 0.5 } }\n")


ALEXNET_HEADER = ('name: "AlexNet"\n'
                  'layer {\n  name: "data"\n  type: "Input"\n  top: "data"\n'
                  "  input_param { shape: { dim: 10 dim: 3 dim: 227 dim: 227 } }\n}\n")

ALEXNET = (ALEXNET_HEADER
           + conv("conv1", "data", 96, 11, stride=4, bias_value=0) + relu("relu1", "conv1") + lrn("norm1", "conv1")
           + pool("pool1", "norm1") + conv("conv2", "pool1", 256, 5, pad=2, group=2, bias_value=1)
           + relu("relu2", "conv2") + lrn("norm2", "conv2") + pool("pool2", "norm2")
           + conv("conv3", "pool2", 384, 3, pad=1, bias_value=0) + relu("relu3", "conv3")
           + conv("conv4", "conv3", 384, 3, pad=1, group=2, bias_value=1) + relu("relu4", "conv4")
           + conv("conv5", "conv4", 256, 3, pad=1, group=2, bias_value=1) + relu("relu5", "conv5")
           + pool("pool5", "conv5")
           + fc("fc6", "pool5", 4096, bias_value=1) + relu("relu6", "fc6") + dropout("drop6", "fc6")
           + fc("fc7", "fc6", 4096, bias_value=1) + relu("relu7", "fc7") + dropout("drop7", "fc7")
           + fc("fc8", "fc7", 1000, bias_value=0)
           + 'layer { name: "prob" type: "Softmax" bottom: "fc8" top: "prob" }\n')

# Caffe's examples/mnist/lenet.prototxt layers, in the legacy header, at 30×30 instead of 28×28.
LENET_SIZE = 30
LENET = (f'name: "LeNet"\ninput: "data"\ninput_dim: 64\ninput_dim: 1\ninput_dim: {LENET_SIZE}\n'
         f"input_dim: {LENET_SIZE}\n"
         + conv("conv1", "data", 20, 5, filler='type: "xavier"') + pool("pool1", "conv1", 2, 2)
         + conv("conv2", "pool1", 50, 5, filler='type: "xavier"') + pool("pool2", "conv2", 2, 2)
         + fc("ip1", "pool2", 500) + relu("relu1", "ip1") + fc("ip2", "ip1", 10)
         + 'layer { name: "prob" type: "Softmax" bottom: "ip2" top: "prob" }\n')


def line_of(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """The 1-based (line, column) of the `occurrence`-th `needle` in `text`."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


# --- Caffe's forward pass of its layers, written out from Caffe's sources, for one image (C, H, W) at a time ---

def caffe_conv(x, weight, bias, stride, pad):
    """conv_layer.cpp (im2col + gemm), as a direct sum; one image (C, H, W)."""
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    out_c, _, kernel, _ = weight.shape
    size = [(padded.shape[axis] - kernel) // stride + 1 for axis in (1, 2)]
    out = np.zeros((out_c, *size))
    for i in range(size[0]):
        for j in range(size[1]):
            window = padded[:, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
            out[:, i, j] = np.tensordot(weight, window, axes=3) + bias
    return out


def caffe_pooling(x, method, kernel, stride, pad):
    """pooling_layer.cpp, Reshape and Forward_cpu, line by line."""
    channels, height, width = x.shape
    pooled = [caffe_pool_size(size, pad, kernel, stride, True, pad > 0) for size in (height, width)]
    # Forward_cpu: caffe_set(top_count, Dtype(-FLT_MAX), top_data): float32's lowest, whatever Dtype is
    top = np.full((channels, *pooled), float(np.finfo(np.float32).min) if method == "MAX" else 0.0)
    for ph in range(pooled[0]):
        for pw in range(pooled[1]):
            hstart, wstart = ph * stride - pad, pw * stride - pad
            if method == "MAX":
                hend, wend = min(hstart + kernel, height), min(wstart + kernel, width)
                hstart, wstart = max(hstart, 0), max(wstart, 0)
                # `if (bottom > top) top = bottom`: an empty window keeps -FLT_MAX
                top[:, ph, pw] = np.maximum(top[:, ph, pw], x[:, hstart:hend, wstart:wend].max(axis=(1, 2),
                                                                                              initial=-np.inf))
            else:
                hend, wend = min(hstart + kernel, height + pad), min(wstart + kernel, width + pad)
                pool_size = (hend - hstart) * (wend - wstart)
                hstart, wstart, hend, wend = max(hstart, 0), max(wstart, 0), min(hend, height), min(wend, width)
                top[:, ph, pw] = x[:, hstart:hend, wstart:wend].sum(axis=(1, 2)) / pool_size
    return top


def caffe_lrn(x, size, alpha, beta, k):
    """lrn_layer.cpp, CrossChannelForward_cpu: scale = k + alpha/size * (sum of squares over the padded window)."""
    pre_pad = (size - 1) // 2
    squares = np.pad(x ** 2, ((pre_pad, pre_pad), (0, 0), (0, 0)))
    scale = k + alpha / size * np.stack([squares[c:c + size].sum(axis=0) for c in range(x.shape[0])])
    return x * scale ** -beta


CAFFE_NET = ('input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 9\ninput_dim: 9\n'
             + conv("conv1", "data", 6, 3, stride=2, pad=1) + relu("relu1", "conv1")
             + pool("pool1", "conv1", kernel=2, stride=2, method="AVE", pad=1)
             + 'layer { name: "norm1" type: "LRN" bottom: "pool1" top: "norm1" lrn_param { local_size: 3 alpha: 2 } }\n'
             + pool("pool2", "norm1", kernel=2, stride=2)
             + fc("fc1", "pool2", 5)
             + 'layer { name: "prob" type: "Softmax" bottom: "fc1" top: "prob" }\n')


def caffe_net_weights(seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"conv1.weight": rng.standard_normal((6, 3, 3, 3)), "conv1.bias": rng.standard_normal(6),
            "fc1.weight": rng.standard_normal((5, 24)), "fc1.bias": rng.standard_normal(5)}


def caffe_net_forward(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """CAFFE_NET as Caffe computes it, image by image."""
    outputs = []
    for image in x:
        hidden = np.maximum(caffe_conv(image, weights["conv1.weight"], weights["conv1.bias"], 2, 1), 0)
        hidden = caffe_pooling(hidden, "AVE", 2, 2, 1)
        hidden = caffe_lrn(hidden, 3, 2.0, 0.75, 1.0)  # Caffe's default beta and k
        hidden = caffe_pooling(hidden, "MAX", 2, 2, 0)
        logits = weights["fc1.weight"] @ hidden.reshape(-1) + weights["fc1.bias"]  # Caffe's blobs are C, H, W
        outputs.append(np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum())
    return np.stack(outputs)
