"""Plain-text tables that fit a terminal: columns padded to their widest cell, and each row's long trailing text (the
arithmetic, the placement) either as a last column when everything fits or on a line of its own under the row.

Rich's tables wrap every column at once when space runs out; here the numbers never wrap, only the note moves, so
an 80-column terminal shows `105,415,200` whole and `(227 + 2*0 - 11)/4 + 1 = 55` on the line below.
"""

from __future__ import annotations

import textwrap
import unicodedata
from dataclasses import dataclass

GAP = "  "
NOTE_INDENT = "    "


@dataclass(frozen=True)
class Column:
    header: str
    right: bool = False  # numbers align right
    movable: bool = False  # may move into the note line when the row is too wide (the layer type)


def cells_width(text: str) -> int:
    """Terminal columns `text` takes: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in ("W", "F") else 1 for char in text)


def _pad(text: str, width: int, right: bool) -> str:
    space = " " * (width - cells_width(text))
    return space + text if right else text + space


def render_table(columns: list[Column], rows: list[list[str]], notes: list[str], width: int,
                 note_header: str = "", rules: tuple[int, ...] = ()) -> str:
    """`rows` (one cell per column) with `notes` (one per row, "" for none) laid out within `width` columns.

    The notes are a last column when the widest row, notes included, fits; otherwise each note goes under its row,
    indented and wrapped to `width`. If the columns alone are wider than `width`, movable columns move into the notes
    first. `rules`: row indices before which a dashed rule is drawn (before the totals, say)."""
    columns, rows, notes = list(columns), [list(row) for row in rows], list(notes)
    while _width(columns, rows) > width and any(column.movable for column in columns):
        index = next(i for i, column in enumerate(columns) if column.movable)
        moved = [row.pop(index) for row in rows]
        columns.pop(index)
        notes = [" · ".join(filter(None, (item, note))) for item, note in zip(moved, notes)]
    widths = [max([cells_width(column.header)] + [cells_width(row[i]) for row in rows]) for i, column in
              enumerate(columns)]
    main = sum(widths) + len(GAP) * (len(widths) - 1)
    note_width = max([cells_width(note) for note in notes] + [cells_width(note_header)])
    inline = any(notes) and main + len(GAP) + note_width <= width
    header = GAP.join(_pad(column.header, w, column.right) for column, w in zip(columns, widths))
    lines = [(header + GAP + note_header if inline and note_header else header).rstrip()]
    rule = "-" * min(width, main + (len(GAP) + note_width if inline else 0))
    lines.append(rule)
    for index, (row, note) in enumerate(zip(rows, notes)):
        if index in rules:
            lines.append(rule)
        text = GAP.join(_pad(cell, w, column.right) for cell, column, w in zip(row, columns, widths))
        if inline:
            lines.append((text + GAP + note).rstrip() if note else text.rstrip())
            continue
        lines.append(text.rstrip())
        if note:
            lines += textwrap.wrap(note, max(20, width - len(NOTE_INDENT)), initial_indent=NOTE_INDENT,
                                   subsequent_indent=NOTE_INDENT + "  ", break_on_hyphens=False)
    return "\n".join(lines) + "\n"


def _width(columns: list[Column], rows: list[list[str]]) -> int:
    widths = [max([cells_width(column.header)] + [cells_width(row[i]) for row in rows]) for i, column in
              enumerate(columns)]
    return sum(widths) + len(GAP) * (len(widths) - 1)
