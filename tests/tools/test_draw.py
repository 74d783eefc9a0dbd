"""`alexspec draw`: the SVG parses, names every layer, keeps its boxes apart and inside the picture, shows the paper's
two towers and the connections that cross between them, escapes what the spec says, and the command writes it."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ElementTree
from collections import Counter

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from alexnet_spec.tools.draw import draw, layout, text_width
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


def overlap(a, b) -> bool:
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def check_picture(net) -> ElementTree.Element:
    """The SVG of `net` parses; every layer is labelled and has one box per device it runs on; boxes stay apart and
    inside the picture; text stays in its column; every box but the input's has an incoming arrow, and an arrow
    crosses between devices exactly where it is marked as crossing."""
    root = parse(draw(net))
    assert root.tag == f"{SVG}svg"
    width, height = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    texts = set(strings(root))
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
    arrows = [line for line in root.iter(f"{SVG}line") if line.get("data-from")]
    targets = {(line.get("data-to"), line.get("data-to-device")) for line in arrows}
    assert targets == {(" ".join(names), device) for names, device, *_ in boxes if names != ("input",)}
    for line in arrows:
        crossing = line.get("data-from-device") != line.get("data-to-device")
        assert crossing == ("cross-device" in line.get("class"))
        assert all(0 <= float(line.get(key)) <= limit for key, limit in (("x1", width), ("x2", width),
                                                                          ("y1", height), ("y2", height)))
    # Text stays in its column: names left of the towers, facts right of them, everything inside the picture.
    picture = layout(net)
    lanes_left = min(box.x for box in picture.boxes)
    lanes_right = max(box.x + box.w + (0 if box.label.anchor == "middle" else 6 + text_width(box.label.spans[0].text,
                                                                                               10.5))
                      for box in picture.boxes)
    for label in picture.labels:
        extent = sum(text_width(span.text, bold=span.css == "name") for span in label.spans)
        if label.anchor == "end":
            assert label.x - extent >= 0 and label.x <= lanes_left
        else:
            assert label.x >= lanes_right and label.x + extent <= width
    for box in picture.boxes:
        if box.label.anchor == "middle":
            assert text_width(box.label.spans[0].text, 10.5) <= box.w, f"{box.layers}: volume wider than its box"
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
    conv1 = [box for box in boxes if box[0] == ("conv1",)]
    assert [box[1] for box in conv1] == ["gpu0", "gpu1"] and conv1[0][3] == conv1[1][3]  # side by side
    assert conv1[0][2] + conv1[0][4] < conv1[1][2]
    texts = strings(root)
    # Each split layer shows its device's share: 48 of conv1's 96 kernels, 2048 of fc6's 4096 neurons.
    assert texts.count("48×55×55") >= 2 and "of 96×55×55" in texts and texts.count("2048") >= 4
    assert any(text.startswith("gpu0 · 30,482,612 params") for text in texts)  # half of 60,965,224
    crossing = [line for line in root.iter(f"{SVG}line") if line.get("data-from") and
                line.get("data-from-device") != line.get("data-to-device")]
    assert all("cross-device" in line.get("class") for line in crossing)
    # conv3, fc6, fc7 and fc8 read both towers from both towers (one crossing arrow each way); prob gathers on gpu0.
    into = Counter(line.get("data-to") for line in crossing)
    assert into == {"conv3": 2, "fc6": 2, "fc7": 2, "fc8": 2, "prob": 1}
    assert {(line.get("data-from"), line.get("data-from-device"), line.get("data-to-device"))
            for line in crossing if line.get("data-to") == "conv3"} == {("pool2", "gpu0", "gpu1"),
                                                                         ("pool2", "gpu1", "gpu0")}
    plain = [line for line in root.iter(f"{SVG}line")
             if line.get("data-from") and "cross-device" not in line.get("class")]
    assert all(line.get("data-from-device") == line.get("data-to-device") for line in plain)


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
    arrows = {(line.get("data-from"), line.get("data-from-device"), line.get("data-to"), line.get("data-to-device"),
               "cross-device" in line.get("class")) for line in root.iter(f"{SVG}line") if line.get("data-from")}
    assert arrows == {
        ("input", "left", "c1", "left", False), ("input", "right", "c1", "right", False),
        ("c1", "left", "c2", "right", True), ("c1", "right", "c2", "right", False),
        ("c2", "right", "r2 d2", "right", False), ("r2 d2", "right", "flat", "right", False),
        ("flat", "right", "out", "left", True), ("flat", "right", "out", "right", False)}
    texts = strings(root)
    assert "2×6×6" in texts and "6×6×6" in texts and "of 4×6×6" in texts  # c1 split 2 + 2; c2 whole on `right`
    assert {"r2", "d2", " p=0.25"} <= set(texts)  # relu and dropout share one slim row


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


def test_checked_in_picture_is_current():
    expected = draw(load_network(SPECS_DIR / "alexnet.yaml"))
    assert (ROOT / "docs" / "alexnet.svg").read_text(encoding="utf-8") == expected, \
        "regenerate with `make docs` (alexspec draw specs/alexnet.yaml -o docs/alexnet.svg)"


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
