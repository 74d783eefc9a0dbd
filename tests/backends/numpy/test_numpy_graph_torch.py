"""The oracle's graph-network ops against the peer they follow, torch.nn, in float64 on random inputs: the
activations over a range wide enough to reach their tails, concatenation as torch.cat(dim=1), global pools as
adaptive_avg_pool2d to 1×1 and amax over the map."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from alexnet_spec.backends.numpy import ops

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

RNG = np.random.default_rng(2015)


def t(array: np.ndarray):
    return torch.from_numpy(np.ascontiguousarray(array))


def wide_inputs(*shape: int) -> np.ndarray:
    """Normal values scaled by 6, plus the extremes where exp overflows or an approximation saturates."""
    x = RNG.normal(size=shape) * 6
    x.flat[:6] = [-800.0, -40.0, -1e-9, 0.0, 1e-9, 800.0]
    return x


@pytest.mark.parametrize("module, oracle", [
    (nn.LeakyReLU(0.01), lambda x: ops.leaky_relu(x, 0.01)),
    (nn.LeakyReLU(0.3), lambda x: ops.leaky_relu(x, 0.3)),
    (nn.ELU(1.0), lambda x: ops.elu(x, 1.0)),
    (nn.ELU(0.4), lambda x: ops.elu(x, 0.4)),
    (nn.GELU(approximate="none"), lambda x: ops.gelu(x, "none")),
    (nn.GELU(approximate="tanh"), lambda x: ops.gelu(x, "tanh")),
    (nn.SiLU(), ops.silu),
], ids=["leaky_relu", "leaky_relu_0.3", "elu", "elu_0.4", "gelu", "gelu_tanh", "silu"])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 7)], ids=["maps", "features"])
def test_activation_equals_torch_nn(module, oracle, shape):
    x = wide_inputs(*shape)
    # atol: far below zero, 1 + tanh(...) and exp(x) - 1 cancel, and each library rounds that cancellation its own way
    # (GELU's tanh form at x = -5: 4e-16 apart on values of 4e-7).
    assert_allclose(oracle(x), module(t(x)).numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 7)], ids=["maps", "features"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_prelu_equals_torch_nn_prelu(shape, per_channel):
    x = wide_inputs(*shape)
    module = nn.PReLU(shape[1] if per_channel else 1).double()
    with torch.no_grad():
        module.weight.copy_(t(RNG.uniform(-0.5, 0.5, size=module.weight.shape)))
    expected = module(t(x)).detach().numpy()
    assert_allclose(ops.prelu(x, module.weight.detach().numpy()), expected, rtol=1e-15, atol=0)


def test_concat_and_add_equal_torch():
    inputs = [RNG.normal(size=(2, width, 4, 5)) for width in (2, 3, 1)]
    assert_array_equal(ops.concat(inputs, (2, 3, 1)), torch.cat([t(x) for x in inputs], dim=1).numpy())
    same = [RNG.normal(size=(2, 3, 4, 5)) for _ in range(3)]
    assert_allclose(ops.add(same), (t(same[0]) + t(same[1]) + t(same[2])).numpy(), rtol=1e-15)


def test_global_pools_equal_torch():
    x = RNG.normal(size=(2, 3, 4, 5))
    assert_allclose(ops.global_avg_pool2d(x), F.adaptive_avg_pool2d(t(x), 1).flatten(1).numpy(), rtol=1e-14)
    assert_allclose(ops.global_avg_pool2d(x), t(x).mean(dim=(2, 3)).numpy(), rtol=1e-14)
    assert_array_equal(ops.global_max_pool2d(x), t(x).amax(dim=(2, 3)).numpy())
    assert_array_equal(ops.global_max_pool2d(x), F.adaptive_max_pool2d(t(x), 1).flatten(1).numpy())
