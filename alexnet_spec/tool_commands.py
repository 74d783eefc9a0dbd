"""The `draw` and `diff` commands: parse arguments, call `draw.draw` or `diff.diff_networks`, print.

`alexnet_spec.cli` registers them (`app.command("draw")(draw_command)`, `app.command("diff")(diff_command)`) and this
module reuses cli's option types and error handling. To work in either import order despite that cycle, nothing here
needs cli while this module is being defined: the annotations are strings (resolved by Typer when the app is built,
from the names imported at the bottom) and `reports_errors` is looked up when a command runs.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer


def _reports_errors(command: Callable) -> Callable:
    """`cli.reports_errors` around `command`: a SpecError becomes located diagnostics on stderr and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from alexnet_spec.cli import reports_errors

        return reports_errors(command)(*args, **kwargs)

    return wrapper


@_reports_errors
def draw_command(spec: SpecArg,
                 output: Annotated[Optional[Path], typer.Option("--output", "-o", help="the .svg file to write "
                                                                "(atomically); without it, the SVG goes to stdout",
                                                                show_default=False)] = None,
                 set: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Draw the architecture as SVG: one box per layer to scale, device towers side by side, cross-device arrows."""
    from alexnet_spec.draw import draw
    from alexnet_spec.files import write_text
    from alexnet_spec.loading import load_network

    svg = draw(load_network(spec, set or []))
    if output is None:
        sys.stdout.write(svg)
        return
    write_text(output, svg)
    print(f"wrote {output}", file=sys.stderr)


@_reports_errors
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
    from alexnet_spec.diff import diff_networks, diff_table
    from alexnet_spec.loading import load_network

    report = diff_networks(load_network(a, set_a or []), load_network(b, set or []))
    if json_output:
        print(json.dumps(report.to_json(), indent=2))
    else:
        from rich.console import Console

        Console(width=max(120, Console().width)).print(diff_table(report))
    if exit_code and report.differs:
        raise typer.Exit(1)


# Last: cli imports this module, and these names are only needed when Typer reads the annotations above.
from alexnet_spec.cli import JsonOpt, SetOpt, SpecArg, VerboseOpt  # noqa: E402
