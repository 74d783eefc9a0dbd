"""The passes from a validated spec to a ResolvedNetwork; each is a pure function of typed values."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from alexnet_spec.passes.init import resolve_init
from alexnet_spec.passes.names import assign_names
from alexnet_spec.passes.placement import place
from alexnet_spec.passes.shapes import infer_shapes
from alexnet_spec.resolved import ResolvedNetwork
from alexnet_spec.spec.network import NetworkSpec


def spec_hash(spec: NetworkSpec) -> str:
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def resolve(spec: NetworkSpec, file: str = "<spec>") -> ResolvedNetwork:
    """names -> shapes -> placement -> initialisation; raises SpecError with spec paths (not yet lines)."""
    named = assign_names(spec)
    layers = infer_shapes(named)
    placements = place(named, layers)
    layers = tuple(dataclasses.replace(layer, placement=placement) for layer, placement in zip(layers, placements))
    layers = resolve_init(named, layers)
    return ResolvedNetwork(name=named.name, description=named.description, source=named.source,
                           devices=tuple(named.devices or ()), file=file, spec_hash=spec_hash(named),
                           input_shape=(spec.input.channels, spec.input.height, spec.input.width), layers=layers,
                           spec=named)
