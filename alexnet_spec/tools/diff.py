"""`alexspec diff A B`: what a variant changed, layer by layer (fields, output shapes, parameters, MACs), then totals.

Layers are matched by name first. Matched layers that keep their relative order are compared in place; a matched
layer that changed its position relative to the others is `moved`. Between two consecutive in-place matches, the
layers left unmatched are paired in order by type (`renamed`: same position, same type, new name); what remains is
`removed` (only in A) or `added` (only in B). A compared layer is listed when its meaning differs: a field of its
resolved attributes, its output shape, parameters, buffers, MACs or (when both networks are placed) its placement.

Meaning, not spelling: fields are those of the resolved layer, so `padding: same` and the padding it resolves to,
`depth_radius: 2` and `size: 5`, `init: torch` and the bounds it stands for are the same; LRN's alpha is compared as
the scale it gives the sum of squares (alpha, or alpha/n under the caffe and torch conventions); floats are equal
when they round to within one float32 step of each other (a spec read back from float32 weights, 1e-05 against
9.999999747378752e-06).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from alexnet_spec.resolved import (Constant, FrameworkDefault, LRNAttrs, Normal, ResolvedLayer, ResolvedNetwork,
                                   Uniform)
from alexnet_spec.tools.summary import shape_text

FLOAT32_STEP = 2.0 ** -23  # float32's machine epsilon: the relative spacing of float32 numbers

STATUSES = ("changed", "renamed", "moved", "added", "removed")


@dataclass(frozen=True)
class FieldChange:
    """A field of a layer's (or the network's) validated spec: a dotted path for nested fields, `init.weight.std`.

    `before` or `after` is None when the field exists on one side only (the layer changed type)."""

    field: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class Count:
    """A quantity in A and in B (0 on the side where the layer does not exist)."""

    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before

    def to_json(self) -> dict[str, int]:
        return {"a": self.before, "b": self.after, "delta": self.delta}


@dataclass(frozen=True)
class LayerDiff:
    status: str  # one of STATUSES
    name: str  # in B; in A for a removed layer
    old_name: str | None  # in A, for a renamed layer
    index_a: int | None  # position in A's layers (None when added)
    index_b: int | None  # position in B's layers (None when removed)
    type_a: str | None
    type_b: str | None
    summary: str  # the layer's own non-default fields, for an added or removed layer: "dropout p=0.1"
    fields: tuple[FieldChange, ...]
    shape_a: tuple[int, ...] | None
    shape_b: tuple[int, ...] | None
    params: Count
    buffers: Count
    macs: Count
    placement_a: str | None  # where it runs: "split", "gpu0", with " (reads across)"; None unless both are placed
    placement_b: str | None

    @property
    def label(self) -> str:
        return f"{self.old_name} → {self.name}" if self.old_name else self.name

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "name": self.name, "old_name": self.old_name, "index_a": self.index_a,
                "index_b": self.index_b, "type_a": self.type_a, "type_b": self.type_b, "summary": self.summary,
                "fields": [change.to_json() for change in self.fields],
                "shape_a": list(self.shape_a) if self.shape_a else None,
                "shape_b": list(self.shape_b) if self.shape_b else None,
                "params": self.params.to_json(), "buffers": self.buffers.to_json(), "macs": self.macs.to_json(),
                "placement_a": self.placement_a, "placement_b": self.placement_b}


@dataclass(frozen=True)
class DiffReport:
    file_a: str
    file_b: str
    name_a: str
    name_b: str
    network: tuple[FieldChange, ...]  # top-level fields: name, description, input.height, devices, init, ...
    layers: tuple[LayerDiff, ...]  # the layers that differ, in B's order (a removed layer where it stood in A)
    unchanged: int  # layers matched in place with no difference
    totals: dict[str, Count]  # layers, params, buffers, macs

    @property
    def differs(self) -> bool:
        return bool(self.network or self.layers)

    def count(self, status: str) -> int:
        return sum(1 for layer in self.layers if layer.status == status)

    def to_json(self) -> dict[str, Any]:
        return {"a": {"file": self.file_a, "name": self.name_a}, "b": {"file": self.file_b, "name": self.name_b},
                "differs": self.differs, "network": [change.to_json() for change in self.network],
                "layers": [layer.to_json() for layer in self.layers], "unchanged_layers": self.unchanged,
                "totals": {name: count.to_json() for name, count in self.totals.items()}}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; lists and scalars stay whole."""
    if isinstance(value, dict) and (value or not prefix):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def same_value(a: Any, b: Any) -> bool:
    """Equal, with floats equal within one float32 step (relative) and booleans never equal to numbers."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or math.isclose(a, b, rel_tol=FLOAT32_STEP, abs_tol=0.0)
    return a == b


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[FieldChange, ...]:
    """The dotted fields whose values differ, in A's order, then the fields only B has."""
    flat_a, flat_b = _flatten(before), _flatten(after)
    keys = list(flat_a) + [key for key in flat_b if key not in flat_a]
    return tuple(FieldChange(key, flat_a.get(key), flat_b.get(key)) for key in keys
                 if key not in flat_a or key not in flat_b or not same_value(flat_a[key], flat_b[key]))


