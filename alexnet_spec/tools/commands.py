"""The `draw` and `diff` commands: parse arguments, call `draw.draw` or `diff.diff_networks`, print. cli.py
registers them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from alexnet_spec.cli_support import JsonOpt, SetOpt, SpecArg, VerboseOpt, emit, reports_errors
from alexnet_spec.source.loading import load_network


@reports_errors
def draw_command(spec: SpecArg,
                 output: Annotated[Optional[Path], typer.Option("--output", "-o", help="the .svg file to write "
                                                                "(atomically); without it, the SVG goes to stdout",
                                                                show_default=False)] = None,
                 set: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Draw the architecture as SVG: one box per layer to scale, device towers side by side, cross-device arrows."""
    from alexnet_spec.tools.draw import draw

    emit(draw(load_network(spec, set)), output)


@reports_errors
def diff_command(a: Annotated[Path, typer.Argument(help="the spec to compare from", show_default=False)],
                 b: Annotated[Path, typer.Argument(help="the spec to compare to", show_default=False)],
                 set: SetOpt = None,
                 set_a: Annotated[Optional[list[str]], typer.Option("--set-a", help="override LAYER.FIELD=VALUE "
                                                                    "in A only; repeatable")] = None,
                 json_output: JsonOpt = False,
                 exit_code: Annotated[bool, typer.Option("--exit-code", help="exit with status 1 when the specs "
                                                         "differ (as `git diff --exit-code`)")] = False,
                 verbose: VerboseOpt = False) -> None:
    """What changed from spec A to spec B: layers added, removed, renamed or moved; changed fields, output shapes,
    parameters and MACs with signed deltas; then the totals of both.

    `--set` applies to B only, so `alexspec diff X.yaml X.yaml --set conv2.groups=1` previews an edit; `--set-a`
    applies to A. Exit status 0 whether or not they differ (1 with `--exit-code` when they do), 2 on an error.
    """
    from alexnet_spec.tools.diff import diff_networks, diff_table

    report = diff_networks(load_network(a, set_a), load_network(b, set))
    if json_output:
        print(json.dumps(report.to_json(), indent=2))
    else:
        from rich.console import Console

        Console(width=max(120, Console().width)).print(diff_table(report))
    if exit_code and report.differs:
        raise typer.Exit(1)

