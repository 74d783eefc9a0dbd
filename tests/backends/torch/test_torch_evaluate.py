"""backends/torch/evaluate.py: the model `check` runs is built on the meta device and holds the given weights, each
as the built model would hold it (its dtype and strides), with nothing drawn and nothing else left behind."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from alexnet_spec.backends.torch import backend
from alexnet_spec.backends.torch.build import build
from alexnet_spec.backends.torch.evaluate import build_without_storage, with_weights
from alexnet_spec.weights import init_weights
from tests.conftest import ROOT, resolve_text

# conv (channels-last kernels in the built model), batchnorm (buffers, the batch counter), dense (zero-copy).
SPEC = """
    name: Loaded
    input: {channels: 3, height: 9, width: 7}
    layers:
      - {type: conv, name: conv, out_channels: 4, kernel: 3, activation: relu}
      - {type: batchnorm, name: norm}
      - {type: flatten, name: flatten}
      - {type: dense, name: fc, out_features: 5}
"""


def _weights(net):
    weights = init_weights(net, 3)
    for name in weights:  # not batchnorm's fresh 0 and 1: values to check
        if name.endswith("running_mean") or name.endswith("running_var"):
            weights[name] = np.linspace(0.5, 2.0, len(weights[name]))
    return weights


def _narrow_alexnet():
    from alexnet_spec.source.loading import load_network

    return load_network(ROOT / "specs" / "alexnet.yaml", ["width_multiple=0.25", "fc6.out_features=64",
                                                          "fc7.out_features=64"])


@pytest.mark.parametrize("make_net", [lambda: resolve_text(SPEC), _narrow_alexnet], ids=["small", "alexnet"])
def test_meta_model_holds_the_weights_laid_out_as_the_built_model_holds_its_own(make_net):
    net = make_net()
    weights = _weights(net)
    built = build(net).to(torch.float64)
    loaded = with_weights(build_without_storage(net).to(torch.float64), weights)
    built_state, loaded_state = built.state_dict(), loaded.state_dict()
    assert list(loaded_state) == list(built_state)
    for name, tensor in loaded_state.items():
        assert tensor.device.type == "cpu" and tensor.dtype == built_state[name].dtype, name
        assert tensor.stride() == built_state[name].stride(), name  # a template may lay kernels out channels last
        if name in weights:
            np.testing.assert_array_equal(tensor.numpy(), weights[name], err_msg=name)
        else:
            assert name.endswith("num_batches_tracked") and tensor.item() == 0
    # A weight already in the model's type and layout is the caller's array itself: AlexNet's 61 M parameters,
    # nearly all in its dense layers, are not copied.
    dense = [layer.name for layer in net.layers if layer.type == "dense"][-1]
    assert loaded_state[f"{dense}.weight"].data_ptr() == weights[f"{dense}.weight"].ctypes.data


def test_meta_model_computes_what_the_built_model_computes():
    net = resolve_text(SPEC)
    weights = _weights(net)
    built = build(net).to(torch.float64).eval()
    built.load_state_dict({name: torch.as_tensor(value) for name, value in weights.items()}, strict=False)
    x = np.random.default_rng(4).standard_normal((2, 3, 9, 7))
    expected = built(torch.as_tensor(x)).detach().numpy()
    actual = dict(backend.evaluate(net, weights, x, dtype="float64"))["fc"]
    np.testing.assert_array_equal(actual, expected)


def test_missing_or_misshapen_weights_are_named():
    net = resolve_text(SPEC)
    weights = _weights(net)
    del weights["conv.bias"]
    with pytest.raises(ValueError, match="weights lack conv.bias"):
        with_weights(build_without_storage(net), weights)
    weights = _weights(net)
    weights["fc.weight"] = weights["fc.weight"].T
    with pytest.raises(ValueError, match=r"weight 'fc.weight' has shape \(\d+, 5\), the model's \(5, \d+\)"):
        with_weights(build_without_storage(net), weights)


def test_evaluate_draws_nothing_and_never_imports_torch_dynamo():
    """torch's meta `normal_` (a spec's normal initialisation) would import torch._dynamo: 1-2 s of a `check`."""
    code = ("import sys, numpy as np, torch\n"
            "from alexnet_spec import resolve\n"
            "from alexnet_spec.backends.torch import backend\n"
            "from alexnet_spec.weights import init_weights\n"
            "net = resolve('specs/lenet5.yaml')\n"
            "state = torch.random.get_rng_state()\n"
            "backend.evaluate(net, init_weights(net, 0), np.zeros((1,) + net.input_shape), dtype='float64')\n"
            "print('torch._dynamo' in sys.modules, torch.equal(state, torch.random.get_rng_state()))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