def _plain(value: Any) -> Any:
    """A resolved attribute as JSON-like data: dataclasses as mappings (an initialisation distribution names its
    kind: normal, uniform, constant, torch default), tuples as lists."""
    if isinstance(value, FrameworkDefault):  # its bounds follow from the fans, which are fields of their own
        return {"dist": "torch default"}
    if isinstance(value, (Normal, Uniform, Constant)):
        return {"dist": type(value).__name__.lower(), **{field.name: getattr(value, field.name)
                                                         for field in dataclasses.fields(value) if field.compare}}
    if dataclasses.is_dataclass(value):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def meaning(layer: ResolvedLayer) -> dict[str, Any]:
    """What a layer computes, as the fields `diff` compares: its type, what it reads when that is not simply the
    layer before it (graphs), and its resolved attributes."""
    fields: dict[str, Any] = {"type": layer.type}
    if len(layer.inputs) > 1 or (layer.inputs and layer.index and layer.inputs[0] == "input"):
        fields["inputs"] = list(layer.inputs)
    if isinstance(layer.attrs, LRNAttrs):
        attrs = layer.attrs
        fields.update(size=attrs.size, scale=attrs.scale, beta=attrs.beta, k=attrs.k, groups=attrs.groups)
    elif layer.attrs is not None:
        fields.update(_plain(layer.attrs))
    return fields


def network_meaning(net: ResolvedNetwork) -> dict[str, Any]:
    """The network-wide fields `diff` compares; what the spec's other top-level fields (init, allow_truncation) do
    shows in its layers."""
    return {"name": net.name, "description": net.description, "source": net.source,
            "input": list(net.input_shape), "devices": list(net.devices)}


def _summary(model) -> str:
    fields = model.model_dump(mode="json", exclude={"name"}, exclude_defaults=True)
    kind = fields.pop("type")
    return " ".join([kind] + [f"{key}={value}" for key, value in _flatten(fields).items()])


def _layer_summary(net: ResolvedNetwork, layer: ResolvedLayer) -> str:
    """The layer's fields as written in the spec; a layer inside a block instance by its resolved meaning."""
    model = next((model for model in net.spec.layers if model.name == layer.name), None)
    if model is not None:
        return _summary(model)
    fields = meaning(layer)
    kind = fields.pop("type")
    return " ".join([kind] + [f"{key}={value}" for key, value in _flatten(fields).items()])


def _placement(layer: ResolvedLayer) -> str | None:
    if layer.placement is None:
        return None
    return layer.placement.label + (" (reads across)" if layer.placement.reads_across else "")


