"""ONNX -> spec and canonical weights, for graphs made of the spec's layer types in a chain.

LRN comes back in the `torch` convention with ONNX's alpha (ONNX, like PyTorch, divides alpha by size), and the
Split, LRN, Concat pattern as one grouped LRN. A node named `<layer>_<activation>` right after its layer (as
`alexspec export` writes them) folds back into the layer's `activation` shorthand.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError

SUPPORTED = ("Conv", "Relu", "Tanh", "Sigmoid", "Softmax", "LRN", "MaxPool", "AveragePool", "GlobalAveragePool",
             "Flatten", "Reshape", "Gemm", "MatMul", "Add", "Dropout", "BatchNormalization", "Identity", "Split",
             "Concat")
ACTIVATIONS = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softmax": "softmax"}


def _identifier(name: str, index: int) -> str:
    cleaned = re.sub(r"\W", "_", name or f"node{index}")
    return cleaned if not cleaned[0].isdigit() else f"layer_{cleaned}"


def _padding(pads) -> object:
    if not pads:
        return 0
    top, left, bottom, right = pads
    if top == bottom == left == right:
        return top
    if top == bottom and left == right:
        return [top, left]
    return [top, bottom, left, right]


def _pair(values):
    return values[0] if values[0] == values[1] else list(values)


def import_onnx(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(spec data, canonical weights) of an ONNX model file."""
    import onnx
    from onnx import helper, numpy_helper

    file = str(path)
    try:
        model = onnx.load(file)
    except Exception as error:  # onnx raises DecodeError, OSError ... for what is not a model
        raise SpecError(Diagnostic(f"cannot read an ONNX model ({type(error).__name__})", file=file))
    graph = model.graph
    initial = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initial]
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim] if inputs else []
    if len(dims) != 4 or not all(dims[1:]):
        raise SpecError(Diagnostic("the model's input is not (N, C, H, W) with known C, H, W", file=file))
    layers, weights, current, spatial = [], {}, inputs[0].name, True
    nodes = list(graph.node)
    index = 0

    def error(node, message, **kwargs):
        return SpecError(Diagnostic(f"node {node.name or '(unnamed)'} ({node.op_type}): {message}", file=file,
                                    **kwargs))

    while index < len(nodes):
        node = nodes[index]
        attrs = {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}
        name = _identifier(node.name, index)
        if node.op_type not in SUPPORTED:
            raise error(node, f"op type {node.op_type} is not supported", expected=f"one of: {', '.join(SUPPORTED)}")
        if node.input[0] != current:
            raise error(node, f"reads {node.input[0]!r}, not the previous output {current!r}",
                        hint="only chains of layers are in the spec language")
        index += 1
        op = node.op_type
        if op == "Conv":
            weight = initial[node.input[1]]
            layer = {"type": "conv", "name": name, "out_channels": int(weight.shape[0]),
                     "kernel": _pair(attrs.get("kernel_shape", weight.shape[2:])),
                     "stride": _pair(attrs.get("strides", [1, 1])), "padding": _padding(attrs.get("pads")),
                     "dilation": _pair(attrs.get("dilations", [1, 1])), "groups": int(attrs.get("group", 1)),
                     "bias": len(node.input) > 2}
            weights[f"{name}.weight"] = weight
            if len(node.input) > 2:
                weights[f"{name}.bias"] = initial[node.input[2]]
            spatial = True
        elif op in ("Gemm", "MatMul"):
            if op == "Gemm" and (attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA")):
                raise error(node, "only Gemm with alpha = beta = 1 and no transA is a dense layer")
            weight = initial[node.input[1]]
            weight = weight if op == "Gemm" and attrs.get("transB") else weight.T
            bias_name = node.input[2] if op == "Gemm" and len(node.input) > 2 else None
            if op == "MatMul" and index < len(nodes) and nodes[index].op_type == "Add":
                bias_name = [value for value in nodes[index].input if value in initial][0]
                node = nodes[index]
                index += 1
            if spatial:
                raise error(node, "a dense layer needs a Flatten before it", hint="the spec's flatten is ONNX Flatten")
            layer = {"type": "dense", "name": name, "out_features": int(weight.shape[0]), "bias": bias_name is not None}
            weights[f"{name}.weight"] = weight
            if bias_name is not None:
                weights[f"{name}.bias"] = initial[bias_name]
        elif op in ("MaxPool", "AveragePool"):
            if op == "AveragePool" and not attrs.get("count_include_pad", 0) and any(attrs.get("pads", [])):
                raise error(node, "average pooling that excludes padding is not in the spec language",
                            expected="count_include_pad = 1 (PyTorch's and Caffe's default)")
            kernel = list(attrs["kernel_shape"])
            layer = {"type": "maxpool" if op == "MaxPool" else "avgpool", "name": name, "kernel": _pair(kernel),
                     "stride": _pair(attrs.get("strides", [1, 1])), "padding": _padding(attrs.get("pads")),
                     "ceil_mode": bool(attrs.get("ceil_mode", 0))}
        elif op == "GlobalAveragePool":
            layer = {"type": "adaptive_avgpool", "name": name, "output_size": 1}
        elif op == "LRN":
            layer = {"type": "lrn", "name": name, "size": int(attrs["size"]), "alpha": float(attrs.get("alpha", 1e-4)),
                     "beta": float(attrs.get("beta", 0.75)), "k": float(attrs.get("bias", 1.0)), "convention": "torch"}
        elif op == "Split":
            parts = list(node.output)
            lrns = nodes[index:index + len(parts)]
            concat = nodes[index + len(parts)] if index + len(parts) < len(nodes) else None
            if (attrs.get("axis", 0) != 1 or any(n.op_type != "LRN" for n in lrns) or concat is None
                    or concat.op_type != "Concat" or [n.input[0] for n in lrns] != parts):
                raise error(node, "only the Split, LRN, Concat pattern of a grouped LRN is supported")
            lrn = {a.name: helper.get_attribute_value(a) for a in lrns[0].attribute}
            name = _identifier(concat.name, index)
            layer = {"type": "lrn", "name": name, "size": int(lrn["size"]), "alpha": float(lrn.get("alpha", 1e-4)),
                     "beta": float(lrn.get("beta", 0.75)), "k": float(lrn.get("bias", 1.0)), "convention": "torch",
                     "groups": len(parts)}
            index += len(parts) + 1
            node = concat
        elif op in ("Flatten", "Reshape"):
            if op == "Flatten" and attrs.get("axis", 1) != 1:
                raise error(node, "only Flatten with axis 1 is a flatten layer")
            target = [int(value) for value in initial.get(node.input[1], [])] if op == "Reshape" else [0, -1]
            if len(target) != 2 or target[1] != -1 or target[0] not in (0, dims[0]):
                raise error(node, f"only a Reshape to (N, -1) is a flatten, not {target}")
            layer = {"type": "flatten", "name": name}
            spatial = False
        elif op == "BatchNormalization":
            layer = {"type": "batchnorm", "name": name, "eps": float(attrs.get("epsilon", 1e-5)),
                     "momentum": round(1 - float(attrs.get("momentum", 0.9)), 12)}
            for key, value in zip(("weight", "bias", "running_mean", "running_var"), node.input[1:]):
                weights[f"{name}.{key}"] = initial[value]
        elif op == "Dropout":
            layer = {"type": "dropout", "name": name, "p": float(attrs.get("ratio", 0.5))}
        elif op == "Identity":
            current = node.output[0]
            continue
        elif op in ACTIVATIONS:
            previous = layers[-1] if layers else None
            if (previous is not None and previous["type"] in ("conv", "dense") and "activation" not in previous
                    and node.name == f"{previous['name']}_{ACTIVATIONS[op]}"):
                previous["activation"] = ACTIVATIONS[op]
                current = node.output[0]
                continue
            if op == "Softmax" and attrs.get("axis", -1) not in (1, -1 if not spatial else 1):
                raise error(node, "softmax over an axis other than the features or channels")
            layer = {"type": ACTIVATIONS[op], "name": name}
        else:
            raise error(node, f"{op} here is not part of a supported pattern")
        layers.append(layer)
        current = node.output[0]
    spec = {"name": _identifier(graph.name or Path(file).stem, 0), "description": f"Imported from {Path(file).name}.",
            "source": file, "input": {"channels": dims[1], "height": dims[2], "width": dims[3]},
            "allow_truncation": True, "layers": layers}
    return spec, {key: np.asarray(value, dtype=np.float32) for key, value in weights.items()}


def import_onnx_text(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """The YAML text of the validated spec, and its canonical weights."""
    from alexnet_spec.dump import dump_yaml, to_yaml_text
    from alexnet_spec.loading import parse_network

    data, weights = import_onnx(path)
    net = parse_network(to_yaml_text(data), str(path))
    header = ["# yaml-language-server: $schema=../docs/alexspec.schema.json", "#",
              f"# Imported by alexspec from the ONNX model {path}. LRN is in the torch convention (alpha / n),",
              "# as in ONNX; allow_truncation: true because ONNX floors sizes silently, as PyTorch does."]
    return "\n".join(header) + "\n" + dump_yaml(net.spec), weights
