"""`alexspec draw`: the SVG parses, names every layer, keeps its boxes apart and inside the picture, shows the paper's
two towers and the connections that cross between them, escapes what the spec says, and the command writes it."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ElementTree
from collections import Counter

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from alexnet_spec.tools.draw import README_WIDTH, draw, layout
from alexnet_spec.source.loading import load_network, parse_network
from alexnet_spec.passes import resolve
from alexnet_spec.spec.network import NetworkSpec
from tests.backends.test_source import hostile_text, identifiers
from alexnet_spec.tools.commands import draw_command
from tests.conftest import ROOT, SPEC_FILES, SPECS_DIR, resolve_text
from tests.strategies import to_yaml, valid_specs

SVG = "{http://www.w3.org/2000/svg}"


def parse(text: str) -> ElementTree.Element:
    return ElementTree.fromstring(text)


def strings(root: ElementTree.Element) -> list[str]:
    """The text of every <text> and <tspan>, as separate strings."""
    return [element.text for element in root.iter() if element.tag in (f"{SVG}text", f"{SVG}tspan") and element.text]


def layer_boxes(root: ElementTree.Element) -> list[tuple[tuple[str, ...], str, float, float, float, float]]:
    """(layer names, device, x, y, width, height) of every layer's box."""
    boxes = []
    for group in root.iter(f"{SVG}g"):
        if group.get("data-layers") is None:
            continue
        rect = group.find(f"{SVG}rect")
        boxes.append((tuple(group.get("data-layers").split()), group.get("data-device"),
                      *(float(rect.get(key)) for key in ("x", "y", "width", "height"))))
    return boxes


def arrows_of(root: ElementTree.Element) -> list[ElementTree.Element]:
    return [path for path in root.iter(f"{SVG}path") if path.get("data-from")]


def overlap(a, b) -> bool:
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def segment_meets_box(p, q, box) -> bool:
    """Whether the segment p-q passes through the rectangle (left, top, right, bottom) (Liang-Barsky clipping)."""
    (x1, y1), (x2, y2) = p, q
    left, top, right, bottom = box
    low, high = 0.0, 1.0
    for delta, distance in ((-(x2 - x1), x1 - left), (x2 - x1, right - x1), (-(y2 - y1), y1 - top),
                            (y2 - y1, bottom - y1)):
        if delta == 0:
            if distance < 0:
                return False
            continue
        t = distance / delta
        if delta < 0:
            low = max(low, t)
        else:
            high = min(high, t)
        if low > high:
            return False
    return True


def check_picture(net) -> ElementTree.Element:
    """The SVG of `net` parses; every layer is labelled and has one box per device it runs on; boxes and texts stay
    apart and inside the picture, each box's text inside the box; every box but the input's has an incoming edge;
    an edge crosses between devices exactly where it is marked as crossing, and no edge passes through a text."""
    root = parse(draw(net))
    assert root.tag == f"{SVG}svg"
    width, height = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    texts = " ".join(strings(root))
    boxes = layer_boxes(root)
    drawn = Counter(name for names, *_ in boxes for name in names)
    for layer in net.layers:
        assert layer.name in texts, f"{layer.name} is not labelled"
        expected = len(layer.placement.devices) if layer.placement else 1
        assert drawn[layer.name] == expected, f"{layer.name}: one box per device it runs on"
    for _, _, x, y, w, h in boxes:
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
    for first, second in itertools.combinations(boxes, 2):
        assert not overlap(first[2:], second[2:]), f"{first[0]} and {second[0]} overlap"
    arrows = arrows_of(root)
    targets = {(path.get("data-to"), path.get("data-to-device")) for path in arrows}
    assert targets == {(" ".join(names), device) for names, device, *_ in boxes if names != ("input",)}
    for path in arrows:
        crossing = path.get("data-from-device") != path.get("data-to-device")
        assert crossing == ("cross-device" in path.get("class"))
    picture = layout(net)
    bboxes = [text.bbox for text in picture.texts]
    for left, top, right, bottom in bboxes:
        assert 0 <= left and right <= width and 0 <= top and bottom <= height, "text outside the picture"
    for first, second in itertools.combinations(bboxes, 2):
        assert not overlap((first[0], first[1], first[2] - first[0], first[3] - first[1]),
                           (second[0], second[1], second[2] - second[0], second[3] - second[1])), \
            f"texts {first} and {second} overlap"
    for box in picture.boxes:
        for line in box.lines:
            left, top, right, bottom = line.bbox
            assert box.x <= left and right <= box.x + box.w and box.y <= top and bottom <= box.y + box.h, \
                f"{box.layers}: {line.spans[0].text!r} sticks out of its box"
    for arrow in picture.arrows:
        for p, q in itertools.pairwise(arrow.points):
            for text, bbox in zip(picture.texts, bboxes):
                assert not segment_meets_box(p, q, bbox), f"an edge into {arrow.target.layers} crosses {text.spans}"
    return root


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda path: path.name)
def test_every_layer_of_every_spec_is_drawn_apart_and_inside_the_picture(path):
    check_picture(load_network(path))


