"""The shapes of what the templates place: one class's view, one layer's view, and `forward`'s statements laid
out as finished lines with aligned `# shape   arithmetic` comments."""

from __future__ import annotations

from dataclasses import dataclass, replace

from alexnet_spec.backends.source import escape_text

INDENT = 8  # statements sit in a method body
MAX_COLUMN = 64  # comments start here at the latest; longer statements get theirs two spaces after the code


@dataclass(frozen=True)
class Statement:
    """One line of `forward`: code, the shape it produces, and the arithmetic when a size changes."""

    code: str
    shape: str
    note: str = ""
    imports: tuple[str, ...] = ()  # the import lines `code` needs beyond torch and nn, e.g. torch.nn.functional's


@dataclass(frozen=True)
class LayerView:
    """What the templates need for one layer; `format_forward` turns its Statements into finished lines."""

    name: str
    template: str  # conv.jinja, pool.jinja ...: one per layer kind
    constructor: str | None = None  # self.<name> = <constructor>
    shares: tuple[str, ...] = ()  # placed: one constructor per device, held in an nn.ModuleList
    init: tuple[str, ...] = ()  # reset_parameters lines; for shares, applied to each `share`
    pad: Statement | str | None = None
    call: Statement | str | None = None
    crop: Statement | str | None = None
    activation: Statement | str | None = None


@dataclass(frozen=True)
class ClassView:
    """One generated nn.Module class."""

    class_name: str
    doc: tuple[str, ...]  # the docstring's lines
    definition: str  # `def forward(self, x):  # (N, 3, 227, 227)`
    first: str | None  # forward's first statement: the memory format
    layers: tuple[LayerView, ...]
    output: str  # forward's return statement
    devices: tuple[str, ...] = ()  # placed class: the spec's device names
    split_layers: str = "()"  # placed class: the layers held as one share per device, a tuple literal
    imports: tuple[str, ...] = ()  # what its statements need (statement_imports), gathered before formatting
    reset_doc: tuple[str, ...] = ("Initialise every parameter as the spec declares.",)  # reset_parameters' docstring
    # Modules (a share list expands with *) whose parameters at PyTorch's default only a later reset redraws.
    default_drawn: tuple[str, ...] = ()


def statement_imports(layers: list[LayerView]) -> tuple[str, ...]:
    """The import lines the Statements of `layers` need, each once, in order of first use."""
    lines = [line for view in layers for s in (view.pad, view.call, view.crop, view.activation)
             if isinstance(s, Statement) for line in s.imports]
    return tuple(dict.fromkeys(lines))


def format_forward(layers: list[LayerView], first: Statement | None) -> tuple[tuple[LayerView, ...], str, str | None]:
    """Every Statement as its finished line, `code  # shape   note`, with comments aligned down `forward`.

    Returns the layers, the `def forward` line and the line for `first` (which does not widen the column).
    """
    statements = [s for view in layers for s in (view.pad, view.call, view.crop, view.activation)
                  if isinstance(s, Statement)]
    fitting = [len(s.code) for s in statements if INDENT + len(s.code) + 2 <= MAX_COLUMN]
    column = INDENT + max(fitting, default=0) + 2
    shape_width = max((len(s.shape) for s in statements), default=0)

    def line(s):
        return format_statement(s, column, shape_width) if isinstance(s, Statement) else s

    views = tuple(replace(view, pad=line(view.pad), call=line(view.call), crop=line(view.crop),
                          activation=line(view.activation)) for view in layers)
    definition = format_statement(Statement("def forward(self, x):", first.shape if first else ""), column + 4, 0)
    return views, definition, line(first)


def format_statement(s: Statement, column: int, shape_width: int) -> str:
    """The code padded to `column` (counted from the method body's indent), then the comment."""
    width = column - INDENT - 2
    code = s.code.ljust(width) if len(s.code) <= width else s.code
    comment = f"{s.shape.ljust(shape_width)}   {s.note}" if s.note else s.shape
    # Notes name layers and devices: escaped, so no name can end the comment.
    return f"{code}  # {escape_text(comment)}".rstrip() if comment else s.code
