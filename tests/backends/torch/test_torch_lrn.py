"""The generated LocalResponseNorm: the TensorFlow worked example, torch.nn.LocalResponseNorm, channel groups,
exact gradients, blocks, memory formats. The speed is measured in benchmarks/torch_lrn.py, never here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from alexnet_spec.backends.numpy.ops import lrn as numpy_lrn
from alexnet_spec.backends.torch import generated_module
from tests.conftest import resolve_text


@pytest.fixture(scope="module")
def generated():
    """The module generated for a one-layer spec: LocalResponseNorm and its helpers, as users get them."""
    return generated_module(resolve_text("""
        name: OnlyLRN
        input: {channels: 8, height: 2, width: 2}
        layers:
          - {type: lrn, name: norm, size: 5, alpha: 1.0, beta: 1.0, k: 0.0, convention: tf}
    """))


@pytest.fixture
def small_blocks(generated, monkeypatch):
    """Blocks of one or two items, so that several blocks and a partial last one are exercised."""
    monkeypatch.setattr(generated._ChannelBlocks, "BLOCK_BYTES", 2 * 8 * 4 * 5 * 4)


def plain_lrn(x, size, scale, beta, k, groups=1):
    """The formula channel by channel, autograd-able: the reference for values and gradients."""
    per_group, radius = x.shape[1] // groups, size // 2
    outputs = []
    for c in range(x.shape[1]):
        start = c // per_group * per_group
        first, last = max(start, c - radius), min(start + per_group - 1, c + radius)
        outputs.append(x[:, c] / (k + scale * (x[:, first:last + 1] ** 2).sum(1)) ** beta)
    return torch.stack(outputs, 1)


def test_tensorflow_worked_example(generated):
    """Source document 000: tf.nn.lrn(a, 2, 0, 1, 1) on a 1×2×2×8 NHWC tensor (depth_radius 2: n = 5)."""
    a = torch.tensor([[[[1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1]],
                       [[4, 3, 2, 1, 8, 7, 6, 5], [1, 2, 3, 4, 5, 6, 7, 8]]]], dtype=torch.float32)
    printed = torch.tensor([[[[0.07142857, 0.06666667, 0.05454545, 0.04444445, 0.03703704, 0.03157895, 0.04022989,
                               0.05369128],
                              [0.05369128, 0.04022989, 0.03157895, 0.03703704, 0.04444445, 0.05454545, 0.06666667,
                               0.07142857]],
                             [[0.13793103, 0.10000001, 0.0212766, 0.00787402, 0.05194805, 0.04, 0.03448276, 0.04545454],
                              [0.07142857, 0.06666667, 0.05454545, 0.04444445, 0.03703704, 0.03157895, 0.04022989,
                               0.05369128]]]])
    norm = generated.LocalResponseNorm(5, scale=1.0, beta=1.0, k=0.0)
    output = norm(a.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # channels are TensorFlow's last axis
    torch.testing.assert_close(output, printed, atol=1e-7, rtol=0)
    # The document's hand derivation of the first value: 1 / (1² + 2² + 3²) = 1/14.
    assert output[0, 0, 0, 0].item() == pytest.approx(1 / 14, abs=1e-8)
    assert output[0, 1, 0, 2].item() == pytest.approx(2 / (16 + 9 + 4 + 1 + 64), abs=1e-8)  # 0.0212766


@pytest.mark.parametrize("shape", [(2, 1, 3), (2, 2, 3, 4), (3, 3, 4, 5), (2, 5, 2, 3), (2, 6, 3, 3), (1, 9, 2, 2, 2),
                                   (4, 96, 3, 3)])
@pytest.mark.parametrize("size", [1, 3, 5])
@pytest.mark.parametrize("channels_last", [False, True])
def test_matches_torch_local_response_norm(generated, shape, size, channels_last):
    """Caffe's convention (scale = alpha / n), including windows that run past the first and last channels."""
    torch.manual_seed(sum(shape) + size)
    x = torch.randn(shape, dtype=torch.float64) * 3
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    alpha, beta, k = 1.7, 0.75, 1.3
    expected = torch.nn.LocalResponseNorm(size, alpha=alpha, beta=beta, k=k)(x)
    actual = generated.LocalResponseNorm(size, scale=alpha / size, beta=beta, k=k)(x)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=0)
    actual32 = generated.LocalResponseNorm(size, scale=alpha / size, beta=beta, k=k)(x.float())
    torch.testing.assert_close(actual32, expected.float(), rtol=1e-6, atol=0)
    assert actual.is_contiguous(memory_format=torch.channels_last) == (channels_last and x.dim() == 4)


