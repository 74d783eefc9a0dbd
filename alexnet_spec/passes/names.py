"""Name every layer: keep the names the spec gives, generate the rest (conv1, relu1, norm1, pool1, fc6 ...)."""

from __future__ import annotations

from collections import Counter

from alexnet_spec.errors import Diagnostic, DiagnosticSink
from alexnet_spec.spec.layers import NAME_PREFIX
from alexnet_spec.spec.network import NetworkSpec


def generated_names(layers: list[tuple[str, str | None]]) -> list[str]:
    """Names for (type, given name or None) pairs; generated ones count per prefix and skip given names."""
    taken = {name for _, name in layers if name}
    counters: Counter[str] = Counter()
    names = []
    for layer_type, given in layers:
        prefix = NAME_PREFIX.get(layer_type, layer_type)
        counters[prefix] += 1
        if given:
            names.append(given)
            continue
        candidate = f"{prefix}{counters[prefix]}"
        while candidate in taken:
            counters[prefix] += 1
            candidate = f"{prefix}{counters[prefix]}"
        taken.add(candidate)
        names.append(candidate)
    return names


def raw_layer_names(layers: list) -> list[str]:
    """Names for layers as read from YAML, before validation (for error messages): a type or name that is not a
    string (a list, a mapping, a number) counts as none, so the layer is named by its position as `layerN`."""
    def text(value):
        return value if isinstance(value, str) and value else None

    return generated_names([(text(layer.get("type")) or "layer", text(layer.get("name")))
                            if isinstance(layer, dict) else ("layer", None) for layer in layers])


def assign_names(spec: NetworkSpec) -> NetworkSpec:
    """The spec with every layer named; duplicate given names are errors at the second occurrence."""
    sink = DiagnosticSink()
    first_seen: dict[str, int] = {}
    for index, layer in enumerate(spec.layers):
        if layer.name is None:
            continue
        if layer.name in first_seen:
            sink.add(Diagnostic(f"duplicate layer name {layer.name!r}", layer=layer.name, path=("layers", index, "name"),
                                expected="every layer name unique",
                                hint=f"layer {first_seen[layer.name] + 1} already has this name; rename one of them"))
        first_seen.setdefault(layer.name, index)
    sink.raise_if_any()
    names = generated_names([(layer.type, layer.name) for layer in spec.layers])
    layers = [layer if layer.name == name else layer.model_copy(update={"name": name})
              for layer, name in zip(spec.layers, names)]
    return spec.model_copy(update={"layers": layers})
