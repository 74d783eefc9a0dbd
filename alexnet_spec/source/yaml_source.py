"""Reading spec files: safe YAML loading that keeps line and column of every key, value and item."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import ScalarNode, SequenceNode

from alexnet_spec import limits
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.source import fast_yaml

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


def read_text(path: str | Path, *, max_bytes: int = limits.MAX_SPEC_BYTES, what: str = "spec") -> str:
    """The text of a regular file of at most `max_bytes`, or a SpecError naming the file (never its contents).

    Directories, devices, FIFOs and sockets are refused before reading: a FIFO or a terminal would block forever and
    /dev/zero never ends. The file is opened without blocking and checked again once open, so that it cannot be
    swapped for a FIFO in between; at most `max_bytes` + 1 bytes are read.
    """
    name = str(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SpecError(Diagnostic("no such file", file=name, hint=f"check the path; {what} files end in "
                                   f"{_SUFFIX_WORDS.get(what, '.yaml')}")) from None
    except IsADirectoryError:
        raise SpecError(_not_a_file(name, "a directory", what)) from None
    except OSError as error:
        raise SpecError(Diagnostic(f"cannot read the file ({error.strerror})", file=name)) from None
    kind = _file_kind(os.fstat(descriptor).st_mode)
    if kind is not None:
        os.close(descriptor)
        raise SpecError(_not_a_file(name, kind, what))
    with os.fdopen(descriptor, "rb") as stream:
        try:
            raw = stream.read(max_bytes + 1)
        except OSError as error:
            raise SpecError(Diagnostic(f"cannot read the file ({error.strerror})", file=name)) from None
    if len(raw) > max_bytes:
        raise SpecError(Diagnostic(f"the file is larger than {max_bytes:,} bytes", file=name,
                                   expected=f"a {what} file of at most {max_bytes:,} bytes",
                                   hint=f"{what} files are small text files (specs/alexnet.yaml is 3 KB); is this "
                                        "the right file?"))
    if b"\x00" in raw:
        raise SpecError(Diagnostic(f"binary file, not {_TEXT_WORDS.get(what, 'YAML text')}", file=name,
                                   expected=f"a UTF-8 {what} file",
                                   hint=_BINARY_HINTS.get(what, "is this a weights file? specs are .yaml text files")))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise SpecError(Diagnostic("the file is not valid UTF-8 text", file=name, line=line, column=1,
                                   expected=f"a UTF-8 {what} file", hint="save the file as UTF-8")) from None


_SUFFIX_WORDS = {"spec": ".yaml", "prototxt": ".prototxt"}
_TEXT_WORDS = {"spec": "YAML text", "prototxt": "a prototxt"}
_BINARY_HINTS = {"prototxt": "a .caffemodel holds weights; import the deploy.prototxt beside it"}


def _file_kind(mode: int) -> str | None:
    """None for a regular file; otherwise what it is, in words."""
    if stat.S_ISREG(mode):
        return None
    for test, words in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "not a regular file"


def _not_a_file(name: str, kind: str, what: str) -> Diagnostic:
    # One line, as every ordinary I/O problem: the path and what it is say everything.
    return Diagnostic(f"is {kind}, not a {what} file", file=name)


class LimitError(MarkedYAMLError):
    """A bound of limits.py hit while composing the YAML tree: `problem` says which, at `problem_mark`."""

    def __init__(self, problem: str, mark, hint: str):
        super().__init__(None, None, problem, mark)
        self.hint = hint


class _BoundedComposer(Composer):
    """ruamel's composer, refusing integers with too many digits and trees that aliases make too large.

    ruamel itself keeps an alias as a second reference to one node, so the text parses in linear time; but everything
    after parsing (plain data, validation, `extends` merging) walks the tree with each alias expanded, and nested
    aliases grow that tree exponentially (the "billion laughs"). So the expanded size is counted here, on the node
    graph, with each node's size computed once.
    """

    def compose_node(self, parent, index):
        event = self.parser.peek_event()
        tag = getattr(event, "ctag", None)
        if tag is not None and str(tag) != "!":  # !!set, !!binary, !python/...: ruamel's constructors may fail on them
            raise LimitError(f"an explicit YAML tag ({str(tag)[:40]})", event.start_mark,
                             hint="the spec language has no tags: write the value plainly")
        return super().compose_node(parent, index)

    def compose_scalar_node(self, anchor):
        node = super().compose_scalar_node(anchor)
        if str(node.tag).endswith(":int") and len(node.value) > limits.MAX_INT_DIGITS:
            raise LimitError(f"an integer of {len(node.value):,} characters", node.start_mark,
                             hint=f"integers have at most {limits.MAX_INT_DIGITS} digits; sizes are at most "
                                  f"{limits.MAX_SIZE:,}")
        return node

    def get_single_node(self):
        document = super().get_single_node()
        if document is not None:
            _expanded_size(document)
        return document


def _expanded_size(root) -> int:
    """Nodes of the tree under `root` with every alias expanded; a LimitError past MAX_YAML_NODES or for an alias
    inside the node it names (an infinite tree)."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise LimitError("an alias refers to a node that contains it: the tree would be infinite",
                             node.start_mark, hint="an alias (*name) can only repeat a node defined before it")
        if isinstance(node, ScalarNode):
            total = 1
        else:
            in_progress.add(key)
            children = node.value if isinstance(node, SequenceNode) else [part for pair in node.value for part in pair]
            total = 1 + sum(size(child) for child in children)
            in_progress.discard(key)
        if total > limits.MAX_YAML_NODES:
            raise LimitError(f"with its aliases expanded, this makes more than {limits.MAX_YAML_NODES:,} YAML nodes",
                             node.start_mark, hint="aliases (*name) repeat whole subtrees; a spec needs far fewer "
                                                   "nodes (specs/alexnet.yaml has about 200)")
        sizes[key] = total
        return total

    return size(root)


