"""What the ONNX import needs to know about a graph beyond its nodes' attributes: who produces and who reads each
value, the values exporters compute from constants and from the (static) sizes of the tensors on the chain, and
the region of nodes between two values (a pattern such as torch's LRN decomposition is one region).

    graph = Graph(model)
    graph.shapes["conv1_out"] = (8, 24, 24)      # the reader records each chain value's size, batch left out
    graph.value("/Concat_output_0")              # array([BATCH, -1]): a flatten's target, folded

Every folded node counts as read (`graph.visited`), so that the import can say which nodes it never accounted for.
Edges are read in one place, `node_inputs`: the graph networks of the spec language will read them the same way.
"""

from __future__ import annotations

import numpy as np

# The batch size inside folded shape computations: a dynamic batch has no value, and a reshape target that keeps
# the batch (N, -1) reads it from Shape. A prime far from any layer size, so that products of it stand out.
BATCH = 1_000_003

# Ops an exporter uses to compute shapes and constants; with constant inputs they are evaluated here (onnx's
# reference implementation, node by node).
FOLDABLE = frozenset({"Constant", "Identity", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice",
                      "Reshape", "Transpose", "ConstantOfShape", "Mul", "Add", "Sub", "Div", "Equal", "Range",
                      "ReduceProd", "Expand", "Neg", "Floor", "Ceil", "Max", "Min"})


def node_inputs(node) -> list[str]:
    """Every value a node reads: its inputs and, for If/Loop/Scan, what its subgraphs read from the outer graph."""
    values = [value for value in node.input if value]
    for attribute in node.attribute:
        for graph in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
            inner = {value.name for value in graph.input} | {tensor.name for tensor in graph.initializer}
            for child in graph.node:
                inner.update(child.output)
            for child in graph.node:
                values += [value for value in node_inputs(child) if value not in inner]
    return values


class Graph:
    def __init__(self, model):
        from onnx import numpy_helper

        self.graph = model.graph
        self.opset = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), 0)
        self.nodes = list(self.graph.node)  # these very objects: `visited` holds their ids
        self.index = {id(node): number for number, node in enumerate(self.nodes)}
        self.constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in self.graph.initializer}
        self.producer = {value: node for node in self.nodes for value in node.output if value}
        self.consumers: dict[str, list] = {}
        for node in self.nodes:
            for value in dict.fromkeys(node_inputs(node)):
                self.consumers.setdefault(value, []).append(node)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.visited: set[int] = set()
        self._evaluators: dict[int, object] = {}

    def describe(self, node) -> str:
        """How errors name a node: its index in the graph, its name and its op type."""
        return f"node {self.index.get(id(node), '?')} {node.name or '(unnamed)'} ({node.op_type})"

    def readers(self, value: str) -> list:
        """The nodes that read `value` as data: a Shape of a chain value reads only its size, and is folded."""
        return [node for node in self.consumers.get(value, []) if node.op_type != "Shape"]

    def value(self, name: str) -> np.ndarray | None:
        """The value of `name` if it is a constant or computed from constants and the chain's sizes; else None."""
        if name in self.constants:
            return self.constants[name]
        node = self.producer.get(name)
        if node is None or node.op_type not in FOLDABLE:
            return None
        if node.op_type == "Shape":
            outputs = self._shape(node)
        else:
            inputs = [self.value(value) if value else None for value in node.input]
            if any(array is None for value, array in zip(node.input, inputs) if value):
                return None
            outputs = self._evaluate(node, inputs)
        if outputs is None:
            return None
        self.visited.add(id(node))
        for value, array in zip(node.output, outputs):
            self.constants[value] = np.asarray(array)
        return self.constants.get(name)

    def _shape(self, node):
        if node.input[0] not in self.shapes:
            return None
        from onnx import helper

        full = np.array([BATCH, *self.shapes[node.input[0]]], dtype=np.int64)
        attributes = {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}
        return [full[attributes.get("start", 0):attributes.get("end", len(full))]]

    def _evaluate(self, node, inputs):
        from onnx.reference import ReferenceEvaluator

        evaluator = self._evaluators.get(id(node))
        if evaluator is None:
            evaluator = ReferenceEvaluator(node, opsets={"": self.opset})
            self._evaluators[id(node)] = evaluator
        try:
            return evaluator.run(None, {value: array for value, array in zip(node.input, inputs) if value})
        except Exception:  # noqa: BLE001 a node the reference cannot evaluate is simply not folded
            return None

    def region(self, start: str, end: str) -> list:
        """The nodes that compute `end` from `start` (and constants), in graph order; None if `end` depends on a
        value other than `start` that is not a constant (the graph input, an earlier layer's output)."""
        found, stack = {}, [end]
        while stack:
            value = stack.pop()
            node = self.producer.get(value)
            if value == start or (value in self.constants and (node is None or id(node) in self.visited)):
                continue  # the start, an initializer, or a constant already folded
            if node is None or id(node) in self.visited:
                return None  # the graph input, or an earlier layer's output
            if id(node) not in found:
                found[id(node)] = node
                stack += node_inputs(node)
        return sorted(found.values(), key=lambda node: self.index[id(node)])
