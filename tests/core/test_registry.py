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


def test_every_backend_offers_what_the_protocol_declares():
    """The protocol declares what the CLI uses: `name`, `render` (compile), `build`, and `evaluate` (check); each
    registered backend's methods take the protocol's parameters."""
    import inspect

    declared = set(backends.Backend.__annotations__) | {name for name in vars(backends.Backend)
                                                        if not name.startswith("_")}
    assert declared == {"name", "render", "build", "evaluate"}
    for name in backends.available():
        backend = backends.get(name)
        for method in ("render", "build", "evaluate"):
            wanted = [parameter for parameter in inspect.signature(getattr(backends.Backend, method)).parameters
                      if parameter not in ("self", "options")]
            offered = inspect.signature(getattr(backend, method)).parameters
            assert all(parameter in offered for parameter in wanted), (name, method, wanted, list(offered))
