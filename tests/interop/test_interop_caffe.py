"""Caffe deploy prototxts in both header styles: sizes by Caffe's own arithmetic, conventions made explicit, Caffe's
numbers reproduced by the imported spec, and located errors for what the spec language cannot express."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alexnet_spec import backends
from alexnet_spec.errors import SpecError
from alexnet_spec.interop.caffe import caffe_pool_size, import_prototxt
from alexnet_spec.resolved import Constant, Normal, Uniform
from alexnet_spec.source.loading import parse_network
from tests.interop.caffe_models import (
    ALEXNET,
    ALEXNET_HEADER,
    CAFFE_NET,
    LENET,
    LENET_SIZE,
    caffe_conv,
    caffe_net_forward,
    caffe_net_weights,
    caffe_pooling,
    conv,
    fc,
    line_of,
    pool,
    relu,
)


def imported(tmp_path, text, name="deploy.prototxt"):
    path = tmp_path / name
    path.write_text(text)
    spec_text = import_prototxt(path)
    return parse_network(spec_text, str(tmp_path / "imported.yaml")), spec_text


def header_of(spec_text: str) -> str:
    """The spec's header comments as one line (they are wrapped at 118 columns)."""
    return " ".join(line.lstrip("#").strip() for line in spec_text.splitlines() if line.startswith("#"))


def import_error(tmp_path, text):
    path = tmp_path / "bad.prototxt"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        import_prototxt(path)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.file == str(path)
    return diagnostic


def test_paper_alexnet_in_the_modern_header(tmp_path):
    net, text = imported(tmp_path, ALEXNET)
    assert net.total_params == 60_965_224
    sizes = [(layer.name, layer.output_shape) for layer in net.layers if layer.type in ("conv", "maxpool", "flatten")]
    assert sizes == [("conv1", (96, 55, 55)), ("pool1", (96, 27, 27)), ("conv2", (256, 27, 27)),
                     ("pool2", (256, 13, 13)), ("conv3", (384, 13, 13)), ("conv4", (384, 13, 13)),
                     ("conv5", (256, 13, 13)), ("pool5", (256, 6, 6)), ("fc6_flatten", (9216,))]
    norm = net.layer("norm1").attrs
    assert (norm.convention, norm.size, norm.alpha, norm.beta, norm.k) == ("caffe", 5, 1e-4, 0.75, 1.0)
    assert net.layer("conv2").attrs.groups == 2 and net.layer("conv3").attrs.groups == 1
    assert [layer.type for layer in net.layers][-4:] == ["relu", "dropout", "dense", "softmax"]
    assert all(net.layer(name).attrs.ceil_mode for name in ("pool1", "pool2", "pool5"))
    assert net.layer("conv2").attrs.bias_init == Constant(1.0)
    assert net.layer("fc6").attrs.weight_init == Normal(0.0, 0.005)
    assert net.name == "AlexNet" and net.input_shape == (3, 227, 227)


def test_legacy_header_and_caffes_round_up(tmp_path):
    net, text = imported(tmp_path, LENET)
    assert net.input_shape == (1, LENET_SIZE, LENET_SIZE)

    def caffe_pool(size, kernel=2, stride=2):  # pooling_layer.cpp: ceil((size + 2*0 - kernel) / stride) + 1
        return math.ceil((size - kernel) / stride) + 1

    conv1 = LENET_SIZE - 5 + 1
    pool1 = caffe_pool(conv1)
    conv2 = pool1 - 5 + 1
    pool2 = caffe_pool(conv2)
    assert (conv1, pool1, conv2, pool2) == (26, 13, 9, 5)
    assert (conv2 - 2) // 2 + 1 == 4  # PyTorch's default floor would give 4: the round-up matters here
    assert net.layer("pool2").output_shape == (50, pool2, pool2)
    assert net.layer("ip1_flatten").output_shape == (50 * pool2 * pool2,) == (1250,)
    assert net.layer("ip1").attrs.in_features == 1250
    assert "pool2 (it changes the size: 5 instead of floor's 4)" in header_of(text)


