"""The interop commands: `alexspec import caffe`, `alexspec import onnx` and `alexspec export`.

cli.py registers them (`app.add_typer(import_app, name="import")`, `app.command("export")(export_command)`). They
parse arguments, call the converters and print; onnx, numpy and torch are imported only when a command runs, so
that `alexspec --help` stays fast. They reuse cli's option types and error handling; to work in either import order
despite that cycle, nothing here needs cli while this module is being defined: the annotations are strings (resolved
by Typer when the app is built, from the names imported at the bottom) and `reports_errors` and the file writers are
looked up when a command runs.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from alexnet_spec.errors import Diagnostic, SpecError

FORMATS = ("onnx",)

import_app = typer.Typer(help="Bring networks in from other formats: Caffe deploy prototxts, ONNX models.",
                         no_args_is_help=True)

SpecOutput = Annotated[Optional[Path], typer.Option("--output", "-o", help="the spec to write (atomically); "
                                                    "stdout without it")]


def reports_errors(command: Callable) -> Callable:
    """`cli.reports_errors` around `command`: a SpecError becomes located diagnostics on stderr and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from alexnet_spec.cli import reports_errors as cli_reports_errors

        return cli_reports_errors(command)(*args, **kwargs)

    return wrapper


def _emit(text: str, output: Optional[Path]) -> None:
    """To stdout, or to `output` written whole or not at all."""
    from alexnet_spec.files import write_text

    if output is None:
        sys.stdout.write(text)
        return
    write_text(output, text)
    print(f"wrote {output}", file=sys.stderr)


def _write_bytes(path: Path, data: bytes) -> None:
    from alexnet_spec.files import write_bytes

    write_bytes(path, data)


def _needs_onnx(what: str) -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise SpecError(Diagnostic(f"{what} needs the onnx package", file="alexspec",
                                   hint='pip install "alexspec[onnx]"')) from None


@import_app.command("caffe")
@reports_errors
def import_caffe(prototxt: Annotated[Path, typer.Argument(help="a Caffe deploy .prototxt (either header style)",
                                                          show_default=False)],
                 output: SpecOutput = None, verbose: VerboseOpt = False) -> None:
    """A Caffe deploy prototxt as a spec, with what Caffe leaves implicit written down and listed in its header."""
    from alexnet_spec.interop.caffe import import_prototxt

    _emit(import_prototxt(prototxt, output.parent if output is not None else None), output)


@import_app.command("onnx")
@reports_errors
def import_onnx_command(model: Annotated[Path, typer.Argument(help="an ONNX model: a chain of the spec's layer "
                                                                  "types", show_default=False)],
                        output: SpecOutput = None,
                        weights_out: Annotated[Optional[Path], typer.Option("--weights-out", help="write the weights "
                                                                            "here (atomically), canonical names: .npz "
                                                                            "or .pt")] = None,
                        verbose: VerboseOpt = False) -> None:
    """An ONNX model as a spec, and with --weights-out its weights in the canonical format."""
    if weights_out is not None and weights_out.suffix not in (".npz", ".pt", ".pth"):
        raise SpecError(Diagnostic(f"cannot write weights to a {weights_out.suffix or 'suffix-less'} file",
                                   file=str(weights_out), expected=".npz or .pt"))
    _needs_onnx("importing ONNX")
    from alexnet_spec.interop.onnx_import import import_onnx_text
    from alexnet_spec.interop.weights_io import weights_bytes

    text, weights = import_onnx_text(model, output.parent if output is not None else None)
    if weights_out is not None:
        _write_bytes(weights_out, weights_bytes(weights_out, weights))
        print(f"wrote {weights_out} ({len(weights)} arrays)", file=sys.stderr)
    else:
        print(f"{model}: {len(weights)} weight arrays not written (pass --weights-out FILE.npz to keep them)",
              file=sys.stderr)
    _emit(text, output)


@reports_errors
def export_command(spec: Annotated[Path, typer.Argument(help="a YAML spec file", show_default=False)],
                   format: Annotated[str, typer.Option("--format", "-f", help="the format to write: onnx")] = "onnx",
                   output: Annotated[Path, typer.Option("--output", "-o", help="the file to write (atomically)",
                                                        show_default=False)] = ...,
                   weights: Annotated[Optional[Path], typer.Option("--weights", help="trained weights: a torch .pt "
                                                                   "state dict or a .npz (canonical names); without "
                                                                   "it, drawn from the spec's init, seed 0")] = None,
                   set: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Export a spec and its weights to ONNX (opset 22) for runtimes such as onnxruntime."""
    if format not in FORMATS:
        raise SpecError(Diagnostic(f"unknown format {format!r}", file="--format", expected=" or ".join(FORMATS)))
    _needs_onnx("--format onnx")
    import numpy as np

    from alexnet_spec.interop.onnx_export import OPSET, export_model
    from alexnet_spec.interop.weights_io import read_weights
    from alexnet_spec.loading import load_network

    net = load_network(spec, set or [])
    if weights is None:
        from alexnet_spec.backends.numpy.weights import init_weights

        arrays, source = init_weights(net, np.random.default_rng(0)), "the spec's init"
        print(f"{spec}: no --weights: weights drawn from the spec's declared init (seed 0)", file=sys.stderr)
    else:
        arrays, source = read_weights(weights, net), str(weights)
    data = export_model(net, arrays, source=source).SerializeToString()
    _write_bytes(output, data)
    print(f"wrote {output} (ONNX opset {OPSET}, {net.total_params:,} parameters, {len(data) / 1e6:.1f} MB)",
          file=sys.stderr)


# Last: cli imports this module, and these names are only needed when Typer reads the annotations above.
from alexnet_spec.cli import SetOpt, VerboseOpt  # noqa: E402
