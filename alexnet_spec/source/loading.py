"""From a spec file to a validated spec and a resolved network, with every error located in the file."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from pathlib import Path
from typing import Sequence

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from alexnet_spec.source import yaml_source
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.passes import resolve
from alexnet_spec.source.overrides import apply_overrides
from alexnet_spec.resolved import ResolvedNetwork
from alexnet_spec.spec.network import NetworkSpec
from alexnet_spec.source.pydantic_errors import diagnostics_from
from alexnet_spec.source.variants import expand


def locate(diagnostics: list[Diagnostic], document: yaml_source.SourceDocument) -> list[Diagnostic]:
    """Fill in file, line and column from each diagnostic's spec path. A value written by a variant's `overrides`
    or by `--set` is reported where the user wrote it, with the base line it changed as a detail."""
    located = []
    for d in diagnostics:
        if d.line is None and d.file in ("<spec>", document.file):
            file, line, column = document.locate(d.path, at_key=d.at_key)
            found = document.edit_at(d.path)
            if found is not None:
                edited_path, edit = found
                if not (len(d.path) > len(edited_path) and _has_positions(document, edited_path)):
                    file, line, column = _edit_position(edit, at_key=d.at_key and d.path == edited_path)
                d = dataclasses.replace(d, details=d.details + ((edit.changes,) if edit.changes else ()))
            d = dataclasses.replace(d, file=file, line=line, column=column)
        located.append(d)
    return located


def _edit_position(edit: yaml_source.Edit, at_key: bool) -> tuple[str, int | None, int | None]:
    if at_key and edit.key_line is not None:
        return edit.file, edit.key_line, edit.key_column
    return edit.file, edit.line, edit.column


def _has_positions(document: yaml_source.SourceDocument, path: tuple) -> bool:
    """Whether the value at `path` is a mapping or list read from a file (so positions inside it are exact)."""
    node = document.tree
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(node, (CommentedMap, CommentedSeq)) and node.lc.line is not None


def validate_document(document: yaml_source.SourceDocument,
                      overrides: Sequence[str] = ()) -> tuple[NetworkSpec, yaml_source.SourceDocument]:
    """The validated spec, and the document after `extends` and `--set` (whose positions its errors use)."""
    document = apply_overrides(expand(document), list(overrides))
    data = yaml_source.to_plain(document.tree)
    try:
        return NetworkSpec.model_validate(data), document
    except ValidationError as error:
        raise SpecError(locate(diagnostics_from(error, data), document)) from None


def resolve_document(document: yaml_source.SourceDocument, overrides: Sequence[str] = ()) -> ResolvedNetwork:
    spec, document = validate_document(document, overrides)
    try:
        return dataclasses.replace(resolve(spec, document.file), overrides=tuple(overrides))
    except SpecError as error:
        raise SpecError(locate(error.diagnostics, document)) from None


@contextlib.contextmanager
def _cyclic_gc_paused():
    """Reading a large spec allocates hundreds of thousands of objects that all stay alive until the network is
    resolved, and the cyclic collector walks them again and again meanwhile: half the time of a 10,000-layer spec.
    Reference counting still frees everything as usual; the collector runs again as soon as the load is over."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_network(path: str | Path, overrides: Sequence[str] | None = ()) -> ResolvedNetwork:
    """Read, validate and resolve a spec file; any problem is a SpecError located in the file (or `--set`)."""
    with _cyclic_gc_paused():
        return resolve_document(yaml_source.read_document(path), overrides or ())


def parse_network(text: str, file: str = "<spec>", overrides: Sequence[str] = ()) -> ResolvedNetwork:
    with _cyclic_gc_paused():
        return resolve_document(yaml_source.parse(text, file), overrides)
