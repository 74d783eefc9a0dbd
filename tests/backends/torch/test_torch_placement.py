"""The placed build: each device's share of every split layer, activations crossing devices only where the spec
says, outputs equal to the single-device build, weights moved between the two layouts (tested with cpu, cpu)."""

from __future__ import annotations

import contextlib

import pytest
import torch

from alexnet_spec.backends.torch import backend, placed_state_dict, single_state_dict
from alexnet_spec.backends.torch.view import file_view
from alexnet_spec.errors import SpecError
from alexnet_spec.source.loading import load_network
from tests.backends.torch.torch_helpers import build_text
from tests.conftest import ROOT, resolve_text

TOWERS = """
    name: Towers
    input: {channels: 4, height: 12, width: 12}
    devices: [left, right]
    layers:
      - {type: conv, name: conv1, out_channels: 8, kernel: 3, groups: 2, activation: relu}
      - {type: batchnorm, name: bn1}
      - {type: lrn, name: norm_local, size: 3, alpha: 0.5, beta: 0.75, k: 1, convention: tf, groups: 2}
      - {type: maxpool, name: pool, kernel: 2, stride: 2, padding: [0, 1, 0, 1], ceil_mode: true}
      - {type: conv, name: conv2, out_channels: 6, kernel: 3, padding: [1, 0, 1, 0]}
      - {type: lrn, name: norm_across, size: 3, alpha: 0.5, beta: 0.75, k: 1, convention: tf}
      - {type: conv, name: conv3, out_channels: 4, kernel: 1, placement: right}
      - {type: conv, name: conv4, out_channels: 4, kernel: 1, groups: 2}
      - {type: flatten, name: flatten}
      - {type: dense, name: fc1, out_features: 6, placement: left, activation: relu}
      - {type: dense, name: fc2, out_features: 4}
"""


def _randomised(model, seed=0):
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point():
            values = torch.rand(tensor.shape, generator=generator, dtype=tensor.dtype)
            tensor = values + 0.5 if name.endswith("running_var") else values * 2 - 1
        state[name] = tensor
    model.load_state_dict(state)
    return state


@pytest.fixture(scope="module")
def alexnet():
    with contextlib.chdir(ROOT):
        net = load_network("specs/alexnet.yaml")
    single = backend.build(net).eval()
    placed = backend.build(net, devices=["cpu", "cpu"]).eval()
    return net, single, placed


def test_paper_model_equals_the_single_device_build(alexnet):
    net, single, placed = alexnet
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in single.parameters():  # larger weights than the paper's, so that the output varies
            parameter.normal_(0, 0.05)
    placed.load_single_state_dict(single.state_dict())
    x = torch.randn(2, 3, 227, 227)
    with torch.no_grad():
        expected, actual = single(x), placed(x)
    assert expected.std() > 1e-3
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-7)


def test_paper_model_shares_live_where_the_spec_says(alexnet):
    net, single, placed = alexnet
    assert placed.split_layers == ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
    assert tuple(placed.conv1[0].weight.shape) == (48, 3, 11, 11)
    assert tuple(placed.conv2[1].weight.shape) == (128, 48, 5, 5)  # reads only its own tower
    assert tuple(placed.conv3[0].weight.shape) == (192, 256, 3, 3)  # reads both towers
    assert tuple(placed.fc6[1].weight.shape) == (2048, 9216)
    assert sum(p.numel() for p in placed.parameters()) == net.total_params == 60_965_224


def test_gather_only_where_a_layer_reads_across_devices(alexnet):
    for net in (alexnet[0], resolve_text(TOWERS)):
        source = backend.render(net)
        for layer, view in zip(net.layers, file_view(net).placed.layers):
            assert view.call in source
            if layer.placement.reads_across:
                assert "gather(" in view.call or ".to(" in view.call, layer.name
            else:
                assert "gather(" not in view.call, layer.name


def _towers():
    net = resolve_text(TOWERS)
    return net, backend.build(net, devices=["cpu", "cpu"])


