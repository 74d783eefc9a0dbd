"""Shape inference on inline specs: shapes, counts, padding forms, and every shape error."""

from __future__ import annotations

import pytest

from alexnet_spec.errors import SpecError
from tests.conftest import TINY_SPEC, resolve_text, spec_text


def errors_of(body: str, overrides=()) -> list:
    with pytest.raises(SpecError) as caught:
        resolve_text(body, overrides)
    return caught.value.diagnostics


def test_tiny_chain_and_generated_names():
    net = resolve_text(TINY_SPEC)
    assert [layer.name for layer in net.layers] == ["conv1", "relu1", "pool1", "flatten1", "fc1"]
    assert [layer.output_shape for layer in net.layers] == [(4, 12, 10), (4, 12, 10), (4, 6, 5), (120,), (5,)]
    assert net.layer("conv1").params == 4 * 3 * 9 + 4
    assert net.layer("conv1").macs == 4 * 3 * 9 * 12 * 10
    assert net.layer("fc1").params == 120 * 5 + 5


def test_same_padding_is_asymmetric_at_stride_two():
    net = resolve_text("""
        name: Same
        input: {channels: 1, height: 224, width: 9}
        layers:
          - {type: conv, out_channels: 2, kernel: 11, stride: 4, padding: same}
    """)
    conv = net.layer("conv1")
    assert conv.output_shape == (2, 56, 3)
    assert conv.attrs.padding == (3, 4, 5, 5)  # width: (3 - 1)*4 + 11 - 9 = 10


@pytest.mark.parametrize("padding, expected", [(2, (2, 2, 2, 2)), ([1, 2], (1, 1, 2, 2)),
                                               ([0, 1, 2, 3], (0, 1, 2, 3)), ("valid", (0, 0, 0, 0))])
def test_padding_forms(padding, expected):
    net = resolve_text(TINY_SPEC.replace("padding: 1", f"padding: {padding}").replace("height: 12", "height: 13")
                       .replace("width: 10", "width: 11"), ["allow_truncation=true"])
    assert net.layer("conv1").attrs.padding == expected


def test_batchnorm_counts_buffers_apart():
    net = resolve_text(TINY_SPEC.replace("- {type: relu}", "- {type: batchnorm}"))
    assert net.layer("bn1").params == 8 and net.layer("bn1").buffers == 8
    assert net.total_buffers == 8


def test_adaptive_pool_with_sizes_that_do_not_divide():
    net = resolve_text(TINY_SPEC.replace("{type: maxpool, kernel: 2, stride: 2}",
                                         "{type: adaptive_avgpool, output_size: [5, 3]}"))
    assert net.layer("avgpool1").output_shape == (4, 5, 3)


def test_truncation_error_shows_arithmetic_and_suggestions():
    [error] = errors_of("""
        name: T
        input: {channels: 3, height: 224, width: 224}
        layers:
          - {type: conv, name: conv1, out_channels: 96, kernel: 11, stride: 4}
    """)
    assert error.layer == "conv1"
    assert error.details == ("(224 + 2*0 - 11)/4 + 1 = 54.25",)
    assert "227 gives 55" in error.hint and "allow_truncation" in error.hint
    assert (error.line, error.column) == (4, 57)


def test_truncation_allowed_per_layer_floors():
    net = resolve_text("""
        name: T
        input: {channels: 3, height: 224, width: 224}
        layers:
          - {type: conv, out_channels: 96, kernel: 11, stride: 4, allow_truncation: true}
    """)
    assert net.layers[0].output_shape == (96, 54, 54)
    assert "floored to 54" in net.layers[0].equations[0]


def test_non_positive_size():
    [error] = errors_of(TINY_SPEC.replace("kernel: 3, padding: 1", "kernel: 15"))
    assert "not positive" in error.message


def test_groups_must_divide_channels():
    [error] = errors_of(TINY_SPEC.replace("kernel: 3, padding: 1", "kernel: 3, padding: 1, groups: 2"))
    assert "3 input channels are not divisible by groups=2" in error.message
    assert error.path == ("layers", 0, "groups")


def test_dense_without_flatten():
    [error] = errors_of(TINY_SPEC.replace("{type: flatten}", "{type: relu}"))
    assert "dense layer fed a 4×6×5 tensor" in error.message
    assert "flatten" in error.expected


def test_conv_after_flatten():
    [error] = errors_of(TINY_SPEC + "      - {type: conv, out_channels: 2, kernel: 1}\n")
    assert "needs a C×H×W input" in error.message


def test_lrn_window_even_and_oversized():
    even = errors_of(TINY_SPEC.replace("- {type: relu}", "- {type: lrn, size: 4, alpha: 1, beta: 1, k: 1, "
                                                         "convention: tf}"))
    assert "even" in even[0].message
    big = errors_of(TINY_SPEC.replace("- {type: relu}", "- {type: lrn, depth_radius: 2, alpha: 1, beta: 1, k: 1, "
                                                        "convention: tf}"))
    assert "wider than the 4 channels" in big[0].message


