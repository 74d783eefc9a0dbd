"""Initialisation (passes/init.py, ConvAttrs/DenseAttrs fans): Kaiming and Xavier on grouped convolutions use the
fans torch.nn.init computes from the weight tensor, checked against torch itself and against drawn tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alexnet_spec import backends
from tests.conftest import resolve_text

torch = pytest.importorskip("torch")

GROUPED = """
    name: Grouped
    input: {channels: 64, height: 8, width: 8}
    layers:
      - {type: conv, name: kaiming_out, out_channels: 256, kernel: 5, groups: 4, padding: 2,
         init: {weight: {dist: kaiming, mode: fan_out, nonlinearity: relu, distribution: normal}}}
      - {type: conv, name: kaiming_in, out_channels: 256, kernel: [3, 5], groups: 8, padding: [1, 2],
         init: {weight: {dist: kaiming, mode: fan_in, nonlinearity: relu, distribution: normal}}}
      - {type: conv, name: xavier, out_channels: 256, kernel: 5, groups: 4,
         init: {weight: {dist: xavier, distribution: normal}}}
"""


def test_grouped_conv_fans_are_torchs():
    net = resolve_text(GROUPED)
    for layer in net.layers:
        a = layer.attrs
        weight = torch.nn.Conv2d(a.in_channels, a.out_channels, a.kernel, groups=a.groups).weight
        assert (a.fan_in, a.fan_out) == torch.nn.init._calculate_fan_in_and_fan_out(weight), layer.name


def test_dense_fans_are_torchs():
    net = resolve_text("""
        name: Dense
        input: {channels: 3, height: 2, width: 2}
        layers: [{type: flatten}, {type: dense, name: fc, out_features: 5}]
    """)
    a = net.layer("fc").attrs
    assert (a.fan_in, a.fan_out) == torch.nn.init._calculate_fan_in_and_fan_out(torch.nn.Linear(12, 5).weight)


def _torch_std(layer) -> float:
    """The std torch.nn.init itself draws for this layer's weight (a large tensor: 102,400 or more elements)."""
    a = layer.attrs
    weight = torch.empty(a.out_channels, a.in_channels // a.groups, *a.kernel, dtype=torch.float64)
    torch.manual_seed(1)
    dist = a.weight_init
    if dist.dist == "kaiming":
        torch.nn.init.kaiming_normal_(weight, mode=dist.mode, nonlinearity=dist.nonlinearity)
    else:
        torch.nn.init.xavier_normal_(weight, gain=dist.gain)
    return weight.std().item()


def _drawn_weights(net) -> dict[str, dict[str, np.ndarray]]:
    """{backend: {layer: weight}} as each backend draws it: the torch module, the jax module's init, the oracle."""
    import jax

    torch.manual_seed(0)
    model = backends.get("torch").build(net).double()
    params = backends.get("jax").build(net).init(jax.random.PRNGKey(0))
    oracle = backends.get("numpy").build(net).init_weights(0)
    return {"torch": {layer.name: getattr(model, layer.name).weight.detach().numpy() for layer in net.layers},
            "jax": {layer.name: np.asarray(params[layer.name]["kernel"]) for layer in net.layers},
            "numpy": {layer.name: oracle[f"{layer.name}.weight"] for layer in net.layers}}


def test_every_backend_draws_torchs_std_on_grouped_convs():
    net = resolve_text(GROUPED)
    # the formulas with torch's fans: fan_in = in_channels/groups*kh*kw, fan_out = out_channels*kh*kw
    # (in_channels 64 for the first layer, 256 after it)
    formula = {"kaiming_out": math.sqrt(2 / (256 * 25)), "kaiming_in": math.sqrt(2 / (256 // 8 * 15)),
               "xavier": math.sqrt(2 / (256 // 4 * 25 + 256 * 25))}
    drawn = _drawn_weights(net)
    for layer in net.layers:
        peer = _torch_std(layer)
        assert peer == pytest.approx(formula[layer.name], rel=0.02), layer.name
        for backend, weights in drawn.items():
            assert weights[layer.name].std() == pytest.approx(peer, rel=0.02), (backend, layer.name)
