"""The fast path of spec reading: libyaml's C parser (ruamel.yaml.clib) with the round-trip loader's results.

ruamel's pure-Python round-trip loader takes about 4 s for a 10,000-layer spec, nearly all of it scanning and
parsing. Here libyaml (the C parser ruamel ships as ruamel.yaml.clib) produces the events, and the tree is built from
them directly: the same CommentedMap/CommentedSeq with the same `.lc` positions, and scalars resolved by the YAML 1.2
rules and constructed by ruamel's round-trip constructor, so every value has the type and value that the pure loader
gives it.

The fast path covers the plain YAML that specs are written in. Anything else is declined (`compose` returns None) and
`yaml_source.parse` takes the pure path, whose results and error messages stay the reference: invalid YAML, anchors and
aliases (merges, the alias-expansion bound), tags and directives, tabs and Unicode line separators, empty values,
block scalars (`|`, `>`), keys that are not strings, duplicate keys, and anything past the bounds of limits.py.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from alexnet_spec import limits

try:  # ruamel.yaml.clib is a dependency; without it (a platform with no wheel) every spec takes the pure path
    from _ruamel_yaml import CParser
except ImportError:  # pragma: no cover - the wheel exists for every platform CI runs on
    CParser = None

_STR, _INT = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int"
# What the fast path constructs: strings itself, these through ruamel's round-trip constructor. Timestamps, merge
# keys (`<<`) and the rest are declined.
_CONSTRUCTED_TAGS = frozenset({"tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", _INT, "tag:yaml.org,2002:float"})
# A directive line (%YAML 1.1 changes how plain scalars resolve, %TAG what tags mean): declined before parsing.
_DIRECTIVE = re.compile("(?:^|[\r\n])%")
# libyaml takes NEL and the Unicode line and paragraph separators for line breaks (YAML 1.1) and accepts tabs in places
# where ruamel refuses them: such texts are declined before parsing.
_PURE_ONLY_CHARACTERS = ("\t", "\x85", "\u2028", "\u2029")


def _implicit_resolvers() -> dict[str, list[tuple[str, re.Pattern]]]:
    """ruamel's YAML 1.2 implicit resolvers by first character, as (tag, compiled pattern).

    VersionedResolver.resolve looks the version up through its loader and unwraps a lazily compiled pattern on every
    call, which costs more than parsing; the table itself is the one it uses.
    """
    table = VersionedResolver(version=(1, 2)).versioned_resolver
    return {first: [(tag, pattern.lazy_self()) for tag, pattern in entries] for first, entries in table.items()}


_RESOLVERS = _implicit_resolvers()
_ANY_FIRST = _RESOLVERS.get(None, [])


def _resolve_plain(value: str) -> str:
    """The tag a plain (unquoted, untagged) scalar resolves to, as ruamel's VersionedResolver for YAML 1.2 gives it."""
    for tag, pattern in _RESOLVERS.get(value[0] if value else "", []) + _ANY_FIRST:
        if pattern.match(value):
            return tag
    return _STR


class _Declined(Exception):
    """The text uses something the fast path leaves to the pure loader."""


class _Version12:
    processing_version = (1, 2)  # what the pure loader uses when the text has no %YAML directive


class _LoaderShim:
    """What ruamel's round-trip constructor asks of its loader when constructing a scalar."""

    typ = "rt"
    comment_handling = None
    resolver = _Version12()


def compose(text: str) -> CommentedMap | None:
    """The document as the round-trip loader would give it, or None where the fast path declines the text."""
    if CParser is None or any(character in text for character in _PURE_ONLY_CHARACTERS) or _DIRECTIVE.search(text):
        return None
    try:
        return _Builder(text).document()
    except _Declined:
        return None
    except (YAMLError, ValueError, TypeError, AttributeError, OverflowError):
        return None  # libyaml's error, or a constructor's: the pure loader reports it in its own words and position