@pytest.mark.parametrize("beta", [0.75, 0.5, 1.0, 0.6])
@pytest.mark.parametrize("groups", [1, 2, 3])
def test_values_equal_the_formula(generated, small_blocks, beta, groups):
    torch.manual_seed(groups)
    x = torch.randn(5, 12, 3, 4, dtype=torch.float64) * 2
    expected = plain_lrn(x, 5, 0.4, beta, 1.5, groups)
    torch.testing.assert_close(generated.LocalResponseNorm(5, 0.4, beta, 1.5, groups)(x), expected, rtol=1e-13, atol=0)
    torch.testing.assert_close(generated.local_response_norm(x, 5, 0.4, beta, 1.5, groups), expected, rtol=1e-13,
                               atol=0)


@pytest.mark.parametrize("channels_last", [False, True])
def test_groups_normalise_each_group_separately(generated, channels_last):
    torch.manual_seed(1)
    x = torch.randn(4, 15, 6, 7)  # 3 groups of 5 channels: the window (n = 5) would cross every boundary
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    grouped = generated.LocalResponseNorm(5, 0.9, 0.75, 1.0, groups=3)(x)
    one = generated.LocalResponseNorm(5, 0.9, 0.75, 1.0)
    separately = torch.cat([one(part.contiguous()) for part in x.chunk(3, dim=1)], dim=1)
    torch.testing.assert_close(grouped, separately, rtol=1e-6, atol=0)
    assert not torch.allclose(grouped, one(x))


@pytest.mark.parametrize("beta", [0.75, 0.6])
@pytest.mark.parametrize("groups, channels_last", [(1, False), (2, False), (2, True)])
def test_gradients_are_exact(generated, small_blocks, beta, groups, channels_last):
    torch.manual_seed(2)
    x = torch.randn(3, 8, 4, 5, dtype=torch.float64) * 2
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    norm = generated.LocalResponseNorm(5, 0.3, beta, 1.2, groups)
    assert torch.autograd.gradcheck(norm, (x,))
    grad_y = torch.randn(3, 8, 4, 5, dtype=torch.float64)
    (actual,) = torch.autograd.grad(norm(x), x, grad_y)
    (expected,) = torch.autograd.grad(plain_lrn(x, 5, 0.3, beta, 1.2, groups), x, grad_y)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-15)


def test_gradient_in_float32_matches_float64(generated):
    torch.manual_seed(3)
    x = torch.randn(4, 96, 11, 11, dtype=torch.float64, requires_grad=True)
    grad_y = torch.randn_like(x)
    norm = generated.LocalResponseNorm(5, 1e-4, 0.75, 2.0, groups=2)
    (expected,) = torch.autograd.grad(norm(x), x, grad_y)
    x32 = x.detach().float().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    (actual,) = torch.autograd.grad(norm(x32), x32, grad_y.float())
    torch.testing.assert_close(actual.double(), expected, rtol=1e-5, atol=1e-6)


def test_inplace_only_without_gradients(generated):
    norm = generated.LocalResponseNorm(3, 0.5, 0.75, 1.0, inplace=True)
    x = torch.randn(2, 4, 3, 3)
    original = x.clone()
    with torch.no_grad():
        y = norm(x)
    assert y.data_ptr() == x.data_ptr()
    torch.testing.assert_close(y, generated.LocalResponseNorm(3, 0.5, 0.75, 1.0)(original))
    leaf = original.clone().requires_grad_(True)
    y = norm(leaf)
    assert y.data_ptr() != leaf.data_ptr() and torch.equal(leaf.detach(), original)


@given(batch=st.integers(1, 3), groups=st.integers(1, 3), per_group=st.integers(1, 6),
       size=st.sampled_from([1, 3, 5, 7]), height=st.integers(1, 4), width=st.integers(1, 3),
       beta=st.sampled_from([0.75, 0.5, 1.0, 0.3]), channels_last=st.booleans())
