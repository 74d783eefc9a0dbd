"""The `alexspec` command: parse arguments, call the core, print. Errors exit with status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from alexnet_spec.cli_support import JsonOpt, SetOpt, SpecArg, VerboseOpt, emit, reports_errors
from alexnet_spec.errors import SpecError
from alexnet_spec.files import write_text
from alexnet_spec.source.loading import load_network
from alexnet_spec.interop.commands import export_command, import_app
from alexnet_spec.tools.commands import diff_command, draw_command

app = typer.Typer(help="alexspec: a declarative architecture-spec compiler for convolutional networks.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

@app.command()
@reports_errors
def validate(specs: Annotated[list[Path], typer.Argument(help="one or more YAML spec files")],
             set: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Check specs: schema, names, placement and exact shape arithmetic. Exit status 2 on any error."""
    errors = []
    for path in specs:
        try:
            net = load_network(path, set)
        except SpecError as error:
            errors.extend(error.diagnostics)
            continue
        print(f"{path}: ok: {net.name}, {len(net.layers)} layers, {net.total_params:,} parameters, "
              f"output {'×'.join(map(str, net.output_shape))}")
    if errors:
        raise SpecError(errors)


@app.command()
@reports_errors
def summary(spec: SpecArg, set: SetOpt = None, json_output: JsonOpt = False, verbose: VerboseOpt = False) -> None:
    """A table of every layer: output shape, parameters, MACs, placement, and the arithmetic behind each size."""
    from alexnet_spec.tools import summary as report

    net = load_network(spec, set)
    if json_output:
        print(json.dumps(report.summary_json(net), indent=2))
        return
    from rich.console import Console

    console = Console(width=max(120, Console().width))
    console.print(report.summary_table(net))
    if net.devices:
        console.print(report.device_table(net))


@app.command("compile")
@reports_errors
def compile_command(spec: SpecArg,
                    backend: Annotated[str, typer.Option("--backend", "-b", help="code generator: torch or jax")] = "torch",
                    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write here (atomically) "
                                                                   "instead of stdout")] = None,
                    set: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Generate a standalone, readable module for a backend (never imports the framework)."""
    from alexnet_spec import backends

    generator = backends.get(backend)
    net = load_network(spec, set)
    source = generator.render(net)
    emit(source, output)


@app.command()
@reports_errors
def show(spec: SpecArg, set: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Print the fully resolved spec as YAML: `extends` and `--set` applied, every layer named."""
    from alexnet_spec.source.dump import dump_yaml

    sys.stdout.write(dump_yaml(load_network(spec, set).spec))


@app.command()
@reports_errors
def schema(output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write here instead of stdout")] = None,
           verbose: VerboseOpt = False) -> None:
    """The JSON Schema of spec files (for editors: completion and live validation)."""
    from alexnet_spec.tools.schema import json_schema_text

    if output is None:
        sys.stdout.write(json_schema_text())
    else:
        write_text(output, json_schema_text())
        print(f"wrote {output}", file=sys.stderr)


@app.command()
@reports_errors
def check(spec: SpecArg,
          backends: Annotated[str, typer.Option("--backends", help="comma-separated backends to compare")] = "torch,jax,numpy",
          dtype: Annotated[str, typer.Option("--dtype", help="float32 or float64")] = "float64",
          batch: Annotated[int, typer.Option("--batch", help="images in the input batch (1 to 1024)")] = 2,
          seed: Annotated[int, typer.Option("--seed", help="seed of the weights and the input")] = 0,
          rtol: Annotated[Optional[float], typer.Option("--rtol", help="relative tolerance (default: by dtype)")] = None,
          atol: Annotated[Optional[float], typer.Option("--atol", help="absolute tolerance (default: by dtype)")] = None,
          set: SetOpt = None, json_output: JsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Run the backends on one set of weights and one input; compare every layer. Exit 1 beyond tolerance."""
    from alexnet_spec.tools.check import check_table, run_check

    net = load_network(spec, set)
    names = tuple(name.strip() for name in backends.split(",") if name.strip())
    report = run_check(net, names, dtype=dtype, batch=batch, seed=seed, rtol=rtol, atol=atol)
    if json_output:
        print(json.dumps(report.to_json(), indent=2))
    else:
        from rich.console import Console

        Console(width=max(120, Console().width)).print(check_table(report))
        first = report.first_divergence
        print(f"{spec}: {'ok' if report.passed else f'DIFFERS, first at layer {first.name}'}")
    if not report.passed:
        raise typer.Exit(1)


@app.command("convert-weights")
@reports_errors
def convert_weights(spec: SpecArg,
                    source: Annotated[Path, typer.Argument(help="weights: .safetensors, a torch .pt/.pth state dict, "
                                                           "or a .npz (canonical names or jax params)")],
                    target: Annotated[Path, typer.Argument(help="the output: .safetensors or .pt (canonical), or .npz "
                                                           "(jax params)")],
                    from_order: Annotated[bool, typer.Option("--from-order", help="SOURCE names its weights after "
                                                             "another model's modules (torchvision's features.0."
                                                             "weight): pair them with the spec's layers by order "
                                                             "and shape, and print the pairing")] = False,
                    verbose: VerboseOpt = False) -> None:
    """Move trained weights between files and frameworks (.safetensors, torch .pt, jax .npz), with layouts and
    flatten order converted."""
    from alexnet_spec.tools.convert_weights import convert_file

    for line in convert_file(spec, source, target, from_order):
        print(line, file=sys.stderr)
    print(f"wrote {target}", file=sys.stderr)


@app.command()
def version() -> None:
    """Print alexspec's version."""
    from alexnet_spec import __version__

    print(__version__)


app.command("draw")(draw_command)
app.command("diff")(diff_command)
app.add_typer(import_app, name="import")
app.command("export")(export_command)


def main() -> None:
    app()
