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
    # what GROUPED declares for each layer, as torch.nn.init calls
    if layer.name == "kaiming_out":
        torch.nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")
    elif layer.name == "kaiming_in":
        torch.nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")
    else:
        torch.nn.init.xavier_normal_(weight)
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


def test_declared_schemes_resolve_to_torchs_numbers():
    """passes/init.py hands backends concrete distributions: Kaiming and Xavier with torch.nn.init's arithmetic
    (kaiming_normal_: std = gain / sqrt(fan); *_uniform_: bound = sqrt(3) * std; xavier: std = gain * sqrt(2 /
    (fan_in + fan_out)); calculate_gain: relu sqrt(2), tanh 5/3), PyTorch's default U(±1/sqrt(fan_in)) as its own
    kind, explicit distributions as written. The fans below are written out (conv: in/groups*kh*kw, out*kh*kw)."""
    from alexnet_spec.resolved import Constant, FrameworkDefault, Normal, Uniform

    net = resolve_text("""
        name: Schemes
        input: {channels: 8, height: 6, width: 6}
        layers:
          - {type: conv, name: he, out_channels: 6, kernel: 3, groups: 2,
             init: {weight: {dist: kaiming, mode: fan_out, nonlinearity: tanh, distribution: uniform}}}
          - {type: conv, name: glorot, out_channels: 4, kernel: 1,
             init: {weight: {dist: xavier, gain: 2.0, distribution: normal}, bias: {dist: normal, mean: 1, std: 2}}}
          - {type: flatten}
          - {type: dense, name: fc, out_features: 5,
             init: {weight: {dist: uniform, low: -1, high: 2}, bias: {dist: constant, value: 0.5}}}
    """)
    he, glorot, fc = (net.layer(name).attrs for name in ("he", "glorot", "fc"))
    bound = math.sqrt(3) * 5 / 3 / math.sqrt(6 * 9)  # fan_out = 6 * 3 * 3
    assert he.weight_init == Uniform(-bound, bound) and he.weight_init.low == pytest.approx(-bound, rel=1e-15)
    assert type(he.bias_init) is FrameworkDefault and he.bias_init.high == 1 / math.sqrt(8 // 2 * 9)
    assert "fan_out" in he.weight_init.formula and "54" in he.weight_init.formula
    assert glorot.weight_init.std == pytest.approx(2.0 * math.sqrt(2 / (6 + 4)), rel=1e-15)
    assert glorot.bias_init == Normal(1.0, 2.0)
    assert (fc.weight_init, fc.bias_init) == (Uniform(-1.0, 2.0), Constant(0.5))
    assert FrameworkDefault(-1.0, 2.0) != Uniform(-1.0, 2.0)  # its own kind: the torch backend leaves it alone

