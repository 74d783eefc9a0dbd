"""pydantic's validation errors as located diagnostics: file:line:col, layer, what was expected, a hint."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from alexnet_spec.errors import Diagnostic, did_you_mean
from alexnet_spec.passes.names import raw_layer_names
from alexnet_spec.spec.layers import LAYER_TYPES
from alexnet_spec.spec.network import InputShape, NetworkSpec
from alexnet_spec.spec.types import Constant, Kaiming, Normal, ParameterInit, Uniform, Xavier

INIT_MODELS = (ParameterInit, Normal, Uniform, Kaiming, Xavier, Constant)


def diagnostics_from(error: ValidationError, data: Any) -> list[Diagnostic]:
    """One diagnostic per offending value; a union's per-member errors are merged into one."""
    names = _layer_names(data)
    merged: dict[tuple, list[dict]] = {}
    for item in error.errors(include_url=False):
        path, at_key = _data_path(item, data)
        merged.setdefault((path, at_key), []).append(item)
    return [_diagnostic(path, at_key, items, data, names) for (path, at_key), items in merged.items()]


def _data_path(item: dict, data: Any) -> tuple[tuple, bool]:
    """The part of pydantic's `loc` that indexes into the data (union tags and member labels dropped)."""
    node, path = data, []
    for part in item["loc"]:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
    return tuple(path), item["type"] == "extra_forbidden"


def _diagnostic(path: tuple, at_key: bool, items: list[dict], data: Any, names: list[str]) -> Diagnostic:
    layer = names[path[1]] if len(path) >= 2 and path[0] == "layers" and path[1] < len(names) else None
    first = items[0]
    kind = first["type"]
    model = _model_at(first["loc"], data)
    if kind == "extra_forbidden":
        key = path[-1]
        fields = _field_names(model)
        close = difflib.get_close_matches(str(key), fields, n=1)
        return Diagnostic(f"unknown field {key!r}", layer=layer, path=path, at_key=True,
                          expected=f"one of: {', '.join(fields)}",
                          hint=f"did you mean {close[0]!r}?" if close else "remove it")
    if kind == "missing":
        field = first["loc"][-1]
        info = model.model_fields.get(field) if model else None
        return Diagnostic(f"missing required field {field!r}", layer=layer, path=path,
                          expected=f"{field}: {info.description}" if info and info.description else None,
                          hint=f"add `{field}:` to this {'layer' if layer else 'mapping'}")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = first.get("ctx", {}).get("tag") if kind == "union_tag_invalid" else None
        discriminator = first.get("ctx", {}).get("discriminator", "'type'").strip("'")
        options = list(LAYER_TYPES) if discriminator == "type" else ["normal", "uniform", "kaiming", "xavier", "constant"]
        close = difflib.get_close_matches(str(tag), options, n=1) if tag else []
        message = (f"unknown {'layer type' if discriminator == 'type' else discriminator} {tag!r}" if tag
                   else f"missing `{discriminator}`")
        return Diagnostic(message, layer=layer, path=path + ((discriminator,) if tag else ()),
                          expected=f"{discriminator}: one of {', '.join(options)}",
                          hint=f"did you mean {close[0]!r}?" if close else f"every layer starts with `{discriminator}:`")
    field = path[-1] if path and isinstance(path[-1], str) else (first["loc"][-1] if first["loc"] else "spec")
    value = _value_at(data, path)
    info = model.model_fields.get(field) if model and isinstance(field, str) else None
    ranges = [_range_wording(item, info) for item in items if item["type"] in RANGE_ERRORS]
    if len(items) > 1 and info is not None:
        expected = f"{info.description} (each {ranges[0]})" if ranges and info.description else info.description
        return Diagnostic(f"invalid {field}: {as_yaml(value)}", layer=layer, path=path,
                          expected=expected, hint=_hint_for(field))
    if ranges or (kind in ("int_type", "float_type") and isinstance(value, bool)):
        wanted = ranges[0] if ranges else f"{'an int' if kind == 'int_type' else 'a number'}, not a boolean"
        return Diagnostic(f"{field}: expected {wanted}, got {as_yaml(value)}", layer=layer, path=path,
                          expected=info.description if info else None, hint=_hint_for(field))
    message = first["msg"].removeprefix("Value error, ")
    shown = f" (got {as_yaml(value)})" if value is not None and not isinstance(value, (dict, list)) else ""
    hint = _hint_for(field)
    if kind == "literal_error":  # an enumerated value (convention, ceil_rule, ...): the closest of its options
        hint = did_you_mean(value, re.findall(r"'([^']*)'", first.get("ctx", {}).get("expected", ""))) or hint
    return Diagnostic(f"{field}: {message}{shown}" if isinstance(field, str) else f"{message}{shown}", layer=layer,
                      path=path, expected=info.description if info else None, hint=hint)


