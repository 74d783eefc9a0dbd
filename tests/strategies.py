"""Hypothesis strategies: valid specs as random layer chains whose shapes stay valid, and invalid specs of every
error class. Specs are plain dicts (as YAML would give); `to_yaml` turns one into text."""

from __future__ import annotations

from hypothesis import strategies as st

from alexnet_spec.arithmetic import same_padding, window_output
from alexnet_spec.source.dump import to_yaml_text as to_yaml

DEVICES = ["d0", "d1"]


def _pair_size(size: tuple[int, int], kernel, stride, padding, dilation=(1, 1), ceil_mode=False, ceil_rule="torch"):
    if padding == "same":
        pads = same_padding(size[0], kernel[0], stride[0], dilation[0]) + same_padding(size[1], kernel[1], stride[1],
                                                                                       dilation[1])
    elif padding == "valid":
        pads = (0, 0, 0, 0)
    elif isinstance(padding, int):
        pads = (padding,) * 4
    elif len(padding) == 2:
        pads = (padding[0], padding[0], padding[1], padding[1])
    else:
        pads = tuple(padding)
    results = [window_output(size[axis], pads[2 * axis], pads[2 * axis + 1], kernel[axis], stride[axis],
                             dilation[axis], ceil_mode, ceil_rule, layer_padded=any(pads)) for axis in range(2)]
    whole = all(r.is_whole or r.rounded_up for r in results)
    return (results[0].size, results[1].size), whole


def _as_field(pair: tuple[int, int]):
    return pair[0] if pair[0] == pair[1] else list(pair)


@st.composite
def conv_layer(draw, channels: int, size: tuple[int, int], placed: bool):
    groups_options = [g for g in (1, 2, 3) if channels % g == 0]
    groups = draw(st.sampled_from(groups_options))
    if placed and groups not in (1, 2):
        groups = 1
    multiple = groups * (2 if placed else 1)
    out_channels = multiple * draw(st.integers(1, max(1, 8 // multiple)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    limit = [max(1, (size[axis] - 1) // dilation[axis] + 1) for axis in range(2)]
    kernel = (draw(st.integers(1, min(5, limit[0]))), draw(st.integers(1, min(5, limit[1]))))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.one_of(st.just("valid"), st.just("same"), st.integers(0, 2),
                             st.tuples(st.integers(0, 2), st.integers(0, 2)).map(list),
                             st.tuples(*[st.integers(0, 2)] * 4).map(list)))
    new_size, whole = _pair_size(size, kernel, stride, padding, dilation)
    layer = {"type": "conv", "out_channels": out_channels, "kernel": _as_field(kernel), "stride": _as_field(stride),
             "padding": padding, "dilation": _as_field(dilation), "groups": groups,
             "bias": draw(st.booleans())}
    if draw(st.booleans()):
        layer["activation"] = draw(st.sampled_from(["relu", "tanh", "sigmoid"]))
    if not whole:
        layer["allow_truncation"] = True
    return layer, out_channels, new_size


@st.composite
def pool_layer(draw, channels: int, size: tuple[int, int]):
    kernel = (draw(st.integers(1, min(4, size[0]))), draw(st.integers(1, min(4, size[1]))))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.one_of(st.tuples(st.integers(0, kernel[0] // 2), st.integers(0, kernel[1] // 2)).map(list),
                             st.just("same")))  # same: asymmetric at stride > 1, count_include_pad false by default
    ceil_mode = draw(st.booleans())
    kind = draw(st.sampled_from(["maxpool", "avgpool"]))
    ceil_rule = draw(st.sampled_from(["torch", "caffe"])) if ceil_mode else "torch"
    new_size, whole = _pair_size(size, kernel, stride, padding, ceil_mode=ceil_mode, ceil_rule=ceil_rule)
    if kind == "avgpool" and ceil_rule == "caffe":
        torch_size, torch_whole = _pair_size(size, kernel, stride, padding, ceil_mode=ceil_mode)
        if any(new_size[axis] != torch_size[axis] and (new_size[axis] - 1) * stride[axis] == size[axis]
               for axis in range(2)):  # Caffe's empty last window starts at the input's end: 0/0, refused
            ceil_rule, new_size, whole = "torch", torch_size, torch_whole
    layer = {"type": kind, "kernel": _as_field(kernel), "stride": _as_field(stride), "padding": padding,
             "ceil_mode": ceil_mode}
    if ceil_rule != "torch":
        layer["ceil_rule"] = ceil_rule
    if kind == "avgpool" and draw(st.booleans()):
        layer["count_include_pad"] = draw(st.booleans())
    if not whole:
        layer["allow_truncation"] = True
    return layer, channels, new_size


@st.composite
def lrn_layer(draw, channels: int, size: tuple[int, int], placed: bool):
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if channels % g == 0]))
    per_group = channels // groups
    window = draw(st.sampled_from([n for n in (1, 3, 5) if n <= per_group]))
    layer = {"type": "lrn", "alpha": draw(st.floats(1e-4, 1.0)), "beta": draw(st.floats(0.25, 1.0)),
             "k": draw(st.floats(0.5, 3.0)), "convention": draw(st.sampled_from(["paper", "tf", "caffe", "torch"])),
             "groups": groups}
    if draw(st.booleans()):
        layer["size"] = window
    else:
        layer["depth_radius"] = window // 2
    return layer, channels, size


