"""What the importers share: legal layer and model names, numbers as a reader writes them, and the header of an
imported spec (the schema line, where it came from, what was made explicit)."""

from __future__ import annotations

import keyword
import os
import re
import unicodedata
from decimal import Decimal
from pathlib import Path

from alexnet_spec.spec.network import RESERVED_MODEL_NAMES
from alexnet_spec.spec.types import RESERVED_NAMES

MODEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class Namer:
    """Spec layer names for the names another format uses: identifiers, not reserved, unique.

    A name that has to change is recorded in `renamed` as (original, new), for the spec's header: imports rename
    openly, never silently.
    """

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.renamed: list[tuple[str, str]] = []
        # The next number to try for a prefix or a repeated name: counting from 1 on every call made naming n
        # unnamed (or equally named) layers quadratic.
        self.next_number: dict[str, int] = {}

    def name(self, original: str | None, prefix: str, base: str | None = None) -> str:
        """A fresh legal name for `original` (None or "" for an unnamed layer: `prefix` numbered), made from `base`
        instead where given (a more readable source, such as the torch module that made a node; "" for `prefix`
        numbered)."""
        source = original if base is None else base
        cleaned = unicodedata.normalize("NFKC", re.sub(r"\W+", "_", source or "")).strip("_")
        cleaned = re.sub(r"\W+", "_", cleaned).strip("_")
        if cleaned and cleaned[0].isdigit():
            cleaned = f"{prefix}_{cleaned}"
        if cleaned and (keyword.iskeyword(cleaned) or cleaned in RESERVED_NAMES):
            cleaned = f"{cleaned}_{prefix}"
        if not cleaned:
            cleaned = self._numbered(prefix, "{base}{number}", 1)
        candidate = cleaned if cleaned not in self.taken else self._numbered(cleaned, "{base}_{number}", 2)
        self.taken.add(candidate)
        if original and candidate != original:
            self.renamed.append((original, candidate))
        return candidate

    def _numbered(self, base: str, pattern: str, first: int) -> str:
        """The first name `pattern` makes of `base` and a number (from `first`, or where the last search ended) that
        is not taken."""
        number = self.next_number.get(pattern.format(base=base, number=""), first)
        while pattern.format(base=base, number=number) in self.taken:
            number += 1
        self.next_number[pattern.format(base=base, number="")] = number + 1
        return pattern.format(base=base, number=number)


def model_name(*candidates: str | None) -> str:
    """The first candidate made into a legal model name (a letter, then letters, digits, underscores)."""
    for candidate in candidates:
        cleaned = re.sub(r"\W+", "_", candidate or "").strip("_")
        cleaned = re.sub(r"^[^A-Za-z]+", "", cleaned)
        if cleaned and MODEL_NAME.match(cleaned):
            return cleaned if cleaned not in RESERVED_MODEL_NAMES else f"{cleaned}Net"
    return "Imported"


def short_float(value: float) -> float:
    """A float32 value (every float in Caffe and ONNX files) as the shortest decimal that is the same float32:
    0.0005 rather than 0.0005000000237487257."""
    import numpy as np

    return float(str(np.float32(value)))


def one_minus(value: float) -> float:
    """1 - value in decimal, so that 1 - 0.999 is 0.001 and not 0.0010000000000000009."""
    return float(Decimal(1) - Decimal(repr(short_float(value))))


def schema_reference(directory: str | Path | None) -> str:
    """The `$schema` target for a spec written into `directory`: inside this checkout, the repository's
    docs/alexspec.schema.json, relative; anywhere else a file beside the spec that `alexspec schema` writes (an
    absolute path into one machine's checkout would not travel with the spec)."""
    root = Path(__file__).resolve().parent.parent.parent
    schema = root / "docs" / "alexspec.schema.json"
    directory = (Path(directory) if directory is not None else Path.cwd()).resolve()
    if schema.is_file() and (directory == root or root in directory.parents):
        return Path(os.path.relpath(schema, directory)).as_posix()
    return "alexspec.schema.json"


def renamed_note(namer: Namer) -> list[str]:
    """The header line for renamed layers, if any."""
    if not namer.renamed:
        return []
    pairs = ", ".join(f"{original!r} -> {new}" for original, new in namer.renamed)
    return [f"layer names made legal spec names (identifiers, not reserved, unique): {pairs}"]


def spec_header(title: str, explicit: list[str], directory: str | Path | None) -> str:
    """Comment lines above an imported spec: the schema line, `title` (where the spec came from) and the list of
    what the source format left implicit and the spec now states."""
    reference = schema_reference(directory)
    lines = [f"# yaml-language-server: $schema={reference}"]
    if reference == "alexspec.schema.json":
        lines.append("# (write it beside this file with `alexspec schema -o alexspec.schema.json`)")
    lines += ["#", *_wrap(title)]
    if explicit:
        lines.append("# Made explicit:")
        for item in explicit:
            lines += _wrap(item, first="# - ", rest="#   ")
    return "\n".join(lines) + "\n"


def _wrap(text: str, first: str = "# ", rest: str = "# ", width: int = 118) -> list[str]:
    lines, current, prefix = [], "", first
    for word in text.split(" "):
        if current and len(prefix) + len(current) + 1 + len(word) > width:
            lines.append(prefix + current)
            current, prefix = word, rest
        else:
            current = f"{current} {word}" if current else word
    lines.append(prefix + current)
    return lines


def spec_yaml(spec) -> str:
    """A spec as YAML in the style of the files in specs/: one line per layer, flow-style values."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from alexnet_spec.source.dump import spec_to_data

    def flow(value):
        if isinstance(value, dict):
            mapping = CommentedMap((key, flow(item)) for key, item in value.items())
            mapping.fa.set_flow_style()
            return mapping
        if isinstance(value, list):
            sequence = CommentedSeq(flow(item) for item in value)
            sequence.fa.set_flow_style()
            return sequence
        return value

    data = spec_to_data(spec)
    document = CommentedMap()
    for key, value in data.items():
        document[key] = CommentedSeq(flow(layer) for layer in value) if key == "layers" else flow(value)
    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()