def test_lrn_needs_exactly_one_window():
    [error] = errors_of(TINY_SPEC.replace("- {type: relu}", "- {type: lrn, size: 3, depth_radius: 1, alpha: 1, "
                                                             "beta: 1, k: 1, convention: tf}"))
    assert "exactly one of" in error.message


def test_lrn_needs_a_convention():
    [error] = errors_of(TINY_SPEC.replace("- {type: relu}", "- {type: lrn, size: 3, alpha: 1, beta: 1, k: 1}"))
    assert "convention" in error.message


def test_duplicate_names():
    [error] = errors_of(TINY_SPEC.replace("- {type: relu}", "- {type: relu, name: x1}").replace(
        "- {type: flatten}", "- {type: flatten, name: x1}"))
    assert "duplicate layer name 'x1'" in error.message and error.line == 7


def test_reserved_and_invalid_names():
    reserved = errors_of(TINY_SPEC.replace("- {type: relu}", "- {type: relu, name: forward}"))
    assert "reserved" in reserved[0].message
    invalid = errors_of(TINY_SPEC.replace("- {type: relu}", "- {type: relu, name: 1abc}"))
    assert "identifier" in invalid[0].message


def test_unknown_device_and_uneven_split():
    errors = errors_of("""
        name: P
        input: {channels: 3, height: 8, width: 8}
        devices: [gpu0, gpu1]
        layers:
          - {type: conv, out_channels: 5, kernel: 1}
          - {type: conv, out_channels: 4, kernel: 1, placement: gpu7}
    """)
    messages = " | ".join(error.message for error in errors)
    assert "5 output channels cannot be split evenly over 2 devices" in messages
    assert "unknown device 'gpu7'" in messages


def test_placement_without_devices():
    [error] = errors_of(TINY_SPEC.replace("kernel: 3, padding: 1", "kernel: 3, padding: 1, placement: split"))
    assert "needs model-level `devices`" in error.message


def test_several_independent_errors_are_all_reported():
    errors = errors_of("""
        name: Many
        input: {channels: 3, height: 8, width: 8}
        layers:
          - {type: conv, out_channels: 4, kernel: 3, groups: 2}
          - {type: lrn, size: 9, alpha: 1, beta: 1, k: 1, convention: tf}
          - {type: dense, out_features: 3}
    """)
    assert len(errors) == 3
    assert [error.line for error in errors] == [4, 5, 6]


# --- issue 17: truncation permission per layer, `same` with kernel < stride, the printed ceil arithmetic ---

def test_truncation_permitted_on_one_layer_does_not_excuse_a_later_one():
    # conv1 floors with permission: (224 + 2*3 - 7)/2 + 1 = 112.5 -> 112. conv2 has none: (112 - 3)/2 + 1 = 55.5.
    [error] = errors_of("""
        name: T
        input: {channels: 3, height: 224, width: 224}
        layers:
          - {type: conv, name: conv1, out_channels: 4, kernel: 7, stride: 2, padding: 3, allow_truncation: true}
          - {type: conv, name: conv2, out_channels: 4, kernel: 3, stride: 2}
    """)
    assert error.layer == "conv2"
    assert error.details == ("(112 + 2*0 - 3)/2 + 1 = 55.5",)


def test_an_unpermitted_floor_is_reported_once_not_again_downstream():
    [error] = errors_of("""
        name: T
        input: {channels: 3, height: 224, width: 224}
        layers:
          - {type: conv, name: conv1, out_channels: 4, kernel: 7, stride: 2, padding: 3}
          - {type: conv, name: conv2, out_channels: 4, kernel: 3, stride: 2}
    """)
    assert error.layer == "conv1"


@pytest.mark.parametrize("layer", ["{type: conv, out_channels: 2, kernel: 1, stride: 2, padding: same}",
                                   "{type: maxpool, kernel: 1, stride: 2, padding: same}",
                                   "{type: avgpool, kernel: 2, stride: 3, padding: same}"])