@st.composite
def spatial_layer(draw, channels: int, size: tuple[int, int], placed: bool):
    kind = draw(st.sampled_from(["conv", "conv", "pool", "lrn", "relu", "tanh", "sigmoid", "batchnorm", "dropout",
                                 "adaptive"]))
    if kind == "conv":
        return draw(conv_layer(channels, size, placed))
    if kind == "pool":
        return draw(pool_layer(channels, size))
    if kind == "lrn":
        return draw(lrn_layer(channels, size, placed))
    if kind == "adaptive":
        out = (draw(st.integers(1, size[0] + 2)), draw(st.integers(1, size[1] + 2)))
        return {"type": "adaptive_avgpool", "output_size": _as_field(out)}, channels, out
    if kind == "batchnorm":
        return {"type": "batchnorm", "eps": draw(st.sampled_from([1e-5, 1e-3]))}, channels, size
    if kind == "dropout":
        return {"type": "dropout", "p": draw(st.sampled_from([0.0, 0.25, 0.5]))}, channels, size
    return {"type": kind}, channels, size


@st.composite
def valid_specs(draw, max_spatial: int = 5, allow_devices: bool = True) -> dict:
    """A spec dict whose every shape is valid; every layer type and padding form can appear."""
    placed = allow_devices and draw(st.booleans())
    channels = draw(st.integers(1, 4))
    size = (draw(st.integers(6, 20)), draw(st.integers(6, 20)))
    spec = {"name": "Generated", "input": {"channels": channels, "height": size[0], "width": size[1]}, "layers": []}
    if placed:
        spec["devices"] = list(DEVICES)
    # The first layer is a conv so a placed model has a split layer before any LRN or pooling.
    layer, channels, size = draw(conv_layer(channels, size, placed))
    spec["layers"].append(layer)
    for _ in range(draw(st.integers(0, max_spatial))):
        layer, channels, size = draw(spatial_layer(channels, size, placed))
        spec["layers"].append(layer)
    spec["layers"].append({"type": "flatten"})
    for _ in range(draw(st.integers(1, 2))):
        out = draw(st.integers(1, 6)) * (2 if placed else 1)
        dense = {"type": "dense", "out_features": out, "bias": draw(st.booleans())}
        if placed and draw(st.booleans()):
            dense["placement"] = draw(st.sampled_from(DEVICES))
        spec["layers"].append(dense)
        extra = draw(st.sampled_from([None, "relu", "batchnorm", "dropout"]))
        if extra:
            spec["layers"].append({"type": extra})
    if draw(st.booleans()):
        spec["layers"].append({"type": "softmax"})
    return spec


# Each mutation turns a valid spec into one that must be rejected with a located SpecError.
def _unknown_key(spec, draw):
    layer = draw(st.sampled_from(spec["layers"]))
    layer[draw(st.sampled_from(["kernal", "stides", "out_chanels", "colour"]))] = 3


def _wrong_type(spec, draw):
    conv = spec["layers"][0]
    conv[draw(st.sampled_from(["kernel", "out_channels", "stride", "groups"]))] = draw(
        st.sampled_from(["abc", -1, 0, [1, 2, 3], {"a": 1}, 1.5, True]))


def _missing_field(spec, draw):
    del spec["layers"][0][draw(st.sampled_from(["kernel", "out_channels"]))]


def _unknown_type(spec, draw):
    draw(st.sampled_from(spec["layers"]))["type"] = draw(st.sampled_from(["convv", "pool", "Dense", "lstm"]))


def _inexact(spec, draw):
    spec["input"]["height"] = 10
    spec["layers"][0] = {"type": "conv", "out_channels": 2, "kernel": 3, "stride": 2}  # (10 - 3)/2 + 1 = 4.5


def _bad_groups(spec, draw):
    spec["input"]["channels"] = 3
    spec["layers"][0].update({"groups": 2, "out_channels": 4})
    spec["layers"][0].pop("allow_truncation", None)


def _even_lrn(spec, draw):
    spec["layers"].insert(1, {"type": "lrn", "size": draw(st.sampled_from([2, 4])), "alpha": 1, "beta": 1, "k": 1,
                              "convention": "tf"})


def _no_flatten(spec, draw):
    spec["layers"] = [layer for layer in spec["layers"] if layer["type"] != "flatten"]
    spec["layers"][0].update({"padding": "same", "stride": 1, "dilation": 1})


def _duplicate_names(spec, draw):
    spec["layers"][0]["name"] = "same_name"
    spec["layers"][-1]["name"] = "same_name"


def _unknown_device(spec, draw):
    spec["devices"] = list(DEVICES)
    spec["layers"][0]["placement"] = "gpu9"


def _wrong_top_level(spec, draw):
    spec[draw(st.sampled_from(["layer", "inputs", "Name"]))] = 1


