"""The network as nodes and edges, for the tools that lay it out (draw) or walk it.

A chain reads each layer from the one before; once graph networks land, `edges` reads `layer.inputs` instead (one
line), and everything built on it (ranks, folding, the drawings) follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alexnet_spec.resolved import ResolvedLayer, ResolvedNetwork

INPUT = "input"  # the name the model input goes by in edges


def edges(net: ResolvedNetwork) -> list[tuple[str, str]]:
    """(source, target) names: what each layer reads. `input` is the model input."""
    pairs = []
    previous = INPUT
    for layer in net.layers:
        for source in getattr(layer, "inputs", None) or (previous,):
            pairs.append((source, layer.name))
        previous = layer.name
    return pairs


def ranks(nodes: list[str], pairs: list[tuple[str, str]]) -> dict[str, int]:
    """Each node's rank: the length of the longest path to it from a node nothing feeds (the input), so that every
    edge points down. `nodes` must be in a topological order (a spec's layer order is one)."""
    feeds: dict[str, list[str]] = {node: [] for node in nodes}
    for source, target in pairs:
        feeds[target].append(source)
    rank: dict[str, int] = {}
    for node in nodes:
        rank[node] = max((rank[source] + 1 for source in feeds[node]), default=0)
    return rank


ELEMENTWISE = {"relu", "tanh", "sigmoid", "dropout", "softmax"}  # same shape out as in, nothing to learn


@dataclass
class Node:
    """What a picture draws as one box: a layer, with the element-wise layers that only it feeds folded in
    (conv1 with relu1; fc6 with relu6 and drop6), or the input."""

    name: str
    layers: list[ResolvedLayer] = field(default_factory=list)
    devices: tuple[str, ...] = ("",)  # where it runs; ("",) for a spec without devices
    split: bool = False  # each device holds a share of the output channels
    reads_across: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers) or (INPUT,)

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        return self.layers[-1].output_shape if self.layers else None


def _same_place(host: ResolvedLayer, layer: ResolvedLayer) -> bool:
    if host.placement is None or layer.placement is None:
        return host.placement is None and layer.placement is None
    return (host.placement.devices, host.placement.split) == (layer.placement.devices, layer.placement.split) \
        and not layer.placement.reads_across


def fold(net: ResolvedNetwork) -> tuple[list[Node], list[tuple[str, str]]]:
    """The nodes to draw (the input first, then in layer order) and the edges between them (node names)."""
    pairs = edges(net)
    consumers: dict[str, int] = {}
    feeds: dict[str, list[str]] = {}
    for source, target in pairs:
        consumers[source] = consumers.get(source, 0) + 1
        feeds.setdefault(target, []).append(source)
    nodes = {INPUT: Node(INPUT, [], net.devices or ("",), bool(net.devices), False)}
    node_of = {INPUT: INPUT}
    for layer in net.layers:
        sources = feeds.get(layer.name, [])
        if layer.type in ELEMENTWISE and len(sources) == 1 and sources[0] != INPUT and consumers[sources[0]] == 1:
            host = nodes[node_of[sources[0]]]
            if host.layers and host.layers[-1].name == sources[0] and _same_place(host.layers[-1], layer):
                host.layers.append(layer)
                node_of[layer.name] = host.name
                continue
        placement = layer.placement
        nodes[layer.name] = Node(layer.name, [layer], placement.devices if placement else ("",),
                                 bool(placement and placement.split), bool(placement and placement.reads_across))
        node_of[layer.name] = layer.name
    node_edges = list(dict.fromkeys((node_of[source], node_of[target]) for source, target in pairs
                                    if node_of[source] != node_of[target]))
    return list(nodes.values()), node_edges
