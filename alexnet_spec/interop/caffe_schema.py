"""BVLC Caffe's own schema, read from the caffe.proto shipped beside this file (proto/caffe.proto, BSD 2-clause,
copyright the Regents of the University of California and the Caffe contributors: proto/LICENSE).

Two uses:
- `fields(message)`: every field caffe.proto declares, so that the prototxt import tells a misspelled field (an
  error with the nearest name) from a real field the spec cannot express (an error saying so); nothing is dropped.
- `message_class("NetParameter")`: a protobuf message class built at run time from the same file (a
  FileDescriptorProto given to protobuf's descriptor pool), to decode binary `.caffemodel` files. No generated
  `caffe_pb2.py`: generated code is tied to the protobuf runtime version that generated it, and this way the
  schema that checks prototxt fields is the one that decodes weights.

caffe.proto is proto2 with messages, enums nested in messages, scalar and message fields, `[default = ...]` and
`[packed = true]`; the small parser below reads exactly that and refuses anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

TOKEN = re.compile(r"""\s+|//[^\n]*|/\*.*?\*/|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_][A-Za-z0-9_.]*"""
                   r"""|-?[0-9.][0-9.eE+-]*|[{}=;\[\],<>]""", re.DOTALL)
SCALARS = {"double": "float", "float": "float", "int32": "int", "int64": "int", "sint32": "int", "sint64": "int",
           "sfixed32": "int", "sfixed64": "int", "uint32": "uint", "uint64": "uint", "fixed32": "uint",
           "fixed64": "uint", "bool": "bool", "string": "string", "bytes": "string"}


@dataclass(frozen=True)
class ProtoField:
    name: str
    number: int
    label: str  # optional, repeated, required
    type: str  # a scalar type, or a message or enum name as written
    options: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Schema:
    messages: dict[str, dict[str, ProtoField]]  # message -> field name -> field
    enums: dict[str, dict[str, int]]  # "Message.Enum" (or "Enum") -> value name -> number
    package: str


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"caffe.proto: unexpected text at offset {position}: {text[position:position + 20]!r}")
        token = match.group()
        position = match.end()
        if not (token.isspace() or token.startswith("//") or token.startswith("/*")):
            tokens.append(token)
    return tokens


def parse_proto(text: str) -> Schema:
    """The messages and enums of a proto2 file in caffe.proto's subset of the language."""
    tokens, messages, enums, package = _tokens(text), {}, {}, ""
    position = 0

    def take(expected: str | None = None) -> str:
        nonlocal position
        token = tokens[position]
        if expected is not None and token != expected:
            raise ValueError(f"caffe.proto: expected {expected!r}, found {token!r}")
        position += 1
        return token

    def enum(qualified: str) -> None:
        take("{")
        values = {}
        while tokens[position] != "}":
            name = take()
            take("=")
            values[name] = int(take())
            take(";")
        take("}")
        enums[qualified] = values

    while position < len(tokens):
        keyword = take()
        if keyword in ("syntax", "option"):
            while take() != ";":
                pass
        elif keyword == "package":
            package = take()
            take(";")
        elif keyword == "enum":
            enum(take())
        elif keyword == "message":
            message = take()
            take("{")
            fields = {}
            while tokens[position] != "}":
                label = take()
                if label == "enum":
                    enum(f"{message}.{take()}")
                    continue
                if label not in ("optional", "repeated", "required"):
                    raise ValueError(f"caffe.proto: message {message}: unsupported {label!r}")
                kind, name = take(), take()
                take("=")
                number = int(take())
                options = []
                if tokens[position] == "[":
                    take("[")
                    while True:
                        key = take()
                        take("=")
                        options.append((key, take()))
                        if take() == "]":
                            break
                take(";")
                fields[name] = ProtoField(name, number, label, kind, tuple(options))
            take("}")
            messages[message] = fields
        else:
            raise ValueError(f"caffe.proto: unsupported top-level {keyword!r}")
    return Schema(messages, enums, package)


@cache
def schema() -> Schema:
    return parse_proto(resources.files("alexnet_spec.interop").joinpath("proto/caffe.proto").read_text("utf-8"))


def enum_name(message: str, kind: str) -> str | None:
    """The qualified name of the enum a field of `message` has as its type, if it is an enum."""
    known = schema().enums
    return next((name for name in (f"{message}.{kind}", kind) if name in known), None)


def fields(message: str) -> dict[str, str]:
    """Every field of a caffe.proto message as the prototxt reader's kinds: "int", "uint", "float", "bool",
    "string", an enum's qualified name, or a message name; "*" after a repeated field's kind."""
    result = {}
    for field in schema().messages[message].values():
        kind = SCALARS.get(field.type) or enum_name(message, field.type) or field.type
        result[field.name] = kind + ("*" if field.label == "repeated" else "")
    return result


def enum_values(qualified: str) -> dict[int, str]:
    return {number: name for name, number in schema().enums[qualified].items()}


@cache
def message_class(message: str):
    """A protobuf message class for a caffe.proto message, built at run time (see the module's docstring)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    parsed = schema()
    proto = descriptor_pb2.FileDescriptorProto(name="alexspec_caffe.proto", package=parsed.package, syntax="proto2")
    top_enums = {name: values for name, values in parsed.enums.items() if "." not in name}
    for name, values in top_enums.items():
        _add_enum(proto.enum_type.add(), name, values)
    field_type = descriptor_pb2.FieldDescriptorProto
    labels = {"optional": field_type.LABEL_OPTIONAL, "repeated": field_type.LABEL_REPEATED,
              "required": field_type.LABEL_REQUIRED}
    for message_name, message_fields in parsed.messages.items():
        message_proto = proto.message_type.add(name=message_name)
        for name, values in parsed.enums.items():
            if name.startswith(f"{message_name}."):
                _add_enum(message_proto.enum_type.add(), name.split(".", 1)[1], values)
        for field in message_fields.values():
            entry = message_proto.field.add(name=field.name, number=field.number, label=labels[field.label])
            if field.type in SCALARS:
                entry.type = getattr(field_type, f"TYPE_{field.type.upper()}")
            elif enum_name(message_name, field.type):
                entry.type = field_type.TYPE_ENUM
                entry.type_name = f".{parsed.package}.{enum_name(message_name, field.type)}"
            else:
                entry.type = field_type.TYPE_MESSAGE
                entry.type_name = f".{parsed.package}.{field.type}"
            options = dict(field.options)
            if "default" in options and entry.type != field_type.TYPE_MESSAGE:
                entry.default_value = options["default"].strip("'\"")
            if options.get("packed") == "true":
                entry.options.packed = True
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{parsed.package}.{message}"))


def _add_enum(enum_proto, name: str, values: dict[str, int]) -> None:
    enum_proto.name = name
    for value, number in values.items():
        enum_proto.value.add(name=value, number=number)
