"""How much faster a model can get at most by changing what happens between its convolutions and matmuls: the
time of those layers alone, each run on its own input as the model feeds it (captured by forward hooks), so that a
ratio's ceiling is (the whole model) / (those layers). When two modules call the same oneDNN and MKL kernels with
the same shapes, nothing written around them can beat the ceiling."""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.harness import interleaved

HEAVY = (nn.Conv2d, nn.Linear)


def heavy_layers(model: nn.Module, x: torch.Tensor, repetitions: int = 7, train: bool = False) -> dict[str, float]:
    """Median seconds of each convolution and linear layer of `model` alone on the input `model(x)` gives it:
    forward under no_grad, or with `train` forward and backward (the gradients of the weights, and of the input
    where the layer is not the first)."""
    captured: dict[str, tuple[nn.Module, torch.Tensor, torch.Size]] = {}

    def capture(name):
        def hook(module, args, out):  # returns None: the model's output stays its own
            captured[name] = module, args[0].detach().clone(), out.shape
        return hook

    hooks = [module.register_forward_hook(capture(name)) for name, module in model.named_modules()
             if isinstance(module, HEAVY)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    calls = {}
    for position, (name, (module, value, shape)) in enumerate(captured.items()):
        calls[name] = _trained(module, value, shape, first=position == 0) if train else _inferred(module, value)
    return {name: timing.median for name, timing in interleaved(calls, repetitions=repetitions).items()}


def _inferred(module, value):
    def call():
        with torch.no_grad():
            module(value)
    return call


def _trained(module, value, shape, first: bool):
    value = value if first else value.requires_grad_(True)
    grad = torch.randn(shape).to(memory_format=torch.channels_last) if len(shape) == 4 else torch.randn(shape)

    def call():
        module(value).backward(grad)
        module.zero_grad(set_to_none=True)
        value.grad = None
    return call
