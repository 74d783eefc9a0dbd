"""`alexspec draw`: the architecture as a picture, laid out from nodes and edges.

The network flows from top to bottom. Nodes are layers, with the element-wise layers that only one layer feeds
folded into its box (conv1 → relu); a node's rank is the longest path to it from the input (graph.ranks), and the
nodes of one rank stand side by side in one row, so a graph network needs no other layout. Each device of a placed
spec has its own tower (a lane), side by side: a split layer is drawn once per device with that device's share
(48 of conv1's 96 channels), and the edges of the layers that read across devices (the paper's conv3, fc6, fc7,
fc8) cross between the towers in red, as in Figure 2 of Krizhevsky et al. (2012).

Every label is inside its box; edges run only in the gaps between rows (an edge that skips rows goes down the
lane's left gutter, where nothing is written), so no edge crosses a label, for any number of devices. Grouped
convolutions (and LRN within groups) show their groups as a bar of segments. The width stays within 880 px (the
README's) for the shipped specs, so text is drawn at its size.

`layout(net)` computes every coordinate and string, and each text's box (`Text.bbox`) from a width estimate that
a test checks against the pixels cairosvg renders; `templates/architecture.svg.jinja` only places them, with
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
from alexnet_spec.tools.graph import Node, fold, ranks
from alexnet_spec.tools.summary import shape_text

# Layer kinds: fill colour and legend text.
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
CROSS_COLOUR, ARROW_COLOUR, GROUP_COLOUR = "#c0392b", "#555555", "#3b6e8f"

# Geometry, in SVG user units (pixels at 100%).
MARGIN = 16
FONT, SMALL, TITLE = 12, 11, 17
LINE = 15  # distance between two lines of 12 px text
PAD_X, PAD_Y = 8, 5  # inside a box, around its text
GROUP_BAR = 7  # height of the bar of convolution groups
MAX_GROUPS_DRAWN = 32  # beyond, the groups are only counted in the text
MIN_BOX = 96
BOX_GAP = 14  # between boxes side by side in a lane
LANE_PAD, LANE_GAP, LANE_HEADER = 14, 10, 26
ROW_GAP, CROSS_GAP = 18, 34  # vertical space between rows; more where edges cross between towers
README_WIDTH = 880
ARROW_HEAD = 10  # length of an arrowhead (6 marker units at stroke 1.6), the last straight stretch of an edge
MIN_WIDTH = 480  # room for the heading and the legend

# What XML 1.0 cannot hold at all, even escaped: its Char production allows only #x9 | #xA | #xD | [#x20-#xD7FF] |
# [#xE000-#xFFFD] | [#x10000-#x10FFFF] (https://www.w3.org/TR/xml/#charsets).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Advance widths of DejaVu Sans (the font the picture asks for first), in em, rounded up: no font metrics are read
# here, so the estimate errs wide; a test measures rendered text against it.
_NARROW, _WIDE = set("fijlrtI!,.:;'|()[]{} "), set("mwMW×—%@")


def char_width(char: str) -> float:
    if char in _NARROW:
        return 0.42
    if char in _WIDE:
        return 1.0
    if char.isupper() or char in "#&~=+<>→·" or char.isdigit():
        return 0.80 if char.isupper() else 0.66
    if ord(char) > 0x2000:
        return 1.0
    return 0.64


def text_width(text: str, size: float = FONT, bold: bool = False) -> float:
    """A generous estimate of the rendered width of `text` at `size` px."""
    return round(sum(char_width(char) for char in text) * size * (1.18 if bold else 1.0), 1)  # bold: DejaVu Sans Bold


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
    """What a layer does, in the legend's notation: `conv 11×11/4` (kernel/stride), padding, groups, activation."""
    attrs = layer.attrs
    if isinstance(attrs, ConvAttrs):
        text = f"conv {attrs.kernel[0]}×{attrs.kernel[1]}/{_size(attrs.stride)}{_padding(attrs.padding)}"
        text += f" dil {_size(attrs.dilation)}" if attrs.dilation != (1, 1) else ""
        text += f", {attrs.groups} groups" if attrs.groups > 1 else ""
        return text + (f" → {attrs.activation}" if attrs.activation else "")
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
        return "dense" + (f" → {attrs.activation}" if attrs.activation else "")
    if isinstance(attrs, DropoutAttrs):
        return f"dropout {attrs.p:g}"
    return layer.type


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
    y: float  # the baseline
    anchor: str  # start, middle, end
    spans: tuple[Span, ...]
    size: float = FONT
    bold: bool = False

    @property
    def width(self) -> float:
        return text_width("".join(span.text for span in self.spans), self.size, self.bold)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) the rendered text stays inside: DejaVu Sans rises 0.93 em above the baseline
        (accents, brackets) and descends 0.24 em below it."""
        left = {"start": self.x, "middle": self.x - self.width / 2, "end": self.x - self.width}[self.anchor]
        return (round(left, 1), round(self.y - 0.93 * self.size, 1), round(left + self.width, 1),
                round(self.y + 0.24 * self.size, 1))


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Box:
    layers: tuple[str, ...]  # the layer names this box stands for ("input" for the input)
    device: str  # "" when the spec names no devices
    x: float
    y: float
    w: float
    h: float
    fill: str
    css: str  # layer, input
    lines: tuple[Text, ...]  # names, what it does, the volume, parameters and MACs
    groups: tuple[Rect, ...] = ()  # one segment per convolution group on this device

    @property
    def names(self) -> str:
        return " ".join(self.layers)


@dataclass(frozen=True)
class Arrow:
    source: Box
    target: Box
    points: tuple[tuple[float, float], ...]
    cross: bool  # reads activations held by another device

    @property
    def css(self) -> str:
        return "arrow cross-device" if self.cross else "arrow"

    @property
    def marker(self) -> str:
        return "cross" if self.cross else "plain"

    @property
    def path(self) -> str:
        return " ".join(f"{'M' if index == 0 else 'L'} {x} {y}" for index, (x, y) in enumerate(self.points))


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
    kind: str  # box, line, groups, none
    fill: str
    label: Text


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
    cross_colour: str = CROSS_COLOUR
    arrow_colour: str = ARROW_COLOUR
    group_colour: str = GROUP_COLOUR

    @property
    def texts(self) -> tuple[Text, ...]:
        """Every text of the picture: what must stay apart and inside it."""
        return (self.header + tuple(swatch.label for swatch in self.legend)
                + tuple(lane.header for lane in self.lanes) + tuple(line for box in self.boxes for line in box.lines))


# The content of one box.


def _share(node: Node) -> int:
    return len(node.devices) if node.split else 1


def _kind(node: Node) -> str:
    return KIND_OF_TYPE.get(node.layers[0].type, "free") if node.layers else "input"


def _groups_here(node: Node) -> int:
    """Convolution (or LRN) groups each device's box holds: a split layer's groups are divided among its devices."""
    for layer in node.layers:
        if isinstance(layer.attrs, (ConvAttrs, LRNAttrs)) and layer.attrs.groups > 1:
            return max(1, layer.attrs.groups // _share(node))
    return 1


def _box_lines(node: Node, input_shape: tuple[int, ...]) -> list[tuple[str, str, float, bool]]:
    """(text, css, size, bold) of each line of a node's box."""
    if not node.layers:
        return [("input", "name", FONT, True), (shape_text(input_shape), "volume", SMALL, False)]
    share = _share(node)
    whole = node.output_shape
    held = (whole[0] // share,) + whole[1:]
    volume = shape_text(held) + (f" of {shape_text(whole)}" if share > 1 else "")
    detail = " → ".join(layer_detail(layer) for layer in node.layers)
    lines = [(" · ".join(node.names), "name", FONT, True)]
    lines += [(detail, "detail", SMALL, False)] if detail != node.name else []  # `flatten` named flatten
    lines += [(volume, "volume", SMALL, False)]
    params = sum(layer.params + layer.buffers for layer in node.layers) // share
    macs = sum(layer.macs for layer in node.layers) // share
    facts = " · ".join(([f"{params:,} params"] if params else []) + ([f"{_count(macs)} MACs"] if macs else []))
    if facts:
        lines.append((facts, "detail", SMALL, False))
    return lines


def _box_size(lines, groups: int) -> tuple[float, float]:
    width = max(MIN_BOX, max(text_width(text, size, bold) for text, _, size, bold in lines) + 2 * PAD_X)
    height = len(lines) * LINE + 2 * PAD_Y + (GROUP_BAR + 4 if 1 < groups <= MAX_GROUPS_DRAWN else 0)
    return math.ceil(width), height


def _wrap(text: str, width: float, size: float) -> list[str]:
    """`text` in lines no wider than `width` by the estimate."""
    chars = max(20, int(width / (size * 0.66)))
    while True:
        lines = textwrap.wrap(text, chars) or [""]
        if all(text_width(line, size) <= width for line in lines) or chars <= 20:
            return lines
        chars -= 4


def layout(net: ResolvedNetwork) -> Picture:
    """Every coordinate of the picture of `net`."""
    nodes, node_edges = fold(net)
    rank = ranks([node.name for node in nodes], node_edges)
    devices = net.devices or ("",)
    placed = bool(net.devices)
    by_name = {node.name: node for node in nodes}
    rows: list[list[Node]] = [[] for _ in range(max(rank.values()) + 1)]
    for node in nodes:
        rows[rank[node.name]].append(node)
    content = {node.name: _box_lines(node, net.input_shape) for node in nodes}
    sizes = {node.name: _box_size(content[node.name], _groups_here(node)) for node in nodes}

    # Lanes: as wide as the widest row of boxes any device holds, all alike.
    lane_w = 0.0
    for row in rows:
        for device in devices:
            here = [sizes[node.name][0] for node in row if device in node.devices]
            lane_w = max(lane_w, sum(here) + BOX_GAP * max(0, len(here) - 1))
    headers = {device: f"{device}" for device in devices}
    if placed:
        lane_w = max([lane_w] + [text_width(text, FONT, True) for text in headers.values()])
    lane_w = math.ceil(lane_w + 2 * LANE_PAD)
    width = max(MARGIN * 2 + len(devices) * lane_w + (len(devices) - 1) * LANE_GAP, MIN_WIDTH)
    lane_w = math.floor((width - MARGIN * 2 - (len(devices) - 1) * LANE_GAP) / len(devices))  # lanes fill the width

    # The heading: title, totals, notes (each wrapped), the legend.
    heading: list[Text] = [Text(MARGIN, MARGIN + 15, "start", (Span(net.name, "title"),), TITLE, True)]
    y = MARGIN + 15
    totals = (f"input {shape_text(net.input_shape)} → output {shape_text(net.output_shape)} · "
              f"{net.total_params:,} parameters · {net.total_macs:,} multiply-accumulates per image"
              + (f" · {net.total_buffers:,} buffers" if net.total_buffers else ""))
    notes = [net.description] if net.description else []
    if placed:
        notes.append(f"One tower per device ({', '.join(devices)}): each shows its share of every split layer.")
    for index, paragraph in enumerate([totals] + notes):
        y += 6 if index else 2
        for line in _wrap(paragraph, width - 2 * MARGIN, FONT):
            y += LINE + 2
            heading.append(Text(MARGIN, y, "start", (Span(line, "totals" if index == 0 else "note"),)))
    legend, y = _legend(net, rows, placed, width, y + 26)

    # The rows.
    lanes_top = y + 12
    y = lanes_top + (LANE_HEADER if placed else 0)
    lane_left = {device: MARGIN + index * (lane_w + LANE_GAP) for index, device in enumerate(devices)}
    placed_boxes: dict[str, list[Box]] = {}
    boxes: list[Box] = []
    row_top: list[float] = []
    row_bottom: list[float] = []
    for number, row in enumerate(rows):
        crossing = number and any(by_name[target].reads_across for source, target in node_edges
                                  if by_name[target] in row)
        y += (CROSS_GAP if crossing and len(devices) > 1 else ROW_GAP) if number else 8
        height = max(sizes[node.name][1] for node in row)
        row_top.append(y)
        for device in devices:
            here = [node for node in row if device in node.devices]
            total = sum(sizes[node.name][0] for node in here) + BOX_GAP * max(0, len(here) - 1)
            x = lane_left[device] + (lane_w - total) / 2
            for node in here:
                box = _box(node, device, round(x, 1), round(y, 1), sizes[node.name][0], height, content[node.name])
                boxes.append(box)
                placed_boxes.setdefault(node.name, []).append(box)
                x += sizes[node.name][0] + BOX_GAP
        y += height
        row_bottom.append(y)
    bottom = y + ROW_GAP

    arrows = []
    for source, target in node_edges:
        for box in placed_boxes[target]:
            sources = placed_boxes[source]
            if not by_name[target].reads_across:
                sources = [s for s in sources if s.device == box.device] or sources
            for start in sources:
                arrows.append(_arrow(start, box, rank[source], rank[target], row_top, row_bottom,
                                     lane_left[box.device]))

    lanes = []
    if placed:
        for device in devices:
            header = Text(round(lane_left[device] + lane_w / 2, 1), round(lanes_top + 18, 1), "middle",
                          (Span(headers[device], "device"),), FONT, True)
            lanes.append(Lane(device, lane_left[device], round(lanes_top, 1), lane_w, round(bottom - lanes_top, 1),
                              header))
    title = f"{net.name}: {net.total_params:,} parameters, {net.total_macs:,} multiply-accumulates"
    return Picture(math.ceil(width), math.ceil(bottom + MARGIN), title, tuple(heading), tuple(legend), tuple(lanes),
                   tuple(arrows), tuple(boxes))


def _box(node: Node, device: str, x: float, y: float, w: float, h: float, lines) -> Box:
    texts = []
    baseline = y + PAD_Y + 11
    for text, css, size, bold in lines:
        texts.append(Text(round(x + w / 2, 1), round(baseline, 1), "middle", (Span(text, css),), size, bold))
        baseline += LINE
    groups = _groups_here(node)
    segments = []
    if 1 < groups <= MAX_GROUPS_DRAWN:
        inner = w - 2 * PAD_X
        step = inner / groups
        top = y + h - PAD_Y - GROUP_BAR
        segments = [Rect(round(x + PAD_X + index * step + 1, 1), round(top, 1), round(step - 2, 1), GROUP_BAR)
                    for index in range(groups)]
    css = "input" if not node.layers else "layer"
    return Box(node.names, device, x, y, w, h, KINDS[_kind(node)][0], css, tuple(texts), tuple(segments))


def _arrow(start: Box, end: Box, source_rank: int, target_rank: int, row_top: list[float],
           row_bottom: list[float], gutter_lane: float) -> Arrow:
    """From the bottom of `start` to the top of `end`, within the gaps between rows; an edge that skips rows goes
    down the gutter at the left of the target's lane."""
    x1, y1 = round(start.x + start.w / 2, 1), round(start.y + start.h, 1)
    x2, y2 = round(end.x + end.w / 2, 1), round(end.y - 1, 1)
    if target_rank == source_rank + 1:
        # A slanted edge ends in a short vertical stretch, so that its arrowhead points straight down and no wing
        # reaches into the target's box.
        points = ((x1, y1), (x2, y2)) if x1 == x2 else ((x1, y1), (x2, round(y2 - ARROW_HEAD, 1)), (x2, y2))
    else:
        below = round((row_bottom[source_rank] + row_top[source_rank + 1]) / 2, 1)
        above = round((row_bottom[target_rank - 1] + row_top[target_rank]) / 2, 1)
        gutter = round(gutter_lane + LANE_PAD / 2, 1)
        points = ((x1, y1), (x1, below), (gutter, below), (gutter, above), (x2, above), (x2, y2))
    return Arrow(start, end, points, start.device != end.device)


def _legend(net: ResolvedNetwork, rows, placed: bool, width: float, y: float) -> tuple[list[Swatch], float]:
    """The legend's entries, wrapped into lines that fit `width`; returns them and the baseline of the last line."""
    kinds = {_kind(node) for row in rows for node in row}
    grouped = any(1 < _groups_here(node) <= MAX_GROUPS_DRAWN for row in rows for node in row)
    entries = [("box", KINDS[kind][0], KINDS[kind][1]) for kind in KINDS if kind in kinds]
    if grouped:
        entries.append(("groups", GROUP_COLOUR, "convolution groups"))
    if placed:
        entries.append(("line", CROSS_COLOUR, "reads across devices"))
    entries.append(("none", "", "k×k/s: a k×k kernel at stride s"))
    swatches = []
    x = float(MARGIN)
    for kind, fill, text in entries:
        lead = {"box": 18, "groups": 30, "line": 32, "none": 0}[kind]
        need = lead + text_width(text, SMALL) + 16
        if x > MARGIN and x + need > width - MARGIN:
            x, y = float(MARGIN), y + 20
        label = Text(round(x + lead, 1), y, "start", (Span(text, "legend"),), SMALL)
        swatches.append(Swatch(x, round(y - 10, 1), kind, fill, label))
        x += need
    return swatches, y


def xml_text(value) -> str:
    """Every value the template places: characters XML 1.0 cannot hold at all, even escaped, become U+FFFD, and
    autoescaping then escapes &<>"'. What a macro of the template returns is already finished markup."""
    if isinstance(value, markupsafe.Markup):
        return value
    return _INVALID_XML.sub("\ufffd", str(value))


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


# Output formats, chosen by the suffix of `draw -o`.
FORMATS = {".svg": "SVG", ".png": "PNG", ".pdf": "PDF", ".dot": "Graphviz DOT", ".gv": "Graphviz DOT",
           ".mmd": "Mermaid"}


def drawing(net: ResolvedNetwork, suffix: str, file: str = "--output") -> bytes:
    """The picture of `net` in the format `suffix` names (`.svg`, `.png`, `.pdf`, `.dot`/`.gv`, `.mmd`)."""
    from alexnet_spec.errors import Diagnostic, SpecError, did_you_mean

    suffix = suffix.lower()
    if suffix not in FORMATS:
        raise SpecError(Diagnostic(f"cannot draw to a {suffix or 'suffix-less'} file", file=file,
                                   expected="a file ending in " + ", ".join(FORMATS),
                                   hint=did_you_mean(suffix, FORMATS) or "for example -o alexnet.svg"))
    if suffix in (".dot", ".gv", ".mmd"):
        from alexnet_spec.tools.diagram_text import dot, mermaid

        return (mermaid(net) if suffix == ".mmd" else dot(net)).encode("utf-8")
    svg = draw(net)
    if suffix == ".svg":
        return svg.encode("utf-8")
    try:
        import cairosvg
    except (ImportError, OSError) as error:  # OSError: the package is there, the system's libcairo is not
        raise SpecError(Diagnostic(f"drawing {FORMATS[suffix]} needs the cairosvg package and the cairo library",
                                   file=file, expected=f"an importable cairosvg ({type(error).__name__}: {error})",
                                   hint='pip install "alexspec[draw]" (and libcairo2, e.g. apt-get install '
                                        'libcairo2); or draw to .svg')) from None
    convert = cairosvg.svg2png if suffix == ".png" else cairosvg.svg2pdf
    return convert(bytestring=svg.encode("utf-8"))