def _longest_common_subsequence(a: list[str], b: list[str]) -> set[str]:
    """The names of a longest common subsequence of two sequences of distinct names."""
    lengths = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            lengths[i][j] = lengths[i + 1][j + 1] + 1 if a[i] == b[j] else max(lengths[i + 1][j], lengths[i][j + 1])
    common, i, j = set(), 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            common.add(a[i])
            i, j = i + 1, j + 1
        elif lengths[i + 1][j] >= lengths[i][j + 1]:
            i += 1
        else:
            j += 1
    return common


class _Differ:
    def __init__(self, a: ResolvedNetwork, b: ResolvedNetwork):
        self.a, self.b = a, b
        self.placed = bool(a.devices) and bool(b.devices)

    def compare(self, status: str, i: int, j: int) -> LayerDiff | None:
        """The difference between A's layer i and B's layer j; None when they are the same in place."""
        la, lb = self.a.layers[i], self.b.layers[j]
        fields = field_changes(meaning(la), meaning(lb))
        placement_a, placement_b = (_placement(la), _placement(lb)) if self.placed else (None, None)
        same = (not fields and la.output_shape == lb.output_shape and la.params == lb.params
                and la.buffers == lb.buffers and la.macs == lb.macs and placement_a == placement_b)
        if same and status == "changed":
            return None
        return LayerDiff(status, lb.name, la.name if status == "renamed" else None, i, j, la.type, lb.type, "",
                         fields, la.output_shape, lb.output_shape, Count(la.params, lb.params),
                         Count(la.buffers, lb.buffers), Count(la.macs, lb.macs), placement_a, placement_b)

    def removed(self, i: int) -> LayerDiff:
        layer = self.a.layers[i]
        return LayerDiff("removed", layer.name, None, i, None, layer.type, None, _layer_summary(self.a, layer), (),
                         layer.output_shape, None, Count(layer.params, 0), Count(layer.buffers, 0),
                         Count(layer.macs, 0), _placement(layer) if self.placed else None, None)

    def added(self, j: int) -> LayerDiff:
        layer = self.b.layers[j]
        return LayerDiff("added", layer.name, None, None, j, None, layer.type, _layer_summary(self.b, layer), (),
                         None, layer.output_shape, Count(0, layer.params), Count(0, layer.buffers),
                         Count(0, layer.macs), None, _placement(layer) if self.placed else None)

    def gap(self, only_a: list[int], only_b: list[int], moved_b: list[int]) -> list[LayerDiff]:
        """Between two in-place matches: pair unmatched layers by type, in order; the rest are removed or added.

        Removed layers come first, then B's layers in B's order (renamed, added, moved)."""
        pairs: dict[int, int] = {}  # j -> i
        start = 0
        for i in only_a:
            for position in range(start, len(only_b)):
                if self.b.layers[only_b[position]].type == self.a.layers[i].type:
                    pairs[only_b[position]] = i
                    start = position + 1
                    break
        paired_a = set(pairs.values())
        entries = [self.removed(i) for i in only_a if i not in paired_a]
        index_a = {layer.name: i for i, layer in enumerate(self.a.layers)}
        for j in sorted(only_b + moved_b):
            if j in pairs:
                entries.append(self.compare("renamed", pairs[j], j))
            elif j in moved_b:
                entries.append(self.compare("moved", index_a[self.b.layers[j].name], j))
            else:
                entries.append(self.added(j))
        return entries


