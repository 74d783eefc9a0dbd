"""Caffe deploy prototxt -> alexspec spec, with Caffe's implicit conventions written down explicitly.

Made explicit: LRN `convention: caffe` (alpha divided by n) and Caffe's defaults (local_size 5, alpha 1, beta 0.75,
k 1); pooling's round-up as `ceil_mode: true` (Caffe's rule: the last window must start inside the input or its
left padding, as in PyTorch); InnerProduct's implicit flatten; BatchNorm's moving_average_fraction as momentum.
Anything the spec language cannot express is an error at the prototxt's line, never an approximation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.interop.prototxt import Field, Message, Word, parse

SUPPORTED = ("Input", "Convolution", "ReLU", "Sigmoid", "TanH", "LRN", "Pooling", "InnerProduct", "Dropout",
             "Softmax", "BatchNorm", "Scale")


@dataclass
class Conversion:
    file: str
    layers: list[dict] = field(default_factory=list)
    explicit: list[str] = field(default_factory=list)
    spatial: bool = True

    def error(self, at: Field | Message, message: str, layer: str | None = None, **kwargs) -> SpecError:
        return SpecError(Diagnostic(message, file=self.file, line=at.line, column=at.column, layer=layer, **kwargs))


def _word(value) -> str:
    return value.text if isinstance(value, Word) else str(value)


def _pair(conversion, params: Message, name: str, single: str, default, layer: str):
    """Caffe's kernel_size / kernel_h + kernel_w forms (likewise stride, pad, dilation) as int or [h, w]."""
    height, width = params.value(f"{single}_h"), params.value(f"{single}_w")
    if height is not None or width is not None:
        if height is None or width is None:
            raise conversion.error(params, f"{single}_h and {single}_w must be given together", layer)
        return height if height == width else [height, width]
    values = [item.value for item in params.all(name)]
    if not values:
        return default
    if len(values) == 2:
        return values[0] if values[0] == values[1] else values
    return values[0]


def _filler(conversion: Conversion, filler: Message | None, layer: str):
    if filler is None:
        return None
    kind = _word(filler.value("type", "constant"))
    if kind == "gaussian":
        return {"dist": "normal", "mean": float(filler.value("mean", 0.0)), "std": float(filler.value("std", 1.0))}
    if kind == "constant":
        return {"dist": "constant", "value": float(filler.value("value", 0.0))}
    if kind == "uniform":
        return {"dist": "uniform", "low": float(filler.value("min", 0.0)), "high": float(filler.value("max", 1.0))}
    norm = _word(filler.value("variance_norm", "FAN_IN"))
    if norm not in ("FAN_IN", "FAN_OUT"):
        raise conversion.error(filler, f"filler variance_norm {norm} has no spec equivalent", layer,
                               expected="FAN_IN or FAN_OUT")
    mode = norm.lower()
    if kind == "xavier":  # Caffe's xavier: U(±sqrt(3 / fan)), He's uniform with gain 1
        return {"dist": "kaiming", "mode": mode, "nonlinearity": "linear", "distribution": "uniform"}
    if kind == "msra":  # N(0, 2 / fan)
        return {"dist": "kaiming", "mode": mode, "nonlinearity": "relu", "distribution": "normal"}
    raise conversion.error(filler, f"filler type {kind!r} has no spec equivalent", layer,
                           expected="gaussian, constant, uniform, xavier or msra")


def _init(conversion: Conversion, params: Message, name: str) -> dict | None:
    weight = _filler(conversion, _message(params.value("weight_filler")), name)
    bias = _filler(conversion, _message(params.value("bias_filler")), name)
    init = {key: value for key, value in (("weight", weight), ("bias", bias)) if value is not None}
    return init or None


def _message(value) -> Message | None:
    return value if isinstance(value, Message) else None


