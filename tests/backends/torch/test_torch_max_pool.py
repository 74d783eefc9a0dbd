"""The generated MaxPool2d (helpers/max_pool.jinja): torch.nn.MaxPool2d's values and gradients in float64 over odd
shapes, strides, padding, dilation and ceil_mode, in both memory formats, with only its input saved for the
backward pass. Speed and memory are measured in benchmarks/, never here."""

from __future__ import annotations

import pytest
import torch

from alexnet_spec.backends.torch import generated_module
from tests.conftest import resolve_text

WINDOWS = [  # (kernel_size, stride, padding, dilation, ceil_mode)
    (3, 2, 0, 1, False),  # AlexNet's overlapping pooling
    (3, 2, 0, 1, True),  # Caffe's rounding up
    (2, 2, 0, 1, False),
    ((3, 2), (2, 1), (1, 0), 1, True),
    (3, 1, 1, 2, False),
    ((2, 3), 3, (1, 1), (2, 1), True),
]


@pytest.fixture(scope="module")
def generated():
    """The module generated for a one-layer max pooling spec: MaxPool2d and its helpers, as users get them."""
    return generated_module(resolve_text("""
        name: OnlyPool
        input: {channels: 3, height: 9, width: 7}
        layers:
          - {type: maxpool, name: pool, kernel: 3, stride: 2}
    """))


def image(shape=(2, 3, 9, 7), channels_last=False, seed=0, ties=True):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if ties:
        x[0, 0, :2, :2] = 5.0  # torch's rule (the first maximum in the window gets the gradient) must be kept
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("channels_last", [False, True])
def test_values_and_gradients_equal_nn_max_pool(generated, window, channels_last):
    kernel_size, stride, padding, dilation, ceil_mode = window
    ours, reference = (pool(kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)
                       for pool in (generated.MaxPool2d, torch.nn.MaxPool2d))
    x = image(channels_last=channels_last)
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    outputs = [ours(xs[0]), reference(xs[1])]
    assert outputs[0].grad_fn is not None and type(outputs[0].grad_fn).__name__ != type(outputs[1].grad_fn).__name__
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    grad_y = torch.randn_like(outputs[1])
    for output in outputs:
        output.backward(grad_y)
    torch.testing.assert_close(xs[0].grad, xs[1].grad, rtol=0, atol=0)
    assert xs[0].grad.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.parametrize("window", WINDOWS[:2])
def test_gradcheck_and_gradgradcheck(generated, window):
    x = image((1, 2, 7, 6), seed=1, ties=False).requires_grad_(True)  # finite differences are wrong at ties
    assert torch.autograd.gradcheck(lambda t: generated._MaxPool2d.apply(t, *window), (x,))
    assert torch.autograd.gradgradcheck(lambda t: generated._MaxPool2d.apply(t, *window), (x,))


def test_only_the_input_is_saved(generated):
    x = image().requires_grad_(True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        generated.MaxPool2d(3, 2)(x)
    assert len(saved) == 1 and saved[0] is x and not any(t.dtype == torch.int64 for t in saved)


def test_without_gradients_it_is_nn_max_pool(generated):
    x = image()
    torch.testing.assert_close(generated.MaxPool2d(3, 2, ceil_mode=True)(x), torch.nn.MaxPool2d(3, 2, ceil_mode=True)(x),
                               rtol=0, atol=0)
