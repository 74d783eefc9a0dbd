"""Caffe deploy prototxts, both header styles, written here from Caffe's documented format."""

from __future__ import annotations

import pytest

from alexnet_spec.errors import SpecError
from alexnet_spec.interop.caffe import import_prototxt
from alexnet_spec.interop.prototxt import parse
from alexnet_spec.loading import parse_network
from tests.conftest import run_cli


def conv(name, bottom, num, kernel, stride=1, pad=0, group=1, bias_value=None):
    filler = f"bias_filler {{ type: \"constant\" value: {bias_value} }}" if bias_value is not None else ""
    return (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}"\n'
            f"  convolution_param {{ num_output: {num} kernel_size: {kernel} stride: {stride} pad: {pad} "
            f"group: {group}\n    weight_filler {{ type: \"gaussian\" std: 0.01 }} {filler} }} }}\n")


def relu(name, blob):
    return f'layer {{ name: "{name}" type: "ReLU" bottom: "{blob}" top: "{blob}" }}\n'


def pool(name, bottom, kernel=3, stride=2, method="MAX"):
    return (f'layer {{ name: "{name}" type: "Pooling" bottom: "{bottom}" top: "{name}"\n'
            f"  pooling_param {{ pool: {method} kernel_size: {kernel} stride: {stride} }} }}\n")


def lrn(name, bottom):
    return (f'layer {{ name: "{name}" type: "LRN" bottom: "{bottom}" top: "{name}"\n'
            "  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }\n")


def fc(name, bottom, num):
    return (f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{name}"\n'
            f"  inner_product_param {{ num_output: {num} }} }}\n")


ALEXNET = ('name: "AlexNet"\n'
           'layer { name: "data" type: "Input" top: "data"\n'
           "  input_param { shape: { dim: 10 dim: 3 dim: 227 dim: 227 } } }\n"
           + conv("conv1", "data", 96, 11, stride=4) + relu("relu1", "conv1") + lrn("norm1", "conv1")
           + pool("pool1", "norm1") + conv("conv2", "pool1", 256, 5, pad=2, group=2, bias_value=1)
           + relu("relu2", "conv2") + lrn("norm2", "conv2") + pool("pool2", "norm2")
           + conv("conv3", "pool2", 384, 3, pad=1) + relu("relu3", "conv3")
           + conv("conv4", "conv3", 384, 3, pad=1, group=2) + relu("relu4", "conv4")
           + conv("conv5", "conv4", 256, 3, pad=1, group=2) + relu("relu5", "conv5") + pool("pool5", "conv5")
           + fc("fc6", "pool5", 4096) + relu("relu6", "fc6")
           + 'layer { name: "drop6" type: "Dropout" bottom: "fc6" top: "fc6" dropout_param { dropout_ratio: 0.5 } }\n'
           + fc("fc7", "fc6", 4096) + relu("relu7", "fc7") + fc("fc8", "fc7", 1000)
           + 'layer { name: "prob" type: "Softmax" bottom: "fc8" top: "prob" }\n')

# The legacy header, at 30×30: pool2 sees 9×9, which Caffe rounds up to 5 (floor would give 4).
LENET = ('name: "LeNet"\ninput: "data"\ninput_dim: 64\ninput_dim: 1\ninput_dim: 30\ninput_dim: 30\n'
         + conv("conv1", "data", 20, 5) + pool("pool1", "conv1", 2, 2) + conv("conv2", "pool1", 50, 5)
         + pool("pool2", "conv2", 2, 2) + fc("ip1", "pool2", 500) + relu("relu1", "ip1") + fc("ip2", "ip1", 10))


def imported(tmp_path, text, name="deploy.prototxt"):
    path = tmp_path / name
    path.write_text(text)
    return parse_network(import_prototxt(path), str(path))


def test_paper_alexnet_in_the_modern_header(tmp_path):
    net = imported(tmp_path, ALEXNET)
    assert net.total_params == 60_965_224
    assert [layer.output_shape[1] for layer in net.layers if layer.type in ("conv", "maxpool")] == \
        [55, 27, 27, 13, 13, 13, 13, 6]
    norm = net.layer("norm1").attrs
    assert (norm.convention, norm.k, norm.size) == ("caffe", 1.0, 5)  # Caffe's default k, made explicit
    assert net.layer("conv2").attrs.bias_init.value == 1.0 and net.layer("conv1").attrs.weight_init.std == 0.01
    assert net.layer("fc6_flatten").output_shape == (9216,)


def test_legacy_header_and_caffes_round_up(tmp_path):
    net = imported(tmp_path, LENET)
    assert net.input_shape == (1, 30, 30)
    # Caffe: conv1 26, pool1 ceil((26 - 2)/2) + 1 = 13, conv2 9, pool2 ceil((9 - 2)/2) + 1 = 5.
    caffe_pool2 = -(-(9 - 2) // 2) + 1
    assert net.layer("ip1_flatten").output_shape == (50 * caffe_pool2 * caffe_pool2,) == (1250,)


def test_header_lists_what_was_made_explicit(tmp_path):
    path = tmp_path / "deploy.prototxt"
    path.write_text(ALEXNET)
    text = import_prototxt(path)
    assert text.startswith("# yaml-language-server: $schema=")
    assert "convention: caffe" in text and "ceil_mode: true" in text
    assert "Caffe defaults for k" in text


@pytest.mark.parametrize("text, needle, line", [
    (ALEXNET.replace("pool: MAX", "pool: MEDIAN", 1), "pooling method MEDIAN is not supported", None),
    (ALEXNET.replace("num_output: 96 ", "", 1), "missing num_output", 5),  # the convolution_param line of conv1
    (ALEXNET + "layer { name: \"x\" type: \"ReLU\"", "this '{' is never closed", None),
    (ALEXNET + "}\n", "unexpected '}'", None),
    (ALEXNET.replace('lrn_param { local_size: 5', 'lrn_param { norm_region: WITHIN_CHANNEL local_size: 5', 1),
     "norm_region WITHIN_CHANNEL is not supported", None),
    (ALEXNET.replace('type: "Softmax" bottom: "fc8"', 'type: "Concat" bottom: "fc8"'), "'Concat' is not supported",
     None),
])
def test_malformed_or_unsupported_prototxts_are_located(tmp_path, text, needle, line):
    path = tmp_path / "bad.prototxt"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        import_prototxt(path)
    [diagnostic] = caught.value.diagnostics
    assert needle in diagnostic.message and diagnostic.file == str(path) and diagnostic.line is not None
    if line is not None:
        assert diagnostic.line == line


def test_parser_keeps_positions_and_values():
    root = parse('name: "x"\nlayer {\n  top: "a"  # comment\n  p { v: -1.5e-3 w: TRUE }\n}\n')
    layer = root.first("layer")
    assert (layer.line, layer.column) == (2, 1)
    inner = layer.value.value("p")
    assert inner.value("v") == -1.5e-3 and inner.value("w").text == "TRUE"


def test_cli_import_writes_the_spec(tmp_path):
    (tmp_path / "deploy.prototxt").write_text(LENET)
    result = run_cli("import", "caffe", str(tmp_path / "deploy.prototxt"), "-o", str(tmp_path / "lenet.yaml"))
    assert result.returncode == 0, result.stderr
    assert run_cli("validate", str(tmp_path / "lenet.yaml")).returncode == 0
    bad = run_cli("import", "caffe", str(tmp_path / "missing.prototxt"), "-o", str(tmp_path / "x.yaml"))
    assert bad.returncode == 2 and not (tmp_path / "x.yaml").exists()
