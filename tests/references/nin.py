"""Network in Network, ImageNet model: the Caffe Model Zoo prototxt (gist mavenlin/d802a5849de39225bcc6),
transcribed layer by layer (the deploy part: no data, loss or accuracy layers)."""

from __future__ import annotations

from torch import nn

from tests.references.caffe import CaffeNet, Layer, conv_relu


def nin() -> CaffeNet:
    layers = [
        *conv_relu("conv1", "relu0", "data", 3, 96, 11, stride=4),
        *conv_relu("cccp1", "relu1", "conv1", 96, 96, 1),
        *conv_relu("cccp2", "relu2", "cccp1", 96, 96, 1),
        Layer("pool0", nn.MaxPool2d(3, 2, ceil_mode=True), ("cccp2",), "pool0"),
        *conv_relu("conv2", "relu3", "pool0", 96, 256, 5, pad=2),
        *conv_relu("cccp3", "relu5", "conv2", 256, 256, 1),
        *conv_relu("cccp4", "relu6", "cccp3", 256, 256, 1),
        Layer("pool2", nn.MaxPool2d(3, 2, ceil_mode=True), ("cccp4",), "pool2"),
        *conv_relu("conv3", "relu7", "pool2", 256, 384, 3, pad=1),
        *conv_relu("cccp5", "relu8", "conv3", 384, 384, 1),
        *conv_relu("cccp6", "relu9", "cccp5", 384, 384, 1),
        Layer("pool3", nn.MaxPool2d(3, 2, ceil_mode=True), ("cccp6",), "pool3"),
        Layer("drop", nn.Dropout(0.5), ("pool3",), "pool3"),
        *conv_relu("conv4-1024", "relu10", "pool3", 384, 1024, 3, pad=1),
        *conv_relu("cccp7-1024", "relu11", "conv4-1024", 1024, 1024, 1),
        *conv_relu("cccp8-1024", "relu12", "cccp7-1024", 1024, 1000, 1),
        Layer("pool4", nn.AvgPool2d(6, 1), ("cccp8-1024",), "pool4"),
        Layer("flatten", nn.Flatten(), ("pool4",), "scores"),  # the loss layer reads pool4 as 1000 scores
    ]
    return CaffeNet(layers, "scores")


_LAYERS = {"mlpconv1.conv": "conv1", "mlpconv1.cccp1": "cccp1", "mlpconv1.cccp2": "cccp2",
           "mlpconv2.conv": "conv2", "mlpconv2.cccp1": "cccp3", "mlpconv2.cccp2": "cccp4",
           "mlpconv3.conv": "conv3", "mlpconv3.cccp1": "cccp5", "mlpconv3.cccp2": "cccp6",
           "mlpconv4.conv": "conv4-1024", "mlpconv4.cccp1": "cccp7-1024", "mlpconv4.cccp2": "cccp8-1024"}


def NAMES(name: str) -> str:
    layer, parameter = name.rsplit(".", 1)
    return f"layers.{_LAYERS[layer]}.{parameter}"