@settings(max_examples=max(10, settings().max_examples // 2))
@given(valid_specs(max_spatial=6))
def test_every_generated_network_is_drawn_apart_and_inside_the_picture(data):
    check_picture(parse_network(to_yaml(data), "generated.yaml"))


def test_paper_model_has_two_towers_and_the_papers_crossing_connections():
    root = parse(draw(load_network(SPECS_DIR / "alexnet.yaml")))
    towers = [group.get("data-device") for group in root.iter(f"{SVG}g") if group.get("class") == "tower"]
    assert towers == ["gpu0", "gpu1"]
    boxes = layer_boxes(root)
    conv1 = [box for box in boxes if box[0] == ("conv1", "relu1")]
    assert [box[1] for box in conv1] == ["gpu0", "gpu1"] and conv1[0][3] == conv1[1][3]  # side by side
    assert conv1[0][2] + conv1[0][4] < conv1[1][2]
    texts = strings(root)
    # Each split layer shows its device's share: 48 of conv1's 96 kernels, 2048 of fc6's 4096 neurons.
    assert texts.count("48×55×55 of 96×55×55") == 4 and texts.count("2048 of 4096") == 4  # conv1, norm1; fc6, fc7
    assert texts.count("17,472 params · 52.7M MACs") == 2  # conv1: half of 34,944 parameters, of 105.4M MACs
    arrows = arrows_of(root)
    crossing = [path for path in arrows if path.get("data-from-device") != path.get("data-to-device")]
    assert all("cross-device" in path.get("class") for path in crossing)
    # conv3, fc6, fc7 and fc8 read both towers from both towers (one crossing edge each way); prob gathers on gpu0.
    into = Counter(path.get("data-to") for path in crossing)
    assert into == {"conv3 relu3": 2, "fc6 relu6 drop6": 2, "fc7 relu7 drop7": 2, "fc8": 2, "prob": 1}
    assert {(path.get("data-from"), path.get("data-from-device"), path.get("data-to-device"))
            for path in crossing if path.get("data-to") == "conv3 relu3"} == {("pool2", "gpu0", "gpu1"),
                                                                               ("pool2", "gpu1", "gpu0")}
    plain = [path for path in arrows if "cross-device" not in path.get("class")]
    assert all(path.get("data-from-device") == path.get("data-to-device") for path in plain)


def test_one_device_layer_between_split_ones():
    net = resolve_text("""
        name: Detour
        input: {channels: 3, height: 8, width: 8}
        devices: [left, right]
        layers:
          - {type: conv, name: c1, out_channels: 4, kernel: 3}
          - {type: conv, name: c2, out_channels: 6, kernel: 1, placement: right}
          - {type: relu, name: r2}
          - {type: dropout, name: d2, p: 0.25}
          - {type: flatten, name: flat}
          - {type: dense, name: out, out_features: 10}
    """)
    root = parse(draw(net))
    arrows = {(path.get("data-from"), path.get("data-from-device"), path.get("data-to"), path.get("data-to-device"),
               "cross-device" in path.get("class")) for path in arrows_of(root)}
    assert arrows == {
        ("input", "left", "c1", "left", False), ("input", "right", "c1", "right", False),
        ("c1", "left", "c2 r2 d2", "right", True), ("c1", "right", "c2 r2 d2", "right", False),
        ("c2 r2 d2", "right", "flat", "right", False),
        ("flat", "right", "out", "left", True), ("flat", "right", "out", "right", False)}
    texts = strings(root)
    assert "2×6×6 of 4×6×6" in texts and "6×6×6" in texts  # c1 split 2 + 2; c2 whole on `right`
    assert "c2 · r2 · d2" in texts and "conv 1×1/1 → relu → dropout 0.25" in texts  # relu and dropout fold into c2


def test_hostile_text_is_escaped():
    net = resolve_text("""
        name: Hostile
        description: "</text><script>alert(1)</script> & \\"quoted\\" \\a bell"
        input: {channels: 1, height: 4, width: 4}
        layers:
          - {type: conv, out_channels: 2, kernel: 3}
    """)
    text = draw(net)
    assert "<script>" not in text and "&lt;script&gt;" in text and "&amp; " in text
    root = parse(text)
    assert any("</text><script>alert(1)</script> & \"quoted\" \ufffd bell" in string for string in strings(root))


def test_same_network_same_picture():
    net = load_network(SPECS_DIR / "lenet5.yaml")
    assert draw(net) == draw(load_network(SPECS_DIR / "lenet5.yaml"))


@pytest.mark.parametrize("name", ["alexnet", "lenet5", "resnet18"])
def test_checked_in_pictures_are_current(name):
    expected = draw(load_network(SPECS_DIR / f"{name}.yaml"))
    assert (ROOT / "docs" / f"{name}.svg").read_text(encoding="utf-8") == expected, \
        f"regenerate with `make docs` (alexspec draw specs/{name}.yaml -o docs/{name}.svg)"
    assert layout(load_network(SPECS_DIR / f"{name}.yaml")).width <= README_WIDTH  # shown at its size in README


@pytest.fixture
def run():
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("draw")(draw_command)
    app.command("other")(lambda: None)  # two commands, so the command name is an argument as in alexspec
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["draw", *map(str, args)])


def test_command_writes_the_file_or_stdout(run, tmp_path):
    target = tmp_path / "pictures" / "lenet.svg"
    target.parent.mkdir()  # -o writes into an existing directory, as a plain write does (issue 17, item 11)
    result = run(SPECS_DIR / "lenet5.yaml", "-o", target, "--set", "f6.out_features=42")
    assert result.exit_code == 0, result.output
    root = parse(target.read_text(encoding="utf-8"))
    assert "42" in strings(root) and "84" not in strings(root)
    assert [path.name for path in target.parent.iterdir()] == ["lenet.svg"]  # no temporary file left behind
    result = run(SPECS_DIR / "lenet5.yaml")
    assert result.exit_code == 0 and parse(result.stdout).tag == f"{SVG}svg"


def test_command_bad_path_is_a_located_error(run, tmp_path):
    target = tmp_path / "x.svg"
    result = run(tmp_path / "nothere.yaml", "-o", target)
    assert result.exit_code == 2
    assert f"{tmp_path / 'nothere.yaml'}: error: no such file" in result.stderr
    assert not target.exists() and list(tmp_path.iterdir()) == []


def _xml_char(character: str) -> str:
    """XML 1.0's Char production (https://www.w3.org/TR/xml/#charsets), written out: what it excludes becomes
    U+FFFD."""
    code = ord(character)
    allowed = (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
               or 0x10000 <= code <= 0x10FFFF)
    return character if allowed else "\ufffd"


@given(names=st.lists(identifiers, min_size=7, max_size=7, unique=True), description=hostile_text)
def test_any_description_and_names_make_a_valid_svg(names, description):
    """Control characters, surrogates, markup and quotes in the description, any identifier as a layer or device
    name: the SVG encodes as UTF-8, parses, and shows each of them (what XML cannot hold as U+FFFD)."""
    conv, relu, pool, flatten, dense, first, second = names
    net = resolve(NetworkSpec.model_validate({
        "name": "Hostile", "description": description, "input": {"channels": 2, "height": 6, "width": 6},
        "devices": [first, second],
        "layers": [{"name": conv, "type": "conv", "out_channels": 4, "kernel": 3}, {"name": relu, "type": "relu"},
                   {"name": pool, "type": "maxpool", "kernel": 2}, {"name": flatten, "type": "flatten"},
                   {"name": dense, "type": "dense", "out_features": 2, "placement": first}]}))
    root = ElementTree.fromstring(draw(net).encode("utf-8"))
    assert {name for names, *_ in layer_boxes(root) for name in names} == {"input", conv, relu, pool, flatten, dense}
    assert {device for _, device, *_ in layer_boxes(root)} == {first, second}
    # The description is wrapped at whitespace, and textwrap drops whitespace (str.isspace: \x85 and \u2028 too) where
    # it breaks a line; every other character shows, in order, before the note on the devices.
    notes = "".join(span.text or "" for span in root.iter(f"{SVG}tspan") if span.get("class") == "note")
    # What XML cannot hold shows as U+FFFD (or not at all, when textwrap took it for whitespace at a line break).
    shown = [character for character in notes if not character.isspace() and character != "\ufffd"]
    expected = [character for character in description if not character.isspace() and _xml_char(character) != "\ufffd"]
    assert shown[:len(expected)] == expected
    assert notes.count("\ufffd") <= sum(_xml_char(character) == "\ufffd" for character in description) + description.count("\ufffd")


# The pictures as rendered: cairosvg draws the SVG with the system's DejaVu Sans, and the pixels are checked against
# the text boxes layout() computed (Text.bbox, from a width estimate without font metrics). Three renders of each
# picture: the texts alone, the edges alone, everything.

THREE_DEVICES = """
    name: ThreeWay
    input: {channels: 3, height: 32, width: 32}
    devices: [gpu0, gpu1, gpu2]
    layers:
      - {type: conv, name: conv1, out_channels: 48, kernel: 5, padding: 2, groups: 3}
      - {type: maxpool, name: pool1, kernel: 2, stride: 2}
      - {type: conv, name: conv2, out_channels: 96, kernel: 3, padding: 1, groups: 6, placement: gpu1}
      - {type: conv, name: conv3, out_channels: 96, kernel: 3, padding: 1}
      - {type: flatten, name: flat}
      - {type: dense, name: fc, out_features: 30}
"""


def _render(root: ElementTree.Element, keep):
    """`root` rendered by cairosvg with only the elements `keep` accepts (and the style sheet and markers), as a
    boolean image of the inked pixels."""
    import copy
    import io

    import numpy as np
    from PIL import Image

    cairosvg = pytest.importorskip("cairosvg")
    tree = copy.deepcopy(root)

    def prune(parent):
        for child in list(parent):
            tag = child.tag.removeprefix(SVG)
            if tag in ("style", "defs", "title") or keep(child):
                continue
            if tag == "g":
                prune(child)
            else:
                parent.remove(child)

    prune(tree)
    ElementTree.register_namespace("", SVG[1:-1])
    png = cairosvg.svg2png(bytestring=ElementTree.tostring(tree), background_color="white")
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return pixels < 250


@pytest.mark.parametrize("name", ["alexnet.yaml", "lenet5.yaml", "three devices", "googlenet.yaml"])
def test_rendered_texts_stay_in_their_boxes_apart_and_uncrossed(name):
    import numpy as np

    net = resolve_text(THREE_DEVICES) if name == "three devices" else load_network(SPECS_DIR / name)
    picture = layout(net)
    root = parse(draw(net))
    texts = _render(root, lambda element: element.tag == f"{SVG}text")
    edges = _render(root, lambda element: element.get("data-from") is not None)
    assert texts.shape == (picture.height, picture.width)
    inside = np.zeros_like(texts)
    for text in picture.texts:
        left, top, right, bottom = text.bbox
        box = texts[math.floor(top):math.ceil(bottom) + 1, math.floor(left):math.ceil(right) + 1]
        assert box.sum() > 0, f"{text.spans[0].text!r} did not render"  # the font is there: the check has teeth
        inside[max(0, math.floor(top) - 1):math.ceil(bottom) + 2, max(0, math.floor(left) - 1):math.ceil(right) + 2] = True
    stray = texts & ~inside
    assert not stray.any(), f"ink outside every text box at {np.argwhere(stray)[:5].tolist()}"
    # Text boxes are apart and inside the picture (check_picture), so rendered texts neither overlap nor clip.
    check_picture(net)
    assert edges.any() and not (edges & inside).any(), \
        f"an edge crosses a text at {np.argwhere(edges & inside)[:5].tolist()}"


def test_the_pixel_check_catches_a_text_that_outgrows_its_box(monkeypatch):
    """The same check on a picture whose width estimate is made too small: the ink leaves the computed boxes."""
    import numpy as np

    import alexnet_spec.tools.draw as draw_module

    monkeypatch.setattr(draw_module, "char_width", lambda char: 0.3)
    net = load_network(SPECS_DIR / "lenet5.yaml")
    picture = layout(net)
    texts = _render(parse(draw(net)), lambda element: element.tag == f"{SVG}text")
    inside = np.zeros_like(texts)
    for text in picture.texts:
        left, top, right, bottom = text.bbox
        inside[math.floor(top) - 1:math.ceil(bottom) + 2, math.floor(left) - 1:math.ceil(right) + 2] = True
    assert (texts & ~inside).any()


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".pdf", b"%PDF-")])
def test_png_and_pdf_by_suffix(run, tmp_path, suffix, magic):
    pytest.importorskip("cairosvg")
    target = tmp_path / f"lenet{suffix}"
    result = run(SPECS_DIR / "lenet5.yaml", "-o", target)
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    assert data.startswith(magic)
    if suffix == ".png":
        import struct

        width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk: the picture's size, at 100%
        picture = layout(load_network(SPECS_DIR / "lenet5.yaml"))
        assert (width, height) == (picture.width, picture.height)


