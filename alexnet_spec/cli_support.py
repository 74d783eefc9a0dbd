"""What every `alexspec` command shares: the option types, the error handling (located diagnostics, exit 2, no
traceback unless --verbose) and output to stdout or a file. cli.py and the command modules of tools/ and interop/
import it; it imports none of them."""

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
from alexnet_spec.errors import as_json as as_json_errors
from alexnet_spec.files import write_bytes, write_text

# Every command and group takes -h as well as --help.
CONTEXT = {"help_option_names": ["-h", "--help"]}
# Help as plain text (rich_markup_mode=None): Click's layout, 80 columns, no `<bool>` beside every flag.
APP_SETTINGS = {"context_settings": CONTEXT, "rich_markup_mode": None, "pretty_exceptions_enable": False}


def _hide_argument_types() -> None:
    """Typer prints each argument's Python annotation beside its metavar (`SPEC <path>`, `<list[Path]>`); the
    metavar already says what to type, so the annotation is left out."""
    from typer.core import TyperArgument

    TyperArgument.display_type_rich = lambda self, ctx: None


_hide_argument_types()

# Metavars name what the user types (SPEC, FILE, N), never Python's types.
SpecArg = Annotated[Path, typer.Argument(help="a YAML spec file", metavar="SPEC", show_default=False)]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", metavar="LAYER.FIELD=VALUE",
                                                     help="override a field (value parsed as YAML); repeatable; also "
                                                     "input.height=224 or top-level fields", show_default=False)]
PrecisionOpt = Annotated[Optional[str], typer.Option("--precision", metavar="TYPE",
                                                      autocompletion=lambda: ["float32", "bfloat16", "float16"],
                                                      help="float32, bfloat16 or float16: the type generated code "
                                                      "stores parameters and activations in (default: the spec's "
                                                      "`precision`, float32 unless it says otherwise)",
                                                      show_default=False)]
VerboseOpt = Annotated[bool, typer.Option("--verbose", help="show tracebacks, for bug reports")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output; errors too, as "
                                       '{"errors": [...]} on stdout')]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE", show_default=False,
                                                   help="write the report here (atomically) instead of stdout")]

# Exit statuses, documented in README.md: 1 is a finding (check beyond tolerance, diff found a difference), not a
# failure of the command.
EXIT_OK, EXIT_DIFFERS, EXIT_USER, EXIT_INTERNAL = 0, 1, 2, 3


def _source_lines(diagnostics: list[Diagnostic]) -> dict[str, list[str]]:
    lines = {}
    for diagnostic in diagnostics:
        if diagnostic.line is not None and diagnostic.file not in lines and os.path.isfile(diagnostic.file):
            try:
                lines[diagnostic.file] = Path(diagnostic.file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                pass
    return lines


def reports_errors(command: Callable) -> Callable:
    """SpecError -> its diagnostics on stderr (with --json, as JSON on stdout) and exit status 2; a traceback only
    with --verbose. An unexpected exception is a bug in alexspec: one line and exit status 3.

    Ordinary I/O problems (a file that cannot be read, a full disk) are the user's to fix, so they exit 2 with one
    line too; a reader that closes stdout early (`alexspec summary --json | head`) ends the command quietly."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        verbose = kwargs.get("verbose", False)
        as_json = kwargs.get("json_output", False)
        try:
            result = command(*args, **kwargs)
            sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
            return result
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(EXIT_OK)
        except SpecError as error:
            if verbose:
                traceback.print_exc()
            report_diagnostics(error.diagnostics, as_json)
            raise typer.Exit(EXIT_USER)
        except KeyboardInterrupt:
            raise typer.Exit(130)
        except (typer.Exit, typer.Abort):
            raise
        except OSError as error:
            if verbose:
                traceback.print_exc()
            report_diagnostics([_io_diagnostic(error)], as_json)
            raise typer.Exit(EXIT_USER)
        except Exception as error:  # a bug in alexspec, not in the user's spec
            if verbose:
                traceback.print_exc()
            print_error(f"internal error: {type(error).__name__}: {error}"
                        + ("" if verbose else "\n  run with --verbose for the traceback, and report it as a bug"))
            raise typer.Exit(EXIT_INTERNAL)

    return wrapper


def end_process(code: int | str | None) -> None:
    """Exit with `code` as SystemExit would (None: 0; text: printed, then 1), without the interpreter's finalisation.

    Finalisation frees every module and object one by one: 0.04 s after `validate` (a fifth of the command), 0.3 to
    0.8 s after `check` has loaded torch and jax, for a process whose memory the system reclaims at once; and in a
    torchrun job (`-m alexnet_spec train`), C++ threads of torch.distributed that outlive the process group abort
    there now and then ("terminate called without an active exception", exit -6). Nothing is
    lost: the commands write their files whole (atomically) before returning, and the standard streams are flushed
    here; a closed stdout (`| head`) is left quietly, as `reports_errors` leaves it."""
    if code is None:
        code = EXIT_OK
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def report_diagnostics(diagnostics: list[Diagnostic], as_json: bool) -> None:
    if as_json:
        print(json.dumps(as_json_errors(diagnostics), indent=2, ensure_ascii=False))
        sys.stdout.flush()
    else:
        print_error(render(diagnostics, _source_lines(diagnostics)))


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


def emit_json(data, output: Optional[Path]) -> None:
    """A report as indented JSON, to stdout or to `output`."""
    emit(json.dumps(data, indent=2, ensure_ascii=False) + "\n", output)


def terminal_width() -> int:
    """The width reports are laid out for: the terminal's, $COLUMNS, or 80 when neither says (a pipe, a file)."""
    import shutil

    return max(40, shutil.get_terminal_size((80, 24)).columns)


def render_rich(renderable, width: Optional[int] = None) -> str:
    """A rich table (or group) as plain text at `width` columns, for stdout or a file alike."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=width or terminal_width(), color_system=None, highlight=False).print(renderable)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())  # rich pads every line


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
