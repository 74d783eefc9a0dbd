"""The BVLC GoogLeNet: Caffe's models/bvlc_googlenet/deploy.prototxt, transcribed layer by layer."""

from __future__ import annotations

import re

from torch import nn

from tests.references.caffe import CONCAT, CaffeNet, Layer, conv_relu

# name, in channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj (the paper's Table 1)
INCEPTIONS = [("3a", 192, 64, 96, 128, 16, 32, 32), ("3b", 256, 128, 128, 192, 32, 96, 64),
              ("4a", 480, 192, 96, 208, 16, 48, 64), ("4b", 512, 160, 112, 224, 24, 64, 64),
              ("4c", 512, 128, 128, 256, 24, 64, 64), ("4d", 512, 112, 144, 288, 32, 64, 64),
              ("4e", 528, 256, 160, 320, 32, 128, 128), ("5a", 832, 256, 160, 320, 32, 128, 128),
              ("5b", 832, 384, 192, 384, 48, 128, 128)]


def lrn(name: str, bottom: str) -> Layer:
    # Caffe's LRN: local_size 5, alpha 1e-4 divided by the size, beta 0.75, k 1: torch.nn.LocalResponseNorm's rule
    return Layer(name, nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0), (bottom,), name)


def maxpool(name: str, bottom: str, kernel: int, stride: int, pad: int = 0) -> Layer:
    return Layer(name, nn.MaxPool2d(kernel, stride, pad, ceil_mode=True), (bottom,), name)


def inception(name: str, bottom: str, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pp: int) -> list:
    p = f"inception_{name}/"
    return [
        *conv_relu(p + "1x1", p + "relu_1x1", bottom, cin, c1, 1),
        *conv_relu(p + "3x3_reduce", p + "relu_3x3_reduce", bottom, cin, c3r, 1),
        *conv_relu(p + "3x3", p + "relu_3x3", p + "3x3_reduce", c3r, c3, 3, pad=1),
        *conv_relu(p + "5x5_reduce", p + "relu_5x5_reduce", bottom, cin, c5r, 1),
        *conv_relu(p + "5x5", p + "relu_5x5", p + "5x5_reduce", c5r, c5, 5, pad=2),
        maxpool(p + "pool", bottom, 3, 1, pad=1),
        *conv_relu(p + "pool_proj", p + "relu_pool_proj", p + "pool", cin, pp, 1),
        Layer(p + "output", CONCAT, (p + "1x1", p + "3x3", p + "5x5", p + "pool_proj"), p + "output"),
    ]


def bvlc_googlenet() -> CaffeNet:
    layers = [
        *conv_relu("conv1/7x7_s2", "conv1/relu_7x7", "data", 3, 64, 7, stride=2, pad=3),
        maxpool("pool1/3x3_s2", "conv1/7x7_s2", 3, 2),
        lrn("pool1/norm1", "pool1/3x3_s2"),
        *conv_relu("conv2/3x3_reduce", "conv2/relu_3x3_reduce", "pool1/norm1", 64, 64, 1),
        *conv_relu("conv2/3x3", "conv2/relu_3x3", "conv2/3x3_reduce", 64, 192, 3, pad=1),
        lrn("conv2/norm2", "conv2/3x3"),
        maxpool("pool2/3x3_s2", "conv2/norm2", 3, 2),
    ]
    bottom = "pool2/3x3_s2"
    for name, *widths in INCEPTIONS:
        layers += inception(name, bottom, *widths)
        bottom = f"inception_{name}/output"
        if name in ("3b", "4e"):
            pool = {"3b": "pool3/3x3_s2", "4e": "pool4/3x3_s2"}[name]
            layers.append(maxpool(pool, bottom, 3, 2))
            bottom = pool
    layers += [
        Layer("pool5/7x7_s1", nn.AvgPool2d(7, 1), (bottom,), "pool5/7x7_s1"),
        Layer("pool5/drop_7x7_s1", nn.Dropout(0.4), ("pool5/7x7_s1",), "pool5/7x7_s1"),
        Layer("loss3/classifier", nn.Sequential(nn.Flatten(), nn.Linear(1024, 1000)), ("pool5/7x7_s1",),
              "loss3/classifier"),
        Layer("prob", nn.Softmax(dim=1), ("loss3/classifier",), "prob"),
    ]
    return CaffeNet(layers, "prob")


_STEM = {"conv1.conv": "conv1/7x7_s2", "conv2.conv": "conv2/3x3_reduce", "conv3.conv": "conv2/3x3"}
_BRANCHES = {"branch1.conv": "1x1", "branch2.0.conv": "3x3_reduce", "branch2.1.conv": "3x3",
             "branch3.0.conv": "5x5_reduce", "branch3.1.conv": "5x5", "branch4.conv": "pool_proj"}


def NAMES(name: str) -> str:
    layer, parameter = name.rsplit(".", 1)
    if layer == "fc":
        return f"layers.loss3/classifier.1.{parameter}"
    if layer in _STEM:
        return f"layers.{_STEM[layer]}.{parameter}"
    block, rest = re.fullmatch(r"inception(\w\w)\.(.+)", layer).groups()
    return f"layers.inception_{block}/{_BRANCHES[rest]}.{parameter}"
