"""`alexspec draw`: the architecture as an SVG picture.

The network flows from top to bottom, one row per layer (consecutive parameter-free element-wise layers, such as
`relu6` and `drop6`, share one slim row). Each row has the layer's name and kernel at the left, one box per device
tower in the middle, and its parameters and multiply-accumulates at the right. A box's width grows with the log of
its channels (or features) and its height with the square root of its spatial size, both clamped, so that a 3-channel
input and 4096 features both stay legible. For a placed spec (`devices`), the towers stand side by side; a split layer
is drawn once per device with that device's share of the channels (48 of conv1's 96), and the connections of the
layers that read across devices (the paper's conv3, fc6, fc7, fc8) cross between the towers in red, as in Figure 2 of
Krizhevsky et al. (2012).

`draw(net)` computes every coordinate and string here; `templates/architecture.svg.jinja` only places them, with
autoescaping on, so names and descriptions cannot inject markup. The output depends on the network alone.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache

import jinja2
import markupsafe

from alexnet_spec.tools.summary import per_device_totals, shape_text
from alexnet_spec.resolved import (
    AdaptivePoolAttrs,
    BatchNormAttrs,
    ConvAttrs,
    DenseAttrs,
    DropoutAttrs,
    LRNAttrs,
    PoolAttrs,
    ResolvedLayer,
    ResolvedNetwork,
)

# Layer kinds: fill colour and legend text. Parameter-free layers that keep the shape get a slim row.
KINDS = {
    "input": ("#ffffff", "input"),
    "conv": ("#9ecae1", "convolution"),
    "pool": ("#a1d99b", "pooling"),
    "norm": ("#cbc9e2", "normalisation"),
    "dense": ("#fdae6b", "dense"),
    "free": ("#ececec", "activation, dropout, reshape"),
}
KIND_OF_TYPE = {"conv": "conv", "maxpool": "pool", "avgpool": "pool", "adaptive_avgpool": "pool", "lrn": "norm",
                "batchnorm": "norm", "dense": "dense"}
GROUPABLE = {"relu", "tanh", "sigmoid", "dropout", "softmax"}  # element-wise (softmax: per position), same shape
SLIM = GROUPABLE | {"flatten"}
CROSS_COLOUR, ARROW_COLOUR = "#c0392b", "#555555"

# Geometry, in SVG user units (pixels at 100%).
MARGIN = 16
FONT, SMALL, TITLE = 12, 10.5, 17
LINE = 15  # distance between two lines of a label
GAP, ACROSS_GAP = 14, 40  # vertical space above a row; more where arrows cross between towers
SLIM_HEIGHT, FEATURE_HEIGHT = 14, 18
MIN_WIDTH, MAX_WIDTH = 24, 200
MIN_SPATIAL, MAX_SPATIAL = 18, 64
PAD = 6  # between a box and text beside it
LANE_PAD = 12  # between the edge of a tower's lane and its widest box
LABEL_GAP = 18  # between the name column and the first lane, and between the last lane and the right column

# What XML 1.0 cannot hold at all, even escaped: its Char production allows only #x9 | #xA | #xD | [#x20-#xD7FF] |
# [#xE000-#xFFFD] | [#x10000-#x10FFFF] (https://www.w3.org/TR/xml/#charsets).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def text_width(text: str, size: float = FONT, bold: bool = False) -> float:
    """A generous estimate of the rendered width (no font metrics here): DejaVu Sans digits are 0.64 em wide."""
    return round(len(text) * size * (0.70 if bold else 0.64), 1)


def box_width(channels: int) -> float:
    """Width of a box holding `channels` channels (or features): 16 units per doubling, clamped."""
    return round(max(MIN_WIDTH, min(MAX_WIDTH, 16 * math.log2(max(channels, 1)) + 12)), 1)


def box_height(layer_shape: tuple[int, ...]) -> float:
    """Height of a box: 7 √H for an image (C, H, W), clamped; a fixed bar for features."""
    if len(layer_shape) == 3:
        return round(max(MIN_SPATIAL, min(MAX_SPATIAL, 7 * math.sqrt(layer_shape[1]))), 1)
    return FEATURE_HEIGHT


def _size(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


def _padding(padding: tuple[int, int, int, int]) -> str:
    top, bottom, left, right = padding
    if not any(padding):
        return ""
    if top == bottom == left == right:
        return f" pad {top}"
    if top == bottom and left == right:
        return f" pad {top},{left}"
    return f" pad {top},{bottom},{left},{right}"


def layer_detail(layer: ResolvedLayer) -> str:
    """The second line of a layer's label: type, kernel/stride, padding, groups; dropout's p; else empty."""
    attrs = layer.attrs
    if isinstance(attrs, ConvAttrs):
        text = f"conv {attrs.kernel[0]}×{attrs.kernel[1]}/{_size(attrs.stride)}{_padding(attrs.padding)}"
        text += f" dil {_size(attrs.dilation)}" if attrs.dilation != (1, 1) else ""
        text += f", {attrs.groups} groups" if attrs.groups > 1 else ""
        return text + (f" + {attrs.activation}" if attrs.activation else "")
    if isinstance(attrs, PoolAttrs):
        kind = "max" if layer.type == "maxpool" else "avg"
        return (f"{kind} {attrs.kernel[0]}×{attrs.kernel[1]}/{_size(attrs.stride)}{_padding(attrs.padding)}"
                + (" ceil" if attrs.ceil_mode else ""))
    if isinstance(attrs, AdaptivePoolAttrs):
        return f"adaptive avg to {attrs.output_size[0]}×{attrs.output_size[1]}"
    if isinstance(attrs, LRNAttrs):
        return f"LRN n={attrs.size}" + (f", {attrs.groups} groups" if attrs.groups > 1 else "")
    if isinstance(attrs, BatchNormAttrs):
        return "batchnorm"
    if isinstance(attrs, DenseAttrs):
        return "dense" + (f" + {attrs.activation}" if attrs.activation else "")
    if isinstance(attrs, DropoutAttrs):
        return f"p={attrs.p:g}"
    return ""


def _count(value: int) -> str:
    """1,234 below a million; 37.7M, 1.2G above (for MACs)."""
    for unit, scale in (("G", 10**9), ("M", 10**6)):
        if value >= scale:
            return f"{value / scale:.1f}{unit}"
    return f"{value:,}"


# What the template places. Every number is already rounded and every string final.


@dataclass(frozen=True)
class Span:
    text: str
    css: str = ""  # a class of the template's style sheet: "name", "detail", ...


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    anchor: str  # start, middle, end
    spans: tuple[Span, ...]
    css: str = ""


@dataclass(frozen=True)
class Box:
    layers: tuple[str, ...]  # the layer names this box stands for ("input" for the input)
    device: str  # "" when the spec names no devices
    x: float
    y: float
    w: float
    h: float
    fill: str
    css: str  # layer, layer slim, input
    label: Text  # the volume the box holds, inside it or beside it

    @property
    def names(self) -> str:
        return " ".join(self.layers)


@dataclass(frozen=True)
class Arrow:
    source: Box
    target: Box
    x1: float
    y1: float
    x2: float
    y2: float
    cross: bool  # reads activations held by another device

    @property
    def css(self) -> str:
        return "arrow cross-device" if self.cross else "arrow"

    @property
    def marker(self) -> str:
        return "cross" if self.cross else "plain"


@dataclass(frozen=True)
class Lane:
    device: str
    x: float
    y: float
    w: float
    h: float
    header: Text


@dataclass(frozen=True)
class Swatch:
    x: float
    y: float
    fill: str
    label: Text
    line: bool  # a red arrow sample instead of a box


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    title: str
    header: tuple[Text, ...]
    legend: tuple[Swatch, ...]
    lanes: tuple[Lane, ...]
    arrows: tuple[Arrow, ...]
    boxes: tuple[Box, ...]
    labels: tuple[Text, ...]
    cross_colour: str = CROSS_COLOUR
    arrow_colour: str = ARROW_COLOUR


@dataclass(frozen=True)
class _Row:
    """One row: a layer, a run of element-wise layers, or the input."""

    layers: tuple[ResolvedLayer, ...]
    devices: tuple[str, ...]  # where it runs ("" for an unplaced spec)
    shape: tuple[int, ...]  # the output volume held by each device
    whole: tuple[int, ...]  # the whole output volume
    reads_across: bool
    kind: str
    slim: bool
    detail: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers) or ("input",)

    @property
    def box_w(self) -> float:
        return box_width(self.shape[0])

    @property
    def box_h(self) -> float:
        return SLIM_HEIGHT if self.slim else box_height(self.shape)

    @property
    def volume(self) -> str:
        return shape_text(self.shape)

    @property
    def volume_inside(self) -> bool:
        return text_width(self.volume, SMALL) + 2 * PAD <= self.box_w and (not self.slim or SMALL <= self.box_h)

    @property
    def facts(self) -> str:
        params = sum(layer.params for layer in self.layers)
        macs = sum(layer.macs for layer in self.layers)
        parts = ([f"{params:,} params"] if params else []) + ([f"{_count(macs)} MACs"] if macs else [])
        return " · ".join(parts)

    @property
    def share_note(self) -> str:
        """`of 96×55×55` where each device holds a share of the volume."""
        return f"of {shape_text(self.whole)}" if self.shape != self.whole else ""


def _continues(first: ResolvedLayer, layer: ResolvedLayer) -> bool:
    """Whether `layer` joins the slim row of element-wise layers that `first` starts: same devices, no cross reads."""
    if layer.type not in GROUPABLE:
        return False
    if first.placement is None or layer.placement is None:
        return first.placement is None and layer.placement is None
    return (layer.placement.devices, layer.placement.split, layer.placement.reads_across) == \
        (first.placement.devices, first.placement.split, False)


def _rows(net: ResolvedNetwork) -> list[_Row]:
    devices = net.devices
    rows = [_Row((), devices or ("",), net.input_shape, net.input_shape, False, "input", False, "")]
    layers = net.layers
    index = 0
    while index < len(layers):
        layer = layers[index]
        end = index + 1
        while layer.type in GROUPABLE and end < len(layers) and _continues(layer, layers[end]):
            end += 1
        group = tuple(layers[index:end])
        placement = layer.placement
        on = placement.devices if placement is not None else ("",)
        share = len(placement.devices) if placement is not None and placement.split else 1
        last = group[-1].output_shape
        shape = (last[0] // share,) + last[1:]
        detail = " ".join(filter(None, (layer_detail(member) for member in group)))
        rows.append(_Row(group, on, shape, last, bool(placement and placement.reads_across),
                         KIND_OF_TYPE.get(layer.type, "free"), layer.type in SLIM, detail))
        index = end
    return rows


def _label_lines(row: _Row) -> list[tuple[Span, ...]]:
    """The name column: the layer name(s) in bold, then the detail; a slim row keeps to one line."""
    names: list[Span] = []
    for position, name in enumerate(row.names):
        if position:
            names.append(Span(" · ", "detail"))
        names.append(Span(name, "name" if not row.slim else "name slim"))
    if row.slim:
        return [tuple(names) + ((Span(" " + row.detail, "detail"),) if row.detail else ())]
    return [tuple(names)] + ([(Span(row.detail, "detail"),)] if row.detail else [])


def _facts_lines(row: _Row) -> list[tuple[Span, ...]]:
    if row.slim:
        return []
    return [(Span(text, "detail"),) for text in (row.share_note, row.facts) if text]


def _line_width(spans: tuple[Span, ...]) -> float:
    return sum(text_width(span.text, FONT, bold="name" in span.css and "slim" not in span.css) for span in spans)


def _text_block(x: float, middle: float, anchor: str, lines: list[tuple[Span, ...]]) -> list[Text]:
    """Lines of text centred vertically on `middle`."""
    first = middle + 4 - (len(lines) - 1) * LINE / 2
    return [Text(x, round(first + number * LINE, 1), anchor, spans) for number, spans in enumerate(lines)]


def xml_text(value) -> str:
    """Every value the template places: characters XML 1.0 cannot hold at all, even escaped, become U+FFFD, and
    autoescaping then escapes &<>"'. What a macro of the template returns is already finished markup."""
    if isinstance(value, markupsafe.Markup):
        return value
    return _INVALID_XML.sub("\ufffd", str(value))


