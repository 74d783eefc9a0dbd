"""The oracle on graph networks: blocks, repeats, `when`, concat, add, several outputs and placement, against modules
written by hand the way torchvision writes them (BasicBlock with an optional downsample, Fire with two expand
branches), with the oracle's weights copied in by name."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from alexnet_spec.backends.numpy import interpreter
from alexnet_spec.weights import init_weights
from tests.conftest import resolve_text

RESIDUAL = """
    name: TinyRes
    input: {channels: 3, height: 10, width: 9}
    allow_truncation: true
    blocks:
      basic:
        params: {channels: null, stride: 1, downsample: false}
        layers:
          - {type: conv, name: conv1, out_channels: $channels, kernel: 3, stride: $stride, padding: 1, bias: false}
          - {type: batchnorm, name: bn1}
          - {type: prelu, name: act1, per_channel: true}
          - {type: conv, name: conv2, out_channels: $channels, kernel: 3, padding: 1, bias: false}
          - {type: batchnorm, name: bn2}
          - {type: conv, name: down_conv, inputs: [input], out_channels: $channels, kernel: 1, stride: $stride,
             bias: false, when: $downsample}
          - {type: batchnorm, name: down_bn, when: $downsample}
          - {type: add, name: add, inputs: [bn2, down_bn]}
          - {type: gelu, name: act2, approximate: tanh}
    layers:
      - {type: conv, name: stem, out_channels: 4, kernel: 3, padding: 1}
      - {type: block, block: basic, name: layer1, repeat: 2, args: {channels: 4}}
      - {type: block, block: basic, name: layer2, repeat: 2, args: {channels: 6}, first: {stride: 2, downsample: true}}
      - {type: global_avgpool, name: pool}
      - {type: dense, name: fc, out_features: 5}
"""

FIRE = """
    name: TinyFire
    input: {channels: 3, height: 7, width: 6}
    blocks:
      fire:
        params: {squeeze: null, expand: null}
        layers:
          - {type: conv, name: squeeze, out_channels: $squeeze, kernel: 1}
          - {type: elu, name: squeeze_act, alpha: 0.7}
          - {type: conv, name: expand1x1, out_channels: $expand, kernel: 1}
          - {type: leaky_relu, name: expand1x1_act, negative_slope: 0.2}
          - {type: conv, name: expand3x3, inputs: [squeeze_act], out_channels: $expand, kernel: 3, padding: 1}
          - {type: silu, name: expand3x3_act}
          - {type: concat, name: cat, inputs: [expand1x1_act, expand3x3_act]}
    layers:
      - {type: conv, name: conv1, out_channels: 4, kernel: 3, padding: 1}
      - {type: block, block: fire, name: fire2, args: {squeeze: 2, expand: 3}}
      - {type: block, block: fire, name: fire3, args: {squeeze: 3, expand: 2}}
      - {type: concat, name: skip, inputs: [fire3, conv1]}
      - {type: global_maxpool, name: pool}
      - {type: dense, name: fc, out_features: 4}
      - {type: global_avgpool, name: aux_pool, inputs: [fire2]}
      - {type: dense, name: aux, out_features: 3}
    outputs: [fc, aux]
