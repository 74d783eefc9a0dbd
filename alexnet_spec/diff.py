"""`alexspec diff A B`: what a variant changed, layer by layer (fields, output shapes, parameters, MACs), then totals."""

from __future__ import annotations

from dataclasses import dataclass

from alexnet_spec.resolved import ResolvedNetwork

TOP_LEVEL = ("name", "input", "devices", "allow_truncation", "init")


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: object
    after: object


@dataclass(frozen=True)
class LayerChange:
    name: str
    status: str  # "changed", "added", "removed"
    fields: tuple[FieldChange, ...]
    shape_before: tuple[int, ...] | None
    shape_after: tuple[int, ...] | None
    params_delta: int
    macs_delta: int


@dataclass(frozen=True)
class DiffReport:
    a: str
    b: str
    top_level: tuple[FieldChange, ...]
    layers: tuple[LayerChange, ...]
    totals: dict[str, tuple[int, int]]  # name -> (a, b)

    @property
    def differs(self) -> bool:
        return bool(self.top_level or self.layers)

    def to_json(self) -> dict:
        return {"a": self.a, "b": self.b, "differs": self.differs,
                "top_level": [vars(change) for change in self.top_level],
                "layers": [{"name": c.name, "status": c.status, "fields": [vars(f) for f in c.fields],
                            "shape_before": c.shape_before, "shape_after": c.shape_after,
                            "params_delta": c.params_delta, "macs_delta": c.macs_delta} for c in self.layers],
                "totals": {name: {"a": a, "b": b, "delta": b - a} for name, (a, b) in self.totals.items()}}


def _fields(model) -> dict:
    return model.model_dump(mode="json", exclude={"name"})


def diff_networks(a: ResolvedNetwork, b: ResolvedNetwork) -> DiffReport:
    """Layers are matched by name; a layer present in one network only is added or removed."""
    spec_a, spec_b = a.spec.model_dump(mode="json"), b.spec.model_dump(mode="json")
    top = tuple(FieldChange(key, spec_a[key], spec_b[key]) for key in TOP_LEVEL if spec_a[key] != spec_b[key])
    layers_a = {layer.name: (layer, model) for layer, model in zip(a.layers, a.spec.layers)}
    layers_b = {layer.name: (layer, model) for layer, model in zip(b.layers, b.spec.layers)}
    changes = []
    for name in list(layers_a) + [name for name in layers_b if name not in layers_a]:
        if name not in layers_b:
            layer, _ = layers_a[name]
            changes.append(LayerChange(name, "removed", (), layer.output_shape, None, -layer.params, -layer.macs))
            continue
        if name not in layers_a:
            layer, _ = layers_b[name]
            changes.append(LayerChange(name, "added", (), None, layer.output_shape, layer.params, layer.macs))
            continue
        (old, old_model), (new, new_model) = layers_a[name], layers_b[name]
        before, after = _fields(old_model), _fields(new_model)
        fields = tuple(FieldChange(key, before.get(key), after.get(key))
                       for key in dict.fromkeys(list(before) + list(after)) if before.get(key) != after.get(key))
        if fields or old.output_shape != new.output_shape or old.params != new.params or old.macs != new.macs:
            changes.append(LayerChange(name, "changed", fields, old.output_shape, new.output_shape,
                                       new.params - old.params, new.macs - old.macs))
    totals = {"params": (a.total_params, b.total_params), "buffers": (a.total_buffers, b.total_buffers),
              "macs": (a.total_macs, b.total_macs)}
    return DiffReport(a.file, b.file, top, tuple(changes), totals)


def _shape(shape) -> str:
    return "×".join(map(str, shape)) if shape else "-"


def diff_table(report: DiffReport):
    from rich.table import Table

    table = Table(title=f"{report.a} -> {report.b}", title_justify="left")
    for column in ("layer", "change", "fields", "output", "params", "MACs"):
        table.add_column(column, justify="right" if column in ("params", "MACs") else "left")
    for change in report.top_level:
        table.add_row("(model)", "changed", f"{change.field}: {change.before} -> {change.after}", "", "", "")
    for change in report.layers:
        fields = "; ".join(f"{f.field}: {f.before} -> {f.after}" for f in change.fields)
        shape = _shape(change.shape_after) if change.shape_before == change.shape_after else \
            f"{_shape(change.shape_before)} -> {_shape(change.shape_after)}"
        table.add_row(change.name, change.status, fields, shape, f"{change.params_delta:+,}", f"{change.macs_delta:+,}")
    table.add_section()
    for name, (before, after) in report.totals.items():
        table.add_row(f"total {name}", "", f"{before:,} -> {after:,}", "", f"{after - before:+,}" if name != "macs"
                      else "", f"{after - before:+,}" if name == "macs" else "")
    return table