def as_yaml(value) -> str:
    """A value as the user wrote it in YAML, not as Python prints it: true, null, "0.5" (a string), [4, 4]."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


RANGE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _range_wording(item: dict, info) -> str:
    """pydantic's bound as the range a user reads: `a positive int`, `a number of at least 0.5`."""
    kind = "int" if info is not None and info.annotation is int or isinstance(item.get("input"), int) and \
        not (info is not None and info.annotation is float) else "number"
    ctx = item.get("ctx", {})
    if item["type"] == "greater_than":
        return f"a positive {kind}" if ctx["gt"] == 0 else f"{_article(kind)} greater than {ctx['gt']}"
    if item["type"] == "greater_than_equal":
        return f"a non-negative {kind} (0 or more)" if ctx["ge"] == 0 else f"{_article(kind)} of at least {ctx['ge']}"
    if item["type"] == "less_than":
        return f"{_article(kind)} less than {ctx['lt']}"
    return f"{_article(kind)} of at most {ctx['le']}"


def _article(kind: str) -> str:
    return f"an {kind}" if kind == "int" else f"a {kind}"


def _hint_for(field: Any) -> str | None:
    return {
        "padding": "for example padding: 2, [2, 1], [0, 1, 0, 1], valid or same",
        "kernel": "for example kernel: 11 or kernel: [5, 3]",
        "stride": "for example stride: 4",
        "convention": "`paper` for the AlexNet paper's formula, `caffe` for Caffe's and torch's alpha/n",
        "init": "torch, paper, or {weight: {dist: normal, std: 0.01}, bias: {dist: constant, value: 0}}",
    }.get(field) if isinstance(field, str) else None


def _model_at(loc: tuple, data: Any) -> type[BaseModel] | None:
    if "init" in loc:
        return ParameterInit if loc[-1] in ParameterInit.model_fields or loc[-1] == "init" else _init_member(loc)
    if loc and loc[0] == "input":
        return InputShape
    if len(loc) >= 2 and loc[0] == "layers":
        if len(loc) >= 3 and isinstance(loc[2], str) and loc[2] in LAYER_TYPES:
            return LAYER_TYPES[loc[2]]
        layer = _value_at(data, ("layers", loc[1]))
        if isinstance(layer, dict) and isinstance(layer.get("type"), str) and layer["type"] in LAYER_TYPES:
            return LAYER_TYPES[layer["type"]]
        return None
    return NetworkSpec


def _init_member(loc: tuple) -> type[BaseModel] | None:
    for part in loc:
        for model in INIT_MODELS[1:]:
            if part == model.model_fields["dist"].annotation.__args__[0]:
                return model
    return ParameterInit


def _field_names(model: type[BaseModel] | None) -> list[str]:
    return list(model.model_fields) if model else []


def _value_at(data: Any, path: tuple) -> Any:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _layer_names(data: Any) -> list[str]:
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, list):
        return []
    return raw_layer_names(layers)
