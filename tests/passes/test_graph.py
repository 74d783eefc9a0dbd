"""The graph pass: inputs, concat and add, blocks with parameters, repeats, `when`, outputs, multiples, and every
graph error located in the file with both ends named."""

from __future__ import annotations

import pytest

from alexnet_spec.errors import SpecError
from tests.conftest import TINY_SPEC, resolve_text

RESIDUAL = """
    name: TinyRes
    input: {channels: 3, height: 16, width: 16}
    allow_truncation: true
    blocks:
      basic:
        params: {channels: null, stride: 1, downsample: false}
        layers:
          - {type: conv, name: conv1, out_channels: $channels, kernel: 3, stride: $stride, padding: 1, bias: false}
          - {type: batchnorm, name: bn1}
          - {type: relu, name: relu1}
          - {type: conv, name: conv2, out_channels: $channels, kernel: 3, padding: 1, bias: false}
          - {type: batchnorm, name: bn2}
          - {type: conv, name: down_conv, inputs: [input], out_channels: $channels, kernel: 1, stride: $stride,
             bias: false, when: $downsample}
          - {type: batchnorm, name: down_bn, when: $downsample}
          - {type: add, name: add, inputs: [bn2, down_bn]}
          - {type: relu, name: relu2}
    layers:
      - {type: conv, name: stem, out_channels: 8, kernel: 3, padding: 1}
      - {type: block, block: basic, name: layer1, repeat: 2, args: {channels: 8}}
      - {type: block, block: basic, name: layer2, repeat: 2, args: {channels: 16}, first: {stride: 2, downsample: true}}
      - {type: global_avgpool, name: pool}
      - {type: dense, name: fc, out_features: 10}
"""

FIRE = """
    name: Fires
    input: {channels: 3, height: 8, width: 8}
    blocks:
      fire:
        params: {squeeze: null, expand: null}
        layers:
          - {type: conv, name: squeeze, out_channels: $squeeze, kernel: 1, activation: relu}
          - {type: conv, name: expand1x1, out_channels: $expand, kernel: 1, activation: relu}
          - {type: conv, name: expand3x3, inputs: [squeeze], out_channels: $expand, kernel: 3, padding: 1,
             activation: relu}
          - {type: concat, name: out, inputs: [expand1x1, expand3x3]}
    layers:
      - {type: conv, name: c1, out_channels: 4, kernel: 3, padding: 1}
      - {type: block, block: fire, name: fire2, args: {squeeze: 2, expand: 4}}
      - {type: conv, name: c2, out_channels: 4, kernel: 3, padding: 1}
      - {type: add, name: a, inputs: [c2, c1]}
      - {type: flatten}
"""


def errors_of(body: str) -> list:
    with pytest.raises(SpecError) as caught:
        resolve_text(body)
    return caught.value.diagnostics


def test_a_chain_is_still_a_chain():
    net = resolve_text(TINY_SPEC)
    assert net.is_chain and net.output_names == ("fc1",)
    assert [layer.inputs for layer in net.layers] == [("input",), ("conv1",), ("relu1",), ("pool1",), ("flatten1",)]


def test_residual_blocks_expand_with_qualified_names_and_torchvision_parameter_arithmetic():
    net = resolve_text(RESIDUAL)
    names = [layer.name for layer in net.layers]
    assert names[:8] == ["stem", "layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu1", "layer1.0.conv2",
                         "layer1.0.bn2", "layer1.0.add", "layer1.0.relu2"]
    # `when: false` leaves the shortcut out: the add reads the instance's input, the layer before the block
    assert net.layer("layer1.0.add").inputs == ("layer1.0.bn2", "stem")
    assert net.layer("layer1.1.add").inputs == ("layer1.1.bn2", "layer1.0.relu2")
    assert "layer1.0.down_conv" not in names and net.layer("layer2.0.down_conv").inputs == ("layer1.1.relu2",)
    assert net.layer("layer2.0.add").inputs == ("layer2.0.bn2", "layer2.0.down_bn")
    assert net.layer("layer2.0.conv1").output_shape == (16, 8, 8)  # floor((16 + 2 - 3)/2) + 1
    assert net.layer("pool").output_shape == (16,)
    # by hand: stem 3*8*9+8; per basic block 2 convs (no bias) + 2 batchnorms; layer2.0's 1x1 projection + bn
    by_hand = (3 * 8 * 9 + 8) + 2 * (2 * 8 * 8 * 9 + 2 * 16) + (16 * 8 * 9 + 16 * 16 * 9 + 2 * 32) \
        + (16 * 8 + 32) + (2 * 16 * 16 * 9 + 2 * 32) + (16 * 10 + 10)
    assert net.total_params == by_hand
    assert not net.is_chain


