"""Reading spec files as untrusted input: only regular files of bounded size, and YAML trees of bounded size."""

from __future__ import annotations

import os
import time
import tracemalloc

import pytest

from alexnet_spec import limits
from alexnet_spec.source import yaml_source
from alexnet_spec.errors import SpecError
from tests.conftest import TINY_SPEC, run_cli, spec_text


def _error(callable_, *args) -> str:
    with pytest.raises(SpecError) as caught:
        callable_(*args)
    return str(caught.value)


def test_directory_is_a_located_error(tmp_path):
    assert "is a directory, not a spec file" in _error(yaml_source.read_document, tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    start = time.monotonic()
    assert "FIFO" in _error(yaml_source.read_document, fifo)  # opening a FIFO for reading blocks until a writer comes
    assert time.monotonic() - start < 5


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_endless_device_is_refused():
    assert "character device" in _error(yaml_source.read_document, "/dev/zero")  # reading it would never end


def test_file_over_the_size_limit(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# " + b"x" * limits.MAX_SPEC_BYTES + b"\n")
    assert f"larger than {limits.MAX_SPEC_BYTES:,} bytes" in _error(yaml_source.read_document, path)


def test_binary_file(tmp_path):
    path = tmp_path / "weights.yaml"
    path.write_bytes(b"\x93NUMPY\x01\x00v\x00")
    assert "binary file" in _error(yaml_source.read_document, path)


BILLION_LAUGHS = """\
a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_alias_bomb_is_an_error_within_a_second_in_bounded_memory():
    # 9**9 (387 million) strings once every alias is expanded, as plain data and validation would expand them.
    tracemalloc.start()
    start = time.monotonic()
    try:
        message = _error(yaml_source.parse, BILLION_LAUGHS, "bomb.yaml")
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - start < 1.0
    assert peak < 50 * 2**20
    assert "bomb.yaml:" in message and f"more than {limits.MAX_YAML_NODES:,} YAML nodes" in message


def test_alias_bomb_through_the_cli_exits_2(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS + "name: X\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2 and "YAML nodes" in result.stderr and "Traceback" not in result.stderr


def test_aliases_within_the_bound_still_work():
    text = spec_text("""
        name: Aliased
        input: {channels: 3, height: 8, width: 8}
        layers:
          - &conv {type: conv, out_channels: 4, kernel: 3, padding: 1}
          - {type: relu}
          - *conv
          - {type: flatten}
          - {type: dense, out_features: 2}
    """)
    from alexnet_spec.source.loading import parse_network

    net = parse_network(text, "a.yaml")  # the alias repeats an unnamed layer: each copy gets its own name
    assert [layer.type for layer in net.layers][:3] == ["conv", "relu", "conv"]


def test_recursive_alias_is_an_error():
    assert "would be infinite" in _error(yaml_source.parse, "a: &a [1, *a]\n", "loop.yaml")


def test_nesting_depth_is_bounded():
    deep = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    message = _error(yaml_source.parse, deep, "deep.yaml")
    assert f"nested more than {limits.MAX_YAML_DEPTH} deep" in message and "deep.yaml:1:" in message


def test_integer_with_thousands_of_digits():
    # Python refuses int() of more than 4,300 digits (a ValueError, not a YAML error) unless the length is checked.
    text = spec_text(TINY_SPEC).replace("height: 12", "height: " + "9" * 5000)
    message = _error(yaml_source.parse, text, "digits.yaml")
    assert "digits.yaml:2:" in message and "an integer of 5,000 characters" in message


def test_size_above_the_limit_is_located(tmp_spec):
    from alexnet_spec.source.loading import load_network

    path = tmp_spec(TINY_SPEC.replace("height: 12", f"height: {limits.MAX_SIZE + 1}"))
    message = _error(load_network, path)
    assert "spec.yaml:2:" in message and f"{limits.MAX_SIZE}" in message.replace(",", "")


def test_docs_list_every_limit():
    from tests.conftest import ROOT

    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    for what, bound in limits.describe():
        assert f"| {what} | {bound} |" in text
