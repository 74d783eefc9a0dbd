"""Hypothesis strategies: valid specs as random layer chains whose shapes stay valid, and invalid specs of every
error class. Specs are plain dicts (as YAML would give); `to_yaml` turns one into text."""

from __future__ import annotations

import math

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


# --- Graph specs: branches, merges, blocks with parameters, repeat, `when`, several outputs -----------------------
#
# Every spec validates by construction. The builder knows each tensor's shape through GraphModel, a second reading
# of the graph language (blocks expanded, `$name` substituted, `when`, repeat with `first`, depth and width multiples)
# written here for the layer types these strategies write, which also counts the parameters independently of
# alexnet_spec's passes. Blocks are generated as templates valid for any input: every layer of a block body keeps
# the height and width of the block's first layer (whose stride is `$stride`), channels are tracked as
# i*in + a*width + b so that `add` joins only layers equal for every instance, and a residual's shortcut
# projection (`when: $project`) is switched on wherever an instance needs it (GraphModel says where).

ACTIVATION_TYPES = ["relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "silu", "prelu"]
SHAPE_KEEPING = {"relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "silu", "prelu", "batchnorm", "dropout", "lrn",
                 "softmax"}


class InvalidGraph(Exception):
    """GraphModel met shapes that alexspec must reject (an add of two shapes, a concat of two sizes)."""


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _substituted(value, args: dict):
    if isinstance(value, str) and value.startswith("$"):
        return args[value[1:]]
    if isinstance(value, dict):
        return {key: _substituted(item, args) for key, item in value.items()}
    if isinstance(value, list):
        return [_substituted(item, args) for item in value]
    return value


class GraphModel:
    """Shapes and parameter counts of a graph spec dict (as graph_specs writes them), computed here."""

    def __init__(self, spec: dict):
        self.blocks = spec.get("blocks", {})
        self.width_multiple = spec.get("width_multiple", 1.0)
        self.depth_multiple = spec.get("depth_multiple", 1.0)

    def network(self, spec: dict) -> tuple[dict, int]:
        """({layer name at network level: shape}, parameters of the whole network)."""
        input_shape = (spec["input"]["channels"], spec["input"]["height"], spec["input"]["width"])
        return self.scope(spec["layers"], input_shape, {})

    def scope(self, layers: list[dict], input_shape: tuple, args: dict) -> tuple[dict, int]:
        values, params, previous = {"input": input_shape}, 0, "input"
        for raw in layers:
            layer = _substituted(raw, args)
            shapes = [values[name] for name in layer.get("inputs", [previous])]
            if not layer.get("when", True):
                values[layer["name"]] = shapes[0]
            elif layer["type"] == "block":
                values[layer["name"]], count = self.call(layer, shapes[0])
                params += count
            else:
                values[layer["name"]], count = self.leaf(layer, shapes)
                params += count
            previous = layer["name"]
        return values, params

    def call(self, layer: dict, shape: tuple) -> tuple[tuple, int]:
        definition = self.blocks[layer["block"]]
        repeat = layer.get("repeat", 1)
        if self.depth_multiple != 1 and repeat > 1:
            repeat = max(round(repeat * self.depth_multiple), 1)  # Ultralytics' rule
        params = 0
        for index in range(repeat):
            args = {**definition.get("params", {}), **layer.get("args", {})}
            if index == 0 and "repeat" in layer:
                args.update(layer.get("first", {}))
            values, count = self.scope(definition["layers"], shape, args)
            shape = values[definition.get("output", definition["layers"][-1]["name"])]
            params += count
        return shape, params

    def width(self, layer: dict) -> int:
        out = layer["out_channels"]
        if self.width_multiple == 1 or not layer.get("scale_width", True):
            return out
        return math.ceil(out * self.width_multiple / 8) * 8  # make_divisible(c * gw, 8)

    def leaf(self, layer: dict, shapes: list[tuple]) -> tuple[tuple, int]:
        kind, shape = layer["type"], shapes[0]
        if kind == "concat":
            if len({s[1:] for s in shapes}) != 1:
                raise InvalidGraph(f"concat of {shapes}")
            return (sum(s[0] for s in shapes),) + shape[1:], 0
        if kind == "add":
            if len(set(shapes)) != 1:
                raise InvalidGraph(f"add of {shapes}")
            return shape, 0
        if kind == "conv":
            out, groups = self.width(layer), layer.get("groups", 1)
            kernel = _pair(layer["kernel"])
            size, _ = _pair_size(shape[1:], kernel, _pair(layer.get("stride", 1)), layer.get("padding", 0),
                                 _pair(layer.get("dilation", 1)))
            bias = out if layer.get("bias", True) else 0
            return (out,) + size, out * shape[0] // groups * kernel[0] * kernel[1] + bias
        if kind in ("maxpool", "avgpool"):
            kernel = _pair(layer["kernel"])
            size, _ = _pair_size(shape[1:], kernel, _pair(layer.get("stride", kernel)), layer.get("padding", 0),
                                 ceil_mode=layer.get("ceil_mode", False), ceil_rule=layer.get("ceil_rule", "torch"))
            return (shape[0],) + size, 0
        if kind == "adaptive_avgpool":
            return (shape[0],) + _pair(layer["output_size"]), 0
        if kind == "flatten":
            return (math.prod(shape),), 0
        if kind in ("global_avgpool", "global_maxpool"):
            return (shape[0],), 0
        if kind == "dense":
            out = layer["out_features"]
            return (out,), out * shape[0] + (out if layer.get("bias", True) else 0)
        if kind == "batchnorm":
            return shape, 2 * shape[0]
        if kind == "prelu":
            return shape, shape[0] if layer.get("per_channel", False) else 1
        assert kind in SHAPE_KEEPING, kind
        return shape, 0


def graph_parameters(spec: dict) -> int:
    """The number of parameters of a graph spec dict, counted by GraphModel (not by alexnet_spec)."""
    return GraphModel(spec).network(spec)[1]


@st.composite
def activation_layer(draw) -> dict:
    """One activation, the graph-era ones with their parameters."""
    kind = draw(st.sampled_from(ACTIVATION_TYPES))
    layer = {"type": kind}
    if kind == "leaky_relu":
        layer["negative_slope"] = draw(st.sampled_from([0.0, 0.01, 0.2]))
    elif kind == "elu":
        layer["alpha"] = draw(st.sampled_from([0.5, 1.0, 1.7]))
    elif kind == "gelu":
        layer["approximate"] = draw(st.sampled_from(["none", "tanh"]))
    elif kind == "prelu":
        layer["per_channel"] = draw(st.booleans())
        layer["initial_slope"] = draw(st.sampled_from([0.25, -0.1, 0.6]))
    return layer


def _width(draw, placed: bool, low: int = 1, high: int = 6) -> int:
    return 2 * draw(st.integers(max(1, low // 2), high // 2)) if placed else draw(st.integers(low, high))


@st.composite
def size_keeping_layer(draw, channels: int, placed: bool) -> dict:
    """A layer that keeps height and width: a stride-1 conv padded to keep them, a 3×3 stride-1 pool, an LRN,
    batchnorm, dropout or an activation."""
    kind = draw(st.sampled_from(["conv", "conv", "pool", "activation", "activation", "batchnorm", "dropout", "lrn"]))
    if kind == "conv":
        kernel = draw(st.sampled_from([1, 3]))
        layer = {"type": "conv", "out_channels": _width(draw, placed), "kernel": kernel,
                 "bias": draw(st.booleans())}
        if draw(st.booleans()):
            layer.update(padding="same", dilation=draw(st.integers(1, 2)))
        else:
            layer["padding"] = kernel // 2
        return layer
    if kind == "pool":
        return {"type": draw(st.sampled_from(["maxpool", "avgpool"])), "kernel": 3, "stride": 1, "padding": 1}
    if kind == "batchnorm":
        return {"type": "batchnorm"}
    if kind == "dropout":
        return {"type": "dropout", "p": 0.5}
    if kind == "lrn":
        return draw(lrn_layer(channels, (1, 1), placed))[0]
    return draw(activation_layer())


def _sum(*triples):
    return tuple(map(sum, zip(*triples)))


@st.composite
def block_definition(draw, placed: bool, inner: str | None = None) -> dict:
    """A block with params width, stride, project and flag, valid for any input (see the note above). `inner`:
    the name of a block whose instance is this block's first layer (blocks within blocks)."""
    params = {"width": None, "stride": 1, "project": False, "flag": draw(st.booleans())}
    if inner:
        entry = {"type": "block", "block": inner, "name": "entry",
                 "args": {"width": "$width", "stride": "$stride", "project": True}}
    else:
        kernel = draw(st.sampled_from([1, 3]))
        entry = {"type": "conv", "name": "entry", "out_channels": "$width", "kernel": kernel, "stride": "$stride",
                 "padding": kernel // 2, "allow_truncation": True, "bias": draw(st.booleans())}
    layers = [entry]
    # Channels as (i, a, b): i * (the instance's input channels) + a * width + b. A nested block's output is known
    # only through GraphModel, so after one only layers indifferent to channels may be added to it.
    channels = {"entry": None if inner else (0, 1, 0)}
    unread = {"entry"}

    def add(layer: dict, reads: list[str], triple) -> str:
        name = layer["name"] = f"u{len(layers)}"
        if reads != [layers[-1]["name"]] or draw(st.booleans()):
            layer["inputs"] = reads
        layers.append(layer)
        channels[name] = triple
        unread.difference_update(reads)
        unread.add(name)
        return name

    for _ in range(draw(st.integers(0, 4))):
        known = [name for name, triple in channels.items() if triple is not None]
        kind = draw(st.sampled_from(["unary", "conv", "concat", "add"]))
        source = draw(st.sampled_from(sorted(channels)))
        if kind == "unary":
            layer = draw(activation_layer()) if draw(st.booleans()) else dict(draw(
                st.sampled_from([{"type": "batchnorm"}, {"type": "maxpool", "kernel": 3, "stride": 1, "padding": 1},
                                 {"type": "dropout", "p": 0.25}])))
            if draw(st.booleans()):
                layer["when"] = "$flag"  # left out, its reader reads its input: shapes do not change
            add(layer, [source], channels[source])
        elif kind == "conv":
            literal = draw(st.booleans())
            out = _width(draw, placed) if literal else "$width"
            kernel = draw(st.sampled_from([1, 3]))
            add({"type": "conv", "out_channels": out, "kernel": kernel, "padding": kernel // 2},
                [source], (0, 0, out) if literal else (0, 1, 0))
        elif kind == "concat" and len(channels) > 1:
            others = draw(st.lists(st.sampled_from(sorted(channels)), min_size=2, max_size=3, unique=True))
            add({"type": "concat"}, others,
                None if any(channels[name] is None for name in others) else _sum(*(channels[n] for n in others)))
        elif kind == "add":
            pairs = [(a, b) for a in known for b in known if a < b and channels[a] == channels[b]]
            if pairs:
                pair = draw(st.sampled_from(pairs))
                add({"type": "add"}, list(pair), channels[pair[0]])
    if len(unread) > 1:  # every layer must be read: join the loose ends
        ends = sorted(unread)
        add({"type": "concat"}, ends, None if any(channels[n] is None for n in ends) else
            _sum(*(channels[n] for n in ends)))
    last = layers[-1]["name"]
    if draw(st.booleans()):  # a residual: the block's input, projected where it must be, added to its output
        if channels[last] != (0, 1, 0):
            last = add({"type": "conv", "out_channels": "$width", "kernel": 1}, [last], (0, 1, 0))
        shortcut = {"type": "conv", "name": "proj", "inputs": ["input"], "out_channels": "$width", "kernel": 1,
                    "stride": "$stride", "bias": False, "allow_truncation": True, "when": "$project"}
        layers.append(shortcut)
        if draw(st.booleans()):
            layers.append({"type": "batchnorm", "name": "proj_bn", "when": "$project"})
        add({"type": "add"}, [last, layers[-1]["name"]], (0, 1, 0))
        if draw(st.booleans()):
            add(draw(activation_layer()), [layers[-1]["name"]], (0, 1, 0))
    return {"params": params, "layers": layers}


class _GraphBuilder:
    """Appends network-level layers to `spec`, each reading tensors whose shapes it knows."""

    def __init__(self, draw, spec: dict, placed: bool):
        self.draw, self.spec, self.placed = draw, spec, placed
        self.shapes = {"input": (spec["input"]["channels"], spec["input"]["height"], spec["input"]["width"])}
        self.last = "input"  # the layer written last: what a layer without `inputs` reads
        self.outputs: list[str] = []

    def append(self, layer: dict, reads: list[str], prefix: str = "n") -> str:
        name = layer["name"] = f"{prefix}{len(self.spec['layers'])}"
        if layer["type"] == "conv" and layer.get("groups", 1) > 1 and self.spec.get("width_multiple", 1) != 1:
            layer["scale_width"] = False  # a multiple of 8 need not be a multiple of the groups
        if reads != [self.last] or self.draw(st.booleans()):
            layer["inputs"] = list(reads)
        model = GraphModel(self.spec)
        shapes = [self.shapes[read] for read in reads]
        self.shapes[name] = (model.call(layer, shapes[0]) if layer["type"] == "block" else model.leaf(layer, shapes))[0]
        self.spec["layers"].append(layer)
        self.last = name
        return name

    def chain(self, cur: str) -> str:
        shape = self.shapes[cur]
        return self.append(self.draw(spatial_layer(shape[0], shape[1:], self.placed))[0], [cur])

    def activation(self, cur: str) -> str:
        return self.append(self.draw(activation_layer()), [cur])

    def fork(self, cur: str) -> str:
        """Two or three branches from `cur` (one of them perhaps `cur` itself), joined by concat or add."""
        draw = self.draw
        merge = draw(st.sampled_from(["concat", "add"]))
        identity = draw(st.booleans())
        target = self.shapes[cur][0] if identity else _width(draw, self.placed)
        ends = [cur] if identity else []
        for _ in range(draw(st.integers(2, 3)) - identity):
            end = cur
            for _ in range(draw(st.integers(1, 2))):
                layer = draw(size_keeping_layer(self.shapes[end][0], self.placed))
                if self.placed and layer["type"] == "conv" and draw(st.booleans()):
                    layer["placement"] = draw(st.sampled_from(DEVICES))  # a branch on one device
                end = self.append(layer, [end])
            if merge == "add" and self.shapes[end][0] != target:
                fit = {"type": "conv", "out_channels": target, "kernel": 1, "scale_width": False}
                if self.placed and target % 2:
                    fit["placement"] = DEVICES[0]
                end = self.append(fit, [end])
            ends.append(end)
        return self.append({"type": merge}, draw(st.permutations(ends)))

    def block(self, cur: str) -> str:
        """An instance (or a row of them) of a defined block; `project` switched on where an instance needs it."""
        draw = self.draw
        layer = {"type": "block", "block": max(self.spec["blocks"]) if draw(st.booleans()) else "b0",  # nested first
                 "args": {"width": _width(draw, self.placed)}}
        if draw(st.booleans()):
            layer["args"]["flag"] = draw(st.booleans())
        if draw(st.booleans()):
            layer["repeat"] = draw(st.integers(1, 3))
        if draw(st.booleans()):
            (layer.setdefault("first", {}) if "repeat" in layer else layer["args"]).update(stride=2, project=True)
        try:
            GraphModel(self.spec).call(layer, self.shapes[cur])
        except InvalidGraph:
            layer["args"]["project"] = True
        return self.append(layer, [cur], prefix="s")

    def skip(self, cur: str) -> str:
        """A join with an earlier tensor of the same height and width: concat, or add when the shapes agree."""
        shape = self.shapes[cur]
        others = sorted(name for name, other in self.shapes.items() if name != cur and other[1:] == shape[1:]
                        and len(other) == 3)
        if not others:
            return cur
        other = self.draw(st.sampled_from(others))
        kind = "add" if self.shapes[other] == shape and self.draw(st.booleans()) else "concat"
        return self.append({"type": kind}, self.draw(st.permutations([cur, other])))

    def aux_head(self, cur: str) -> str:
        """A second output from `cur`: global pooling and a dense layer, as GoogLeNet's auxiliary classifiers."""
        pooled = self.append({"type": self.draw(st.sampled_from(["global_avgpool", "global_maxpool"]))}, [cur])
        self.outputs.append(self.append({"type": "dense", "out_features": _width(self.draw, self.placed, 1, 4)},
                                        [pooled], prefix="aux"))
        return cur

    def head(self, cur: str) -> str:
        draw = self.draw
        kind = draw(st.sampled_from(["flatten", "global_avgpool", "global_maxpool", "two"]))
        if kind == "two":  # features of two maps side by side
            spatial = sorted(name for name, shape in self.shapes.items() if len(shape) == 3 and name != cur)
            pooled = [self.append({"type": "global_avgpool"}, [cur]),
                      self.append({"type": "global_maxpool"}, [draw(st.sampled_from(spatial))])]
            end = self.append({"type": "concat"}, pooled)
        else:
            end = self.append({"type": kind}, [cur])
        for _ in range(draw(st.integers(1, 2))):
            end = self.append({"type": "dense", "out_features": _width(draw, self.placed), "bias": draw(st.booleans())},
                              [end])
            if draw(st.booleans()):
                end = self.append(draw(st.one_of(activation_layer(), st.just({"type": "batchnorm"}))), [end])
        return end


@st.composite
def graph_specs(draw, max_steps: int = 5, allow_devices: bool = True) -> dict:
    """A graph spec dict that validates: branches joined by concat and add, skips to earlier layers, blocks with
    parameters (nested, repeated, with `first` and `when`), the graph-era activations, global pools, auxiliary
    outputs, and at times devices and depth/width multiples."""
    placed = allow_devices and draw(st.integers(0, 3)) == 0
    spec = {"name": "Graph", "input": {"channels": draw(st.integers(1, 4)), "height": draw(st.integers(5, 12)),
                                       "width": draw(st.integers(5, 12))}, "layers": []}
    if placed:
        spec["devices"] = list(DEVICES)
    if draw(st.integers(0, 5)) == 0:
        spec["width_multiple"] = draw(st.sampled_from([0.25, 0.5]))
    if draw(st.integers(0, 5)) == 0:
        spec["depth_multiple"] = draw(st.sampled_from([0.34, 0.5, 1.5]))
    blocks = draw(st.sampled_from([0, 1, 2]))
    if blocks:
        spec["blocks"] = {"b0": draw(block_definition(placed))}
        if blocks == 2:
            spec["blocks"]["b1"] = draw(block_definition(placed, inner="b0"))
    builder = _GraphBuilder(draw, spec, placed)
    cur = builder.append(draw(conv_layer(spec["input"]["channels"], builder.shapes["input"][1:], placed))[0], ["input"])
    steps = ["chain", "activation", "fork", "fork", "skip", "aux_head"] + ["block"] * 4 * bool(blocks)
    for step in range(draw(st.integers(1, max_steps))):
        cur = getattr(builder, "block" if blocks and step == 0 else draw(st.sampled_from(steps)))(cur)
    end = builder.head(cur)
    if builder.outputs:
        spec["outputs"] = draw(st.permutations(builder.outputs + [end]))
    elif draw(st.booleans()):
        spec["outputs"] = [end]
    return spec


# Each graph mutation turns a valid graph spec into one that must be rejected with a located SpecError.
def _graph_cycle(spec, draw):
    spec["layers"][0]["inputs"] = [spec["layers"][-1]["name"]]  # everything after the first layer depends on it


def _graph_dangling(spec, draw):
    draw(st.sampled_from(spec["layers"]))["inputs"] = [draw(st.sampled_from(["nowhere", "n999", "input.x"]))]


def _graph_unused(spec, draw):
    spec.setdefault("outputs", [spec["layers"][-1]["name"]])
    spec["layers"].append({"type": "relu", "name": "orphan", "inputs": [spec["layers"][0]["name"]]})


def _graph_add_shapes(spec, draw):
    spec.setdefault("outputs", [spec["layers"][-1]["name"]])
    spec["outputs"].append("bad_add")
    spec["layers"].append({"type": "add", "name": "bad_add", "inputs": ["input", spec["layers"][-1]["name"]]})


def _graph_block_argument(spec, draw):
    calls = [layer for layer in spec["layers"] if layer["type"] == "block"]
    if not calls:
        return _graph_dangling(spec, draw)
    draw(st.sampled_from(calls))["args"][draw(st.sampled_from(["widht", "strides", "nope"]))] = 2


def _graph_block_reference(spec, draw):
    if "blocks" not in spec or not any(layer["type"] == "block" for layer in spec["layers"]):
        return _graph_cycle(spec, draw)
    spec["blocks"]["b0"]["layers"][-1]["inputs"] = [draw(st.sampled_from(["$nope", "missing", "b0"]))]


GRAPH_MUTATIONS = [_graph_cycle, _graph_dangling, _graph_unused, _graph_add_shapes, _graph_block_argument,
                   _graph_block_reference]


@st.composite
def invalid_graph_specs(draw) -> tuple[str, dict]:
    """(error class, spec dict) for a graph spec that alexspec must reject."""
    spec = draw(graph_specs(max_steps=3, allow_devices=False))
    mutation = draw(st.sampled_from(GRAPH_MUTATIONS))
    mutation(spec, draw)
    return mutation.__name__.strip("_"), spec
