"""A loaded spec dumped to YAML and loaded again is equal."""

from __future__ import annotations

import pytest

from alexnet_spec import load
from alexnet_spec.source.dump import dump_yaml
from alexnet_spec.source.loading import parse_network
from tests.conftest import SPEC_FILES


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_dump_then_load_is_equal(path):
    spec = parse_network(path.read_text(), str(path)).spec
    again = parse_network(dump_yaml(spec), "dumped.yaml").spec
    assert again == spec


def test_dump_keeps_conventions_explicit():
    text = dump_yaml(load("specs/alexnet.yaml"))
    assert "convention: paper" in text and "k: 2" in text
