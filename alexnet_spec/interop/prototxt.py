"""A parser of protobuf's text format, as Caffe's .prototxt files use it, that keeps the line and column of every
field and value so that errors point into the file.

No schema and no Caffe: a message is a list of fields, each holding a scalar (int, float, string or an unquoted
word: an enum value, true/false, inf) or a nested message. What each field means is caffe.py's business.

    name: "AlexNet"                       # comments run to the end of the line
    layer {                               # `layer: { ... }` and `layer < ... >` are the same
      convolution_param { kernel_size: 11 stride: 4 }
      shape { dim: [1, 3, 227, 227] }     # a list is the repeated field written once per element
    }
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from alexnet_spec.errors import Diagnostic, SpecError

TOKEN = re.compile(r"""
    (?P<space>[ \t\r\n\f\v]+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?[fF]?)(?![A-Za-z0-9_.]))
  | (?P<word>-?[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[{}<>\[\]:,;])
""", re.VERBOSE)

UNTERMINATED_STRING = re.compile(r"""["']""")
OCTAL_ESCAPE = re.compile(r"[0-7]{1,3}")
HEX_ESCAPE = re.compile(r"[xX]([0-9a-fA-F]{1,2})")
CLOSING = {"{": "}", "<": ">"}
MAX_DEPTH = 32  # nested blocks (Caffe's nest a few levels: layer, its parameters, a filler)
MAX_NUMBER_CHARACTERS = 64  # Python refuses to convert integers of more than 4,300 digits; no Caffe field needs 64
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\\": "\\", "'": "'",
           '"': '"', "?": "?"}


