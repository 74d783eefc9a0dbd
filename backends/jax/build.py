"""Build the JAX model by executing the very source that `render` returns (see backends/torch/build.py)."""

from __future__ import annotations

import types
from typing import Sequence

from alexnet_spec.backends.common.source import load_source
from alexnet_spec.resolved import ResolvedNetwork

from .view import render


def generated_module(net: ResolvedNetwork) -> types.ModuleType:
    """The module that `alexspec compile SPEC --backend jax` prints, executed: `.init`, `.init_state`, `.apply`."""
    source = render(net)
    module = load_source(source, f"alexspec_jax_{net.class_name}_{net.spec_hash}")
    module.source = source
    return module


def build(net: ResolvedNetwork, devices: Sequence | None = None, **options):
    """The generated module (`init`, `init_state`, `apply`); with `devices` (jax devices, or names like "cpu:1",
    one per spec device) a PlacedModel whose split layers are sharded over a Mesh of them."""
    if options:
        raise TypeError(f"unknown option(s) {', '.join(sorted(options))} for the jax backend; it takes devices")
    module = generated_module(net)
    if devices is None:
        return module
    from .placement import PlacedModel

    return PlacedModel(module, net, devices)