@pytest.mark.parametrize("train", [False, True])
def test_every_placement_form_equals_the_single_device_build(train):
    net, single = build_text(TOWERS, dtype=torch.float64)
    placed = backend.build(net, devices=["cpu", "cpu"]).double()
    state = _randomised(single)
    placed.load_single_state_dict(state)
    single.train(train)
    placed.train(train)
    x = torch.randn(3, 4, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(placed(x), single(x), rtol=1e-12, atol=1e-12)
    joined = placed.single_state_dict()
    assert list(joined) == list(single.state_dict())
    for name, tensor in single.state_dict().items():  # running statistics updated alike in train mode
        torch.testing.assert_close(joined[name], tensor, rtol=1e-12, atol=0, msg=name)


def test_gradients_flow_through_every_share():
    net = resolve_text(TOWERS)
    placed = backend.build(net, devices=["cpu", "cpu"]).train()
    placed(torch.randn(2, 4, 12, 12)).square().sum().backward()
    assert all(parameter.grad is not None for parameter in placed.parameters())


def test_state_dict_layouts():
    net, single = build_text(TOWERS)
    placed = backend.build(net, devices=["cpu", "cpu"])
    placed_keys = set(placed.state_dict())
    assert {"conv1.0.weight", "conv1.1.bias", "bn1.0.running_mean", "bn1.1.num_batches_tracked",
            "conv3.weight", "fc1.weight", "fc2.1.weight"} <= placed_keys
    assert "conv1.weight" not in placed_keys
    state = _randomised(single)
    placed.load_single_state_dict(state)
    torch.testing.assert_close(placed.conv1[1].weight, state["conv1.weight"][4:])
    torch.testing.assert_close(placed.fc2[0].bias, state["fc2.bias"][:2])
    converted = placed_state_dict(net, state)  # the same conversion without a model
    assert converted.keys() == placed.state_dict().keys()
    assert all(torch.equal(converted[key], value) for key, value in placed.state_dict().items())
    back = single_state_dict(net, converted)
    assert back.keys() == state.keys() and all(torch.equal(back[key], value) for key, value in state.items())


def test_the_generated_class_checks_its_devices():
    net = resolve_text(TOWERS)
    module = backend.build(net, devices=["cpu", "cpu"])
    with pytest.raises(ValueError, match=r"needs 2 devices \(left, right\)"):
        type(module)(["cpu"])


def test_every_share_of_a_default_initialised_layer_has_torchs_default():
    """PyTorch's default is left to the constructors (no nn.init line): nn.Conv2d and nn.Linear draw
    U(±1/sqrt(fan_in)) for weight and bias (their reset_parameters), fan_in from the share's weight, which is the
    whole layer's: in/groups*kh*kw however the output channels are split."""
    model = backend.build(resolve_text("""
        name: Shares
        input: {channels: 16, height: 12, width: 12}
        devices: [left, right]
        layers:
          - {type: conv, name: conv1, out_channels: 64, kernel: 5, groups: 2}
          - {type: conv, name: conv2, out_channels: 64, kernel: 3}
          - {type: flatten}
          - {type: dense, name: fc, out_features: 200}
    """), devices=["cpu", "cpu"])
    fans = {"conv1": 16 // 2 * 25, "conv2": 64 * 9, "fc": 64 * 6 * 6}
    for name, fan_in in fans.items():
        bound = 1 / fan_in ** 0.5 * (1 + 1e-6)  # float32 rounding
        for share in getattr(model, name):
            assert share.weight.abs().max().item() <= bound and share.bias.abs().max().item() <= bound, name
            assert share.weight.abs().max().item() > 0.95 * bound, name
            assert share.weight.std().item() == pytest.approx(bound / 3 ** 0.5, rel=0.05), name


BRANCHES = """
    name: TwoBranches
    input: {channels: 3, height: 9, width: 7}
    devices: [gpu0, gpu1]
    blocks:
      basic:
        params: {channels: null, device: null}
        layers:
          - {type: conv, name: conv1, out_channels: $channels, kernel: 3, padding: 1, placement: $device}
          - {type: batchnorm, name: bn}
          - {type: relu, name: relu}
          - {type: conv, name: conv2, out_channels: $channels, kernel: 3, padding: 1, placement: $device}
          - {type: add, name: add, inputs: [conv2, input]}
    layers:
      - {type: conv, name: stem, out_channels: 8, kernel: 3, padding: 1, placement: gpu0, activation: relu}
      - {type: conv, name: left, inputs: [stem], out_channels: 6, kernel: 1, placement: gpu0}
      - {type: conv, name: right, inputs: [stem], out_channels: 6, kernel: 3, padding: 1, placement: gpu1}
      - {type: relu, name: right_relu}
      - {type: block, block: basic, name: tower, repeat: 2, args: {channels: 6, device: gpu1}}
      - {type: concat, name: merged, inputs: [left, tower]}
      - {type: global_avgpool, name: pool}
      - {type: dense, name: fc, out_features: 5, placement: gpu1}
"""


def test_graph_with_branches_on_two_devices_equals_the_single_device_build():
    net, single = build_text(BRANCHES, dtype=torch.float64)
    state = _randomised(single, seed=3)
    placed = backend.build(net, devices=["cpu", "cpu"], dtype=torch.float64).eval()
    placed.load_single_state_dict(state)
    assert placed.single_state_dict().keys() == state.keys()  # one layout: blocks nest as in the single build
    x = torch.randn((2, *net.input_shape), generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with torch.no_grad():
        expected, actual = single(x), placed(x)
    assert expected.std() > 1e-3
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)


def test_graph_moves_values_only_along_edges_that_cross_devices():
    source = backend.render(resolve_text(BRANCHES))
    forward = source[source.index("class TwoBranchesPlaced"):].split("def forward", 1)[1]
    moves = [line.split("#")[0].strip() for line in forward.splitlines() if ".to(" in line]
    assert moves == [
        "x = self.stem(x.to(self.devices[0]))",  # the caller's input
        "x = self.right(stem.to(self.devices[1]))",  # stem (gpu0) -> right (gpu1)
        "x = torch.cat([left, x.to(self.devices[0])], dim=1)",  # tower (gpu1) -> the concatenation (gpu0)
        "x = self.fc(x.to(self.devices[1]))",  # pool (gpu0) -> fc (gpu1)
    ]
    assert "self.tower = nn.Sequential(Basic(), Basic()).to(self.devices[1])" in source  # the blocks where placed
    assert "self.left = nn.Conv2d(8, 6, kernel_size=1).to(self.devices[0])" in source


def test_graph_block_instance_over_two_devices_is_refused_naming_it():
    spec = BRANCHES.replace("placement: $device}\n          - {type: batchnorm", "placement: gpu0}\n"
                            "          - {type: batchnorm")
    with pytest.raises(SpecError) as error:
        backend.render(resolve_text(spec))
    message = str(error.value)
    assert "block instance tower, whose layers run on gpu0, gpu1" in message
    assert "every layer of a block instance on one device" in message


def test_in_a_low_precision_every_batchnorm_line_says_it_keeps_float32():
    from alexnet_spec.precision import with_precision

    unsplit = TOWERS.replace("placement: right}", "placement: right}\n      - {type: batchnorm, name: bn2}")
    net = with_precision(resolve_text(unsplit), "bfloat16")
    source = backend.render(net)
    lines = [line for line in source.splitlines() if "self.bn" in line and "=" in line and "nn." not in line]
    assert len(lines) == 4  # bn1 and bn2, in the single-device class and in the placed one (bn1 split there)
    assert all("statistics and parameters in float32" in line for line in lines), lines
    model = backend.build(net, devices=["cpu", "cpu"])
    assert model(torch.randn(2, 4, 12, 12)).dtype == torch.bfloat16