def test_agrees_with_the_numpy_oracle(generated, batch, groups, per_group, size, height, width, beta, channels_last):
    rng = np.random.default_rng(batch * 100 + per_group * 10 + size)
    x = rng.normal(size=(batch, groups * per_group, height, width)) * 2
    tensor = torch.from_numpy(x)
    if channels_last:
        tensor = tensor.contiguous(memory_format=torch.channels_last)
    actual = generated.LocalResponseNorm(size, 0.7, beta, 1.1, groups)(tensor).numpy()
    np.testing.assert_allclose(actual, numpy_lrn(x, size, 0.7, beta, 1.1, groups), rtol=1e-12)


def test_empty_batch(generated):
    x = torch.zeros(0, 8, 2, 2)
    assert generated.LocalResponseNorm(3, 1.0, 0.75, 1.0)(x).shape == (0, 8, 2, 2)


@pytest.mark.parametrize("size", [1, 3, 5, 7])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("rows_a_block", [2, 4])
def test_blocks_that_split_the_tensor_unevenly(generated, monkeypatch, size, groups, channels_last, rows_a_block):
    """Blocks of whole rows (a group's channels at one item, contiguous; at one pixel, channels_last), a few rows
    each: the last block is shorter than the others in most of these cases, and windows meet both group edges."""
    torch.manual_seed(size * 10 + groups)
    x = torch.randn(3, 14, 5, 3, dtype=torch.float64) * 2
    row_bytes = 14 // groups * (1 if channels_last else 15) * x.element_size()
    monkeypatch.setattr(generated._ChannelBlocks, "BLOCK_BYTES", rows_a_block * row_bytes + row_bytes // 2)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    grad_y = torch.randn(3, 14, 5, 3, dtype=torch.float64)
    norm = generated.LocalResponseNorm(size, 0.3, 0.75, 1.2, groups)
    actual = norm(x)
    expected = plain_lrn(x, size, 0.3, 0.75, 1.2, groups)
    torch.testing.assert_close(actual, expected, rtol=1e-13, atol=0)
    torch.testing.assert_close(torch.autograd.grad(actual, x, grad_y), torch.autograd.grad(expected, x, grad_y),
                               rtol=1e-12, atol=1e-15)
    with torch.no_grad():
        in_place = generated.LocalResponseNorm(size, 0.3, 0.75, 1.2, groups, inplace=True)(x.detach().clone())
    torch.testing.assert_close(in_place, expected, rtol=1e-13, atol=0)
    assert in_place.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.parametrize("size", [3, 7])
def test_gradcheck_with_blocks_in_channels_last(generated, monkeypatch, size):
    monkeypatch.setattr(generated._ChannelBlocks, "BLOCK_BYTES", 3 * 8 * 8)  # three pixels' 8 channels a block
    torch.manual_seed(size)
    x = torch.randn(2, 8, 2, 3, dtype=torch.float64).contiguous(memory_format=torch.channels_last) * 2
    norm = generated.LocalResponseNorm(size, 0.3, 0.75, 1.2, groups=1)
    assert torch.autograd.gradcheck(norm, (x.requires_grad_(True),))


@pytest.mark.parametrize("magnitude", [1e-14, 1e18])
def test_the_fourth_root_holds_over_float32s_range(generated, magnitude):
    """d ** -0.75 through d's fourth root: no intermediate leaves float32 where d itself does not (with k = 0 the
    sums reach 1e-28 and, at the other end, 1e36)."""
    torch.manual_seed(4)
    x = torch.randn(2, 6, 3, 3, dtype=torch.float64) * magnitude
    expected = plain_lrn(x, 5, 1.0, 0.75, 0.0)
    actual = generated.LocalResponseNorm(5, 1.0, 0.75, 0.0)(x.float())
    torch.testing.assert_close(actual.double(), expected, rtol=1e-6, atol=0)


def test_the_generated_model_normalises_channels_last_activations():
    """The layout benchmarks/torch_lrn.py measures besides NCHW: the model converts its input to channels_last once,
    and the convolution and ReLU before an LRN keep it."""
    from alexnet_spec.backends import get

    model = get("torch").build(resolve_text("""
        name: ConvThenLRN
        input: {channels: 3, height: 13, width: 13}
        layers:
          - {type: conv, name: conv1, out_channels: 12, kernel: 3}
          - {type: relu}
          - {type: lrn, name: norm1, size: 5, alpha: 1.0e-4, beta: 0.75, k: 2, convention: paper, groups: 2}
    """)).eval()
    layouts = []
    model.norm1.register_forward_pre_hook(
        lambda module, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    with torch.no_grad():
        model(torch.randn(2, 3, 13, 13))
    assert layouts == [True]
