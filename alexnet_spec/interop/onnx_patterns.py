"""Exporter idioms the ONNX import reads as one layer or one name: torch's LocalResponseNorm decomposition, and the
module a node came from (torch.onnx's node names and the dynamo exporter's name scopes).

torch.nn.functional.local_response_norm (torch/nn/functional.py) computes, for x of shape (N, C, H, W),

    div = x * x, viewed as (N, 1, C, H, W), padded by size // 2 and (size - 1) // 2 channels, avg_pool3d over
    (size, 1, 1), squeezed back; div = (div * alpha + k) ** beta; return x / div

so both exporters write Mul(x, x), Reshape, Pad, AveragePool, Squeeze (or If/Reshape), Mul, Add, Pow, Div(x, ·)
with Shape/Gather/Concat around them for the sizes: the spec's lrn in the torch convention (alpha divided by size).
"""

from __future__ import annotations

import ast

import numpy as np

from alexnet_spec.interop.common import short_float

# What the region between x and the final Div may hold: the arithmetic above and the size computations.
LRN_OPS = frozenset({"Mul", "Reshape", "Pad", "AveragePool", "Squeeze", "Unsqueeze", "If", "Add", "Pow", "Div",
                     "Shape", "Gather", "Constant", "Concat", "ConstantOfShape", "Slice", "Transpose", "Cast", "Equal",
                     "Identity"})
SCOPES = "pkg.torch.onnx.name_scopes"


def module_scope(node) -> str | None:
    """The torch module path of the node's module (`features.0`); "" for an op in the top-level forward; None when
    the exporter did not say (the node's own name is used then)."""
    for prop in node.metadata_props:
        if prop.key == SCOPES and len(prop.value) < 4096:
            try:
                scopes = ast.literal_eval(prop.value)  # ['', 'features', 'features.0', 'conv2d']
            except (ValueError, SyntaxError):
                return None
            return str(scopes[-2]) if isinstance(scopes, list) and len(scopes) > 2 else ""
    if node.name.startswith("/"):  # the TorchScript exporter: /features/features.0/Conv, /Reshape
        return _qualified(node.name.split("/")[1:-1])
    return None


def _qualified(parts: list[str]) -> str:
    """The module path of the TorchScript exporter's scope parts: a Sequential's child is written after its
    Sequential's attribute name (`downsample`, `downsample.0`), an attribute of a module alone (`layer1.0`, `conv1`):
    `/layer2/layer2.0/downsample/downsample.0/Conv` is `layer2.0.downsample.0`."""
    path: list[str] = []
    for part in parts:
        if path and part.startswith(f"{path[-1]}."):
            path[-1] = part
        else:
            path.append(part)
    return ".".join(path)


def torch_lrn_end(readers: list, value: str):
    """The Div that ends torch's LRN decomposition of `value` when its readers are Mul(value, value) and
    Div(value, ·) (and nothing else); else None."""
    squares = [node for node in readers if node.op_type == "Mul" and list(node.input) == [value, value]]
    divisions = [node for node in readers if node.op_type == "Div" and node.input[0] == value]
    return divisions[0] if len(readers) == 2 and len(squares) == 1 and len(divisions) == 1 else None


