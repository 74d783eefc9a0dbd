"""What every `alexspec` command shares: the option types, the error handling (located diagnostics, exit 2, no
traceback unless --verbose) and output to stdout or a file. cli.py and the command modules of tools/ and interop/
import it; it imports none of them."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from alexnet_spec.errors import Diagnostic, SpecError, render
from alexnet_spec.files import write_bytes, write_text

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
            print_error(render(error.diagnostics, _source_lines(error)))
            raise typer.Exit(2)
        except KeyboardInterrupt:
            raise typer.Exit(130)
        except (typer.Exit, typer.Abort):
            raise
        except OSError as error:
            if verbose:
                traceback.print_exc()
            print_error(render([_io_diagnostic(error)]))
            raise typer.Exit(2)
        except Exception as error:  # a bug in alexspec, not in the user's spec
            if verbose:
                traceback.print_exc()
            print_error(f"internal error: {type(error).__name__}: {error}\n"
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


def print_error(text: str) -> None:
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        from rich.console import Console

        console = Console(stderr=True, highlight=False)
        for line in text.splitlines():
            style = "bold red" if ": error:" in line else ("cyan" if line.strip().startswith("hint:") else None)
            console.print(line, style=style, markup=False)
    else:
        print(text, file=sys.stderr)


def emit(text: str, output: Optional[Path]) -> None:
    """To stdout, or to `output` written whole or not at all."""
    if output is None:
        sys.stdout.write(text)
        return
    write_text(output, text)
    print(f"wrote {output}", file=sys.stderr)



def emit_bytes(data: bytes, output: Path, what: str = "") -> None:
    """`data` written whole or not at all to `output`, and a line saying so."""
    write_bytes(output, data)
    print(f"wrote {output}{what}", file=sys.stderr)
