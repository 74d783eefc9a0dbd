"""Rendering shared by the code-generating backends: the one Jinja environment factory, and statements laid out as
finished lines, `code  # shape   note`, with their comments aligned into a column.

A Statement keeps its fields (code, shape, note, imports) until `commented` formats it, so nothing downstream
re-parses generated text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import jinja2

from .source import escape_text


@lru_cache(maxsize=None)
def environment(templates: Path) -> jinja2.Environment:
    """The template environment of a backend's template folder: a typo in a template fails (StrictUndefined)
    instead of printing nothing; block tags leave no blank lines; nothing is HTML-escaped (the output is Python)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(templates), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def render(templates: Path, file) -> str:
    """A generated module's source: `module.jinja` of `templates` rendered with the backend's file view."""
    return environment(templates).get_template("module.jinja").render(file=file)


@dataclass(frozen=True)
class Statement:
    """One generated line: its code, the shape it produces, and the arithmetic when a size changes."""

    code: str
    shape: str = ""
    note: str = ""
    imports: tuple[str, ...] = ()  # the import lines `code` needs beyond those every file has


def commented(statement: Statement, code_width: int, shape_width: int = 0) -> str:
    """The code padded to `code_width` characters (longer code keeps its length), then `  # shape   note`, the
    shape padded to `shape_width` so that notes line up too. Shapes and notes name layers and devices: escaped, so
    no name can end the comment."""
    code = statement.code.ljust(code_width)
    comment = f"{statement.shape.ljust(shape_width)}   {statement.note}" if statement.note else statement.shape
    return f"{code}  # {escape_text(comment)}".rstrip() if comment else statement.code


def aligned_code_width(statements: Iterable[Statement], indent: int, max_column: int) -> int:
    """The width to pad code to so that comments start in one column: two spaces after the longest code that
    still lets its comment start by `max_column` (counted with the method body's `indent`)."""
    fitting = [len(s.code) for s in statements if indent + len(s.code) + 2 <= max_column]
    return max(fitting, default=0)


def statement_imports(statements: Iterable[Statement | None]) -> tuple[str, ...]:
    """The import lines `statements` need, each once, in order of first use."""
    return tuple(dict.fromkeys(line for s in statements if s is not None for line in s.imports))