def test_a_missing_cairosvg_is_a_located_error_naming_the_extra(run, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cairosvg", None)  # import cairosvg raises ImportError
    result = run(SPECS_DIR / "lenet5.yaml", "-o", tmp_path / "x.png")
    assert result.exit_code == 2 and 'pip install "alexspec[draw]"' in result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []


def test_unknown_suffix_is_an_error_with_a_suggestion(run, tmp_path):
    result = run(SPECS_DIR / "lenet5.yaml", "-o", tmp_path / "x.svgz")
    assert result.exit_code == 2 and "did you mean '.svg'?" in result.stderr and list(tmp_path.iterdir()) == []


def test_graphviz_and_mermaid_have_every_box_and_edge_of_the_svg(run, tmp_path):
    import re

    net = load_network(SPECS_DIR / "alexnet.yaml")
    root = parse(draw(net))
    boxes = layer_boxes(root)
    edges = arrows_of(root)
    crossing = sum("cross-device" in path.get("class") for path in edges)
    for suffix in (".dot", ".mmd"):
        assert run(SPECS_DIR / "alexnet.yaml", "-o", tmp_path / f"a{suffix}").exit_code == 0
    dot = (tmp_path / "a.dot").read_text(encoding="utf-8")
    assert dot.startswith('digraph "AlexNet" {') and dot.count("subgraph cluster_") == 2
    assert len(re.findall(r"^\s+\w+ \[label=", dot, re.M)) == len(boxes)
    assert len(re.findall(r"^  \w+ -> \w+", dot, re.M)) == len(edges)
    assert dot.count(' [color="#c0392b"') == crossing  # red where the SVG's edges cross devices
    mermaid = (tmp_path / "a.mmd").read_text(encoding="utf-8")
    assert mermaid.startswith("flowchart TB\n") and mermaid.count("subgraph ") == 2
    assert len(re.findall(r'^\s+\w+\["', mermaid, re.M)) == len(boxes)
    assert len(re.findall(r"^  \w+ --> \w+$", mermaid, re.M)) == len(edges)
    assert len(re.search(r"linkStyle ([\d,]+) ", mermaid).group(1).split(",")) == crossing
