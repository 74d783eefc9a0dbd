"""A network as a Caffe prototxt writes it: layers in order, each reading named blobs (bottoms) and writing one
(top); ReLU writes its bottom in place. Module names are the prototxt's layer names, so state-dict names are
`layers.<prototxt name>.weight`.

Pooling is nn.MaxPool2d(ceil_mode=True) / nn.AvgPool2d: Caffe's rounding up, which differs from PyTorch's only when
a last window would start past an unpadded input; with every kernel at least its stride, as in the prototxts
transcribed here, that never happens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

CONCAT = "Concat"


@dataclass
class Layer:
    name: str
    module: nn.Module | str  # CONCAT for a Concat layer (along channels)
    bottoms: tuple[str, ...]
    top: str


def conv_relu(name: str, relu: str, bottom: str, in_channels: int, out_channels: int, kernel: int, stride: int = 1,
              pad: int = 0) -> list[Layer]:
    """A Convolution (with bias, as Caffe's default) and its in-place ReLU."""
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=pad)
    return [Layer(name, conv, (bottom,), name), Layer(relu, nn.ReLU(), (name,), name)]


class CaffeNet(nn.Module):
    def __init__(self, layers: list[Layer], output: str):
        super().__init__()
        self.plan = [(layer.name, layer.bottoms, layer.top) for layer in layers]
        self.layers = nn.ModuleDict({layer.name: layer.module for layer in layers if layer.module != CONCAT})
        self.output = output

    def forward(self, data: Tensor) -> Tensor:
        blobs = {"data": data}
        for name, bottoms, top in self.plan:
            inputs = [blobs[bottom] for bottom in bottoms]
            blobs[top] = torch.cat(inputs, 1) if name not in self.layers else self.layers[name](*inputs)
        return blobs[self.output]