def parse(text: str, file: str = "<spec>") -> SourceDocument:
    """Parse YAML text safely (no arbitrary tags), keeping positions; errors become SpecError.

    The bounds of limits.py apply: nesting depth, integer length, and the size of the tree with aliases expanded.
    Plain YAML is read by libyaml (fast_yaml); anything else by ruamel's pure loader, which gives every error.
    """
    if len(text.encode("utf-8")) > limits.MAX_SPEC_BYTES:
        raise SpecError(Diagnostic(f"the spec is larger than {limits.MAX_SPEC_BYTES:,} bytes", file=file,
                                   expected=f"a spec of at most {limits.MAX_SPEC_BYTES:,} bytes"))
    tree = fast_yaml.compose(text)
    if tree is None:
        tree = _load_pure(text, file)
    if not isinstance(tree, CommentedMap):
        raise SpecError(Diagnostic(f"the spec must be a mapping, not a {_yaml_kind(tree)}", file=file, line=1, column=1,
                                   expected="a mapping with name, input and layers",
                                   hint="start from specs/alexnet.yaml"))
    return SourceDocument(file=file, text=text, tree=tree)


def _load_pure(text: str, file: str) -> Any:
    """ruamel's pure round-trip loader: the reference for every result and every error of `parse`."""
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    yaml.Composer = _BoundedComposer
    yaml.max_depth = limits.MAX_YAML_DEPTH
    try:
        tree = yaml.load(text)
    except LimitError as error:
        raise SpecError(_marked(error, file, error.problem, error.hint)) from None
    except MaxDepthExceededError as error:
        raise SpecError(_marked(error, file, f"mappings and lists nested more than {limits.MAX_YAML_DEPTH} deep",
                                "a spec nests at most a few levels (layers, a layer, its init)")) from None
    except MarkedYAMLError as error:
        problem = (error.problem or error.context or "invalid YAML").strip()
        raise SpecError(_marked(error, file, f"invalid YAML: {problem}",
                                "check indentation, colons and quoting around this position")) from None
    except YAMLError as error:
        raise SpecError(Diagnostic(f"invalid YAML: {error}", file=file)) from None
    except (ValueError, TypeError, AttributeError, OverflowError) as error:  # a constructor of ruamel's failed
        raise SpecError(Diagnostic(f"invalid YAML: a value cannot be read ({type(error).__name__})", file=file,
                                   hint="write numbers, strings, lists and mappings plainly")) from None
    if tree is None:
        raise SpecError(Diagnostic("the spec is empty", file=file, line=1, column=1,
                                   expected="a mapping with name, input and layers",
                                   hint="start from specs/alexnet.yaml"))
    return tree


def _marked(error: MarkedYAMLError, file: str, message: str, hint: str) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return Diagnostic(message, file=file, line=line, column=col, hint=hint)


def read_document(path: str | Path) -> SourceDocument:
    return parse(read_text(path), str(path))


_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})


def to_plain(node: Any) -> Any:
    """ruamel's round-trip containers and scalars as plain dicts, lists, ints, floats, strings."""
    if type(node) in _PLAIN_SCALARS:  # most of a spec's values: already plain, returned as the checks below would
        return node
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