def test_legacy_header_with_input_shape(tmp_path):
    text = LENET.replace("input_dim: 64\ninput_dim: 1\ninput_dim: 30\ninput_dim: 30\n",
                         "input_shape { dim: 1 dim: 1 dim: 28 dim: 28 }\n")
    net, _ = imported(tmp_path, text)
    assert net.input_shape == (1, 28, 28) and net.layer("ip1_flatten").output_shape == (800,)


def test_the_spec_shows_what_caffe_left_implicit(tmp_path):
    path = tmp_path / "deploy.prototxt"
    path.write_text(ALEXNET.replace("  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }\n", "", 1))
    text = import_prototxt(path, directory=tmp_path)
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header[0].startswith("# yaml-language-server: $schema=") and header[0].endswith("alexspec.schema.json")
    comments = header_of(text)
    assert f"from the Caffe prototxt {path}" in comments and "60,965,224 parameters" in comments
    assert "norm1, norm2: convention: caffe (Caffe divides alpha by local_size)" in comments
    assert "norm1: Caffe's defaults written out: local_size 5, alpha 1, beta 0.75, k 1" in comments
    assert "norm2: Caffe's defaults written out: k 1" in comments
    assert "pool1, pool2, pool5: Caffe rounds pooling sizes up: ceil_mode: true, ceil_rule: caffe" in comments
    assert "fc6_flatten: InnerProduct flattens its C×H×W input in C, H, W order" in comments
    assert "(N = 10)" in comments
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert "  - {type: lrn, name: norm1, size: 5, alpha: 1.0, beta: 0.75, k: 1.0, convention: caffe}" in body
    assert "  - {type: maxpool, name: pool1, kernel: 3, stride: 2, ceil_mode: true, ceil_rule: caffe}" in body


def test_layers_of_every_supported_kind(tmp_path):
    text = ('input: "data"\ninput_dim: 1\ninput_dim: 4\ninput_dim: 17\ninput_dim: 12\n'
            'layer { name: "c1" type: "Convolution" bottom: "data" top: "c1"\n'
            "  convolution_param { num_output: 6 kernel_h: 3 kernel_w: 5 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0\n"
            "    dilation: 2 bias_term: false engine: CAFFE } }\n"
            'layer { name: "bn1" type: "BatchNorm" bottom: "c1" top: "c1"\n'
            "  batch_norm_param { use_global_stats: true moving_average_fraction: 0.99 eps: 0.001 } }\n"
            'layer { name: "sc1" type: "Scale" bottom: "c1" top: "c1" scale_param { bias_term: true } }\n'
            'layer { name: "t1" type: "TanH" bottom: "c1" top: "c1" }\n'
            'layer { name: "p1" type: "Pooling" bottom: "c1" top: "p1"\n'
            "  pooling_param { pool: AVE kernel_h: 2 kernel_w: 3 stride: 2 pad: 1 } }\n"
            'layer { name: "train_only" type: "Dropout" bottom: "p1" top: "p1" include { phase: TRAIN } }\n'
            'layer { name: "g1" type: "Pooling" bottom: "p1" top: "g1"\n'
            "  pooling_param { pool: MAX global_pooling: true } }\n"
            'layer { name: "f1" type: "Flatten" bottom: "g1" top: "f1" }\n'
            'layer { name: "s1" type: "Sigmoid" bottom: "f1" top: "f1" }\n'
            'layer { name: "ip" type: "InnerProduct" bottom: "f1" top: "ip" inner_product_param { num_output: 3 } }\n')
    net, spec_text = imported(tmp_path, text)
    c1 = net.layer("c1")
    assert (c1.attrs.kernel, c1.attrs.stride, c1.attrs.padding, c1.attrs.dilation, c1.attrs.bias) == \
        ((3, 5), (2, 1), (1, 1, 0, 0), (2, 2), False)
    # Caffe: height (17 + 2 - 5)/2 + 1 = 8, width (12 - 9)/1 + 1 = 4.
    assert c1.output_shape == (6, 8, 4)
    bn = net.layer("bn1").attrs
    assert (bn.eps, bn.momentum) == (0.001, 0.01)
    assert [layer.type for layer in net.layers] == ["conv", "batchnorm", "tanh", "avgpool", "maxpool", "flatten",
                                                    "sigmoid", "dense"]
    # AVE 2×3, stride 2, pad 1 on 8×4: height ceil((8 + 2 - 2)/2) + 1 = 5, width ceil((4 + 2 - 3)/2) + 1 = 3;
    # with padding, Caffe drops a last window starting at or beyond size + pad: (5 - 1)*2 = 8 < 9, (3 - 1)*2 = 4 < 5.
    assert net.layer("p1").output_shape == (6, 5, 3)
    assert (net.layer("g1").attrs.kernel, net.layer("g1").output_shape) == ((5, 3), (6, 1, 1))
    assert "layers that Caffe leaves out of the TEST phase (include/exclude rules) not imported: 'train_only'" in \
        header_of(spec_text)


