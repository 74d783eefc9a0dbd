"""`alexspec summary`: the figures torchinfo prints for torchvision's AlexNet, hand-computed memory, MACs and FLOPs
for the paper's model, trainable and non-trainable parameters, and a table that fits an 80-column terminal."""

from __future__ import annotations

import json
from math import prod

import pytest

from alexnet_spec.source.loading import load_network
from alexnet_spec.tools.summary import Options, summary_json, summary_text, totals
from alexnet_spec.errors import SpecError
from tests.conftest import SPECS_DIR, run_cli

# torchinfo 1.8.0's summary of torchvision's AlexNet at input (1, 3, 224, 224), as it prints them (the same lines
# appear in published torchinfo outputs of torchvision.models.alexnet; re-measured here with
# `torchinfo.summary(alexnet_spec.build(load("specs/alexnet_torchvision.yaml"), "torch"), (1, 3, 224, 224))`):
#   Total params: 61,100,840                 Total mult-adds (M): 714.68
#   Input size (MB): 0.60                    Forward/backward pass size (MB): 3.95      Params size (MB): 244.40
# torchinfo's conventions (torchinfo/model_statistics.py): MB are 10^6 bytes; "forward/backward pass size" is twice
# the output bytes of each layer that has parameters ("x2 for gradients"); its mult-adds count one addition per output
# element of a layer with a bias, on top of the weights' multiply-accumulates.
TORCHINFO = {"params": 61_100_840, "mult_adds_m": "714.68", "input_mb": "0.60", "forward_backward_mb": "3.95",
             "params_mb": "244.40"}


def test_torchvision_alexnet_matches_torchinfo():
    net = load_network(SPECS_DIR / "alexnet_torchvision.yaml")
    figures = totals(net, Options(batch=1, dtype="float32"))
    assert figures["total_params"] == figures["trainable_params"] == TORCHINFO["params"]
    assert figures["non_trainable_params"] == 0
    assert f"{figures['param_bytes'] / 1e6:.2f}" == TORCHINFO["params_mb"]
    assert f"{figures['input_bytes'] / 1e6:.2f}" == TORCHINFO["input_mb"]
    with_params = [layer for layer in net.layers if layer.params]
    forward_backward = sum(2 * prod(layer.output_shape) * 4 for layer in with_params)
    assert f"{forward_backward / 1e6:.2f}" == TORCHINFO["forward_backward_mb"]
    bias_adds = sum(prod(layer.output_shape) for layer in with_params)  # every layer with parameters has a bias
    assert f"{(net.total_macs + bias_adds) / 1e6:.2f}" == TORCHINFO["mult_adds_m"]
    assert net.total_macs == 714_188_480 and figures["flops"] == 2 * 714_188_480


def test_paper_alexnet_by_hand_at_batch_8_in_float16():
    net = load_network(SPECS_DIR / "alexnet.yaml")
    data = summary_json(net, Options(batch=8, dtype="float16"))
    layers = {layer["name"]: layer for layer in data["layers"]}
    # conv1: 96 kernels of 11×11×3 plus 96 biases; each of its 96×55×55 outputs takes 11·11·3 = 363 MACs.
    assert layers["conv1"]["params"] == 96 * 363 + 96 == 34_944
    assert layers["conv1"]["macs"] == 96 * 55 * 55 * 363 == 105_415_200
    assert layers["conv1"]["flops"] == 2 * 105_415_200
    assert layers["conv1"]["activation_bytes"] == 96 * 55 * 55 * 8 * 2 == 4_646_400  # 8 images, 2 bytes each
    assert layers["conv1"]["input_shapes"] == [[3, 227, 227]] and layers["conv3"]["input_shapes"] == [[256, 13, 13]]
    assert layers["fc6"]["input_shapes"] == [[9216]] and layers["fc6"]["activation_bytes"] == 4096 * 8 * 2
    assert data["param_bytes"] == 60_965_224 * 2 and data["input_bytes"] == 3 * 227 * 227 * 8 * 2
    assert data["activation_bytes"] == sum(prod(layer["output_shape"]) * 16 for layer in data["layers"])
    assert data["total_flops"] == 2 * 724_406_816 and data["bytes_per_element"] == 2
    assert data["devices"]["gpu0"]["params"] == 30_482_612  # half of every split layer


def test_batchnorm_statistics_are_the_non_trainable_parameters():
    net = load_network(SPECS_DIR / "alexnet_keras_bn.yaml")
    figures = totals(net, Options())
    batchnorms = [layer for layer in net.layers if layer.type == "batchnorm"]
    # Keras counts each batchnorm's moving mean and variance (2 per channel) as non-trainable parameters, and its
    # gamma and beta (2 per channel) as trainable.
    assert figures["non_trainable_params"] == sum(2 * layer.output_shape[0] for layer in batchnorms) == 21_136
    assert figures["trainable_params"] == 28_075_633
    assert figures["total_params"] == 28_075_633 + 21_136


