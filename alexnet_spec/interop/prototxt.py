"""A parser of protobuf's text format as Caffe's .prototxt files use it, keeping the line and column of every field.

No schema and no Caffe: a message is a list of fields, each a scalar (number, string, enum word) or a nested message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from alexnet_spec.errors import Diagnostic, SpecError

TOKEN = re.compile(r"""
    (?P<space>[ \t\r\n]+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?[fF]?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[{}:\[\],;<>])
""", re.VERBOSE)


@dataclass(frozen=True)
class Field:
    name: str
    value: object  # int, float, str, Word (an enum or boolean) or Message
    line: int
    column: int


@dataclass(frozen=True)
class Word:
    """An unquoted identifier value: an enum such as MAX, or true/false."""

    text: str


@dataclass
class Message:
    fields: list[Field] = field(default_factory=list)
    line: int = 1
    column: int = 1

    def all(self, name: str) -> list[Field]:
        return [item for item in self.fields if item.name == name]

    def first(self, name: str) -> Field | None:
        found = self.all(name)
        return found[0] if found else None

    def value(self, name: str, default=None):
        found = self.first(name)
        return default if found is None else found.value


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    line: int
    column: int


def _tokens(text: str, file: str) -> list[_Token]:
    tokens, position, line, line_start = [], 0, 1, 0
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None:
            raise SpecError(Diagnostic(f"unexpected character {text[position]!r}", file=file, line=line,
                                       column=position - line_start + 1, hint="is this a Caffe .prototxt file?"))
        kind = match.lastgroup
        if kind != "space":
            tokens.append(_Token(kind, match.group(), line, position - line_start + 1))
        for newline in re.finditer("\n", match.group()):
            line += 1
            line_start = match.start() + newline.end()
        position = match.end()
    tokens.append(_Token("end", "", line, position - line_start + 1))
    return tokens


def parse(text: str, file: str = "<prototxt>") -> Message:
    tokens = _tokens(text, file)
    index = 0

    def error(token: _Token, message: str, hint: str | None = None) -> SpecError:
        return SpecError(Diagnostic(message, file=file, line=token.line, column=token.column, hint=hint))

    def message(closing: str | None, opened: _Token | None) -> Message:
        nonlocal index
        result = Message(line=opened.line if opened else 1, column=opened.column if opened else 1)
        while True:
            token = tokens[index]
            if token.kind == "end":
                if closing:
                    raise error(opened, "this '{' is never closed", hint="add the missing '}'")
                return result
            if token.kind == "punct" and token.text in "}>":
                if not closing:
                    raise error(token, f"unexpected {token.text!r} with no block open",
                                hint="remove it, or add the missing '{' before")
                index += 1
                return result
            if token.kind == "punct" and token.text in ",;":
                index += 1
                continue
            if token.kind != "word":
                raise error(token, f"expected a field name, found {token.text!r}")
            index += 1
            following = tokens[index]
            if following.kind == "punct" and following.text == ":":
                index += 1
                following = tokens[index]
            if following.kind == "punct" and following.text in "{<":
                index += 1
                value = message("}" if following.text == "{" else ">", following)
            elif following.kind in ("number", "string", "word"):
                index += 1
                value = _scalar(following)
            else:
                raise error(following, f"field {token.text!r} has no value",
                            hint=f"write `{token.text}: VALUE` or `{token.text} {{ ... }}`")
            result.fields.append(Field(token.text, value, token.line, token.column))

    return message(None, None)


def _scalar(token: _Token):
    if token.kind == "string":
        return bytes(token.text[1:-1], "utf-8").decode("unicode_escape")
    if token.kind == "word":
        return Word(token.text)
    number = token.text.rstrip("fF")
    return int(number) if re.fullmatch(r"[-+]?\d+", number) else float(number)
