"""The protobuf text-format parser: values, positions, and located errors."""

from __future__ import annotations

import pytest

from alexnet_spec.errors import SpecError
from alexnet_spec.interop.prototxt import Message, Word, parse


def error_of(text: str):
    with pytest.raises(SpecError) as caught:
        parse(text, "net.prototxt")
    [diagnostic] = caught.value.diagnostics
    return diagnostic


def test_values_of_every_kind():
    root = parse('name: "Alex\\"Net\\n" \'x\' "y"\nn: -12  h: 0x1F  o: 017  f: -1.5e-3  g: .5  i: 3f  j: 2.\n'
                 "w: MAX  t: true  m: -inf\n")
    values = {item.name: item.value for item in root.fields}
    assert values["name"] == 'Alex"Net\nxy'  # escapes, and adjacent strings concatenate
    assert (values["n"], values["h"], values["o"]) == (-12, 31, 15)
    assert (values["f"], values["g"], values["i"], values["j"]) == (-1.5e-3, 0.5, 3.0, 2.0)
    assert values["w"] == Word("MAX") and values["t"] == Word("true") and values["m"] == Word("-inf")
    assert isinstance(values["n"], int) and isinstance(values["j"], float)


def test_utf8_and_octal_escapes():
    root = parse('a: "caf\\303\\251 é" b: "\\x41\\101"')
    assert root.first("a").value == "café é" and root.first("b").value == "AA"


def test_blocks_lists_separators_and_comments_with_positions():
    text = ("# a comment\n"
            "layer {\n"
            "  name: 'conv1'  # trailing comment\n"
            "  shape: { dim: [1, 3, 227, 227] }\n"
            "  p < x: 1; y: 2, >\n"
            "}\n")
    root = parse(text)
    layer = root.first("layer")
    assert (layer.line, layer.column, layer.value_line, layer.value_column) == (2, 1, 2, 7)
    assert isinstance(layer.value, Message) and (layer.value.line, layer.value.column) == (2, 7)
    shape = layer.value.first("shape").value
    dims = shape.all("dim")
    assert [dim.value for dim in dims] == [1, 3, 227, 227]
    assert [(dim.value_line, dim.value_column) for dim in dims] == [(4, 18), (4, 21), (4, 24), (4, 29)]
    inner = layer.value.first("p").value
    assert [(item.name, item.value) for item in inner.fields] == [("x", 1), ("y", 2)]
    name = layer.value.first("name")
    assert (name.line, name.column, name.value_line, name.value_column) == (3, 3, 3, 9)


def test_empty_file_and_empty_list():
    assert parse("").fields == [] and parse("# nothing\n\n").fields == []
    assert parse("dim: []").fields == []


@pytest.mark.parametrize("text, message, line, column", [
    ('layer {\n  name: "a"\n  p { x: 1 }\n', "this '{' is never closed", 1, 7),
    ('layer {\n  p { x: 1 \n}\n', "this '{' is never closed", 1, 7),  # the outer block lost its brace
    ('layer { name: "a" }\n}\n', "'}' closes no open block", 2, 1),
    ("p < x: 1 }", "'}' closes the '<' opened at line 1, column 3", 1, 10),
    ('name: "abc\nlayer {}', "this string is never closed on its line", 1, 7),
    ("name: @x", "unexpected character '@'", 1, 7),
    ("name: }", "field 'name' has no value: found '}'", 1, 7),
    ("name:", "field 'name' has no value: found the end of the file", 1, 6),
    ("name 3", "field 'name' needs ':' before its value", 1, 6),
    ("3: 4", "expected a field name, found '3'", 1, 1),
    ("[ext.field]: 1", "extension fields", 1, 1),
    ("dim: [1, 2 3]", "expected ',' or ']' in the list of 'dim'", 1, 12),
])
def test_malformed_text_is_located(text, message, line, column):
    diagnostic = error_of(text)
    assert message in diagnostic.message
    assert (diagnostic.file, diagnostic.line, diagnostic.column) == ("net.prototxt", line, column)


# --- any document written in the format parses back to what was written ---

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
SCALARS = st.one_of(
    st.integers(-10**12, 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda value: value != int(value)),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.sampled_from(["MAX", "ACROSS_CHANNELS", "true", "False", "inf"]).map(Word),
)
TREES = st.recursive(st.lists(st.tuples(NAMES, SCALARS), max_size=4),
                     lambda children: st.lists(st.tuples(NAMES, st.one_of(SCALARS, children)), max_size=4),
                     max_leaves=12)


def write(fields, separators) -> str:
    """Text format for [(name, value or [children])], with whitespace and separators drawn by the test."""
    parts = []
    for name, value in fields:
        if isinstance(value, list):
            opening, closing = separators.draw(st.sampled_from([("{", "}"), (": {", "}"), ("<", ">")]))
            parts.append(f"{name} {opening}\n{write(value, separators)} {closing}")
        elif isinstance(value, str):
            escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            parts.append(f'{name}: "{escaped}"')
        elif isinstance(value, float):
            parts.append(f"{name}: {value!r}")
        else:
            parts.append(f"{name}: {value}")
        parts.append(separators.draw(st.sampled_from([" ", "\n", " ; ", ", ", "  # note\n"])))
    return "".join(parts)


def read(message: Message):
    return [(item.name, read(item.value) if isinstance(item.value, Message) else item.value)
            for item in message.fields]


@given(tree=TREES, data=st.data())
def test_what_is_written_parses_back(tree, data):
    assert read(parse(write(tree, data))) == tree
