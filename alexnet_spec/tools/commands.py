"""The `draw` and `diff` commands: parse arguments, call `draw.draw` or `diff.diff_networks`, print. cli.py
registers them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from alexnet_spec.cli_support import (EXIT_DIFFERS, JsonOpt, OutputOpt, SetOpt, SpecArg, VerboseOpt, emit, emit_bytes,
                                      emit_json,
                                      render_rich, reports_errors)
from alexnet_spec.source.loading import load_network


@reports_errors
def draw_command(spec: SpecArg,
                 output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE", show_default=False,
                                                                help="the file to write (atomically), its format by "
                                                                "suffix: .svg, .png, .pdf (these two need the "
                                                                "`draw` extra), .dot (Graphviz), .mmd (Mermaid); "
                                                                "without it, SVG to stdout")] = None,
                 set: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Draw the architecture: top to bottom, one box per layer (activations folded in), device towers side by
    side, cross-device edges in red, a legend."""
    from alexnet_spec.tools.draw import FORMATS, drawing

    if output is None:
        emit(drawing(load_network(spec, set), ".svg").decode("utf-8"), None)
        return
    data = drawing(load_network(spec, set), output.suffix, str(output))
    emit_bytes(data, output, f" ({FORMATS[output.suffix.lower()]}, {len(data):,} bytes)")


@reports_errors
def diff_command(a: Annotated[Path, typer.Argument(help="the spec to compare from", metavar="A", show_default=False)],
                 b: Annotated[Path, typer.Argument(help="the spec to compare to", metavar="B", show_default=False)],
                 set: SetOpt = None,
                 set_a: Annotated[Optional[list[str]], typer.Option("--set-a", metavar="LAYER.FIELD=VALUE",
                                                                    help="override a field in A only; repeatable",
                                                                    show_default=False)] = None,
                 json_output: JsonOpt = False, output: OutputOpt = None, verbose: VerboseOpt = False) -> None:
    """What changed in meaning from spec A to spec B: layers added, removed, renamed or moved; changed fields (as
    resolved: `padding: same` and the padding it resolves to are the same), output shapes, parameters and MACs with
    signed deltas; then the totals of both.

    `--set` applies to B only, so `alexspec diff X.yaml X.yaml --set conv2.groups=1` previews an edit; `--set-a`
    applies to A. Exit status 0 when they are the same, 1 when they differ (as diff(1)), 2 on an error.
    """
    from alexnet_spec.tools.diff import diff_networks, diff_table

    report = diff_networks(load_network(a, set_a), load_network(b, set))
    if json_output:
        emit_json(report.to_json(), output)
    else:
        emit(render_rich(diff_table(report)), output)
    if report.differs:
        raise typer.Exit(EXIT_DIFFERS)
