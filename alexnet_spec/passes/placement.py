"""Placement: where each layer runs when the spec names devices, and which layers read across devices."""

from __future__ import annotations

from alexnet_spec.errors import Diagnostic, DiagnosticSink
from alexnet_spec.resolved import ConvAttrs, DenseAttrs, LRNAttrs, Placement, ResolvedLayer
from alexnet_spec.spec.network import NetworkSpec

# The state of an activation: "replicated" (the model input, on every device), "split" (channels or features divided
# among the devices), or the name of the one device that holds it.
REPLICATED, SPLIT = "<replicated>", "<split>"
CHANNEL_LOCAL = {"relu", "tanh", "sigmoid", "maxpool", "avgpool", "adaptive_avgpool", "dropout", "batchnorm", "flatten"}


def place(spec: NetworkSpec, layers: tuple[ResolvedLayer, ...]) -> tuple[Placement | None, ...]:
    """One Placement per layer (None for all when the spec names no devices)."""
    if not spec.devices:
        sink = DiagnosticSink()
        for index, layer in enumerate(spec.layers):
            if getattr(layer, "placement", None) is not None:
                sink.add(Diagnostic("`placement` needs model-level `devices`", layer=layer.name,
                                    path=("layers", index, "placement"), at_key=True,
                                    hint="add `devices: [gpu0, gpu1]` at the top level, or remove `placement`"))
        sink.raise_if_any()
        return tuple(None for _ in layers)
    devices = tuple(spec.devices)
    sink = DiagnosticSink()
    if len(set(devices)) != len(devices):
        sink.add(Diagnostic("duplicate device names", path=("devices",), expected="distinct device names"))
    state = REPLICATED
    placements = []
    for index, (layer_spec, layer) in enumerate(zip(spec.layers, layers)):
        placement, state = _place_one(layer_spec, layer, index, devices, state, sink)
        placements.append(placement)
    sink.raise_if_any()
    return tuple(placements)


def _place_one(layer_spec, layer: ResolvedLayer, index: int, devices: tuple[str, ...], state: str,
               sink: DiagnosticSink) -> tuple[Placement, str]:
    count = len(devices)
    if isinstance(layer.attrs, (ConvAttrs, DenseAttrs)):
        requested = layer_spec.placement or "split"
        if requested != "split" and requested not in devices:
            sink.add(Diagnostic(f"unknown device {requested!r}", layer=layer.name, path=("layers", index, "placement"),
                                expected=f"`split` or one of: {', '.join(devices)}",
                                hint="device names are declared in the top-level `devices` list"))
            requested = devices[0]
        if requested != "split":
            return Placement((requested,), split=False, reads_across=state not in (requested, REPLICATED)), requested
        width = layer.output_shape[0]
        if width % count:
            sink.add(Diagnostic(f"{width} output {'channels' if layer.is_spatial else 'features'} cannot be split "
                                f"evenly over {count} devices", layer=layer.name,
                                path=("layers", index, "out_channels" if layer.is_spatial else "out_features"),
                                expected=f"a multiple of {count}", hint="change the width, or place the layer on one "
                                "device with `placement: <device>`"))
        groups = layer.attrs.groups if isinstance(layer.attrs, ConvAttrs) else 1
        if groups != 1 and groups % count:
            sink.add(Diagnostic(f"groups={groups} cannot be split over {count} devices", layer=layer.name,
                                path=("layers", index, "groups"), expected=f"groups 1 or a multiple of {count}",
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