def _identifier(name: str) -> str:
    cleaned = re.sub(r"\W", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"layer_{cleaned}"


def _input_shape(conversion: Conversion, root: Message, layers: list[Message]) -> tuple[list[int], str, int]:
    """(N, C, H, W), the input blob's name, and how many leading layers the header used."""
    if root.first("input") is not None:
        blob = root.value("input")
        dims = [item.value for item in root.all("input_dim")]
        shape = _message(root.value("input_shape"))
        if shape is not None:
            dims = [item.value for item in shape.all("dim")]
        if len(dims) != 4:
            raise conversion.error(root.first("input"), f"the input has {len(dims)} dimensions",
                                   expected="four: N, C, H, W (input_dim or input_shape { dim ... })")
        return dims, blob, 0
    if layers and _word(layers[0].value("type")) == "Input":
        params = _message(layers[0].value("input_param"))
        shape = _message(params.value("shape")) if params else None
        dims = [item.value for item in shape.all("dim")] if shape else []
        if len(dims) != 4:
            raise conversion.error(layers[0], f"the Input layer has {len(dims)} dimensions",
                                   expected="input_param { shape { dim: N dim: C dim: H dim: W } }")
        return dims, layers[0].value("top"), 1
    raise conversion.error(root, "no input: neither an Input layer nor a top-level `input:`",
                           expected="a deploy prototxt (train_val files start with data layers)",
                           hint="use the deploy.prototxt that comes with the model")


def convert(text: str, file: str) -> tuple[dict, list[str]]:
    """(spec data, the conventions made explicit) for a deploy prototxt."""
    root = parse(text, file)
    conversion = Conversion(file)
    if root.first("layers") is not None:
        raise conversion.error(root.first("layers"), "V1 `layers` blocks are not supported",
                               hint="upgrade the file with Caffe's tools/upgrade_net_proto_text first")
    layers = [item.value for item in root.all("layer")]
    dims, blob, skip = _input_shape(conversion, root, layers)
    pending_batchnorm = None
    for index, layer in enumerate(layers[skip:], start=skip):
        field_of = root.all("layer")[index]
        kind, raw_name = _word(layer.value("type", "")), str(layer.value("name", f"layer{index}"))
        name = _identifier(raw_name)
        if name != raw_name:
            conversion.explicit.append(f"layer {raw_name!r} renamed {name!r} (spec names are identifiers)")
        bottoms = [item.value for item in layer.all("bottom")]
        if bottoms != [blob]:
            raise conversion.error(field_of, f"layer reads {bottoms}, not the previous output {blob!r}", raw_name,
                                   expected="a chain: each layer reads the previous layer's top",
                                   hint="branches (Concat, Eltwise, several bottoms) are not in the spec language")
        tops = [item.value for item in layer.all("top")]
        if len(tops) != 1:
            raise conversion.error(field_of, f"layer has {len(tops)} tops", raw_name, expected="exactly one top")
        blob = tops[0]
        if pending_batchnorm is not None and kind != "Scale":
            raise conversion.error(field_of, "a BatchNorm must be followed by its Scale layer", pending_batchnorm,
                                   hint="the spec's batchnorm has a learned scale and shift, as BatchNorm + Scale")
        if kind not in SUPPORTED:
            raise conversion.error(field_of, f"layer type {kind!r} is not supported", raw_name,
                                   expected=f"one of: {', '.join(SUPPORTED)}")
        handler = _HANDLERS[kind]
        result = handler(conversion, layer, field_of, name)
        if kind == "BatchNorm":
            pending_batchnorm = raw_name
        elif kind == "Scale":
            pending_batchnorm = None
        if result is not None:
            conversion.layers.append(result)
    if pending_batchnorm is not None:
        raise conversion.error(root.all("layer")[-1], "a BatchNorm must be followed by its Scale layer",
                               pending_batchnorm)
    spec = {"name": _identifier(str(root.value("name", Path(file).stem))).capitalize() or "Imported",
            "description": f"Imported from the Caffe prototxt {Path(file).name}.",
            "source": str(file),
            "input": {"channels": dims[1], "height": dims[2], "width": dims[3]},
            "layers": conversion.layers}
    return spec, conversion.explicit


def _params(conversion, layer: Message, at: Field, key: str, name: str, required: bool = True) -> Message:
    params = _message(layer.value(key))
    if params is None:
        if required:
            raise conversion.error(at, f"missing {key}", name, expected=f"{key} {{ ... }}")
        return Message()
    return params


def _convolution(conversion, layer, at, name):
    params = _params(conversion, layer, at, "convolution_param", name)
    if params.first("num_output") is None:
        raise conversion.error(params, "missing num_output", name, expected="convolution_param { num_output: N ... }")
    result = {"type": "conv", "name": name, "out_channels": params.value("num_output"),
              "kernel": _pair(conversion, params, "kernel_size", "kernel", None, name),
              "stride": _pair(conversion, params, "stride", "stride", 1, name),
              "padding": _pair(conversion, params, "pad", "pad", 0, name),
              "dilation": _pair(conversion, params, "dilation", "dilation", 1, name),
              "groups": params.value("group", 1), "bias": _word(params.value("bias_term", "true")) != "false"}
    if result["kernel"] is None:
        raise conversion.error(params, "missing kernel_size", name)
    init = _init(conversion, params, name)
    if init:
        result["init"] = init
    conversion.spatial = True
    return result


def _pooling(conversion, layer, at, name):
    params = _params(conversion, layer, at, "pooling_param", name)
    method = _word(params.value("pool", "MAX"))
    if method not in ("MAX", "AVE"):
        raise conversion.error(params.first("pool") or params, f"pooling method {method} is not supported", name,
                               expected="MAX or AVE")
    if _word(params.value("global_pooling", "false")) == "true":
        if method != "AVE":
            raise conversion.error(params, "global MAX pooling is not in the spec language", name)
        return {"type": "adaptive_avgpool", "name": name, "output_size": 1}
    conversion.explicit.append(f"{name}: Caffe's pooling rounds up: ceil_mode: true")
    return {"type": "maxpool" if method == "MAX" else "avgpool", "name": name,
            "kernel": _pair(conversion, params, "kernel_size", "kernel", None, name),
            "stride": _pair(conversion, params, "stride", "stride", 1, name),
            "padding": _pair(conversion, params, "pad", "pad", 0, name), "ceil_mode": True}


def _lrn(conversion, layer, at, name):
    params = _params(conversion, layer, at, "lrn_param", name, required=False)
    region = _word(params.value("norm_region", "ACROSS_CHANNELS"))
    if region != "ACROSS_CHANNELS":
        raise conversion.error(params.first("norm_region"), f"LRN norm_region {region} is not supported", name,
                               expected="ACROSS_CHANNELS", hint="the spec's lrn normalises across channels")
    values = {"size": params.value("local_size", 5), "alpha": float(params.value("alpha", 1.0)),
              "beta": float(params.value("beta", 0.75)), "k": float(params.value("k", 1.0))}
    defaulted = [key for key, caffe in (("local_size", "size"), ("alpha", "alpha"), ("beta", "beta"), ("k", "k"))
                 if params.first(key) is None]
    conversion.explicit.append(f"{name}: convention: caffe (alpha divided by n)"
                               + (f"; Caffe defaults for {', '.join(defaulted)}" if defaulted else ""))
    return {"type": "lrn", "name": name, **values, "convention": "caffe"}


def _inner_product(conversion, layer, at, name):
    params = _params(conversion, layer, at, "inner_product_param", name)
    if params.first("num_output") is None:
        raise conversion.error(params, "missing num_output", name, expected="inner_product_param { num_output: N }")
    if conversion.spatial:
        conversion.layers.append({"type": "flatten", "name": f"{name}_flatten"})
        conversion.explicit.append(f"{name}: InnerProduct flattens its input: a flatten layer before it")
        conversion.spatial = False
    result = {"type": "dense", "name": name, "out_features": params.value("num_output"),
              "bias": _word(params.value("bias_term", "true")) != "false"}
    init = _init(conversion, params, name)
    if init:
        result["init"] = init
    return result


def _batchnorm(conversion, layer, at, name):
    params = _params(conversion, layer, at, "batch_norm_param", name, required=False)
    fraction = float(params.value("moving_average_fraction", 0.999))
    conversion.explicit.append(f"{name}: moving_average_fraction {fraction} is momentum {1 - fraction:.6g}")
    return {"type": "batchnorm", "name": name, "eps": float(params.value("eps", 1e-5)), "momentum": 1 - fraction}


def _scale(conversion, layer, at, name):
    previous = conversion.layers[-1] if conversion.layers else None
    if previous is None or previous["type"] != "batchnorm":
        raise conversion.error(at, "a Scale layer is only supported right after BatchNorm", name)
    return None


def _simple(kind):
    def handler(conversion, layer, at, name):
        return {"type": kind, "name": name}
    return handler


def _dropout(conversion, layer, at, name):
    params = _params(conversion, layer, at, "dropout_param", name, required=False)
    return {"type": "dropout", "name": name, "p": float(params.value("dropout_ratio", 0.5))}


_HANDLERS = {"Convolution": _convolution, "Pooling": _pooling, "LRN": _lrn, "InnerProduct": _inner_product,
             "BatchNorm": _batchnorm, "Scale": _scale, "ReLU": _simple("relu"), "Sigmoid": _simple("sigmoid"),
             "TanH": _simple("tanh"), "Softmax": _simple("softmax"), "Dropout": _dropout}


def import_prototxt(path: str | Path) -> str:
    """The YAML text of a validated spec for a Caffe deploy prototxt; SpecError at the prototxt's line otherwise."""
    from alexnet_spec.dump import dump_yaml, to_yaml_text
    from alexnet_spec.loading import parse_network
    from alexnet_spec.yaml_source import read_text

    data, explicit = convert(read_text(path), str(path))
    net = parse_network(to_yaml_text(data), str(path))  # shape errors, if any, are reported against the import
    header = ["# yaml-language-server: $schema=../docs/alexspec.schema.json", "#",
              f"# Imported by alexspec from the Caffe prototxt {path}.", "# Made explicit (Caffe leaves these implicit):"]
    header += [f"# - {item}" for item in explicit] or ["# - nothing"]
    return "\n".join(header) + "\n" + dump_yaml(net.spec)
