"""`--set LAYER.FIELD=VALUE`: edits applied to the YAML tree before validation, values parsed as YAML."""

from __future__ import annotations

import difflib

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.passes.names import generated_names

TOP_LEVEL_MAPPINGS = ("input",)


def parse_override(text: str) -> tuple[list[str], object]:
    """'conv1.groups=1' -> (['conv1', 'groups'], 1)."""
    target, sep, value_text = text.partition("=")
    if not sep or not target.strip():
        raise SpecError(Diagnostic(f"cannot read --set {text!r}", file="--set",
                                   expected="LAYER.FIELD=VALUE, FIELD=VALUE or input.FIELD=VALUE",
                                   hint="for example --set conv1.groups=1 or --set input.height=224"))
    try:
        value = YAML(typ="safe", pure=True).load(value_text) if value_text.strip() else None
    except YAMLError as error:
        raise SpecError(Diagnostic(f"the value of --set {text!r} is not valid YAML ({error})", file="--set"))
    return target.strip().split("."), value


def apply_overrides(tree: CommentedMap, overrides: list[str] | tuple[str, ...]) -> CommentedMap:
    """Apply each override in order to `tree` (modified in place and returned)."""
    for text in overrides:
        keys, value = parse_override(text)
        _apply(tree, keys, value, text)
    return tree


def _apply(tree: CommentedMap, keys: list[str], value, text: str) -> None:
    head, rest = keys[0], keys[1:]
    if not rest:
        tree[head] = value
        return
    if head in TOP_LEVEL_MAPPINGS:
        target = tree.setdefault(head, CommentedMap())
    else:
        target = _layer_by_name(tree, head, text)
    for key in rest[:-1]:
        target = target.setdefault(key, CommentedMap())
        if not isinstance(target, dict):
            raise SpecError(Diagnostic(f"--set {text!r}: {key} is not a mapping", file="--set"))
    target[rest[-1]] = value


def _layer_by_name(tree: CommentedMap, name: str, text: str) -> CommentedMap:
    layers = tree.get("layers")
    if not isinstance(layers, (list, CommentedSeq)):
        raise SpecError(Diagnostic(f"--set {text!r}: the spec has no layer list", file="--set"))
    pairs = [(layer.get("type", ""), layer.get("name")) if isinstance(layer, dict) else ("", None) for layer in layers]
    names = generated_names(pairs)
    if name in names:
        return layers[names.index(name)]
    close = difflib.get_close_matches(name, names + list(TOP_LEVEL_MAPPINGS), n=1)
    raise SpecError(Diagnostic(f"--set {text!r}: no layer named {name!r}", file="--set",
                               expected="a layer name, `input`, or a top-level field",
                               hint=f"did you mean {close[0]!r}?" if close else f"layers: {', '.join(names)}"))
