"""`--set LAYER.FIELD=VALUE`: edits applied to the YAML tree before validation, values parsed as YAML.

Each edit is recorded on the document (`SourceDocument.edits`), so that an error in the value it wrote is reported
at the `--set` argument itself, with the line of the spec it changed.
"""

from __future__ import annotations

import dataclasses
import difflib

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.passes.names import raw_layer_names
from alexnet_spec.source.yaml_source import Edit, SourceDocument

TOP_LEVEL_MAPPINGS = ("input",)
FORMS = "LAYER.FIELD=VALUE, FIELD=VALUE or input.FIELD=VALUE"


def parse_override(text: str) -> tuple[list[str], object]:
    """'conv1.groups=1' -> (['conv1', 'groups'], 1)."""
    target, sep, value_text = text.partition("=")
    keys = [key.strip() for key in target.split(".")]
    if not sep or not target.strip():
        raise SpecError(_error(text, "cannot read this override", expected=FORMS,
                               hint="for example --set conv1.groups=1 or --set input.height=224"))
    if not all(keys):
        raise SpecError(_error(text, f"empty name in {target.strip()!r}", expected=FORMS,
                               hint="names are separated by single dots: --set conv1.groups=1"))
    try:
        value = YAML(typ="safe", pure=True).load(value_text) if value_text.strip() else None
    except YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpecError(_error(text, f"the value {value_text.strip()!r} is not valid YAML ({problem})",
                               hint="quote the whole argument in the shell, for example --set 'conv1.kernel=[5, 3]'"))
    return keys, value


def apply_overrides(document: SourceDocument, overrides: list[str] | tuple[str, ...]) -> SourceDocument:
    """`document` with each override applied in order (its tree is modified in place) and recorded in `edits`."""
    edits = dict(document.edits)
    for text in overrides:
        keys, value = parse_override(text)
        path = _apply(document, keys, value, text)
        edits[path] = Edit(file=f"--set {text}", changes=_changes(document, edits, path))
    return dataclasses.replace(document, edits=edits)


def _apply(document: SourceDocument, keys: list[str], value, text: str) -> tuple:
    """Write `value` where `keys` lead; the spec path written."""
    tree = document.tree
    head, rest = keys[0], keys[1:]
    if not rest:
        _check_top_level_field(tree, head, text)
        tree[head] = value
        return (head,)
    written = None  # the first mapping this override creates: everything in it is the override's
    if head in TOP_LEVEL_MAPPINGS:
        if not isinstance(tree.get(head, {}), dict):
            raise SpecError(_error(text, f"`{head}` is not a mapping in this spec", expected=f"{head}: {{...}}"))
        if head not in tree:
            tree[head], written = CommentedMap(), (head,)
        target, path = tree[head], (head,)
    else:
        index = _layer_index(tree, head, text)
        target, path = tree["layers"][index], ("layers", index)
    for depth, key in enumerate(rest[:-1]):
        if key not in target:
            target[key] = CommentedMap()
            written = written or path + (key,)
        if not isinstance(target[key], dict):
            dotted = ".".join(keys[:depth + 2])
            raise SpecError(_error(text, f"{dotted} is not a mapping",
                                   expected="a field that holds a mapping, such as init.weight",
                                   hint=f"set the whole field: --set {dotted}=VALUE"))
        target, path = target[key], path + (key,)
    target[rest[-1]] = value
    return written or path + (rest[-1],)


def _changes(document: SourceDocument, edits: dict, path: tuple) -> str | None:
    """Which line of the spec an edit changes: an earlier edit of the same path, else the spec's own value."""
    if path in edits and edits[path].line is not None:
        earlier = edits[path]
        return f"overrides {earlier.file}:{earlier.line}:{earlier.column}"
    if path in document.edits:
        return None
    node = document.tree
    for part in path[:-1]:
        node = node[part]
    if isinstance(node, CommentedMap) and path[-1] in (node.lc.data or {}):
        file, line, column = document.locate(path)
        return f"overrides {file}:{line}:{column}"
    if isinstance(node, CommentedMap) and node.lc.line is not None:  # a new key: the mapping it is added to
        file, line, column = document.locate(path[:-1])
        return f"adds a field to {file}:{line}:{column}"
    return None


def _check_top_level_field(tree: CommentedMap, key: str, text: str) -> None:
    from alexnet_spec.spec.layers import LAYER_TYPES
    from alexnet_spec.spec.network import NetworkSpec

    fields = list(NetworkSpec.model_fields)
    if key in fields:
        return
    names = _names(tree)
    if key in names:
        hint = f"to change a field of layer {key}: --set {key}.FIELD=VALUE"
    else:
        owners = [name for name, layer in zip(names, _layers(tree)) if isinstance(layer, dict)
                  and isinstance(layer.get("type"), str)
                  and key in getattr(LAYER_TYPES.get(layer["type"]), "model_fields", {})]
        close = difflib.get_close_matches(key, fields, n=1)
        hint = (f"did you mean {owners[0]}.{key}? (a layer's field needs the layer's name)" if owners
                else f"did you mean {close[0]!r}?" if close else None)
    raise SpecError(_error(text, f"unknown top-level field {key!r}", expected=f"one of: {', '.join(fields)}, or "
                           f"{FORMS}", hint=hint))


def _layers(tree: CommentedMap) -> list:
    layers = tree.get("layers")
    return list(layers) if isinstance(layers, (list, CommentedSeq)) else []


def _names(tree: CommentedMap) -> list[str]:
    return raw_layer_names(_layers(tree))


def _layer_index(tree: CommentedMap, name: str, text: str) -> int:
    if not _layers(tree):
        raise SpecError(_error(text, "the spec has no layer list"))
    names = _names(tree)
    if name in names:
        return names.index(name)
    close = difflib.get_close_matches(name, names + list(TOP_LEVEL_MAPPINGS), n=1)
    raise SpecError(_error(text, f"no layer named {name!r}", expected="a layer name, `input`, or a top-level field",
                           hint=f"did you mean {close[0]!r}?" if close else f"layers: {', '.join(names)}"))


def _error(text: str, message: str, **kwargs) -> Diagnostic:
    return Diagnostic(message, file=f"--set {text}", **kwargs)
