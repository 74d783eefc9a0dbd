"""Backends are found by name through the entry-point group; unknown names list the known ones."""

from __future__ import annotations

import pytest

from alexnet_spec import backends
from alexnet_spec.errors import SpecError


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(SpecError) as caught:
        backends.get("caffe2")
    [diagnostic] = caught.value.diagnostics
    assert "unknown backend 'caffe2'" in diagnostic.message
    for name in backends.available():
        assert name in diagnostic.expected


def test_registered_backends_carry_their_name():
    for name in backends.available():
        assert backends.get(name).name == name