MUTATIONS = [_unknown_key, _wrong_type, _missing_field, _unknown_type, _inexact, _bad_groups, _even_lrn, _no_flatten,
             _duplicate_names, _unknown_device, _wrong_top_level]


@st.composite
def invalid_specs(draw) -> tuple[str, dict]:
    """(error class, spec dict) for a spec that alexspec must reject."""
    spec = draw(valid_specs(max_spatial=2, allow_devices=False))
    mutation = draw(st.sampled_from(MUTATIONS))
    mutation(spec, draw)
    return mutation.__name__.strip("_"), spec


def inputs(shape: tuple[int, ...], batch: int = 2):
    """Random input arrays of a network's input shape, float64 in [-1, 1]."""
    from hypothesis.extra.numpy import arrays

    return arrays("float64", (batch,) + tuple(shape), elements=st.floats(-1, 1, width=64))


# --- Bad input, as a new user or an attacker writes it: every command must do what the docs say or exit 2 ---

BAD_VALUES = [True, False, None, "0.5", "abc", "", float("nan"), float("inf"), float("-inf"), 10**40, -(10**40),
              2**63, 0, -1, 1e308, [], {}, [1, 2, 3], [True, 1], {"a": 1}, "class", "None", "ｆｏｒｗａｒｄ", "ﬁlter",
              "a'b\"c", "x\ny", "conv1", "forward", "register_forward_hook", "<script>"]
FIELDS = ["out_channels", "kernel", "stride", "padding", "dilation", "groups", "bias", "activation", "name", "alpha",
          "beta", "k", "size", "p", "eps", "momentum", "output_size", "out_features", "init", "placement",
          "allow_truncation", "ceil_mode", "type", "convention", "depth_radius"]


@st.composite
def spec_with_bad_value(draw) -> dict:
    """A valid spec with one value replaced by a bad one (a boolean, a string, NaN, a huge number, a keyword ...)."""
    spec = draw(valid_specs(max_spatial=2, allow_devices=False))
    where = draw(st.sampled_from(["layer", "input", "top"]))
    value = draw(st.sampled_from(BAD_VALUES))
    if where == "layer":
        draw(st.sampled_from(spec["layers"]))[draw(st.sampled_from(FIELDS))] = value
    elif where == "input":
        spec["input"][draw(st.sampled_from(["channels", "height", "width"]))] = value
    else:
        spec[draw(st.sampled_from(["name", "devices", "allow_truncation", "init", "layers"]))] = value
    return spec


def _alias_bomb(levels: int, width: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]" for level in range(1, levels)]
    return "\n".join(lines) + "\nname: Bomb\n"


@st.composite
def bad_yaml_texts(draw) -> str:
    """Spec text that is not a spec, or not YAML: alias bombs, deep nesting, huge numbers, truncations, garbage."""
    kind = draw(st.sampled_from(["bomb", "recursive", "deep", "digits", "truncated", "garbage", "bad_value", "tags"]))
    if kind == "bomb":
        return _alias_bomb(draw(st.integers(3, 10)), draw(st.integers(5, 10)))
    if kind == "recursive":
        return "name: &n [1, *n]\n"
    if kind == "deep":
        depth = draw(st.integers(60, 3000))
        return "name: " + draw(st.sampled_from(["[", "{a: "])) * depth + "\n"
    if kind == "digits":
        return f"name: X\ninput: {{channels: 3, height: {'9' * draw(st.integers(20, 6000))}, width: 8}}\nlayers: []\n"
    text = to_yaml(draw(valid_specs(max_spatial=2, allow_devices=False)))
    if kind == "truncated":
        return text[: draw(st.integers(0, len(text)))]
    if kind == "garbage":
        return draw(st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"%@`#,? \n\tab1.\\")), max_size=200))
    if kind == "tags":
        return text.replace("name:", draw(st.sampled_from(["name: !!binary", "name: !python/object", "name: !!set",
                                                            "name: !!timestamp", "name: !!float"])), 1)
    return to_yaml(draw(spec_with_bad_value()))


def truncated_or_corrupted(data: bytes):
    """Bytes of a real file cut short, with a few bytes changed, or replaced by random bytes."""
    return st.one_of(
        st.integers(0, max(len(data) - 1, 0)).map(lambda end: data[:end]),
        st.tuples(st.integers(0, max(len(data) - 1, 0)), st.binary(min_size=1, max_size=8)).map(
            lambda edit: data[:edit[0]] + edit[1] + data[edit[0] + len(edit[1]):]),
        st.binary(max_size=300),
    )


PROTOTXT_ATTACKS = [
    "layer {" * 5000,
    'name: "X"\ninput: "data"\ninput_dim: ' + "9" * 5000 + "\n",
    'name: "' + "\\101" * 20000 + '"\n',
    'layer { name: "a" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 1000000000 dim: 9 } } }\n',
    'layer { name: "a" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 9 dim: 9 } } }\n'
    'layer { name: "n" type: "LRN" bottom: "data" top: "n" lrn_param { alpha: nan beta: inf k: -inf } }\n',
]