def test_scopes_are_the_module_tree():
    net = resolve_text(RESIDUAL)
    network = net.scope("")
    assert [(m.name, m.is_block, m.inputs) for m in network.members] == [
        ("stem", False, ("input",)), ("layer1", True, ("stem",)), ("layer2", True, ("layer1",)),
        ("pool", False, ("layer2",)), ("fc", False, ("pool",))]
    row = net.scope("layer2")
    assert row.kind == "sequence" and [m.name for m in row.members] == ["0", "1"] and row.outputs == ("1",)
    first, second = net.scope("layer2.0"), net.scope("layer2.1")
    assert dict(first.args) == {"channels": 16, "stride": 2, "downsample": True}
    assert dict(second.args) == {"channels": 16, "stride": 1, "downsample": False}
    assert [m.name for m in second.members if m.name.startswith("down")] == []
    assert next(m for m in second.members if m.name == "add").inputs == ("bn2", "input")


def test_concat_widths_and_layer_order():
    net = resolve_text(FIRE)
    out = net.layer("fire2.out")
    assert out.attrs.axis == "channels" and out.attrs.widths == (4, 4) and out.output_shape == (8, 8, 8)
    assert out.input_shapes == ((4, 8, 8), (4, 8, 8))
    assert out.equations == ("4 + 4 = 8 channels",)
    index = {layer.name: layer.index for layer in net.layers}
    for layer in net.layers:
        assert all(index[name] < layer.index for name in layer.inputs if name != "input")


def test_several_outputs():
    net = resolve_text("""
        name: TwoHeads
        input: {channels: 1, height: 4, width: 4}
        outputs: [main, aux]
        layers:
          - {type: flatten, name: flat}
          - {type: dense, name: aux, out_features: 3}
          - {type: dense, name: main, inputs: [flat], out_features: 5}
    """)
    assert net.output_names == ("main", "aux") and net.output_shapes == ((5,), (3,))


def test_multiples_scale_repeats_and_widths_as_ultralytics_does():
    net = resolve_text(RESIDUAL.replace("allow_truncation: true", "allow_truncation: true\n    depth_multiple: 0.5\n"
                                        "    width_multiple: 0.25"))
    assert [scope.name for scope in net.scopes if scope.kind == "instance"] == ["layer1.0", "layer2.0"]
    # make_divisible(c * 0.25, 8) = ceil(c * 0.25 / 8) * 8: 8 -> 8, 16 -> 8
    assert net.layer("layer2.0.conv1").output_shape[0] == 8
    scales = {(scale.name, scale.field): (scale.declared, scale.scaled) for scale in net.scaling}
    assert scales[("layer1", "repeat")] == (2, 1) and scales[("layer2.0.conv1", "out_channels")] == (16, 8)


@pytest.mark.parametrize("edit, message, where", [
    (("inputs: [c2, c1]", "inputs: [c2, c3]"), "a reads 'c3', which is not a layer of the network", (16, 34)),
    (("inputs: [c2, c1]", "inputs: [c1, a]"), "a reads itself: the layers form a cycle", (16, 34)),
    (("kernel: 3, padding: 1}\n      - {type: add", "kernel: 3}\n      - {type: add"),
     "add inputs differ in shape: c2 gives 4×6×6, c1 gives 4×8×8", (16, 34)),
    (("kernel: 3, padding: 1,\n", "kernel: 3,\n"),
     "concat inputs differ in height and width: fire2.expand1x1 gives 4×8×8, fire2.expand3x3 gives 4×6×6", (11, 43)),
    (("{squeeze: 2, expand: 4}", "{squeze: 2, expand: 4}"), "block 'fire' has no parameter 'squeze'", (14, 52)),
    (("kernel: 1, activation", "kernel: $kernl, activation"), "unknown block parameter '$kernl'", (7, 69)),
    (("block: fire, name", "block: fir, name"), "unknown block 'fir'", (14, 26)),
    (("inputs: [c2, c1]", "inputs: [c1, c1]"), "the output of c2 is never used", (15, 5)),
])
def test_graph_errors_are_located_and_name_both_ends(edit, message, where):
    old, new = edit
    assert old in FIRE
    diagnostics = errors_of(FIRE.replace(old, new, 1))
    found = [d for d in diagnostics if message in d.message]
    assert found, [d.message for d in diagnostics]
    assert (found[0].line, found[0].column) == where and found[0].file == "test.yaml"
    assert found[0].hint


