"""From a spec file to a validated spec and a resolved network, with every error located in the file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

from pydantic import ValidationError

from alexnet_spec import yaml_source
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.passes import resolve
from alexnet_spec.passes.overrides import apply_overrides
from alexnet_spec.resolved import ResolvedNetwork
from alexnet_spec.spec.network import NetworkSpec
from alexnet_spec.validation import diagnostics_from
from alexnet_spec.variants import expand


def locate(diagnostics: list[Diagnostic], document: yaml_source.SourceDocument) -> list[Diagnostic]:
    """Fill in file, line and column from each diagnostic's spec path."""
    located = []
    for d in diagnostics:
        if d.line is None and d.file in ("<spec>", document.file):
            file, line, column = document.locate(d.path, at_key=d.at_key)
            d = dataclasses.replace(d, file=file, line=line, column=column)
        located.append(d)
    return located


def validate_document(document: yaml_source.SourceDocument,
                      overrides: Sequence[str] = ()) -> tuple[NetworkSpec, yaml_source.SourceDocument]:
    """The validated spec, and the document after `extends` and `--set` (whose positions its errors use)."""
    document = expand(document)
    tree = apply_overrides(document.tree, list(overrides))
    data = yaml_source.to_plain(tree)
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


def load_network(path: str | Path, overrides: Sequence[str] = ()) -> ResolvedNetwork:
    """Read, validate and resolve a spec file; any problem is a SpecError located in the file."""
    return resolve_document(yaml_source.load(path), overrides)


def parse_network(text: str, file: str = "<spec>", overrides: Sequence[str] = ()) -> ResolvedNetwork:
    return resolve_document(yaml_source.parse(text, file), overrides)