@pytest.mark.parametrize("size", [6, 7, 11])
def test_same_with_a_kernel_smaller_than_the_stride_needs_no_permission(layer, size):
    net = resolve_text(f"""
        name: S
        input: {{channels: 1, height: {size}, width: {size}}}
        layers:
          - {layer}
    """)
    stride = 3 if "stride: 3" in layer else 2
    tensorflow = -(-size // stride)  # TensorFlow's SAME: output = ceil(input / stride), tf.nn.conv2d / pool docs
    assert net.layers[0].output_shape[1:] == (tensorflow, tensorflow)


def _equation_value(equation: str) -> int:
    """Evaluate the printed left-hand side `ceil((a + 2*p - k)/s) + 1` independently."""
    import math
    import re

    numbers = re.fullmatch(r"ceil\(\((\d+) \+ 2\*(\d+) - (\d+)\)/(\d+)\) \+ 1", equation)
    size, pad, kernel, stride = map(int, numbers.groups())
    return math.ceil((size + 2 * pad - kernel) / stride) + 1


def test_ceil_mode_arithmetic_evaluates_to_what_it_prints():
    # torch.nn.MaxPool2d(2, 2, padding=1, ceil_mode=True) on 5x5 gives 3x3 (PyTorch's pooling_output_shape).
    net = resolve_text("""
        name: C
        input: {channels: 1, height: 5, width: 5}
        layers:
          - {type: maxpool, kernel: 2, stride: 2, padding: 1, ceil_mode: true}
    """)
    [equation] = net.layers[0].equations
    shown, _, rest = equation.partition(" = ")
    assert int(rest.split(",")[0]) == _equation_value(shown) == 4
    assert equation.endswith("minus the window starting in the padding = 3")
    assert net.layers[0].output_shape == (1, 3, 3)


def _caffe_pooled(size: int, pad: int, kernel: int, stride: int) -> int:
    """BVLC Caffe, src/caffe/layers/pooling_layer.cpp, PoolingLayer::Reshape, transcribed:
    pooled = ceil((size + 2*pad - kernel) / stride) + 1; if (pad_h_ || pad_w_) { if ((pooled - 1) * stride >=
    size + pad) --pooled; }"""
    import math

    pooled = int(math.ceil(float(size + 2 * pad - kernel) / stride)) + 1
    if pad and (pooled - 1) * stride >= size + pad:
        pooled -= 1
    return pooled


@pytest.mark.parametrize("size, kernel, stride, pad", [(6, 2, 3, 0), (7, 1, 3, 0), (6, 2, 3, 1), (5, 2, 2, 1),
                                                       (13, 3, 2, 0), (8, 3, 2, 1), (9, 1, 4, 0)])
def test_caffe_ceil_rule_gives_caffes_sizes(size, kernel, stride, pad):
    net = resolve_text(f"""
        name: C
        input: {{channels: 1, height: {size}, width: {size}}}
        layers:
          - {{type: maxpool, kernel: {kernel}, stride: {stride}, padding: {pad}, ceil_mode: true, ceil_rule: caffe}}
    """)
    expected = _caffe_pooled(size, pad, kernel, stride)
    assert net.layers[0].output_shape == (1, expected, expected)


def test_caffe_rule_without_ceil_mode_is_an_error():
    [error] = errors_of("""
        name: C
        input: {channels: 1, height: 6, width: 6}
        layers:
          - {type: maxpool, kernel: 2, stride: 3, ceil_rule: caffe}
    """)
    assert "ceil_mode: true" in error.message and error.line == 4


def test_unknown_ceil_rule_names_the_rules():
    [error] = errors_of("""
        name: C
        input: {channels: 1, height: 6, width: 6}
        layers:
          - {type: maxpool, kernel: 2, stride: 3, ceil_mode: true, ceil_rule: cafe}
    """)
    assert "ceil_rule" in error.message and "'torch' or 'caffe'" in error.message and '"cafe"' in error.message
    assert error.line == 4


def test_caffe_average_of_an_empty_window_dividing_zero_by_zero_is_an_error():
    # 6x6, kernel 2, stride 3, no padding: Caffe's third window starts at 6 = H, pool_size (6 - 6)*... = 0.
    [error] = errors_of("""
        name: C
        input: {channels: 1, height: 6, width: 6}
        layers:
          - {type: avgpool, name: p, kernel: 2, stride: 3, ceil_mode: true, ceil_rule: caffe}
    """)
    assert error.layer == "p" and "0/0" in error.message and error.hint


@pytest.mark.parametrize("field", ["ceil_mode: 1", "count_include_pad: 0"])
def test_pool_flags_are_booleans_not_numbers(field):
    with pytest.raises(SpecError) as caught:
        resolve_text(f"""
            name: B
            input: {{channels: 1, height: 6, width: 6}}
            layers:
              - {{type: avgpool, kernel: 2, padding: 1, {field}}}
        """)
    [error] = caught.value.diagnostics
    assert "valid boolean" in error.message and error.line == 4


def test_adaptive_pool_bins_are_bounded():
    # 10**8 bins would be a JAX module listing 10**8 (start, end) pairs: a located error instead.
    from alexnet_spec.limits import MAX_ADAPTIVE_BINS

    body = TINY_SPEC.replace("{type: maxpool, kernel: 2, stride: 2}",
                             f"{{type: adaptive_avgpool, output_size: [2, {MAX_ADAPTIVE_BINS + 1}]}}")
    with pytest.raises(SpecError) as caught:
        resolve_text(body)
    [error] = caught.value.diagnostics
    line = spec_text(body).splitlines()[error.line - 1]
    assert error.layer == "avgpool1" and line[error.column - 1:].startswith("[2, ")  # at the output_size value
    assert f"at most {MAX_ADAPTIVE_BINS:,} bins per axis" in error.expected
    assert resolve_text(TINY_SPEC.replace("{type: maxpool, kernel: 2, stride: 2}",
                                          f"{{type: adaptive_avgpool, output_size: {MAX_ADAPTIVE_BINS}}}"))