def test_a_longer_cycle_lists_its_path():
    diagnostics = errors_of("""
        name: Loop
        input: {channels: 1, height: 4, width: 4}
        layers:
          - {type: relu, name: a, inputs: [c]}
          - {type: relu, name: b}
          - {type: relu, name: c}
    """)
    assert "a reads c, which leads back to a" in diagnostics[0].message
    assert diagnostics[0].details == ("a -> c -> b -> a (each reads the next)",)


def test_a_single_input_layer_reading_two_is_an_error():
    diagnostics = errors_of("""
        name: Two
        input: {channels: 1, height: 4, width: 4}
        layers:
          - {type: relu, name: a}
          - {type: relu, name: b, inputs: [a, input]}
    """)
    assert "relu reads 2 layers (a, input)" in diagnostics[0].message and diagnostics[0].line == 5


def test_a_block_that_contains_itself_is_refused():
    diagnostics = errors_of("""
        name: Forever
        input: {channels: 1, height: 4, width: 4}
        blocks:
          again:
            layers:
              - {type: relu}
              - {type: block, block: again}
        layers:
          - {type: block, block: again, name: b}
    """)
    assert "blocks nested more than 16 deep" in diagnostics[0].message


def test_errors_inside_a_block_name_the_instance_and_point_at_the_block():
    diagnostics = errors_of(RESIDUAL.replace("kernel: 3, stride: $stride, padding: 1", "kernel: 3, stride: $stride", 1))
    first = diagnostics[0]
    assert first.layer == "layer1.0.add" and first.line == 16  # the block's add, where the inputs are written
    assert "layer1.0.bn2 gives 8×14×14, stem gives 8×16×16" in first.message


def test_a_layer_left_out_must_have_one_input():
    diagnostics = errors_of("""
        name: Left
        input: {channels: 1, height: 4, width: 4}
        layers:
          - {type: relu, name: a}
          - {type: add, name: b, inputs: [a, input], when: false}
          - {type: relu, name: c}
    """)
    assert "b is left out by `when` but reads 2 layers" in diagnostics[0].message


def test_the_expanded_network_is_bounded():
    diagnostics = errors_of("""
        name: Huge
        input: {channels: 1, height: 4, width: 4}
        blocks:
          pair:
            layers: [{type: relu}, {type: relu}]
        layers:
          - {type: block, block: pair, name: p, repeat: 6000}
    """)
    assert "more than 10,000 layers" in diagnostics[0].message


def test_placement_follows_the_graph():
    net = resolve_text("""
        name: Towers
        input: {channels: 3, height: 8, width: 8}
        devices: [gpu0, gpu1]
        layers:
          - {type: conv, name: trunk, out_channels: 4, kernel: 1}
          - {type: conv, name: left, out_channels: 4, kernel: 1, placement: gpu0}
          - {type: conv, name: right, inputs: [trunk], out_channels: 4, kernel: 1, placement: gpu1}
          - {type: concat, name: both, inputs: [left, right]}
          - {type: conv, name: wide, inputs: [trunk], out_channels: 4, kernel: 1}
          - {type: add, name: sum, inputs: [wide, trunk]}
          - {type: concat, name: all, inputs: [both, sum]}
    """)
    place = {layer.name: layer.placement for layer in net.layers}
    assert place["trunk"].split and not place["trunk"].reads_across
    assert place["left"].devices == ("gpu0",) and place["left"].reads_across  # reads gpu1's half of trunk
    assert place["right"].devices == ("gpu1",)
    assert place["both"].devices == ("gpu0",) and place["both"].reads_across  # gathers gpu1's branch
    assert place["sum"].split and not place["sum"].reads_across  # split + split: each device adds its own shares
    assert place["all"].devices == ("gpu0",) and place["all"].reads_across