"""


def weights_and_input(net, seed: int = 0):
    """init_weights, with batchnorm and PReLU parameters moved off their defaults so that every one matters."""
    rng = np.random.default_rng(seed)
    weights = init_weights(net, rng)
    for name, value in weights.items():
        if name.endswith("running_var"):
            weights[name] = rng.uniform(0.5, 2.0, value.shape)
        elif name.endswith(("running_mean", "bn1.bias", "bn2.bias", "down_bn.bias")):
            weights[name] = rng.normal(0, 0.5, value.shape)
        elif name.endswith(("bn1.weight", "bn2.weight", "down_bn.weight", "act1.weight")):
            weights[name] = rng.uniform(0.1, 1.5, value.shape)
    return weights, rng.normal(size=(2,) + net.input_shape)


# ---------------------------------------------------------------- against hand-written torch modules

@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def hand_written_resnet(torch):
    nn = torch.nn

    class BasicBlock(nn.Module):  # torchvision.models.resnet.BasicBlock, with PReLU and GELU
        def __init__(self, inplanes, planes, stride=1, downsample=False):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.act1 = nn.PReLU(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            if downsample:
                self.down_conv = nn.Conv2d(inplanes, planes, 1, stride, bias=False)
                self.down_bn = nn.BatchNorm2d(planes)
            self.downsample = downsample
            self.act2 = nn.GELU(approximate="tanh")

        def forward(self, x):
            identity = self.down_bn(self.down_conv(x)) if self.downsample else x
            out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
            return self.act2(out + identity)

    class TinyRes(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3, padding=1)
            self.layer1 = nn.Sequential(BasicBlock(4, 4), BasicBlock(4, 4))
            self.layer2 = nn.Sequential(BasicBlock(4, 6, 2, True), BasicBlock(6, 6))
            self.fc = nn.Linear(6, 5)

        def forward(self, x):
            x = self.layer2(self.layer1(self.stem(x)))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    return TinyRes()


def hand_written_squeezenet(torch):
    nn = torch.nn

    class Fire(nn.Module):  # torchvision.models.squeezenet.Fire, with other activations
        def __init__(self, inplanes, squeeze, expand):
            super().__init__()
            self.squeeze = nn.Conv2d(inplanes, squeeze, 1)
            self.squeeze_act = nn.ELU(0.7)
            self.expand1x1 = nn.Conv2d(squeeze, expand, 1)
            self.expand1x1_act = nn.LeakyReLU(0.2)
            self.expand3x3 = nn.Conv2d(squeeze, expand, 3, padding=1)
            self.expand3x3_act = nn.SiLU()

        def forward(self, x):
            x = self.squeeze_act(self.squeeze(x))
            return torch.cat([self.expand1x1_act(self.expand1x1(x)), self.expand3x3_act(self.expand3x3(x))], 1)

    class TinyFire(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
            self.fire2 = Fire(4, 2, 3)
            self.fire3 = Fire(6, 3, 2)
            self.fc = nn.Linear(8, 4)
            self.aux = nn.Linear(6, 3)

        def forward(self, x):
            stem = self.conv1(x)
            fire2 = self.fire2(stem)
            skip = torch.cat([self.fire3(fire2), stem], 1)
            return self.fc(skip.amax(dim=(2, 3))), self.aux(fire2.mean(dim=(2, 3)))

    return TinyFire()


def run_hand_written(torch, module, weights, x):
    module = module.double().eval()
    module.load_state_dict({name: torch.from_numpy(value) for name, value in weights.items()}, strict=False)
    missing = set(module.state_dict()) - set(weights) - {name for name in module.state_dict()
                                                           if name.endswith("num_batches_tracked")}
    assert not missing, missing  # every parameter of the hand-written module came from the oracle's weights
    with torch.no_grad():
        out = module(torch.from_numpy(x))
    return [value.numpy() for value in out] if isinstance(out, tuple) else [out.numpy()]


def test_residual_blocks_with_when_equal_torchvision_style_basic_blocks(torch):
    net = resolve_text(RESIDUAL)
    assert [layer.name for layer in net.layers if "down" in layer.name] == ["layer2.0.down_conv", "layer2.0.down_bn"]
    weights, x = weights_and_input(net)
    expected = run_hand_written(torch, hand_written_resnet(torch), weights, x)
    assert_allclose(interpreter.run(net, weights, x), expected[0], rtol=1e-12, atol=1e-13)


def test_fire_blocks_skip_concat_and_two_outputs_equal_a_hand_written_squeezenet(torch):
    net = resolve_text(FIRE)
    weights, x = weights_and_input(net, seed=1)
    expected = run_hand_written(torch, hand_written_squeezenet(torch), weights, x)
    out = interpreter.run(net, weights, x)
    assert isinstance(out, tuple) and [y.shape for y in out] == [(2, 4), (2, 3)]  # in the order of `outputs`
    for got, want in zip(out, expected):
        assert_allclose(got, want, rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------- wiring, without torch

def test_intermediates_are_keyed_by_qualified_name_and_include_every_output():
    net = resolve_text(FIRE)
    weights, x = weights_and_input(net)
    trace = dict(interpreter.run(net, weights, x, intermediates=True))
    assert list(trace) == [layer.name for layer in net.layers]
    assert "fire2.expand3x3_act" in trace and trace["fire2.cat"].shape == (2, 6, 7, 6)
    fc, aux = interpreter.run(net, weights, x)
    assert_allclose(trace["fc"], fc, rtol=0)
    assert_allclose(trace["aux"], aux, rtol=0)
    # The skip concat holds fire3's output, then conv1's, as written.
    assert_allclose(trace["skip"][:, :4], trace["fire3.cat"], rtol=0)
    assert_allclose(trace["skip"][:, 4:], trace["conv1"], rtol=0)


def test_a_block_left_out_by_when_reads_its_input_instead():
    # layer1's instances have downsample false: their add reads the instance input, here the stem and layer1.0.
    net = resolve_text(RESIDUAL)
    weights, x = weights_and_input(net)
    trace = dict(interpreter.run(net, weights, x, intermediates=True))
    assert_allclose(trace["layer1.0.add"], trace["layer1.0.bn2"] + trace["stem"], rtol=1e-15)
    assert_allclose(trace["layer1.1.add"], trace["layer1.1.bn2"] + trace["layer1.0.act2"], rtol=1e-15)
    assert_allclose(trace["layer2.0.add"], trace["layer2.0.bn2"] + trace["layer2.0.down_bn"], rtol=1e-15)


PLACED_GRAPH = """
    name: PlacedGraph
    input: {channels: 3, height: 8, width: 7}
    devices: [d0, d1]
    layers:
      - {type: conv, name: a, out_channels: 4, kernel: 3, padding: 1}
      - {type: prelu, name: a_act, per_channel: true}
      - {type: conv, name: b, out_channels: 4, kernel: 3, padding: 1, groups: 2}
      - {type: prelu, name: b_act}
      - {type: add, name: sum, inputs: [b_act, a_act]}
      - {type: conv, name: c, inputs: [a], out_channels: 2, kernel: 1, placement: d1}
      - {type: concat, name: cat, inputs: [sum, c]}
      - {type: global_avgpool, name: pool, inputs: [sum]}
      - {type: global_maxpool, name: pool2, inputs: [cat]}
      - {type: concat, name: features, inputs: [pool, pool2]}
      - {type: dense, name: fc, out_features: 4}
"""


def test_placed_graph_towers_equal_the_unplaced_graph():
    placed = resolve_text(PLACED_GRAPH)
    split = {layer.name for layer in placed.layers if layer.placement.split}
    assert {"a", "a_act", "b", "b_act", "sum", "pool", "fc"} <= split  # a split add, prelu and global pool
    assert not placed.layer("cat").placement.split and placed.layer("cat").placement.reads_across
    single = resolve_text(PLACED_GRAPH.replace("devices: [d0, d1]", "").replace(", placement: d1", ""))
    weights, x = weights_and_input(placed)
    weights["a_act.weight"] = np.array([0.1, -0.2, 0.3, 0.4])  # the towers' slopes differ
    placed_trace = interpreter.run(placed, weights, x, intermediates=True)
    single_trace = interpreter.run(single, weights, x, intermediates=True)
    for (name, got), (_, want) in zip(placed_trace, single_trace):
        assert_allclose(got, want, rtol=1e-13, atol=1e-14, err_msg=name)
