"""benchmarks/ceiling.py: the convolutions and matmuls of a model timed alone, on the inputs the model gives them."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the ceiling times torch modules")


def test_heavy_layers_times_each_convolution_and_linear_on_its_own_input():
    from torch import nn

    from benchmarks.ceiling import heavy_layers

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    x = torch.randn(2, 3, 8, 8)
    expected = model(x).detach()
    for train in (False, True):
        seen = []
        hook = model[3].register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
        parts = heavy_layers(model, x, repetitions=1, train=train)
        hook.remove()
        assert list(parts) == ["0", "3"] and all(seconds > 0 for seconds in parts.values())
        assert seen and all(shape == (2, 144) for shape in seen)  # the linear ran on the flattened activations
        assert not model[0]._forward_hooks and not model[3]._forward_hooks  # the capture hooks are gone
        torch.testing.assert_close(model(x), expected)  # the model's output is its own, unchanged
        assert all(p.grad is None for p in model.parameters())