def layout(net: ResolvedNetwork) -> Picture:
    """Every coordinate of the picture of `net`."""
    rows = _rows(net)
    devices = net.devices or ("",)
    placed = bool(net.devices)
    column = {device: index for index, device in enumerate(devices)}

    # Column widths from the widest content.
    name_w = max(max(_line_width(line) for line in _label_lines(row)) for row in rows)
    facts_w = max([_line_width(line) for row in rows for line in _facts_lines(row)] + [0])
    lane_w = 0.0
    for row in rows:
        outside = 0 if row.volume_inside else PAD + text_width(row.volume, SMALL)
        lane_w = max(lane_w, row.box_w + 2 * (outside + LANE_PAD))
    if placed:
        totals = per_device_totals(net)
        headers = {device: f"{device} · {totals[device]['params']:,} params" for device in devices}
        lane_w = max(lane_w, max(text_width(text, FONT, bold=True) for text in headers.values()) + 2 * LANE_PAD)
    lane_w = round(max(lane_w, 120.0), 1)
    names_right = round(MARGIN + name_w, 1)
    lanes_left = round(names_right + LABEL_GAP, 1)
    facts_left = round(lanes_left + lane_w * len(devices) + LABEL_GAP, 1)
    width = math.ceil(max(facts_left + facts_w + MARGIN, 640))

    # The heading: title, totals, description (wrapped), legend.
    title = f"{net.name}: {net.total_params:,} parameters, {net.total_macs:,} multiply-accumulates"
    heading = [Text(MARGIN, 28, "start", (Span(net.name, "title"),))]
    totals_line = (f"input {shape_text(net.input_shape)} → output {shape_text(net.output_shape)} · "
                   f"{net.total_params:,} parameters · {net.total_macs:,} multiply-accumulates per image"
                   + (f" · {net.total_buffers:,} buffers" if net.total_buffers else ""))
    heading.append(Text(MARGIN, 50, "start", (Span(totals_line, "totals"),)))
    width = max(width, math.ceil(MARGIN * 2 + text_width(totals_line)))
    y = 50.0
    notes = [net.description] if net.description else []
    if placed:
        notes.append(f"Split over {' and '.join(devices) if len(devices) == 2 else ', '.join(devices)}: each tower "
                     "shows its device's share of every split layer; red arrows read activations held by another "
                     "device.")
    chars = max(40, int((width - 2 * MARGIN) / (FONT * 0.64)))
    for note in notes:
        for line in textwrap.wrap(note, chars) or [""]:
            y += 17
            heading.append(Text(MARGIN, y, "start", (Span(line, "note"),)))
    y += 24
    legend = []
    x = float(MARGIN)
    kinds = [kind for kind in KINDS if kind in {row.kind for row in rows}]
    for kind in kinds:
        fill, text = KINDS[kind]
        legend.append(Swatch(x, round(y - 10, 1), fill, Text(round(x + 18, 1), y, "start", (Span(text, "legend"),)),
                             False))
        x += 18 + text_width(text, SMALL) + 14
    if placed:
        text = "reads across devices"
        legend.append(Swatch(x, round(y - 10, 1), CROSS_COLOUR,
                             Text(round(x + 30, 1), y, "start", (Span(text, "legend"),)), True))
        x += 30 + text_width(text, SMALL) + 14
    scale_note = "k×k/s: kernel/stride · box width ∝ log channels, height ∝ √(spatial size)"
    legend_extra = Text(x, y, "start", (Span(scale_note, "legend detail"),))
    if x + text_width(scale_note, SMALL) + MARGIN > width:
        y += 18
        legend_extra = Text(MARGIN, y, "start", (Span(scale_note, "legend detail"),))
    width = max(width, math.ceil(legend_extra.x + text_width(scale_note, SMALL) + MARGIN))
    heading.append(legend_extra)

    # The rows.
    lanes_top = y + 14
    y = lanes_top + (28 if placed else 0)
    centre = {device: round(lanes_left + lane_w * (index + 0.5), 1) for index, device in enumerate(devices)}
    boxes: list[Box] = []
    labels: list[Text] = []
    arrows: list[Arrow] = []
    previous: dict[str, Box] = {}
    for row in rows:
        y += ACROSS_GAP if row.reads_across and len(devices) > 1 else GAP
        label_lines = _label_lines(row)
        facts_lines = _facts_lines(row)
        height = max(row.box_h, LINE * max(len(label_lines), len(facts_lines)) + 2)
        middle = y + height / 2
        labels += _text_block(names_right, middle, "end", label_lines)
        labels += _text_block(facts_left, middle, "start", facts_lines)
        w, h = row.box_w, row.box_h
        current = {}
        for device in row.devices:
            x0 = round(centre[device] - w / 2, 1)
            y0 = round(middle - h / 2, 1)
            if row.volume_inside:
                volume = Text(centre[device], round(middle + SMALL * 0.36, 1), "middle", (Span(row.volume, "volume"),))
            else:
                volume = Text(round(x0 + w + PAD, 1), round(middle + SMALL * 0.36, 1), "start",
                              (Span(row.volume, "volume"),))
            css = "input" if not row.layers else ("layer slim" if row.slim else "layer")
            box = Box(row.names, device, x0, y0, w, h, KINDS[row.kind][0], css, volume)
            boxes.append(box)
            current[device] = box
        for device, box in current.items():
            if row.reads_across:
                sources = list(previous.items())
            else:
                sources = [(device, previous[device])] if device in previous else list(previous.items())
            for source_device, source in sources:
                arrows.append(Arrow(source, box, round(source.x + source.w / 2, 1), round(source.y + source.h, 1),
                                    round(box.x + box.w / 2, 1), round(box.y - 1, 1), source_device != device))
        previous = current
        y += height
    bottom = y + GAP
    lanes = []
    if placed:
        for device in devices:
            left = round(lanes_left + lane_w * column[device], 1)
            header = Text(centre[device], round(lanes_top + 19, 1), "middle", (Span(headers[device], "device"),))
            lanes.append(Lane(device, round(left + 3, 1), round(lanes_top, 1), round(lane_w - 6, 1),
                              round(bottom - lanes_top, 1), header))
    height = math.ceil(bottom + MARGIN)
    return Picture(width, height, title, tuple(heading), tuple(legend), tuple(lanes), tuple(arrows), tuple(boxes),
                   tuple(labels))


@lru_cache(maxsize=None)
def _environment() -> jinja2.Environment:
    # Autoescape on: everything placed is XML text or an attribute value (unlike the code templates of backends/).
    # Every value passes xml_text (finalize) before escaping, so no spec text (description, model, layer and device
    # names) can make the document invalid.
    return jinja2.Environment(loader=jinja2.PackageLoader("alexnet_spec.tools", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True, finalize=xml_text)


def draw(net: ResolvedNetwork) -> str:
    """The SVG document (text) of `net`: deterministic, self-contained, no scripts, fonts or external references."""
    return _environment().get_template("architecture.svg.jinja").render(picture=layout(net))