@dataclass(frozen=True)
class Word:
    """An unquoted identifier value: an enum value such as MAX, true/false, inf or nan."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Field:
    """`name: value` or `name { ... }`, with the 1-based position of the name and of the value."""

    name: str
    value: object  # int, float, str, Word or Message
    line: int
    column: int
    value_line: int
    value_column: int
    raw: str  # the value's text as written ("{" for a message)


@dataclass
class Message:
    """The fields of one block, in file order; `line`/`column` are those of its opening brace (1, 1 for the file)."""

    fields: list[Field] = field(default_factory=list)
    line: int = 1
    column: int = 1

    def all(self, name: str) -> list[Field]:
        return [item for item in self.fields if item.name == name]

    def first(self, name: str) -> Field | None:
        for item in self.fields:
            if item.name == name:
                return item
        return None


@dataclass(frozen=True)
class _Token:
    kind: str  # space is dropped; string, number, word, punct, end
    text: str
    line: int
    column: int


def _tokens(text: str, file: str) -> list[_Token]:
    tokens, position, line, line_start = [], 0, 1, 0
    while position < len(text):
        match = TOKEN.match(text, position)
        column = position - line_start + 1
        if match is None:
            character = text[position]
            if UNTERMINATED_STRING.match(character):
                raise SpecError(Diagnostic("this string is never closed on its line", file=file, line=line,
                                           column=column, expected=f"a closing {character} before the end of the line",
                                           hint="strings cannot span lines; escape a quote inside it as "
                                                "\\" + character))
            raise SpecError(Diagnostic(f"unexpected character {character!r}", file=file, line=line, column=column,
                                       expected="a field name, a value, or one of { } < > [ ] : , ;",
                                       hint="is this a Caffe .prototxt (protobuf text format) file?"))
        kind = match.lastgroup
        if kind != "space":
            tokens.append(_Token(kind, match.group(), line, column))
        newlines = match.group().count("\n")
        if newlines:
            line += newlines
            line_start = match.start() + match.group().rindex("\n") + 1
        position = match.end()
    tokens.append(_Token("end", "", line, position - line_start + 1))
    return tokens


def parse(text: str, file: str = "<prototxt>") -> Message:
    """The top-level message of a protobuf text-format document; a SpecError at file:line:column otherwise."""
    return _Parser(_tokens(text, file), file).document()


class _Parser:
    def __init__(self, tokens: list[_Token], file: str):
        self.tokens, self.file, self.index = tokens, file, 0
        self.depth = 0  # open blocks; bounded, as the parser recurses into each

    def error(self, token: _Token, message: str, expected: str | None = None, hint: str | None = None) -> SpecError:
        return SpecError(Diagnostic(message, file=self.file, line=token.line, column=token.column, expected=expected,
                                    hint=hint))

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_punct(self, token: _Token, characters: str) -> bool:
        return token.kind == "punct" and token.text in characters

    def document(self) -> Message:
        message = self.fields(Message(), opening=None)
        return message

    def fields(self, message: Message, opening: _Token | None) -> Message:
        """Fields up to the closing bracket of `opening` (the end of the file for the top level)."""
        if opening is not None and self.depth >= MAX_DEPTH:
            raise self.error(opening, f"blocks nested more than {MAX_DEPTH} deep",
                             hint="Caffe's messages nest a few levels (layer, its parameters, a filler)")
        self.depth += 1
        try:
            return self._fields(message, opening)
        finally:
            self.depth -= 1

    def _fields(self, message: Message, opening: _Token | None) -> Message:
        closing = CLOSING[opening.text] if opening else None
        while True:
            token = self.peek()
            if token.kind == "end":
                if opening is not None:
                    raise self.error(opening, f"this '{opening.text}' is never closed",
                                     expected=f"a matching '{closing}' before the end of the file",
                                     hint="count the braces of this block; a '}' is missing at its end")
                return message
            if self.is_punct(token, "}>"):
                self.take()
                if opening is None:
                    raise self.error(token, f"'{token.text}' closes no open block",
                                     hint="remove it, or add the '{' it was meant to close")
                if token.text != closing:
                    raise self.error(token, f"'{token.text}' closes the '{opening.text}' opened at line "
                                            f"{opening.line}, column {opening.column}", expected=f"'{closing}'")
                return message
            if self.is_punct(token, ",;"):  # optional field separators
                self.take()
                continue
            message.fields.extend(self.field())

    def field(self) -> list[Field]:
        name = self.take()
        if name.kind != "word" or name.text.startswith("-"):
            if self.is_punct(name, "["):
                raise self.error(name, "extension fields ([package.name]) are not supported",
                                 hint="Caffe's own fields are plain names")
            raise self.error(name, f"expected a field name, found {name.text!r}",
                             hint="a field is `name: value` or `name { ... }`")
        separator = self.peek()
        has_colon = self.is_punct(separator, ":")
        if has_colon:
            self.take()
        value = self.peek()
        if self.is_punct(value, "{<"):
            self.take()
            block = self.fields(Message(line=value.line, column=value.column), value)
            return [Field(name.text, block, name.line, name.column, value.line, value.column, value.text)]
        if not has_colon:
            raise self.error(value if value.kind != "end" else name,
                             f"field {name.text!r} needs ':' before its value",
                             hint=f"write `{name.text}: VALUE` or `{name.text} {{ ... }}`")
        if self.is_punct(value, "["):
            self.take()
            return self.list(name, value)
        return [Field(name.text, self.scalar(name), name.line, name.column, value.line, value.column, value.text)]

    def list(self, name: _Token, opening: _Token) -> list[Field]:
        """`name: [a, b, c]`: one field per element, each at its element's position."""
        items = []
        if self.is_punct(self.peek(), "]"):
            self.take()
            return items
        while True:
            value = self.peek()
            if self.is_punct(value, "{<"):
                self.take()
                block = self.fields(Message(line=value.line, column=value.column), value)
                items.append(Field(name.text, block, name.line, name.column, value.line, value.column, value.text))
            else:
                items.append(Field(name.text, self.scalar(name), name.line, name.column, value.line, value.column,
                                   value.text))
            after = self.take()
            if self.is_punct(after, "]"):
                return items
            if not self.is_punct(after, ","):
                raise self.error(after, f"expected ',' or ']' in the list of {name.text!r}",
                                 hint=f"the list opened at line {opening.line}, column {opening.column}")

    def scalar(self, name: _Token):
        token = self.take()
        if token.kind == "string":
            parts = [_unescape(token.text[1:-1])]
            while self.peek().kind == "string":  # adjacent strings concatenate, as in C
                parts.append(_unescape(self.take().text[1:-1]))
            return "".join(parts)
        if token.kind == "word":
            return Word(token.text)
        if token.kind == "number":
            if len(token.text.lstrip("+-")) > MAX_NUMBER_CHARACTERS:
                raise self.error(token, f"a number of {len(token.text):,} characters",
                                 expected=f"at most {MAX_NUMBER_CHARACTERS} characters",
                                 hint="no Caffe field needs a number this long")
            return _number(token.text)
        found = "the end of the file" if token.kind == "end" else repr(token.text)
        raise self.error(token, f"field {name.text!r} has no value: found {found}",
                         expected="a number, a \"string\", an enum word or a { block }",
                         hint=f"write `{name.text}: VALUE` or `{name.text} {{ ... }}`")


def _number(text: str) -> int | float:
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if body[:2].lower() == "0x":
        return sign * int(body, 16)
    if re.fullmatch(r"\d+", body):
        if len(body) > 1 and body.startswith("0"):  # protobuf reads a leading 0 as octal
            return sign * int(body, 8) if re.fullmatch(r"[0-7]+", body) else float(text)
        return sign * int(body)
    return float(text.rstrip("fF"))


def _unescape(body: str) -> str:
    """C escapes as protobuf's text format has them; the bytes are UTF-8."""
    out, index = bytearray(), 0
    while index < len(body):
        character = body[index]
        if character != "\\":
            out += character.encode("utf-8")
            index += 1
            continue
        following = body[index + 1]
        # Matched in place: slicing the rest of the string at every escape was quadratic in its length.
        octal = OCTAL_ESCAPE.match(body, index + 1)
        hexadecimal = HEX_ESCAPE.match(body, index + 1)
        if octal:
            out.append(int(octal.group(), 8) & 0xFF)
            index += 1 + len(octal.group())
        elif hexadecimal:
            out.append(int(hexadecimal.group(1), 16))
            index += 1 + len(hexadecimal.group())
        else:
            out += ESCAPES.get(following, "\\" + following).encode("utf-8")
            index += 2
    return out.decode("utf-8", errors="replace")
