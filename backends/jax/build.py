"""Build the JAX model by executing the very source that `render` returns (see backends/torch/build.py)."""

from __future__ import annotations

import types
from typing import Sequence

from alexnet_spec.backends.source import load_source
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import ResolvedNetwork

from .render import render


def generated_module(net: ResolvedNetwork) -> types.ModuleType:
    """The module that `alexspec compile SPEC --backend jax` prints, executed: `.init`, `.init_state`, `.apply`."""
    filename = f"<alexspec jax: {net.file} ({net.spec_hash})>"
    module = load_source(render(net), f"alexspec_jax_{net.class_name}_{net.spec_hash}", filename)
    module.source = render(net)
    return module


def build(net: ResolvedNetwork, devices: Sequence[str] | None = None, **options) -> types.ModuleType:
    """The generated module. `devices` is not supported by the JAX backend yet: a clear error, not a silent
    single-device build."""
    if options:
        raise TypeError(f"unknown option(s) {', '.join(sorted(options))} for the jax backend; it takes devices")
    if devices is not None:
        raise SpecError(Diagnostic("the jax backend does not place layers on devices yet", file=net.file,
                                   path=("devices",), hint="build without `devices`; the single-device build computes "
                                   "the same function"))
    return generated_module(net)
