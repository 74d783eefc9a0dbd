"""`alexspec draw`: the SVG parses, shows every layer, the towers and the cross-device connections, within bounds."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest

from alexnet_spec.draw import draw
from alexnet_spec.loading import load_network
from tests.conftest import SPEC_FILES, SPECS_DIR, resolve_text, run_cli

SVG = "{http://www.w3.org/2000/svg}"


def parse(text: str):
    return ElementTree.fromstring(text)


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_every_layer_is_drawn_inside_the_picture(path):
    net = load_network(path)
    root = parse(draw(net))
    texts = {element.text for element in root.iter(f"{SVG}text")}
    assert {layer.name for layer in net.layers} <= texts
    width, height = float(root.get("width")), float(root.get("height"))
    rects = [rect for group in root.iter(f"{SVG}g") for rect in group.iter(f"{SVG}rect")]
    for rect in rects:
        x, y, w, h = (float(rect.get(key)) for key in ("x", "y", "width", "height"))
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
    boxes = sorted((float(r.get("x")), float(r.get("y")), float(r.get("width"))) for r in rects)
    for (x1, y1, w1), (x2, y2, _) in zip(boxes, boxes[1:]):
        assert y1 != y2 or x1 + w1 <= x2, "boxes of one tower must not overlap"


def test_paper_model_has_two_towers_and_crossing_connections():
    root = parse(draw(load_network(SPECS_DIR / "alexnet.yaml")))
    layers = [group.get("data-layer") for group in root.iter(f"{SVG}g")]
    assert layers.count("conv1") == 2 and layers.count("prob") == 1
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert "48×55×55" in texts and "gpu0" in texts and "gpu1" in texts
    crossing = [line for line in root.iter(f"{SVG}line") if line.get("class") == "cross-device"]
    # conv3, fc6, fc7 and fc8 each read both towers from both towers: 2 crossing arrows each; prob gathers one.
    assert len(crossing) == 4 * 2 + 1


def test_hostile_description_is_escaped():
    net = resolve_text("""
        name: Hostile
        description: "<script>alert(1)</script> & more"
        input: {channels: 1, height: 4, width: 4}
        layers:
          - {type: conv, out_channels: 2, kernel: 3}
    """)
    text = draw(net)
    assert "<script>" not in text and "&lt;script&gt;" in text and "&amp; more" in text
    parse(text)


def test_cli_writes_the_file_atomically(tmp_path):
    target = tmp_path / "lenet.svg"
    result = run_cli("draw", "specs/lenet5.yaml", "-o", str(target))
    assert result.returncode == 0 and parse(target.read_text()).tag == f"{SVG}svg"
    bad = run_cli("draw", "specs/nothere.yaml", "-o", str(tmp_path / "x.svg"))
    assert bad.returncode == 2 and not (tmp_path / "x.svg").exists()


def test_checked_in_picture_is_current():
    assert (SPECS_DIR.parent / "docs" / "alexnet.svg").read_text() == draw(load_network(SPECS_DIR / "alexnet.yaml")), \
        "run `make docs` to regenerate docs/alexnet.svg"
