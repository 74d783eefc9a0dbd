"""The `alexspec` command: parse arguments, call the core, print. Errors exit with status 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from alexnet_spec.cli_support import (APP_SETTINGS, EXIT_OK, JsonOpt, OutputOpt, PrecisionOpt, SetOpt, SpecArg,
                                      VerboseOpt, emit, emit_json, end_process, reports_errors, terminal_width)
from alexnet_spec.errors import SpecError
from alexnet_spec.source.loading import load_network
from alexnet_spec.interop.commands import export_command, import_app
from alexnet_spec.tools.commands import diff_command, draw_command
from alexnet_spec.training.commands import train_command


def _print_version(value: bool) -> None:
    if value:
        from alexnet_spec import __version__

        print(__version__)
        raise typer.Exit(0)


app = typer.Typer(help="alexspec: a declarative architecture-spec compiler for convolutional networks.\n\n"
                  "Exit status: 0 ok, 1 check or diff found a difference, 2 an error in the input (located, no "
                  "traceback), 3 an internal error (a bug: rerun with --verbose).",
                  no_args_is_help=True, add_completion=True, **APP_SETTINGS)


@app.callback()
def options(version: Annotated[bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                                                  help="print alexspec's version and exit")] = False) -> None:
    """alexspec: a declarative architecture-spec compiler for convolutional networks."""


@app.command()
@reports_errors
def validate(specs: Annotated[list[Path], typer.Argument(help="one or more YAML spec files", metavar="SPEC",
                                                         show_default=False)],
             set: SetOpt = None, json_output: JsonOpt = False, output: OutputOpt = None,
             verbose: VerboseOpt = False) -> None:
    """Check specs: schema, names, placement and exact shape arithmetic. Exit status 2 on any error."""
    errors, results = [], []
    for path in specs:
        try:
            net = load_network(path, set)
        except SpecError as error:
            errors.extend(error.diagnostics)
            continue
        results.append({"file": str(path), "name": net.name, "layers": len(net.layers), "params": net.total_params,
                        "output_shape": list(net.output_shape)})
    if errors:
        raise SpecError(errors)
    if json_output:
        emit_json({"files": results}, output)
        return
    emit("".join(f"{r['file']}: ok: {r['name']}, {r['layers']} layers, {r['params']:,} parameters, "
                 f"output {'×'.join(map(str, r['output_shape']))}\n" for r in results), output)


@app.command()
@reports_errors
def summary(spec: SpecArg,
            batch: Annotated[int, typer.Option("--batch", "-n", metavar="N", help="images per batch, for the "
                                               "activation memory")] = 1,
            dtype: Annotated[Optional[str], typer.Option("--dtype", metavar="DTYPE", autocompletion=lambda: list(DTYPES),
                                                         help="element type of the memory figures: float16, "
                                                         "bfloat16, float32 or float64 (default: the spec's "
                                                         "precision, float32 unless it says otherwise)",
                                                         show_default=False)] = None,
            depth: Annotated[Optional[int], typer.Option("--depth", "-d", metavar="N", help="show block instances "
                                                         "nested deeper than N as one row each (0: every top-level "
                                                         "block collapsed); default: every layer")] = None,
            set: SetOpt = None, json_output: JsonOpt = False, output: OutputOpt = None,
            verbose: VerboseOpt = False) -> None:
    """Every layer: input and output shapes, parameters, MACs, activation memory, placement and the arithmetic
    behind each size; then trainable and non-trainable parameters, memory for --batch and --dtype, MACs and FLOPs."""
    from alexnet_spec.tools import summary as report

    net = load_network(spec, set)
    options = report.Options(batch, dtype or net.precision, depth)
    if json_output:
        emit_json(report.summary_json(net, options), output)
    else:
        emit(report.summary_text(net, options, terminal_width()), output)


DTYPES = ("float16", "bfloat16", "float32", "float64")


def _backend_names() -> list[str]:
    from alexnet_spec import backends

    return backends.available()


@app.command("compile")
@reports_errors
def compile_command(spec: SpecArg,
                    backend: Annotated[str, typer.Option("--backend", "-b", metavar="NAME",
                                                         autocompletion=_backend_names,
                                                         help="code generator: torch or jax")] = "torch",
                    output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE",
                                                                   help="write here (atomically) instead of stdout",
                                                                   show_default=False)] = None,
                    logits: Annotated[bool, typer.Option("--logits", help="drop a final softmax: the module "
                                                         "returns logits, for training with cross-entropy")] = False,
                    precision: PrecisionOpt = None, set: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Generate a standalone, readable module for a backend (never imports the framework)."""
    from alexnet_spec import backends
    from alexnet_spec.logits import with_output
    from alexnet_spec.precision import with_precision

    generator = backends.get(backend)
    net = with_precision(with_output(load_network(spec, set), "logits" if logits else "spec"), precision)
    source = generator.render(net)
    emit(source, output)


