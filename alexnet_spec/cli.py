"""The `alexspec` command: parse arguments, call the core, print. Errors exit with status 2."""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from alexnet_spec.errors import Diagnostic, SpecError, render
from alexnet_spec.files import write_text

app = typer.Typer(help="alexspec: a declarative architecture-spec compiler for convolutional networks.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

SpecArg = Annotated[Path, typer.Argument(help="a YAML spec file", show_default=False)]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="override LAYER.FIELD=VALUE (value parsed as "
                                                     "YAML); repeatable; also input.height=224 or top-level fields")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", help="show tracebacks, for bug reports")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _source_lines(error: SpecError) -> dict[str, list[str]]:
    lines = {}
    for diagnostic in error.diagnostics:
        if diagnostic.line is not None and diagnostic.file not in lines and os.path.isfile(diagnostic.file):
            try:
                lines[diagnostic.file] = Path(diagnostic.file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                pass
    return lines


def reports_errors(command: Callable) -> Callable:
    """SpecError -> its diagnostics on stderr and exit status 2; a traceback only with --verbose.

    Ordinary I/O problems (a file that cannot be read, a full disk) are the user's to fix, so they exit 2 with one
    line too; a reader that closes stdout early (`alexspec summary --json | head`) ends the command quietly."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        verbose = kwargs.get("verbose", False)
        try:
            result = command(*args, **kwargs)
            sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
            return result
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(0)
        except SpecError as error:
            if verbose:
                traceback.print_exc()
            _print_error(render(error.diagnostics, _source_lines(error)))
            raise typer.Exit(2)
        except KeyboardInterrupt:
            raise typer.Exit(130)
        except (typer.Exit, typer.Abort):
            raise
        except OSError as error:
            if verbose:
                traceback.print_exc()
            _print_error(render([_io_diagnostic(error)]))
            raise typer.Exit(2)
        except Exception as error:  # a bug in alexspec, not in the user's spec
            if verbose:
                traceback.print_exc()
            _print_error(f"internal error: {type(error).__name__}: {error}\n"
                         "  hint: this is a bug in alexspec; rerun with --verbose and report the traceback")
            raise typer.Exit(1)

    return wrapper


def _io_diagnostic(error: OSError) -> Diagnostic:
    """An OSError as one located line: the file it names and the system's reason."""
    reason = error.strerror or str(error)
    return Diagnostic(f"cannot read or write the file: {reason}" if error.filename else reason,
                      file=str(error.filename) if error.filename else "alexspec")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not report the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (a test runner's stdout): nothing left to flush
        pass


def _print_error(text: str) -> None:
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        from rich.console import Console

        console = Console(stderr=True, highlight=False)
        for line in text.splitlines():
            style = "bold red" if ": error:" in line else ("cyan" if line.strip().startswith("hint:") else None)
            console.print(line, style=style, markup=False)
    else:
        print(text, file=sys.stderr)


def _load(spec: Path, overrides: Optional[list[str]]):
    from alexnet_spec.loading import load_network

    return load_network(spec, overrides or [])


@app.command()
@reports_errors
def validate(specs: Annotated[list[Path], typer.Argument(help="one or more YAML spec files")],
             set: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Check specs: schema, names, placement and exact shape arithmetic. Exit status 2 on any error."""
    errors = []
    for path in specs:
        try:
            net = _load(path, set)
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
    from alexnet_spec import report

    net = _load(spec, set)
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
    net = _load(spec, set)
    source = generator.render(net)
    _emit(source, output)


def _emit(text: str, output: Optional[Path]) -> None:
    """To stdout, or to `output` written whole or not at all."""
    if output is None:
        sys.stdout.write(text)
        return
    write_text(output, text)
    print(f"wrote {output}", file=sys.stderr)


@app.command()
@reports_errors
def show(spec: SpecArg, set: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Print the fully resolved spec as YAML: `extends` and `--set` applied, every layer named."""
    from alexnet_spec.dump import dump_yaml

    sys.stdout.write(dump_yaml(_load(spec, set).spec))


@app.command()
@reports_errors
def schema(output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write here instead of stdout")] = None,
           verbose: VerboseOpt = False) -> None:
    """The JSON Schema of spec files (for editors: completion and live validation)."""
    from alexnet_spec.schema import json_schema_text

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
    from alexnet_spec.check import check_table, run_check

    net = _load(spec, set)
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
                    source: Annotated[Path, typer.Argument(help="a torch .pt state dict or a .npz of jax params")],
                    target: Annotated[Path, typer.Argument(help="the output: .npz (from .pt) or .pt (from .npz)")],
                    verbose: VerboseOpt = False) -> None:
    """Move trained weights between frameworks: torch .pt <-> jax .npz, with layouts and flatten order converted."""
    from alexnet_spec.weights import convert_file

    convert_file(spec, source, target)
    print(f"wrote {target}", file=sys.stderr)


@app.command()
def version() -> None:
    """Print alexspec's version."""
    from alexnet_spec import __version__

    print(__version__)


# Last: these modules reuse this one's option types and error handling (see their docstrings).
from alexnet_spec.interop.commands import export_command, import_app  # noqa: E402
from alexnet_spec.tool_commands import diff_command, draw_command  # noqa: E402

app.command("draw")(draw_command)
app.command("diff")(diff_command)
app.add_typer(import_app, name="import")
app.command("export")(export_command)


def main() -> None:
    app()