def torch_lrn(graph, value: str, division, channels: int, error) -> tuple[dict, list]:
    """The spec lrn of the decomposition from `value` to `division`, and the nodes it covers; `error(node, message,
    **diagnostic)` makes the SpecError for a node that does not fit."""
    region = graph.region(value, division.output[0])
    if region is None:
        raise error(division, "looks like torch's LocalResponseNorm but reads a value other than its input",
                    expected=PATTERN)
    inside = {id(node) for node in region}
    for node in region:
        if node.op_type not in LRN_OPS:
            raise error(node, f"op type {node.op_type} inside what looks like torch's LocalResponseNorm",
                        expected=PATTERN)
        for output in node.output:
            strays = [reader for reader in graph.consumers.get(output, []) if id(reader) not in inside]
            if strays and node is not division:
                raise error(strays[0], f"reads {output!r} from inside torch's LocalResponseNorm decomposition",
                            hint="the spec's lrn is one layer; nothing else can read its intermediate values")
    [pool] = _only(region, "AveragePool", division, error)
    attributes = _attributes(pool)
    kernel = list(attributes.get("kernel_shape", ()))
    if len(kernel) != 3 or kernel[1:] != [1, 1] or any(value != 1 for value in attributes.get("strides", (1, 1, 1))) \
            or any(attributes.get("pads", ())) or not attributes.get("count_include_pad", 0) \
            or attributes.get("ceil_mode", 0) or attributes.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
        raise error(pool, f"an AveragePool over {kernel} with {attributes}", expected="torch's LRN window: "
                    "kernel (size, 1, 1), strides 1, no pads, count_include_pad 1")
    size = kernel[0]
    [pad] = _only(region, "Pad", division, error)
    pads = graph.value(pad.input[1]) if len(pad.input) > 1 else None
    wanted = [0, 0, size // 2, 0, 0, 0, 0, (size - 1) // 2, 0, 0]
    fill = graph.value(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else np.zeros(())
    mode = _attributes(pad).get("mode", b"constant")
    if pads is None or [int(value) for value in np.ravel(pads)] != wanted or fill is None or np.any(fill != 0) or \
            mode not in ("constant", b"constant"):
        raise error(pad, f"pads the channels by {None if pads is None else np.ravel(pads).tolist()}",
                    expected=f"torch's LRN padding of size {size}: {wanted}, zeros")
    power = graph.producer.get(division.input[1])
    beta = _operand(graph, power, "Pow", 1)
    add = graph.producer.get(power.input[0]) if beta is not None else None
    k, scaled = _commutative(graph, add, "Add")
    alpha, _ = _commutative(graph, graph.producer.get(scaled) if scaled else None, "Mul")
    if beta is None or k is None or alpha is None:
        raise error(division, "the end of what looks like torch's LocalResponseNorm is not (window * alpha + k) ** "
                    "beta with constant alpha, k and beta", expected=PATTERN)
    if size % 2 == 0 or size > channels:
        raise error(pool, f"LRN size {size} over {channels} channels", expected="an odd size, at most the channels")
    layer = {"type": "lrn", "size": int(size), "alpha": short_float(alpha), "beta": short_float(beta),
             "k": short_float(k), "convention": "torch"}
    return layer, region


def silu_end(graph, sigmoid):
    """The Mul(x, Sigmoid(x)) that makes `sigmoid` (reading x) a SiLU, as torch.nn.SiLU and `alexspec export` write
    it, when that Mul is the sigmoid's only reader; else None."""
    readers = graph.readers(sigmoid.output[0])
    if len(readers) == 1 and readers[0].op_type == "Mul" and \
            sorted(readers[0].input) == sorted([sigmoid.input[0], sigmoid.output[0]]):
        return readers[0]
    return None


GELU = ("torch's decomposition below opset 20: Div(x, sqrt(2)), Erf, Add 1, then Mul by x and Mul by 0.5 (either "
        "order)")


def torch_gelu(graph, division, error) -> list:
    """The nodes of torch.nn.GELU's exact form as both exporters write it below opset 20, starting at `division`
    (x / sqrt(2)): Erf, Add 1, then a Mul by x and a Mul by 0.5 (the TorchScript exporter multiplies by x first,
    the dynamo exporter by 0.5), each node the previous one's only reader."""
    x = division.input[0]
    divisor = _scalar(graph.value(division.input[1])) if len(division.input) > 1 else None
    if divisor is None or not np.isclose(divisor, np.sqrt(2.0), rtol=1e-6):
        raise error(division, f"a Div of a layer output by {divisor if divisor is not None else 'a computed value'}",
                    expected=f"a Div only as the start of {GELU}")
    nodes, current = [division], division
    for op_type, operands in (("Erf", None), ("Add", (1.0,)), ("Mul", (x, 0.5)), ("Mul", (x, 0.5))):
        readers = graph.readers(current.output[0])
        following = readers[0] if len(readers) == 1 else None
        if following is None or following.op_type != op_type:
            raise error(following or division, "part of what looks like torch's GELU decomposition is not",
                        expected=GELU)
        if operands is not None:
            others = [value for value in following.input if value != current.output[0]]
            operand = None if len(others) != 1 else x if others[0] == x else _scalar(graph.value(others[0]))
            used = [_operand_of(node, x, graph) for node in nodes[3:]]
            if operand not in operands or operand in used:
                raise error(following, f"its other operand is {others}", expected=GELU)
        nodes.append(following)
        current = following
    return nodes


def _operand_of(multiply, x: str, graph):
    """x or the constant that a Mul of the decomposition multiplies by."""
    return x if x in multiply.input else next(_scalar(graph.value(value)) for value in multiply.input
                                              if graph.value(value) is not None)


PATTERN = ("torch's decomposition: Mul(x, x), Reshape, Pad, AveragePool (size, 1, 1), Squeeze, Mul alpha, Add k, "
           "Pow beta, Div(x, ·)")


def _only(region: list, op_type: str, division, error) -> list:
    found = [node for node in region if node.op_type == op_type]
    if len(found) != 1:
        raise error(division, f"what looks like torch's LocalResponseNorm has {len(found)} {op_type} nodes",
                    expected=PATTERN)
    return found


def _attributes(node) -> dict:
    from onnx import helper

    return {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}


def _scalar(array) -> float | None:
    return float(np.ravel(array)[0]) if array is not None and np.size(array) == 1 else None


def _operand(graph, node, op_type: str, index: int) -> float | None:
    if node is None or node.op_type != op_type or len(node.input) <= index:
        return None
    return _scalar(graph.value(node.input[index]))


def _commutative(graph, node, op_type: str) -> tuple[float | None, str | None]:
    """(the constant scalar operand, the other input) of an Add or Mul."""
    if node is None or node.op_type != op_type or len(node.input) != 2:
        return None, None
    for constant, other in ((1, 0), (0, 1)):
        value = _scalar(graph.value(node.input[constant]))
        if value is not None and graph.value(node.input[other]) is None:
            return value, node.input[other]
    return None, None
