"""SpecError: every problem a user can cause, located in their file, and its one renderer."""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Diagnostic:
    """One located problem: where, what, the arithmetic behind it, what was expected, and a hint."""

    message: str
    file: str = "<spec>"
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    layer: str | None = None
    details: tuple[str, ...] = ()
    expected: str | None = None
    hint: str | None = None
    # Where in the spec (keys and indices, as a pydantic `loc`); turned into line:column by `locate`.
    path: tuple = ()
    at_key: bool = False

    @property
    def location(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"


def did_you_mean(value: object, options) -> str | None:
    """`did you mean 'torch'?` for the option closest to a mistyped `value` (difflib's ratio of at least 0.6), or
    None when nothing is close: the caller then lists every option."""
    close = difflib.get_close_matches(str(value), [str(option) for option in options], n=1)
    return f"did you mean {close[0]!r}?" if close else None


def unknown_choice(what: str, value: object, options, file: str, hint: str | None = None) -> "SpecError":
    """The error for a value outside a fixed set (a backend, a dtype, a format): the options, and the closest one."""
    return SpecError(Diagnostic(f"unknown {what} {value!r}", file=file, expected=f"one of: {', '.join(options)}",
                                hint=did_you_mean(value, options) or hint))


class SpecError(Exception):
    """Raised for any invalid spec or user input; carries one or more located diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__(render(self.diagnostics))


@dataclass
class DiagnosticSink:
    """Collects independent diagnostics so that one run reports all of them."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise SpecError(self.diagnostics)


MAX_SHOWN = 20  # diagnostics rendered in full: about a screenful; the rest are counted
EXCERPT_WIDTH = 100  # characters of a source line shown around the caret


def render(diagnostics: list[Diagnostic], source_lines: dict[str, list[str]] | None = None) -> str:
    """Compiler-style text: `file:line:col: error: layer x: message`, details, expected, hint.

    With `source_lines` (file name -> its lines), each diagnostic also shows the offending line and a caret. At most
    MAX_SHOWN diagnostics are shown; control characters from the user's text are shown escaped, never sent to the
    terminal as they are.
    """
    blocks = [_render_one(d, source_lines) for d in diagnostics[:MAX_SHOWN]]
    if len(diagnostics) > MAX_SHOWN:
        hidden = len(diagnostics) - MAX_SHOWN
        blocks.append(f"... and {hidden} more error{'s' if hidden > 1 else ''}")
    if len(diagnostics) > 1:
        blocks.append(f"{len(diagnostics)} errors")
    return "\n".join(blocks)


def _render_one(d: Diagnostic, source_lines: dict[str, list[str]] | None) -> str:
    subject = f"layer {printable(d.layer)}: " if d.layer else ""
    lines = [f"{printable(d.location)}: error: {subject}{printable(d.message)}"]
    lines += [f"    {printable(detail)}" for detail in d.details]
    if source_lines and d.line is not None and d.file in source_lines:
        text = source_lines[d.file]
        if 0 < d.line <= len(text):
            shown, caret = excerpt(text[d.line - 1].rstrip(), d.column or 1)
            lines.append(f"  {d.line:4d} | {shown}")
            lines.append("       | " + caret + "^")
    if d.expected:
        lines.append(f"  expected: {printable(d.expected)}")
    if d.hint:
        lines.append(f"  hint: {printable(d.hint)}")
    return "\n".join(lines)


def as_json(diagnostics: list[Diagnostic]) -> dict:
    """The diagnostics as `--json` prints them: `{"errors": [{"file", "line", "column", "layer", "message", "details",
    "expected", "hint"}]}`, every one (not cut at MAX_SHOWN: a program reads them)."""
    return {"errors": [{"file": d.file, "line": d.line, "column": d.column if d.line is not None else None,
                        "layer": d.layer, "message": d.message, "details": list(d.details), "expected": d.expected,
                        "hint": d.hint} for d in diagnostics]}


def printable(text: object) -> str:
    """`text` with control characters (and bidirectional overrides) escaped, so that a name or value from a file
    cannot move the cursor, recolour the terminal or hide text."""
    return "".join(_shown(char) for char in str(text))


def _shown(char: str) -> str:
    if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp") and char != "\u200d":  # ZWJ joins emoji
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def excerpt(line: str, column: int, width: int = EXCERPT_WIDTH) -> tuple[str, str]:
    """A source line as shown (escaped, cut to about `width` characters around `column`) and the padding that puts
    a caret under `column` (1-based, in characters of the original line); tabs and wide characters are matched."""
    column = min(max(column, 1), len(line) + 1)
    cells = [_shown(char) if char != "\t" else char for char in line]
    start, end = 0, len(cells)
    if sum(len(cell) for cell in cells) > width:
        start = max(0, column - 1 - width // 2)
        end = start
        used = 0
        while end < len(cells) and used + len(cells[end]) <= width:
            used += len(cells[end])
            end += 1
        start = min(start, max(0, column - 1))
    shown = ("..." if start > 0 else "") + "".join(cells[start:end]) + ("..." if end < len(cells) else "")
    pad = "..." if start > 0 else ""
    pad = " " * len(pad) + "".join(_padding(cell) for cell in cells[start:column - 1])
    return shown, pad


def _padding(cell: str) -> str:
    """Blank space as wide on a terminal as `cell`: a tab stays a tab, a wide (CJK) character takes two columns."""
    if cell == "\t":
        return "\t"
    return "".join("  " if unicodedata.east_asian_width(char) in ("W", "F") else " " for char in cell)
