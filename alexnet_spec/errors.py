"""SpecError: every problem a user can cause, located in their file, and its one renderer."""

from __future__ import annotations

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


def render(diagnostics: list[Diagnostic], source_lines: dict[str, list[str]] | None = None) -> str:
    """Compiler-style text: `file:line:col: error: layer x: message`, details, expected, hint.

    With `source_lines` (file name -> its lines), each diagnostic also shows the offending line and a caret.
    """
    blocks = []
    for d in diagnostics:
        subject = f"layer {d.layer}: " if d.layer else ""
        lines = [f"{d.location}: error: {subject}{d.message}"]
        lines += [f"    {detail}" for detail in d.details]
        if source_lines and d.line is not None and d.file in source_lines:
            text = source_lines[d.file]
            if 0 < d.line <= len(text):
                lines.append(f"  {d.line:4d} | {text[d.line - 1].rstrip()}")
                lines.append("       | " + " " * ((d.column or 1) - 1) + "^")
        if d.expected:
            lines.append(f"  expected: {d.expected}")
        if d.hint:
            lines.append(f"  hint: {d.hint}")
        blocks.append("\n".join(lines))
    if len(diagnostics) > 1:
        blocks.append(f"{len(diagnostics)} errors")
    return "\n".join(blocks)