def diff_networks(a: ResolvedNetwork, b: ResolvedNetwork) -> DiffReport:
    """What changed from network A to network B (see the module's docstring for how layers are matched)."""
    differ = _Differ(a, b)
    names_a = [layer.name for layer in a.layers]
    names_b = [layer.name for layer in b.layers]
    index_a = {name: i for i, name in enumerate(names_a)}
    both = set(names_a) & set(names_b)
    in_place = _longest_common_subsequence([n for n in names_a if n in both], [n for n in names_b if n in both])
    anchors = [(index_a[name], j) for j, name in enumerate(names_b) if name in in_place]
    layers: list[LayerDiff] = []
    unchanged = 0
    previous_a, previous_b = -1, -1
    for i, j in anchors + [(len(names_a), len(names_b))]:
        only_a = [k for k in range(previous_a + 1, i) if names_a[k] not in both]
        only_b = [k for k in range(previous_b + 1, j) if names_b[k] not in both]
        moved_b = [k for k in range(previous_b + 1, j) if names_b[k] in both and names_b[k] not in in_place]
        layers += differ.gap(only_a, only_b, moved_b)
        if i < len(names_a):
            change = differ.compare("changed", i, j)
            if change is None:
                unchanged += 1
            else:
                layers.append(change)
        previous_a, previous_b = i, j
    network = field_changes(network_meaning(a), network_meaning(b))
    totals = {"layers": Count(len(a.layers), len(b.layers)), "params": Count(a.total_params, b.total_params),
              "buffers": Count(a.total_buffers, b.total_buffers), "macs": Count(a.total_macs, b.total_macs)}
    return DiffReport(a.file, b.file, a.name, b.name, network, tuple(layers), unchanged, totals)


# Presentation.

STYLE = {"changed": "yellow", "renamed": "cyan", "moved": "cyan", "added": "green", "removed": "red"}


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_value(item)}" for key, item in value.items()) + "}"
    return str(value)


def change_text(change: FieldChange) -> str:
    return f"{change.field}: {_value(change.before)} → {_value(change.after)}"


def _signed(value: int) -> str:
    return f"{value:+,}" if value else "0"


def _shape(layer: LayerDiff) -> str:
    before = shape_text(layer.shape_a) if layer.shape_a else ""
    after = shape_text(layer.shape_b) if layer.shape_b else ""
    if layer.status == "added":
        return f"→ {after}"
    if layer.status == "removed":
        return f"{before} →"
    return after if before == after else f"{before} → {after}"


def _what(layer: LayerDiff) -> str:
    lines = [layer.summary] if layer.summary else []
    lines += [change_text(change) for change in layer.fields]
    if layer.placement_a != layer.placement_b and layer.status not in ("added", "removed"):
        lines.append(f"runs on: {layer.placement_a} → {layer.placement_b}")
    if layer.status in ("changed", "renamed", "moved") and not lines:
        lines.append("(follows from the layers before)")
    return "\n".join(lines)


def diff_table(report: DiffReport):
    """One rich renderable: a heading, the network's changed fields, the layers that differ, the totals."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list = [Text(f"A: {report.file_a} ({report.name_a})\nB: {report.file_b} ({report.name_b})")]
    if not report.differs:
        parts.append(Text(f"no differences: {report.unchanged} layers, the same fields, shapes and sizes",
                          style="bold"))
    if report.network:
        table = Table(title="network", title_justify="left")
        for column in ("field", "A", "B"):
            table.add_column(column)
        for change in report.network:
            table.add_row(Text(change.field), Text(_value(change.before)), Text(_value(change.after)))
        parts.append(table)
    if report.layers:
        counts = ", ".join(f"{report.count(status)} {status}" for status in STATUSES if report.count(status))
        table = Table(title=f"layers: {counts}, {report.unchanged} unchanged", title_justify="left")
        for column in ("layer", "change", "what", "output", "params", "MACs"):
            table.add_column(column, justify="right" if column in ("params", "MACs") else "left",
                             overflow="fold")
        for layer in report.layers:
            table.add_row(Text(layer.label), Text(layer.status, style=STYLE[layer.status]), Text(_what(layer)),
                          Text(_shape(layer)), _signed(layer.params.delta), _signed(layer.macs.delta))
        parts.append(table)
    table = Table(title="totals", title_justify="left")
    for column in ("", "A", "B", "B - A"):
        table.add_column(column, justify="left" if not column else "right")
    for name, count in report.totals.items():
        percent = f" ({count.delta / count.before:+.2%})" if count.before and count.delta and name != "layers" else ""
        table.add_row(name if name != "macs" else "MACs", f"{count.before:,}", f"{count.after:,}",
                      _signed(count.delta) + percent)
    parts.append(table)
    return Group(*parts)