class _Builder:
    """Reads libyaml's events one by one into the round-trip tree; raises _Declined at anything it leaves out."""

    def __init__(self, text: str):
        self.next_event = CParser(text).get_event
        self.constructor = RoundTripConstructor(loader=_LoaderShim())
        self.nodes = 0
        self.resolved: dict[str, str] = {}  # plain scalar text -> tag: a spec repeats the same few values
        self.reused: dict[tuple[str, str], Any] = {}  # (tag, text) -> an immutable built-in value already constructed

    def document(self) -> CommentedMap | None:
        self.next_event()  # stream start
        if not isinstance(self.next_event(), DocumentStartEvent):
            return None  # an empty stream: the pure loader says the spec is empty
        event = self.next_event()
        if not isinstance(event, MappingStartEvent):
            return None  # a list or a scalar: the pure loader says what the spec must be
        root = self.node(event, depth=1)
        if not isinstance(self.next_event(), DocumentEndEvent) or not isinstance(self.next_event(), StreamEndEvent):
            return None  # more than one document
        return root

    def node(self, event, depth: int) -> Any:
        # ruamel's composer counts every node, scalars included, against max_depth; so does the alias bound.
        self.nodes += 1
        if depth > limits.MAX_YAML_DEPTH or self.nodes > limits.MAX_YAML_NODES:
            raise _Declined
        kind = type(event)
        if kind not in (ScalarEvent, MappingStartEvent, SequenceStartEvent) or event.anchor is not None \
                or event.tag is not None:
            raise _Declined  # an alias, an anchor or a tag
        if kind is ScalarEvent:
            return self.scalar(event)
        if kind is MappingStartEvent:
            return self.mapping(event, depth)
        if kind is SequenceStartEvent:
            return self.sequence(event, depth)

    def mapping(self, start, depth: int) -> CommentedMap:
        mapping = CommentedMap()
        line_col = mapping.lc
        line_col.line, line_col.col = start.start_mark.line, start.start_mark.column
        positions = {}
        while True:
            event = self.next_event()
            if type(event) is MappingEndEvent:
                break
            if type(event) is not ScalarEvent or event.anchor is not None or event.tag is not None \
                    or (event.style == "" and self.tag(event) != _STR):
                raise _Declined  # a key that is a list, a mapping, a number, null, or `<<`
            key = self.string(event)
            if key in positions:
                raise _Declined  # the pure loader reports the duplicate key
            key_mark, value_event = event.start_mark, self.next_event()
            self.nodes += 1
            value = self.node(value_event, depth + 1)
            positions[key] = [key_mark.line, key_mark.column, value_event.start_mark.line, value_event.start_mark.column]
            mapping[key] = value
        if positions:  # as ruamel: an empty mapping has no position table
            line_col.data = positions
        _set_collection_style(mapping, start)
        return mapping

    def sequence(self, start, depth: int) -> CommentedSeq:
        sequence = CommentedSeq()
        line_col = sequence.lc
        line_col.line, line_col.col = start.start_mark.line, start.start_mark.column
        positions = {}
        while True:
            event = self.next_event()
            if type(event) is SequenceEndEvent:
                break
            positions[len(sequence)] = [event.start_mark.line, event.start_mark.column]
            sequence.append(self.node(event, depth + 1))
        if positions:
            line_col.data = positions
        _set_collection_style(sequence, start)
        return sequence

    def tag(self, event) -> str:
        if event.style != "":  # quoted or a block scalar: always a string
            return _STR
        value = event.value
        tag = self.resolved.get(value)
        if tag is None:
            tag = self.resolved[value] = _resolve_plain(value)
        return tag

    def scalar(self, event) -> Any:
        if event.value == "" and event.style == "":
            raise _Declined  # an empty value: libyaml places it after the colon, ruamel at the next token
        tag = self.tag(event)
        if tag == _STR:
            return self.string(event)
        if tag not in _CONSTRUCTED_TAGS or (tag == _INT and len(event.value) > limits.MAX_INT_DIGITS):
            raise _Declined
        reused = self.reused.get((tag, event.value))
        if reused is not None:
            return reused
        value = self.constructor.yaml_constructors[tag](
            self.constructor, ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=None))
        if type(value) in (int, bool):  # ruamel's own classes (ScalarFloat, HexInt, ...) are made fresh each time
            self.reused[(tag, event.value)] = value
        return value

    def string(self, event) -> str:
        if event.style in ("|", ">"):
            # Block scalars: libyaml accepts headers that ruamel refuses (`|# note`), and ruamel records fold points.
            raise _Declined
        return event.value


def _set_collection_style(data, start) -> None:
    """As RoundTripConstructor.set_collection_style: dumping the tree keeps flow and block style."""
    if len(data) == 0:
        return
    if start.flow_style is True:
        data.fa.set_flow_style()
    elif start.flow_style is False:
        data.fa.set_block_style()