@pytest.mark.parametrize("batch, dtype, message", [(0, "float32", "--batch must be between 1"),
                                                   (1, "flaot16", "did you mean 'float16'?"),
                                                   (1, "int8", "one of: float16, bfloat16, float32, float64")])
def test_bad_batch_or_dtype(batch, dtype, message):
    with pytest.raises(SpecError) as error:
        Options(batch, dtype)
    assert message in str(error.value)


def test_table_fits_80_columns_and_moves_the_arithmetic_under_the_row():
    for name in ("alexnet.yaml", "alexnet_torchvision.yaml", "alexnet_keras_bn.yaml", "caffenet.yaml"):
        text = summary_text(load_network(SPECS_DIR / name), Options(), 80)
        assert max(len(line) for line in text.splitlines()) <= 80, name
    text = summary_text(load_network(SPECS_DIR / "alexnet.yaml"), Options(), 80).splitlines()
    row = next(index for index, line in enumerate(text) if line.startswith("conv1 "))
    assert "105,415,200" in text[row] and text[row + 1].strip() == "(227 + 2*0 - 11)/4 + 1 = 55"
    wide = summary_text(load_network(SPECS_DIR / "alexnet.yaml"), Options(), 200).splitlines()
    assert any(line.startswith("conv1 ") and line.endswith("(227 + 2*0 - 11)/4 + 1 = 55") for line in wide)


def test_command_reports_memory_for_batch_and_dtype(tmp_path):
    result = run_cli("summary", "specs/alexnet.yaml", "--batch", "8", "--dtype", "bfloat16", "-o",
                     str(tmp_path / "summary.txt"), env={"COLUMNS": "80"})
    assert result.returncode == 0 and result.stdout == ""
    text = (tmp_path / "summary.txt").read_text(encoding="utf-8")
    assert "batch 8, bfloat16" in text and "parameter memory: 121.93 MB in bfloat16" in text
    assert "FLOPs: 1,448,813,632 (FLOPs = 2 × MACs" in text
    data = json.loads(run_cli("summary", "specs/lenet5.yaml", "--json", "-n", "4").stdout)
    assert data["batch"] == 4 and data["layers"][0]["activation_bytes"] == 6 * 28 * 28 * 4 * 4


def test_blocks_are_a_tree_that_collapses_to_a_depth():
    from alexnet_spec.tools.summary import Options, entries, summary_json, summary_text
    from tests.conftest import resolve_text
    from tests.passes.test_graph import RESIDUAL

    net = resolve_text(RESIDUAL)
    full = entries(net)
    assert [entry.label for entry in full[:4]] == ["stem", "layer1", "  0", "    conv1"]
    assert full[2].kind == "basic (channels=8, stride=1, downsample=false)" and full[1].kind == "2 × basic"
    top = entries(net, depth=0)
    assert [(entry.label, len(entry.layers)) for entry in top] == [("stem", 1), ("layer1", 14), ("layer2", 16),
                                                                    ("pool", 1), ("fc", 1)]
    layer2 = top[2]
    assert sum(layer.params for layer in layer2.layers) == sum(
        layer.params for layer in net.layers if layer.name.startswith("layer2."))
    assert layer2.output.output_shape == (16, 8, 8)
    one = [entry.label for entry in entries(net, depth=1)]
    assert one[:4] == ["stem", "layer1", "  0", "  1"]
    text = summary_text(net, Options(depth=0), 100)
    assert "layer2  2 × basic" in text and "16 layers" in text
    data = summary_json(net)
    assert {"name": "layer2.0", "kind": "instance", "block": "basic",
            "args": {"channels": 16, "stride": 2, "downsample": True},
            "members": ["conv1", "bn1", "relu1", "conv2", "bn2", "down_conv", "down_bn", "add", "relu2"]} \
        in data["blocks"]


def test_multiples_are_shown_with_the_integers_they_give():
    from alexnet_spec.tools.summary import Options, summary_text
    from tests.conftest import resolve_text
    from tests.passes.test_graph import RESIDUAL

    net = resolve_text(RESIDUAL, ["depth_multiple=0.5", "width_multiple=0.5"])
    text = summary_text(net, Options(), 120)
    assert "depth_multiple 0.5: repeat 2 -> 1 (layer1, layer2)" in text
    assert "width_multiple 0.5: out_channels 16 -> 8 (layer2.0.conv1, layer2.0.conv2, layer2.0.down_conv)" in text
