"""Reading spec files: safe YAML loading that keeps line and column of every key, value and item."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from alexnet_spec.errors import Diagnostic, SpecError

Position = tuple[int, int]  # 1-based line and column


@dataclass(frozen=True)
class SourceDocument:
    """A parsed YAML document and the file it came from; `tree` keeps ruamel's positions."""

    file: str
    text: str
    tree: Any
    # For a tree merged from several files (`extends`): id of a mapping or sequence -> the file it came from.
    origins: dict[int, str] = field(default_factory=dict)
    # Values written over the tree by a variant's `overrides` or by `--set`: spec path -> where the user wrote it.
    edits: dict[tuple, "Edit"] = field(default_factory=dict)

    def edit_at(self, path: tuple[Any, ...]) -> tuple[tuple, "Edit"] | None:
        """The edit that wrote `path` or a mapping or list above it (the longest such), with its own path."""
        for length in range(len(path), 0, -1):
            if path[:length] in self.edits:
                return path[:length], self.edits[path[:length]]
        return None

    def locate(self, path: tuple[Any, ...], *, at_key: bool = False) -> tuple[str, int, int]:
        """(file, line, column) of `path`; in a merged tree, the file of the deepest node that has a position."""
        node, file = self.tree, self.origins.get(id(self.tree), self.file)
        for part in path:
            if isinstance(node, dict) and isinstance(part, str) and part in node:
                child = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                child = node[part]
            else:
                continue
            if not isinstance(child, (CommentedMap, CommentedSeq)):
                break
            node, file = child, self.origins.get(id(child), file)
        position = self.position(path, at_key=at_key) or (1, 1)
        return file, position[0], position[1]

    def position(self, path: tuple[Any, ...], *, at_key: bool = False) -> Position | None:
        """Where `path` (keys and indices, as in a pydantic `loc`) points in the file.

        Elements of `path` that are not keys or indices at their level (a discriminated union's tag, a
        type name) are skipped, so a pydantic `loc` can be passed as it is. The deepest existing node
        wins; `at_key` points at the key of the last element rather than its value.
        """
        node, position = self.tree, _node_start(self.tree)
        for index, part in enumerate(path):
            last = index == len(path) - 1
            if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
                if part in (node.lc.data or {}):  # a key added by `--set` has no position: keep the mapping's
                    line, col = node.lc.key(part) if (at_key and last) or not _has_value_pos(node, part) \
                        else node.lc.value(part)
                    position = (line + 1, col + 1)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line, col = node.lc.item(part)
                position, node = (line + 1, col + 1), node[part]
        return position

    def line_text(self) -> list[str]:
        return self.text.splitlines()


@dataclass(frozen=True)
class Edit:
    """Where a value that replaces (or adds to) the spec was written: a variant file's `overrides` (with line and
    column) or a `--set` argument (`file` names it, no line); `changes` says which line of the base it replaced."""

    file: str
    line: int | None = None
    column: int | None = None
    key_line: int | None = None
    key_column: int | None = None
    changes: str | None = None  # e.g. "overrides specs/alexnet.yaml:31:41" or "adds a field to ..."


def _has_value_pos(node: CommentedMap, key: str) -> bool:
    try:
        return node.lc.value(key) is not None
    except (KeyError, TypeError):
        return False


def _node_start(node: Any) -> Position | None:
    if isinstance(node, (CommentedMap, CommentedSeq)) and node.lc.line is not None:
        return (node.lc.line + 1, node.lc.col + 1)
    return None


def read_text(path: str | Path) -> str:
    """The file's text, or a SpecError for a missing, unreadable or binary file."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise SpecError(Diagnostic("no such file", file=name, hint="check the path; specs live in files ending in .yaml"))
    except IsADirectoryError:
        raise SpecError(Diagnostic("is a directory, not a spec file", file=name, hint="pass the path of a .yaml file"))
    except OSError as error:
        raise SpecError(Diagnostic(f"cannot read the file ({error.strerror})", file=name))
    if b"\x00" in raw:
        raise SpecError(Diagnostic("binary file, not YAML text", file=name, expected="a UTF-8 YAML spec",
                                   hint="is this a weights file? specs are .yaml text files"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise SpecError(Diagnostic("the file is not valid UTF-8 text", file=name, line=line, column=1,
                                   expected="a UTF-8 YAML spec", hint="save the file as UTF-8"))


def parse(text: str, file: str = "<spec>") -> SourceDocument:
    """Parse YAML text safely (no arbitrary tags), keeping positions; errors become SpecError."""
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = (error.problem or error.context or "invalid YAML").strip()
        raise SpecError(Diagnostic(f"invalid YAML: {problem}", file=file, line=line, column=col,
                                   hint="check indentation, colons and quoting around this position"))
    except YAMLError as error:
        raise SpecError(Diagnostic(f"invalid YAML: {error}", file=file))
    if tree is None:
        raise SpecError(Diagnostic("the spec is empty", file=file, line=1, column=1,
                                   expected="a mapping with name, input and layers",
                                   hint="start from specs/alexnet.yaml"))
    if not isinstance(tree, CommentedMap):
        raise SpecError(Diagnostic(f"the spec must be a mapping, not a {_yaml_kind(tree)}", file=file, line=1, column=1,
                                   expected="a mapping with name, input and layers",
                                   hint="start from specs/alexnet.yaml"))
    return SourceDocument(file=file, text=text, tree=tree)


def load(path: str | Path) -> SourceDocument:
    return parse(read_text(path), str(path))


def to_plain(node: Any) -> Any:
    """ruamel's round-trip containers and scalars as plain dicts, lists, ints, floats, strings."""
    if isinstance(node, dict):
        return {str(key): to_plain(value) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return [to_plain(item) for item in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _yaml_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__
