"""Placement: where each layer runs when the spec names devices, and which layers read across devices."""

from __future__ import annotations

from alexnet_spec.errors import Diagnostic, DiagnosticSink
from alexnet_spec.passes.graph import Graph
from alexnet_spec.resolved import INPUT, ConvAttrs, DenseAttrs, LRNAttrs, Placement, ResolvedLayer
from alexnet_spec.spec.network import NetworkSpec

# The state of an activation: "replicated" (the model input, on every device), "split" (channels or features divided
# among the devices), or the name of the one device that holds it.
REPLICATED, SPLIT = "<replicated>", "<split>"
CHANNEL_LOCAL = {"relu", "tanh", "sigmoid", "maxpool", "avgpool", "adaptive_avgpool", "dropout", "batchnorm", "flatten",
                 "leaky_relu", "elu", "gelu", "silu", "prelu", "global_avgpool", "global_maxpool", "add"}


def place(spec: NetworkSpec, graph: Graph, layers: tuple[ResolvedLayer, ...]) -> tuple[Placement | None, ...]:
    """One Placement per layer (None for all when the spec names no devices)."""
    nodes = {node.name: node for node in graph.nodes}
    if not spec.devices:
        sink = DiagnosticSink()
        for layer in layers:
            node = nodes[layer.name]
            if getattr(node.layer, "placement", None) is not None:
                sink.add(Diagnostic("`placement` needs model-level `devices`", layer=layer.name,
                                    path=node.path + ("placement",), at_key=True,
                                    hint="add `devices: [gpu0, gpu1]` at the top level, or remove `placement`"))
        sink.raise_if_any()
        return tuple(None for _ in layers)
    devices = tuple(spec.devices)
    sink = DiagnosticSink()
    if len(set(devices)) != len(devices):
        sink.add(Diagnostic("duplicate device names", path=("devices",), expected="distinct device names"))
    states = {INPUT: REPLICATED}
    placements = []
    for layer in layers:
        placement, states[layer.name] = _place_one(nodes[layer.name], layer, devices,
                                                   _merged([states[name] for name in layer.inputs]), sink)
        placements.append(placement)
    sink.raise_if_any()
    return tuple(placements)


def _merged(states: list[str]) -> str:
    """Where a layer's inputs are, as one state: theirs when they agree; split inputs added stay split (each device
    adds its own shares); anything else is gathered onto one device, which reads across."""
    if len(set(states)) == 1:
        return states[0]
    return _MIXED


_MIXED = "<mixed>"


def _place_one(node, layer: ResolvedLayer, devices: tuple[str, ...], state: str,
               sink: DiagnosticSink) -> tuple[Placement, str]:
    layer_spec, path = node.layer, node.path
    count = len(devices)
    if layer.type == "concat" and state == SPLIT:
        state = _MIXED  # the devices' shares of each input are not one contiguous share of the concatenation
    if state == _MIXED and not isinstance(layer.attrs, (ConvAttrs, DenseAttrs)):
        return Placement((devices[0],), split=False, reads_across=True), devices[0]
    if isinstance(layer.attrs, (ConvAttrs, DenseAttrs)):
        requested = layer_spec.placement or "split"
        if requested != "split" and requested not in devices:
            sink.add(Diagnostic(f"unknown device {requested!r}", layer=layer.name, path=path + ("placement",),
                                expected=f"`split` or one of: {', '.join(devices)}",
                                hint="device names are declared in the top-level `devices` list"))
            requested = devices[0]
        if requested != "split":
            return Placement((requested,), split=False, reads_across=state not in (requested, REPLICATED)), requested
        width = layer.output_shape[0]
        if width % count:
            sink.add(Diagnostic(f"{width} output {'channels' if layer.is_spatial else 'features'} cannot be split "
                                f"evenly over {count} devices", layer=layer.name,
                                path=path + ("out_channels" if layer.is_spatial else "out_features",),
                                expected=f"a multiple of {count}", hint="change the width, or place the layer on one "
                                "device with `placement: <device>`"))
        groups = layer.attrs.groups if isinstance(layer.attrs, ConvAttrs) else 1
        if groups != 1 and groups % count:
            sink.add(Diagnostic(f"groups={groups} cannot be split over {count} devices", layer=layer.name,
                                path=path + ("groups",), expected=f"groups 1 or a multiple of {count}",
                                hint="each device must hold whole groups"))
        local = state == REPLICATED or (state == SPLIT and groups % count == 0)
        return Placement(devices, split=True, reads_across=not local), SPLIT
    if layer.type in CHANNEL_LOCAL:
        if state == SPLIT:
            return Placement(devices, split=True, reads_across=False), SPLIT
        home = devices[0] if state == REPLICATED else state
        return Placement((home,), split=False, reads_across=False), home
    if isinstance(layer.attrs, LRNAttrs) and state == SPLIT and layer.attrs.groups % count == 0:
        return Placement(devices, split=True, reads_across=False), SPLIT
    # LRN windows or a softmax that span the towers: gather onto the first device.
    home = devices[0] if state in (SPLIT, REPLICATED) else state
    return Placement((home,), split=False, reads_across=state == SPLIT), home