@app.command()
@reports_errors
def show(spec: SpecArg, set: SetOpt = None, json_output: JsonOpt = False, output: OutputOpt = None,
         verbose: VerboseOpt = False) -> None:
    """Print the fully resolved spec as YAML (or JSON): `extends` and `--set` applied, every layer named."""
    resolved = load_network(spec, set).spec
    if json_output:
        emit_json(resolved.model_dump(mode="json", exclude_none=True), output)
        return
    from alexnet_spec.source.dump import dump_yaml

    emit(dump_yaml(resolved), output)


@app.command()
@reports_errors
def schema(output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE", show_default=False,
                                                          help="write here (atomically) instead of stdout")] = None,
           verbose: VerboseOpt = False) -> None:
    """The JSON Schema of spec files (for editors: completion and live validation)."""
    from alexnet_spec.tools.schema import json_schema_text

    emit(json_schema_text(), output)


@app.command()
@reports_errors
def check(spec: SpecArg,
          backends: Annotated[str, typer.Option("--backends", metavar="A,B,...", help="comma-separated backends to "
                                                "compare")] = "torch,jax,numpy",
          dtype: Annotated[str, typer.Option("--dtype", metavar="DTYPE", autocompletion=lambda: ["float32", "float64"],
                                             help="float32 or float64")] = "float64",
          batch: Annotated[int, typer.Option("--batch", "-n", metavar="N", help="images in the input batch (1 to "
                                             "1024)")] = 2,
          seed: Annotated[int, typer.Option("--seed", metavar="N", help="seed of the weights and the input")] = 0,
          rtol: Annotated[Optional[float], typer.Option("--rtol", metavar="X", show_default=False,
                                                        help="relative tolerance (default: by dtype)")] = None,
          atol: Annotated[Optional[float], typer.Option("--atol", metavar="X", show_default=False,
                                                        help="absolute tolerance (default: by dtype)")] = None,
          precision: Annotated[Optional[str], typer.Option(
              "--precision", metavar="TYPE", autocompletion=lambda: ["bfloat16", "float16"], show_default=False,
              help="bfloat16 or float16: compare the builds generated in that type with the float64 oracle, each "
              "layer within its own bound (docs/precision.md), and report top-1 agreement")] = None,
          set: SetOpt = None, json_output: JsonOpt = False, output: OutputOpt = None,
          verbose: VerboseOpt = False) -> None:
    """Run the backends on one set of weights and one input; compare every layer. Exit 1 beyond tolerance."""
    from alexnet_spec.cli_support import EXIT_DIFFERS, render_rich
    from alexnet_spec.tools.check import check_table, run_check

    net = load_network(spec, set)
    names = tuple(name.strip() for name in backends.split(",") if name.strip())
    report = run_check(net, names, dtype=dtype, batch=batch, seed=seed, rtol=rtol, atol=atol, precision=precision)
    if json_output:
        emit_json(report.to_json(), output)
    else:
        first = report.first_divergence
        verdict = f"{spec}: {'ok' if report.passed else f'DIFFERS, first at layer {first.name}'}\n"
        if report.precision:
            agreement = ", ".join(f"{name} {share:.0%}" for name, share in report.top1.items())
            verdict = f"top-1 agreement with the oracle over {report.batch} inputs: {agreement}\n" + verdict
        emit(render_rich(check_table(report)) + verdict, output)
    if not report.passed:
        raise typer.Exit(EXIT_DIFFERS)


@app.command("convert-weights")
@reports_errors
def convert_weights(spec: SpecArg,
                    source: Annotated[Path, typer.Argument(metavar="WEIGHTS", help="weights: .safetensors, a torch .pt/.pth state dict, "
                                                           "or a .npz (canonical names or jax params)")],
                    target: Annotated[Path, typer.Argument(metavar="OUTPUT", help="the output: .safetensors or .pt (canonical), or .npz "
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
    """Print alexspec's version (as `alexspec --version`)."""
    _print_version(True)


app.command("draw")(draw_command)
app.command("diff")(diff_command)
app.add_typer(import_app, name="import")
app.command("export")(export_command)
app.command("train")(train_command)


def main() -> None:
    """The `alexspec` program: the command, then the process ends without the interpreter's finalisation."""
    try:
        app()
        code = EXIT_OK
    except SystemExit as exit:
        code = exit.code
    end_process(code)
