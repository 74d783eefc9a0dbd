"""Variants: `extends: base.yaml` plus edits by layer name, merged into one YAML tree before validation.

    extends: alexnet.yaml          # a path relative to this file; chains of extends work
    name: AlexNetNoLRN             # top-level fields replace the base's (mappings such as `input` merge)
    overrides: {conv2: {groups: 1}}
    remove: [norm1, norm2]
    insert_after: {relu5: [{type: dropout, p: 0.1}]}

Edits apply in that order: remove, overrides, insert_after. Nodes keep the positions of the file they came from,
so an error in the base is reported in the base file.

Reading the base: `extends` names a .yaml or .yml file, relative to the extending file, and it may leave that file's
folder (`extends: ../shared/alexnet.yaml` is a common layout, and a spec is trusted like a compiler's source file,
which can #include any path). What keeps that safe with a spec from someone else: the base is read with the bounds of
every spec file (limits.py: at most 1 MiB, a regular file, never a directory, device or FIFO, UTF-8 text, bounded
YAML), and a file that is not a spec (missing, unreadable, not YAML, not a mapping with `layers` or `extends`) is an
error at the `extends` line that says what is wrong with it but never quotes it. Only a file that is a spec has its
lines shown in errors. docs/security.md says the same for users.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from alexnet_spec.source import yaml_source
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.passes.names import raw_layer_names

DIRECTIVES = ("extends", "overrides", "remove", "insert_after")


def expand(document: yaml_source.SourceDocument, _chain: tuple[str, ...] = ()) -> yaml_source.SourceDocument:
    """The document with its `extends` chain merged in; a document without `extends` is returned as it is."""
    tree = document.tree
    if "extends" not in tree:
        _reject_orphan_directives(document)
        return document
    here = str(Path(document.file).resolve())
    chain = _chain + (here,)
    base_ref = tree["extends"]
    if not isinstance(base_ref, str) or not base_ref.strip():
        raise SpecError(_at(document, ("extends",), "`extends` must be a path to a spec file",
                            hint="for example extends: alexnet.yaml (relative to this file)"))
    base_path = Path(document.file).parent / base_ref
    if str(base_path.resolve()) in chain:
        cycle = " -> ".join(Path(p).name for p in chain + (str(base_path.resolve()),))
        raise SpecError(_at(document, ("extends",), f"`extends` makes a cycle: {cycle}",
                            hint="a spec cannot extend itself, directly or through other files"))
    base = expand(_read_base(document, base_ref, base_path), chain)
    overridden = _Overridden()
    merged = _merge(base, document, overridden)
    origins = {**base.origins, **_origins(base.tree, base.file, base.origins), **_origins(tree, document.file, {})}
    origins.update(overridden.origins(origins, base.file))
    return yaml_source.SourceDocument(file=document.file, text=document.text, tree=merged, origins=origins,
                                      edits=overridden.edits(base, merged, document))


class _Overridden:
    """The layers that `overrides` rewrote: each copy's base layer, and where each overriding value was written.

    A copy keeps the base's positions and file, so an error in a field the variant did not touch is reported in the
    base; an error in an overriding value is reported at the override, with the base line it changes."""

    def __init__(self):
        self.originals: dict[int, CommentedMap] = {}  # id(copy) -> the base layer it copies
        self.written: dict[int, dict[str, yaml_source.Edit]] = {}  # id(copy) -> field -> where the variant set it

    def record(self, copy: CommentedMap, original: CommentedMap, written: dict[str, yaml_source.Edit]) -> None:
        self.originals[id(copy)] = original
        self.written[id(copy)] = written

    def origins(self, known: dict[int, str], base_file: str) -> dict[int, str]:
        return {copy: known.get(id(original), base_file) for copy, original in self.originals.items()}

    def edits(self, base: yaml_source.SourceDocument, merged: CommentedMap,
              child: yaml_source.SourceDocument) -> dict[tuple, yaml_source.Edit]:
        """Spec paths (final layer indices) -> edits: the base's own, moved to where their layers ended up, and
        this variant's overrides."""
        base_layers = base.tree.get("layers") if isinstance(base.tree.get("layers"), list) else []
        base_index = {id(layer): index for index, layer in enumerate(base_layers)}
        edits = {path: edit for path, edit in base.edits.items()
                 if path[0] != "layers" and path[0] not in child.tree}
        for index, layer in enumerate(merged["layers"]):
            original = self.originals.get(id(layer), layer)
            written = self.written.get(id(layer), {})
            for path, edit in base.edits.items():
                if path[:2] == ("layers", base_index.get(id(original))) and path[2] not in written:
                    edits[("layers", index) + path[2:]] = edit
            edits.update({("layers", index, key): edit for key, edit in written.items()})
        return edits


SPEC_SUFFIXES = (".yaml", ".yml")


