"""Loading pauses the cyclic garbage collector only while it runs, and leaves a caller's own setting alone."""

from __future__ import annotations

import gc

import pytest

from alexnet_spec.errors import SpecError
from alexnet_spec.source.loading import parse_network
from tests.conftest import TINY_SPEC


def test_the_collector_runs_again_after_a_load_and_after_an_error():
    assert gc.isenabled()
    parse_network(TINY_SPEC)
    assert gc.isenabled()
    with pytest.raises(SpecError):
        parse_network("name: X\nlayers: [1\n")
    assert gc.isenabled()


def test_a_collector_the_caller_disabled_stays_disabled():
    gc.disable()
    try:
        parse_network(TINY_SPEC)
        assert not gc.isenabled()
    finally:
        gc.enable()