def test_global_average_pooling_is_adaptive(tmp_path):
    text = (ALEXNET_HEADER.replace("dim: 227 dim: 227", "dim: 13 dim: 11") + conv("conv1", "data", 8, 3)
            + 'layer { name: "gap" type: "Pooling" bottom: "conv1" top: "gap" '
              "pooling_param { pool: AVE global_pooling: true } }\n" + fc("fc", "gap", 2))
    net, spec_text = imported(tmp_path, text)
    assert net.layer("gap").type == "adaptive_avgpool" and net.layer("gap").output_shape == (8, 1, 1)
    assert "gap: global_pooling AVE: adaptive_avgpool with output_size 1" in header_of(spec_text)


# --- Caffe's numbers: the imported spec, run by alexspec's NumPy oracle, equals Caffe's layers (caffe_models.py) ---

def test_imported_spec_computes_what_caffe_computes(tmp_path):
    net, _ = imported(tmp_path, CAFFE_NET)
    # Sizes: conv 9 -> 5; AVE k2 s2 pad 1: ceil(5/2) + 1 = 4, but (4 - 1)*2 = 6 >= 5 + 1: Caffe drops it, 3;
    # MAX k2 s2 on 3: ceil(1/2) + 1 = 2 where a floor gives 1.
    assert [layer.output_shape for layer in net.layers if layer.type in ("conv", "avgpool", "maxpool")] == \
        [(6, 5, 5), (6, 3, 3), (6, 2, 2)]
    weights = caffe_net_weights()
    x = np.random.default_rng(8).standard_normal((2, 3, 9, 9))
    actual = backends.get("numpy").build(net).run(weights, x)
    np.testing.assert_allclose(actual, caffe_net_forward(weights, x), rtol=1e-12, atol=1e-15)


@given(size=st.integers(1, 40), kernel=st.integers(1, 7), stride=st.integers(1, 5), pad=st.integers(0, 3),
       ceil=st.booleans())
def test_caffes_pooling_arithmetic_is_the_caffe_ceil_rule(size, kernel, stride, pad, ceil):
    """Caffe's size (pooling_layer.cpp, Reshape) is alexspec's with ceil_rule: caffe, empty last windows included;
    the torch rule differs only by dropping such a window, which only an unpadded layer has."""
    from alexnet_spec.arithmetic import window_output

    if pad >= kernel or size + 2 * pad < kernel:
        return
    caffe = caffe_pool_size(size, pad, kernel, stride, ceil, pad > 0)
    assert caffe == window_output(size, pad, pad, kernel, stride, 1, ceil, "caffe").size
    torch_rule = window_output(size, pad, pad, kernel, stride, 1, ceil).size
    assert torch_rule == caffe or (pad == 0 and ceil and (caffe - 1) * stride >= size and torch_rule == caffe - 1)


def test_caffes_empty_last_max_window_is_imported(tmp_path):
    # 227 rows, kernel 1, stride 3: ceil(226/3) + 1 = 77 windows, the last starting at 228, past the input.
    net, text = imported(tmp_path, ALEXNET_HEADER + pool("p", "data", kernel=1, stride=3))
    assert net.layer("p").output_shape == (3, 77, 77) and "ceil_rule: caffe" in text
    x = np.random.default_rng(9).standard_normal((1, 3, 227, 227))
    actual = backends.get("numpy").build(net).run({}, x)
    np.testing.assert_array_equal(actual[0], caffe_pooling(x[0], "MAX", 1, 3, 0))