def _read_base(document: yaml_source.SourceDocument, base_ref: str, base_path: Path) -> yaml_source.SourceDocument:
    """The base spec that `extends` names, read with the bounds of any spec file (limits.py).

    Only a .yaml/.yml file that parses as a YAML mapping counts as a spec. Any other file (missing, a directory, a
    device, binary, too large, not YAML, not a mapping) is an error at `extends` in the extending file that says
    what is wrong with the base but never quotes it: `extends` can name any readable file, and its lines must not
    end up in an error message.
    """
    if Path(base_ref).suffix.lower() not in SPEC_SUFFIXES:
        raise SpecError(_at(document, ("extends",), f"`extends` must name a .yaml spec file, not {base_ref!r}",
                            expected="a path ending in .yaml or .yml", hint="for example extends: alexnet.yaml"))
    try:
        base = yaml_source.read_document(base_path)
    except SpecError as error:
        first = error.diagnostics[0]
        where = f" (line {first.line}, column {first.column})" if first.line is not None else ""
        problem = first.message.split(":", 1)[0] if first.message.startswith("invalid YAML") else first.message
        raise SpecError(_at(document, ("extends",), f"cannot read the base spec {base_ref!r}: {problem}{where}",
                            expected="a YAML spec file: a mapping with name, input and layers",
                            hint=f"looked for {base_path}")) from None
    if "layers" not in base.tree and "extends" not in base.tree:
        raise SpecError(_at(document, ("extends",), f"cannot read the base spec {base_ref!r}: it has neither "
                            "`layers` nor `extends`", expected="a YAML spec file: a mapping with name, input and "
                            "layers", hint=f"looked for {base_path}"))
    return base


def _origins(node, file: str, known: dict[int, str]) -> dict[int, str]:
    found = {}

    def walk(item):
        if isinstance(item, (CommentedMap, CommentedSeq)):
            found.setdefault(id(item), known.get(id(item), file))
            for child in (item.values() if isinstance(item, dict) else item):
                walk(child)

    walk(node)
    return found


def _merge(base: yaml_source.SourceDocument, child: yaml_source.SourceDocument,
           overridden: _Overridden) -> CommentedMap:
    tree = child.tree
    merged = CommentedMap()
    merged.lc.line, merged.lc.col = 0, 0
    for key, value in base.tree.items():
        merged[key] = value
        _copy_position(base.tree, merged, key)
    for key, value in tree.items():
        if key in DIRECTIVES:
            continue
        if key == "layers" or not (isinstance(value, dict) and isinstance(merged.get(key), dict)):
            merged[key] = value
        else:
            combined = CommentedMap(merged[key])
            combined.update(value)
            _copy_positions_all(merged[key], combined)
            _copy_positions_all(value, combined)
            combined.lc.line, combined.lc.col = value.lc.line, value.lc.col
            merged[key] = combined
        _copy_position(tree, merged, key)
    layers = merged.get("layers")
    if not isinstance(layers, list):
        raise SpecError(_at(child, ("extends",), "the base spec has no `layers` list to edit"))
    layers = CommentedSeq(layers)
    _copy_seq_positions(merged["layers"], layers)
    layers = _remove(child, layers)
    _apply_overrides(base, child, layers, overridden)
    layers = _insert_after(child, layers)
    merged["layers"] = layers
    return merged


def _names(layers) -> list[str]:
    return raw_layer_names(layers)


def _find(document, layers, name, path) -> int:
    names = _names(layers)
    if name in names:
        return names.index(name)
    close = difflib.get_close_matches(str(name), names, n=1)
    raise SpecError(_at(document, path, f"no layer named {name!r} in the base spec", at_key=True,
                        expected=f"one of: {', '.join(names)}",
                        hint=f"did you mean {close[0]!r}?" if close else "names are those of the base, after edits above"))


def _remove(document, layers: CommentedSeq) -> CommentedSeq:
    names = document.tree.get("remove") or []
    if not isinstance(names, list):
        raise SpecError(_at(document, ("remove",), "`remove` must be a list of layer names",
                            hint="for example remove: [norm1, norm2]"))
    doomed = {_find(document, layers, name, ("remove", index)) for index, name in enumerate(names)}
    kept = CommentedSeq()
    for index, layer in enumerate(layers):
        if index not in doomed:
            kept.append(layer)
            _positions(kept)[len(kept) - 1] = _positions(layers).get(index, [0, 0])
    return kept


