"""`alexspec draw`: the architecture as an SVG picture, one box per layer, drawn to scale; for placed specs the device
towers side by side with the cross-device connections, like Figure 2 of the AlexNet paper."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

from alexnet_spec.report import shape_text
from alexnet_spec.resolved import ConvAttrs, PoolAttrs, ResolvedLayer, ResolvedNetwork

FILL = {"conv": "#9ecae1", "dense": "#fdae6b", "maxpool": "#a1d99b", "avgpool": "#a1d99b",
        "adaptive_avgpool": "#a1d99b", "lrn": "#dadaeb", "batchnorm": "#dadaeb"}
COLUMN, NARROW, ROW, TOP = 104, 64, 230, 70
ELEMENTWISE = {"relu", "tanh", "sigmoid", "dropout", "softmax", "flatten"}


@dataclass(frozen=True)
class Box:
    name: str
    x: float
    y: float
    w: float
    h: float
    fill: str
    volume: str
    kernel: str

    @property
    def cx(self) -> float:
        return round(self.x + self.w / 2, 1)

    @property
    def label_y(self) -> float:
        return round(self.y - 6, 1)

    @property
    def volume_y(self) -> float:
        return round(self.y + self.h + 14, 1)

    @property
    def kernel_y(self) -> float:
        return round(self.y + self.h + 28, 1)


@dataclass(frozen=True)
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    cross: bool

    @property
    def colour(self) -> str:
        return "#c0392b" if self.cross else "#555"

    @property
    def width(self) -> float:
        return 1.6 if self.cross else 1.0


@dataclass(frozen=True)
class Tower:
    label: str
    y: float


@lru_cache(maxsize=None)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                              undefined=jinja2.StrictUndefined, autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


def _size(layer: ResolvedLayer, share: int) -> tuple[float, float]:
    """Box width from the channels (log scale) and height from the spatial size (square root), clamped."""
    width = max(14.0, min(70.0, 8.0 * math.log2(max(layer.output_shape[0] // share, 1)) + 6))
    if layer.is_spatial:
        height = max(16.0, min(120.0, 12.0 * math.sqrt(layer.output_shape[1])))
    else:
        height = max(12.0, min(120.0, 9.0 * math.log2(max(layer.output_shape[0] // share, 1)) + 4))
    return round(width, 1), round(height, 1)


def _kernel(layer: ResolvedLayer) -> str:
    attrs = layer.attrs
    if isinstance(attrs, (ConvAttrs, PoolAttrs)):
        kernel = f"{attrs.kernel[0]}×{attrs.kernel[1]}" if attrs.kernel[0] != attrs.kernel[1] else str(attrs.kernel[0])
        stride = attrs.stride[0] if attrs.stride[0] == attrs.stride[1] else f"{attrs.stride[0]}×{attrs.stride[1]}"
        groups = f" g{attrs.groups}" if isinstance(attrs, ConvAttrs) and attrs.groups > 1 else ""
        return f"{kernel}×{kernel}/{stride}{groups}" if kernel.isdigit() else f"{kernel}/{stride}{groups}"
    return ""


def draw(net: ResolvedNetwork) -> str:
    devices = net.devices or ("",)
    rows = {device: index for index, device in enumerate(devices)}
    boxes, edges, previous = [], [], {}
    x = 90.0
    for layer in net.layers:
        placement = layer.placement
        split = placement is not None and placement.split
        on = placement.devices if placement is not None else devices
        share = len(devices) if split else 1
        w, h = _size(layer, share)
        column = max(NARROW if layer.type in ELEMENTWISE else COLUMN, w + 34)
        current = {}
        for device in on:
            y = TOP + 40 + rows[device] * ROW + (ROW - 80 - h) / 2
            volume = shape_text((layer.output_shape[0] // share,) + layer.output_shape[1:])
            box = Box(layer.name, round(x + (column - w) / 2 - 10, 1), round(y, 1), w, h,
                      FILL.get(layer.type, "#f0f0f0"), volume, _kernel(layer))
            boxes.append(box)
            current[device] = box
        for device, box in current.items():
            sources = previous.items() if (placement is not None and placement.reads_across) else \
                [(d, b) for d, b in previous.items() if d == device] or list(previous.items())
            for source_device, source in sources:
                edges.append(Edge(round(source.x + source.w, 1), round(source.y + source.h / 2, 1), box.x,
                                  round(box.y + box.h / 2, 1), cross=source_device != device))
        previous = current
        x += column
    width = int(x + 40)
    height = int(TOP + 40 + len(devices) * ROW)
    towers = [Tower(device, TOP + 40 + index * ROW + 12) for index, device in enumerate(devices) if device]
    title = f"{net.name}: input {shape_text(net.input_shape)}"
    subtitle = (f"{net.total_params:,} parameters, {net.total_macs:,} MACs"
                + (f"; split over {', '.join(devices)} (red: reads across devices)" if net.devices else "")
                + (f" — {net.spec.description}" if net.spec.description else ""))
    return _environment().get_template("architecture.svg.jinja").render(
        width=width, height=height, title=title, subtitle=subtitle, towers=towers, boxes=boxes, edges=edges)
