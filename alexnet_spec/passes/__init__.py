"""The passes from a validated spec to a ResolvedNetwork; each is a pure function of typed values."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from alexnet_spec.passes.graph import expand
from alexnet_spec.passes.init import resolve_init
from alexnet_spec.passes.names import assign_names
from alexnet_spec.passes.placement import place
from alexnet_spec.passes.shapes import infer_shapes
from alexnet_spec.resolved import ResolvedNetwork
from alexnet_spec.spec.network import NetworkSpec


# Fields the language gained after 0.1.0: left out of the hash at their defaults, so that a spec that does not use
# them keeps its hash (and generated files their headers) as the language grows.
LATER_FIELDS = {"inputs": None, "when": True, "scale_width": True, "blocks": {}, "outputs": None,
                "depth_multiple": 1.0, "width_multiple": 1.0, "precision": "float32"}


def _without_later_defaults(data):
    if isinstance(data, dict):
        return {key: _without_later_defaults(value) for key, value in data.items()
                if not (key in LATER_FIELDS and value == LATER_FIELDS[key])}
    if isinstance(data, list):
        return [_without_later_defaults(value) for value in data]
    return data


def spec_hash(spec: NetworkSpec) -> str:
    data = _without_later_defaults(spec.model_dump(mode="json"))
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def resolve(spec: NetworkSpec, file: str = "<spec>") -> ResolvedNetwork:
    """names -> graph (blocks expanded, inputs wired) -> shapes -> placement -> initialisation; raises SpecError with
    spec paths (not yet lines)."""
    named = assign_names(spec)
    graph = expand(named)
    layers = infer_shapes(named, graph)
    placements = place(named, graph, layers)
    layers = tuple(dataclasses.replace(layer, placement=placement) for layer, placement in zip(layers, placements))
    layers = resolve_init(named, graph, layers)
    return ResolvedNetwork(name=named.name, description=named.description, source=named.source,
                           devices=tuple(named.devices or ()), file=file, spec_hash=spec_hash(named),
                           input_shape=(spec.input.channels, spec.input.height, spec.input.width), layers=layers,
                           spec=named, outputs=graph.outputs, scopes=graph.scopes, scaling=graph.scaling,
                           precision=named.precision)