def _apply_overrides(base, document, layers: CommentedSeq, overridden: _Overridden) -> None:
    overrides = document.tree.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise SpecError(_at(document, ("overrides",), "`overrides` must map layer names to fields",
                            hint="for example overrides: {conv2: {groups: 1}}"))
    names = _names(layers)  # before any override renames a layer
    for name, fields in overrides.items():
        if name not in names:
            _find(document, layers, name, ("overrides", name))
        if not isinstance(fields, dict):
            raise SpecError(_at(document, ("overrides", name), f"the override of {name!r} must be a mapping of fields",
                                hint=f"for example {name}: {{groups: 1}}"))
        index = names.index(name)
        original = layers[index]
        layer = CommentedMap(original)
        _copy_positions_all(original, layer)
        layer.lc.line, layer.lc.col = original.lc.line, original.lc.col
        written = {}
        for key, value in fields.items():
            layer[key] = value
            if key not in _positions(layer):  # a new field: give it the override's position (the base has none)
                _copy_position(fields, layer, key)
            written[key] = _override_edit(base, document, original, fields, name, key)
        overridden.record(layer, original, written)
        layers[index] = layer


def _override_edit(base, document, original: CommentedMap, fields: CommentedMap, name: str,
                   key: str) -> yaml_source.Edit:
    """Where the variant wrote `name.key`, and which line of the base it changes (or the layer it adds to)."""
    key_line, key_column = fields.lc.key(key)
    value_line, value_column = fields.lc.value(key) if _has_value(fields, key) else (key_line, key_column)
    return yaml_source.Edit(file=document.file, line=value_line + 1, column=value_column + 1, key_line=key_line + 1,
                            key_column=key_column + 1, changes=_base_line(base, original, key))


def _base_line(base, original: CommentedMap, key: str) -> str | None:
    base_layers = base.tree.get("layers") or []
    index = next((i for i, layer in enumerate(base_layers) if layer is original), None)
    if index is None:
        return None
    earlier = base.edits.get(("layers", index, key))
    if earlier is not None and earlier.line is not None:  # overridden already, in the base variant
        return f"overrides {earlier.file}:{earlier.line}:{earlier.column}"
    if key in _positions(original):
        file, line, column = base.locate(("layers", index, key))
        return f"overrides {file}:{line}:{column}"
    file, line, column = base.locate(("layers", index))
    return f"adds a field to {file}:{line}:{column}"


def _has_value(node: CommentedMap, key) -> bool:
    try:
        return node.lc.value(key) is not None
    except (KeyError, TypeError):
        return False


def _insert_after(document, layers: CommentedSeq) -> CommentedSeq:
    inserts = document.tree.get("insert_after") or {}
    if not isinstance(inserts, dict):
        raise SpecError(_at(document, ("insert_after",), "`insert_after` must map layer names to lists of layers",
                            hint="for example insert_after: {relu5: [{type: dropout, p: 0.1}]}"))
    result = CommentedSeq(layers)
    _copy_seq_positions(layers, result)
    for name, new_layers in inserts.items():
        if not isinstance(new_layers, list):
            raise SpecError(_at(document, ("insert_after", name), "a list of layers is expected here",
                                hint="for example relu5: [{type: dropout, p: 0.1}]"))
        index = _find(document, result, name, ("insert_after", name)) + 1
        positions = {i: _positions(result).get(i, [0, 0]) for i in range(len(result))}
        for offset, layer in enumerate(new_layers):
            result.insert(index + offset, layer)
        shift = len(new_layers)
        table = _positions(result)
        table.clear()
        for i in range(len(result)):
            if i < index:
                table[i] = positions[i]
            elif i < index + shift:
                table[i] = _positions(new_layers).get(i - index, [0, 0]) if isinstance(new_layers, CommentedSeq) else [0, 0]
            else:
                table[i] = positions[i - shift]
    return result


def _reject_orphan_directives(document: yaml_source.SourceDocument) -> None:
    for key in ("overrides", "remove", "insert_after"):
        if key in document.tree:
            raise SpecError(_at(document, (key,), f"`{key}` needs `extends`", at_key=True,
                                hint="add `extends: base.yaml` naming the spec this one changes"))


def _at(document, path, message, at_key=False, **kwargs) -> Diagnostic:
    file, line, column = document.locate(path, at_key=at_key)
    return Diagnostic(message, file=file, line=line, column=column, **kwargs)


def _positions(node) -> dict:
    """ruamel's per-key (or per-index) positions of a container, created empty when absent."""
    if node.lc.data is None:
        node.lc.data = {}
    return node.lc.data


def _copy_position(source: CommentedMap, target: CommentedMap, key) -> None:
    if isinstance(source, CommentedMap) and key in _positions(source):
        _positions(target)[key] = _positions(source)[key]


def _copy_positions_all(source, target: CommentedMap) -> None:
    if isinstance(source, CommentedMap):
        for key in source:
            _copy_position(source, target, key)


def _copy_seq_positions(source, target: CommentedSeq) -> None:
    if isinstance(source, CommentedSeq):
        _positions(target).update(_positions(source))
        target.lc.line, target.lc.col = source.lc.line, source.lc.col
