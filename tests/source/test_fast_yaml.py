"""The libyaml fast path gives exactly the pure round-trip loader's tree, or declines and leaves the text to it.

The pure loader (ruamel's own, with the bounds of yaml_source) is the reference: every value with its type, key
order, the line and column of every mapping, key, value and item, and flow or block style must be equal; and where
the pure loader refuses a text, the fast path must decline it so that the error is the pure loader's.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alexnet_spec import limits
from alexnet_spec.errors import SpecError
from alexnet_spec.source import fast_yaml, yaml_source
from benchmarks.graphs import residual_graph_spec
from benchmarks.scaling import chain_spec
from tests.strategies import bad_yaml_texts, spec_with_bad_value, to_yaml, valid_specs

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*ROOT.glob("specs/*.yaml"), *ROOT.glob("examples/*.yaml")])


def _assert_same_tree(fast, pure, path=()) -> None:
    assert type(fast) is type(pure), path
    assert fast == pure or (isinstance(pure, float) and math.isnan(fast) and math.isnan(pure)), path
    if hasattr(pure, "lc"):
        assert (fast.lc.line, fast.lc.col) == (pure.lc.line, pure.lc.col), path
        assert fast.lc.data == pure.lc.data, path
        assert fast.fa.flow_style() == pure.fa.flow_style(), path
    if isinstance(pure, dict):
        assert list(fast) == list(pure), path
        for key in pure:
            _assert_same_tree(fast[key], pure[key], path + (key,))
    elif isinstance(pure, list):
        for index, (fast_item, pure_item) in enumerate(zip(fast, pure)):
            _assert_same_tree(fast_item, pure_item, path + (index,))


def _assert_agrees(text: str) -> bool:
    """The fast path's tree equals the pure loader's, or it declined; True when it gave a tree."""
    fast = fast_yaml.compose(text)
    try:
        pure = yaml_source._load_pure(text, "x.yaml")
    except SpecError:
        assert fast is None, "the fast path accepted a text that the pure loader refuses"
        return False
    if fast is not None:
        _assert_same_tree(fast, pure)
    return fast is not None


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_specs_read_the_same(path):
    text = path.read_text()
    took_fast_path = _assert_agrees(text)
    assert took_fast_path or "&" in text  # only anchors (a Keras spec's shared batchnorm) send a spec to the pure path


def test_benchmark_specs_take_the_fast_path():
    # The 10,000-layer rows of benchmarks/scaling.py and graphs.py, at a size a test can afford.
    assert _assert_agrees(chain_spec(400))
    assert _assert_agrees(residual_graph_spec(100))


SCALARS = ["yes", "no", "on", "off", "y", "Yes", "true", "True", "FALSE", "null", "Null", "~", "", "1e-4", "1.0e-4",
           "1E3", "-.5", "+1", "0x1F", "0o17", "017", "0b101", "1_000", "1__0", "12:30", "1:20:00", ".inf", "-.Inf",
           ".nan", "0.", "1.", "007", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "<<", "=", "9" * limits.MAX_INT_DIGITS,
           "9" * (limits.MAX_INT_DIGITS + 1), "-" + "9" * limits.MAX_INT_DIGITS, "'quoted'", '"q\\u00e9\\/\\t"', "a b",
           "é", "日本", "a#b", "a #comment", "- x", "? k", "'a''b'", '"', "[1, 2", "{a: 1, a: 2}", "|\n  x\n  y\n",
           "|-\n  x\n", ">\n  x\n  y\n\n  z\n", "&a 1", "*a", "!!str 1", "! 1", "@x", "`x", "a\tb", "\tx"]


@pytest.mark.parametrize("scalar", SCALARS)
def test_each_kind_of_scalar_reads_the_same(scalar):
    # YAML 1.2 as the round-trip loader reads it: `yes` is a string, 1e-4 a float, 0o17 octal, 017 decimal.
    _assert_agrees(f"name: {scalar}\nlist: [{scalar}]\nmore:\n  - {scalar}\n")
    _assert_agrees(f"{scalar}: 1\n")


@pytest.mark.parametrize("text", [
    "a: 1\r\nb: [x, y]\r\n", "a: 1\rb: 2\r", "a: 1\x85b: 2\n", "a: 1\u2028b: 2\n", "\ufeffa: 1\n",
    "é: {ü: [日本, 1]}\n", "a: 1\n# comment\nb: 2  # more\n", "a:\n  - b: 1\n    c: 2\n  -\n  - [1, {x: y}]\n",
    "a: 1\nb:\n", "a: 1\na: 2\n", "a: {b: 1, b: 2}\n", "? [1, 2]\n: x\n", "? a\n: 1\n", "1: one\n", "null: x\n",
    "a: &x 1\nb: *x\n", "base: &b {k: 1}\nder:\n  <<: *b\n  j: 2\n", "%YAML 1.1\n---\na: yes\n", "%YAML 1.2\n---\na: 1\n",
    "--- \na: 1\n", "a: 1\n...\n", "a: 1\n---\nb: 2\n", "", "# only a comment\n", "- 1\n- 2\n", "just text\n",
    "a: {b: [1, 2], c: {d: e}}\n", "a: [ ]\nb: { }\n", "a:\n\tb: 1\n", "a: b: c\n", "a: 'x\n  y'\n", 'a: "x\\\n  y"\n',
    "a: x\n  y\n", "a: [1,2,]\n", "a: {b}\n", '{"a":1}\n', "a: [b, {c: d}: e]\n", "a: \x07\n", "a: \ufffe\n",
    "a:\n  b:\n    c:\n      d: [[[[1]]]]\n", "key with spaces: v\n", "'quoted key': 1\n\"dq\": 2\n", "b: |# c\n",
    "a: 'it''s'\nb: \"\\x41\\u00e9\\U0001F600\\N\"\n", "a: - b\n", "- a: 1\n  b: 2\n", "a:\n- 1\n- 2\nb: 3\n",
])
def test_tricky_documents_read_the_same(text):
    _assert_agrees(text)


@pytest.mark.parametrize("depth", [limits.MAX_YAML_DEPTH - 2, limits.MAX_YAML_DEPTH - 1, limits.MAX_YAML_DEPTH,
                                   limits.MAX_YAML_DEPTH + 1])
def test_nesting_at_the_depth_bound_reads_the_same(depth):
    _assert_agrees("a: " + "[" * depth + "]" * depth + "\n")
    _assert_agrees("".join(f"{'  ' * level}k{level}:\n" for level in range(depth)) + "  " * depth + "leaf: 1\n")


def test_the_node_bound_applies_without_aliases(monkeypatch):
    monkeypatch.setattr(limits, "MAX_YAML_NODES", 50)  # both loaders read the bound when they run
    items = 50 - 3  # the root mapping, its key and the list hold the items
    assert _assert_agrees("a: [" + ", ".join(["1"] * items) + "]\n")
    assert not _assert_agrees("a: [" + ", ".join(["1"] * (items + 1)) + "]\n")  # one node too many: refused


@given(valid_specs(max_spatial=3))
def test_generated_specs_read_the_same(spec):
    assert _assert_agrees(to_yaml(spec))


@given(st.one_of(bad_yaml_texts(), spec_with_bad_value().map(to_yaml)))
def test_bad_texts_read_the_same_or_are_declined(text):
    _assert_agrees(text)


YAMLISH = st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"%@`#,?~ \n\r\t\x85\u2028\ufeff\x1bab1.e_+0x\\é")),
                 max_size=80)
FRAGMENTS = st.lists(st.sampled_from(["a", "b: ", ": ", "- ", "\n", "\n  ", "\n    ", "[", "]", "{", "}", ", ", "'x'",
                                      '"y"', "1e-4", "yes", "0x1", "~", "# c", "|", ">", "\t", "\r\n", "&a ", "*a",
                                      "? ", "<<: ", "2001-01-01", "1_0", ".5", "é", "---\n", "'", '"', "\\", "#", "- - ",
                                      ":\n", "  - ", ": |", "...", "%", "!", "\\t", "\\x41"]), max_size=30).map("".join)


@given(st.one_of(YAMLISH, FRAGMENTS))
def test_arbitrary_yaml_reads_the_same_or_is_declined(text):
    _assert_agrees(text)


@pytest.mark.parametrize("length", [1022, 1023, 1024, 1025])
def test_keys_at_the_simple_key_length_bound_read_the_same(length):
    # YAML allows at most 1024 characters of a simple key, counted from its start to the colon.
    for text in ("k" * length + ": 1\n", "a: {" + "k" * length + ": 1}\n", '"' + "k" * length + '": 1\n'):
        _assert_agrees(text)