# --- fillers: the spec's init has Caffe's distribution (include/caffe/filler.hpp) ---

def spread(distribution):
    """(shape, mean, standard deviation) of a resolved distribution (its fans already applied)."""
    if isinstance(distribution, Normal):
        return "normal", distribution.mean, distribution.std
    if isinstance(distribution, Uniform):
        return "uniform", (distribution.low + distribution.high) / 2, (distribution.high - distribution.low) / 12 ** .5
    assert isinstance(distribution, Constant)
    return "constant", distribution.value, 0.0


@pytest.mark.parametrize("filler, group, variance_norm", [
    ("xavier", 1, "FAN_IN"), ("xavier", 2, "FAN_IN"), ("xavier", 1, "FAN_OUT"), ("xavier", 2, "FAN_OUT"),
    ("xavier", 1, "AVERAGE"), ("xavier", 2, "AVERAGE"), ("msra", 1, "FAN_IN"), ("msra", 2, "FAN_OUT"),
    ("msra", 1, "AVERAGE"), ("msra", 2, "AVERAGE"),
])
def test_fan_fillers_keep_caffes_variance(tmp_path, filler, group, variance_norm):
    out_c, in_c, kernel = 8, 6, 3
    text = (ALEXNET_HEADER.replace("dim: 3 dim: 227 dim: 227", f"dim: {in_c} dim: 9 dim: 9")
            + conv("conv1", "data", out_c, kernel, group=group,
                   filler=f'type: "{filler}" variance_norm: {variance_norm}'))
    net, _ = imported(tmp_path, text)
    attrs = net.layer("conv1").attrs
    # Caffe's fans come from the weight blob (out, in/group, k, k): count / shape[0] and count / shape[1].
    count = out_c * (in_c // group) * kernel * kernel
    n = {"FAN_IN": count / out_c, "FAN_OUT": count / (in_c // group),
         "AVERAGE": (count / out_c + count / (in_c // group)) / 2}[variance_norm]
    shape, mean, std = spread(attrs.weight_init)
    expected = ("uniform", 1 / n ** .5) if filler == "xavier" else ("normal", (2 / n) ** .5)  # U(±sqrt(3/n))
    assert (shape, mean) == (expected[0], 0.0)
    assert std == pytest.approx(expected[1], rel=1e-12)
    assert attrs.bias_init == Constant(0.0)  # Caffe's default bias filler, made explicit


def test_other_fillers(tmp_path):
    text = (ALEXNET_HEADER + conv("conv1", "data", 4, 3, filler='type: "gaussian" mean: 0.5 std: 0')
            + fc("fc1", "conv1", 3).replace('weight_filler { type: "gaussian" std: 0.005 }',
                                            'bias_filler { type: "uniform" min: -0.5 max: 0.25 }'))
    net, spec_text = imported(tmp_path, text)
    assert net.layer("conv1").attrs.weight_init == Constant(0.5)
    assert net.layer("fc1").attrs.weight_init == Constant(0.0)
    assert net.layer("fc1").attrs.bias_init == Uniform(-0.5, 0.25)
    assert "the weight filler Caffe defaults to, constant 0, next to the one given" in header_of(spec_text)


def test_deploy_without_fillers_keeps_the_spec_default(tmp_path):
    net, _ = imported(tmp_path, ALEXNET_HEADER + 'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" '
                                                 "inner_product_param { num_output: 2 } }\n")
    assert net.spec.layers[-1].init is None and net.spec.init == "torch"


def test_names_are_made_legal_openly(tmp_path):
    text = (ALEXNET_HEADER.replace('name: "AlexNet"', 'name: "bvlc-alexnet"')
            + conv("conv1/7x7_s2", "data", 4, 3) + relu("x", "conv1/7x7_s2"))
    net, spec_text = imported(tmp_path, text)
    assert [layer.name for layer in net.layers] == ["conv1_7x7_s2", "x_relu"]
    assert net.name == "bvlc_alexnet"
    assert "'conv1/7x7_s2' -> conv1_7x7_s2, 'x' -> x_relu" in header_of(spec_text)


# --- errors: located at the prototxt's line and column, naming the layer ---

def test_unbalanced_braces(tmp_path):
    text = ALEXNET.replace("  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }\n}\n",
                           "  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }\n", 1)
    diagnostic = import_error(tmp_path, text)
    assert "this '{' is never closed" in diagnostic.message
    assert (diagnostic.line, diagnostic.column) == (line_of(text, 'layer {\n  name: "norm1"')[0], 7)
    diagnostic = import_error(tmp_path, ALEXNET + "}\n")
    assert "'}' closes no open block" in diagnostic.message and diagnostic.line == ALEXNET.count("\n") + 1


def test_unknown_enum_at_its_value(tmp_path):
    text = ALEXNET.replace("pool: MAX", "pool: MEDIAN", 1)
    diagnostic = import_error(tmp_path, text)
    assert diagnostic.message == "unknown value MEDIAN for pool"
    assert diagnostic.expected == "one of MAX, AVE, STOCHASTIC (Caffe's PoolMethod)"
    assert (diagnostic.line, diagnostic.column) == line_of(text, "MEDIAN") and diagnostic.layer == "pool1"


def test_missing_num_output(tmp_path):
    text = ALEXNET.replace("    num_output: 256\n", "", 1)
    diagnostic = import_error(tmp_path, text)
    assert diagnostic.message == "convolution_param has no num_output" and diagnostic.layer == "conv2"
    assert (diagnostic.line, diagnostic.column) == line_of(text, "convolution_param", 2)


@pytest.mark.parametrize("change, message, at, layer", [
    (("lrn_param { local_size: 5", "lrn_param { norm_region: WITHIN_CHANNEL local_size: 5"),
     "norm_region: WITHIN_CHANNEL is not supported", ("WITHIN_CHANNEL", 1), "norm1"),
    (('type: "Softmax"', 'type: "Eltwise" eltwise_param { operation: MAX }'),
     "Eltwise operation MAX is not supported", ("MAX }", 1), "prob"),
    (('bottom: "conv2"\n  top: "norm2"', 'bottom: "conv9"\n  top: "norm2"'),
     "the layer reads 'conv9', which no earlier layer writes", ('"conv9"\n  top: "norm2"', 1), "norm2"),
    (("num_output: 384", "num_ouput: 384"), "unknown field 'num_ouput' in convolution_param", ("num_ouput", 1),
     "conv3"),
    (("num_output: 384", 'num_output: "384"'), 'num_output must be a whole number, 0 or more, not "384"',
     ('"384"', 1), "conv3"),
    (("pool: MAX kernel_size: 3 stride: 2", "pool: STOCHASTIC kernel_size: 3 stride: 2"),
     "pool: STOCHASTIC is not supported", ("STOCHASTIC", 1), "pool1"),
    (('type: "ReLU" bottom: "fc6" top: "fc6" }', 'type: "ReLU" bottom: "fc6" top: "fc6" '
                                                 "relu_param { negative_slope: -0.1 } }"),
     "negative_slope: expected a non-negative number (0 or more), got -0.1", ("negative_slope", 1), "relu6"),
    (('weight_filler { type: "gaussian" std: 0.01 }', 'weight_filler { type: "bilinear" }'),
     "filler type 'bilinear' has no spec equivalent", ('"bilinear"', 1), "conv1"),
    (("group: 2", "group: 3"), "256 output channels are not divisible by groups=3", ("group: 3", 1), "conv2"),
])
def test_unsupported_or_invalid_layers_are_located(tmp_path, change, message, at, layer):
    text = ALEXNET.replace(*change, 1)
    diagnostic = import_error(tmp_path, text)
    assert message in diagnostic.message
    assert (diagnostic.line, diagnostic.column) == line_of(text, *at) and diagnostic.layer == layer


@pytest.mark.parametrize("text, message", [
    (LENET.replace('input: "data"\n', 'layers { name: "x" }\ninput: "data"\n'), "both V1 `layers` and `layer` blocks"),
    (LENET.replace('input: "data"\n', ""), "no input"),
    (LENET.replace("input_dim: 64\n", ""), "the input shape is [1, 30, 30]"),
    (ALEXNET_HEADER + 'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data" }\n' + relu("r", "data"),
     "a BatchNorm must be followed by its Scale layer"),
    (ALEXNET_HEADER + 'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data" }\n'
     'layer { name: "sc" type: "Scale" bottom: "data" top: "data" }\n', "a Scale without bias_term: true has no shift"),
    (ALEXNET_HEADER + pool("p", "data", kernel=1, stride=227, method="AVE"),
     "Caffe's last pooling window starts at 227, right after the input's 227 rows/columns: Caffe averages it as 0/0"),
    (ALEXNET_HEADER + pool("p", "data", kernel=3, stride=2, pad=3), "padding 3 is not smaller than the kernel 3"),
    (ALEXNET_HEADER + pool("p", "data", kernel=3, stride=0), "stride 0 is not positive"),
    (ALEXNET_HEADER + 'layer { name: "d" type: "Data" top: "data" }\n', "layer type 'Data' is not supported"),
])
def test_header_and_structure_errors(tmp_path, text, message):
    diagnostic = import_error(tmp_path, text)
    assert message in diagnostic.message and diagnostic.line is not None


def test_a_missing_file(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        import_prototxt(tmp_path / "missing.prototxt")


# --- the import is linear in the number of layers ---

def _chain_of_unnamed_relus(count: int) -> str:
    """An Input, a conv and `count` unnamed in-place ReLUs: each needs a generated name."""
    return ('name: "Chain"\nlayer { name: "data" type: "Input" top: "data" '
            "input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
            'layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
            "convolution_param { num_output: 2 kernel_size: 3 } }\n"
            + 'layer { type: "ReLU" bottom: "c" top: "c" }\n' * count)


def _best_time(function, repeats: int = 3) -> float:
    """The best of a few runs, without the garbage collector (whose passes over a growing heap add noise)."""
    import gc
    import time

    best = math.inf
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best


def test_caffe_import_time_grows_linearly_with_the_layers():
    # 4 times the layers: a linear import takes about 4 times as long; the quadratic one took 13 times as long
    # (naming each unnamed layer counted from relu1 again).
    from alexnet_spec.interop.caffe import convert

    small, large = (_chain_of_unnamed_relus(count) for count in (1000, 4000))
    ratio = _best_time(lambda: convert(large, "large.prototxt")) / _best_time(lambda: convert(small, "small.prototxt"), 5)
    assert ratio < 8, f"4× the layers took {ratio:.1f}× as long"


def test_writing_the_imported_spec_is_linear_in_the_layers():
    # spec_to_data (the imported spec as YAML data) looked each layer up with list.index: quadratic, 100 times
    # pydantic's own (linear) model_dump at 8,000 layers. Measured against that dump, in the same run, so that the
    # machine's speed cancels out.
    from alexnet_spec.source.dump import spec_to_data
    from alexnet_spec.spec.network import NetworkSpec

    spec = NetworkSpec.model_validate({"name": "Chain", "input": {"channels": 1, "height": 4, "width": 4},
                                       "layers": [{"type": "relu", "name": f"relu{index}"} for index in range(8000)]})
    dump = _best_time(lambda: spec.model_dump(mode="json", exclude_defaults=True))
    ratio = _best_time(lambda: spec_to_data(spec)) / dump
    assert ratio < 12, f"spec_to_data took {ratio:.1f}× as long as model_dump"


def test_unnamed_layers_are_numbered_in_order():
    from alexnet_spec.interop.caffe import convert

    names = [layer["name"] for layer in convert(_chain_of_unnamed_relus(3), "x.prototxt").data["layers"]]
    assert names == ["c", "relu1", "relu2", "relu3"]


# --- graphs: Concat, Eltwise, Split, bottoms other than the previous layer's top ---

GRAPH_HEADER = ALEXNET_HEADER.replace("dim: 227 dim: 227", "dim: 9 dim: 9")


def eltwise(name, bottoms, params=""):
    reads = " ".join(f'bottom: "{bottom}"' for bottom in bottoms)
    return f'layer {{ name: "{name}" type: "Eltwise" {reads} top: "{name}" {params}}}\n'


def test_a_residual_block_is_an_add_and_inputs_are_written_only_off_the_chain(tmp_path):
    text = (GRAPH_HEADER + conv("conv1", "data", 4, 3, pad=1) + relu("relu1", "conv1")
            + conv("conv2", "conv1", 4, 3, pad=1) + eltwise("sum", ["conv1", "conv2"], "eltwise_param { coeff: 1 "
                                                                                      "coeff: 1 }")
            + 'layer { name: "cat" type: "Concat" bottom: "sum" bottom: "conv1" top: "cat" '
              "concat_param { concat_dim: 1 } }\n" + fc("fc", "cat", 3))
    net, spec_text = imported(tmp_path, text)
    assert net.layer("sum").inputs == ("relu1", "conv2") and net.layer("sum").output_shape == (4, 9, 9)
    assert net.layer("cat").output_shape == (8, 9, 9) and net.layer("cat").inputs == ("sum", "relu1")
    assert "- {type: conv, name: conv2, out_channels: 4" in spec_text  # reads relu1, the layer before it
    assert "- {type: add, name: sum, inputs: [relu1, conv2]}" in spec_text
    assert "outputs:" not in spec_text


@pytest.mark.parametrize("layers, message, at", [
    (eltwise("sum", ["conv1", "conv2"], "eltwise_param { operation: PROD }"),
     "Eltwise operation PROD is not supported", ("PROD", 1)),
    (eltwise("sum", ["conv1", "conv2"], "eltwise_param { coeff: 1 coeff: -1 }"),
     "Eltwise coefficients [1.0, -1.0] for 2 bottoms", ("-1", 1)),
    (eltwise("sum", ["conv1", "pool"]), "Eltwise of blobs of shapes 4×9×9, 4×4×4", ('"Eltwise"', 1)),
    ('layer { name: "cat" type: "Concat" bottom: "conv1" bottom: "conv2" top: "cat" concat_param { axis: 2 } }\n',
     "Concat along axis 2 of (N, 4, 9, 9) blobs", ("2 } }", 1)),
    ('layer { name: "cat" type: "Concat" bottom: "conv1" bottom: "pool" top: "cat" }\n',
     "Concat of blobs of shapes 4×9×9, 4×4×4", ('"Concat"', 1)),
    ('layer { name: "r" type: "ReLU" bottom: "conv1" bottom: "conv2" top: "r" }\n',
     "a ReLU layer with 2 bottoms", ('"conv2" top: "r"', 1)),
])
def test_graph_layers_the_spec_cannot_express_are_located(tmp_path, layers, message, at):
    text = (GRAPH_HEADER + conv("conv1", "data", 4, 3, pad=1) + conv("conv2", "conv1", 4, 3, pad=1)
            + pool("pool", "conv2") + layers)
    diagnostic = import_error(tmp_path, text)
    assert message in diagnostic.message
    assert (diagnostic.line, diagnostic.column) == line_of(text, *at)


def test_leaky_relu_and_elu_compute_what_caffe_computes(tmp_path):
    text = (GRAPH_HEADER + conv("conv1", "data", 4, 3, pad=1)
            + 'layer { name: "leaky" type: "ReLU" bottom: "conv1" top: "conv1" relu_param { negative_slope: 0.2 } }\n'
            + 'layer { name: "elu" type: "ELU" bottom: "conv1" top: "elu" elu_param { alpha: 0.5 } }\n')
    net, spec_text = imported(tmp_path, text)
    assert "- {type: leaky_relu, name: leaky, negative_slope: 0.2}" in spec_text
    assert "- {type: elu, name: elu, alpha: 0.5}" in spec_text
    rng = np.random.default_rng(3)
    weights = {"conv1.weight": rng.standard_normal((4, 3, 3, 3)), "conv1.bias": rng.standard_normal(4)}
    x = rng.standard_normal((2, 3, 9, 9))
    hidden = np.stack([caffe_conv(image, weights["conv1.weight"], weights["conv1.bias"], 1, 1) for image in x])
    hidden = np.maximum(hidden, 0) + 0.2 * np.minimum(hidden, 0)  # relu_layer.cpp
    expected = np.maximum(hidden, 0) + 0.5 * (np.exp(np.minimum(hidden, 0)) - 1)  # elu_layer.cpp
    actual = backends.get("numpy").build(net).run(weights, x)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)
