"""The interop commands: `alexspec import caffe`, `alexspec import onnx` and `alexspec export`; cli.py registers them.
They parse arguments, call the converters and print; onnx, numpy and torch are imported only when a command runs,
so that `alexspec --help` stays fast."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from alexnet_spec.cli_support import APP_SETTINGS, SetOpt, SpecArg, VerboseOpt, emit, emit_bytes, reports_errors
from alexnet_spec.errors import Diagnostic, SpecError, unknown_choice
from alexnet_spec.source.loading import load_network

FORMATS = ("onnx",)

import_app = typer.Typer(help="Bring networks in from other formats: Caffe deploy prototxts, ONNX models.",
                         no_args_is_help=True, **APP_SETTINGS)

SpecOutput = Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE", show_default=False,
                                                    help="the spec to write (atomically); stdout without it")]
WeightsOut = Annotated[Optional[Path], typer.Option("--weights-out", metavar="FILE", help="write the weights here "
                                                    "(atomically): a .safetensors file with canonical names "
                                                    "(conv1.weight, ...)")]


def _needs_onnx(what: str) -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise SpecError(Diagnostic(f"{what} needs the onnx package", file="alexspec",
                                   hint='pip install "alexspec[onnx]"')) from None


@import_app.command("caffe")
@reports_errors
def import_caffe(prototxt: Annotated[Path, typer.Argument(metavar="PROTOTXT", help="a Caffe .prototxt: deploy (either header style), "
                                                          "train_val/train_test (its TEST phase), V1 `layers`",
                                                          show_default=False)],
                 output: SpecOutput = None,
                 input_size: Annotated[Optional[str], typer.Option("--input", metavar="C,H,W", help="C,H,W of a train_val file's "
                                                                   "data layer, which reads it from a database")] = None,
                 weights: Annotated[Optional[Path], typer.Option("--weights", metavar="FILE", help="the trained .caffemodel of "
                                                                 "this network")] = None,
                 weights_out: WeightsOut = None, verbose: VerboseOpt = False) -> None:
    """A Caffe network as a spec, with what Caffe leaves implicit written down and listed in its header; with
    --weights and --weights-out, its trained weights in the canonical format."""
    from alexnet_spec.interop.caffe import import_with_weights

    _check_weights_out(weights_out)
    if (weights is None) != (weights_out is None):
        raise SpecError(Diagnostic("--weights and --weights-out go together", file="alexspec import caffe",
                                   expected="--weights MODEL.caffemodel --weights-out FILE.safetensors"))
    text, arrays = import_with_weights(prototxt, output.parent if output is not None else None, _chw(input_size),
                                       weights)
    if weights_out is not None:
        _write_weights(weights_out, arrays, text)
    emit(text, output)



def _check_weights_out(path: Path | None) -> None:
    if path is not None and path.suffix != ".safetensors":
        raise SpecError(Diagnostic(f"cannot write weights to a {path.suffix or 'suffix-less'} file", file=str(path),
                                   expected=".safetensors (alexspec's weight file; .pt and .npz are still read)"))


def _write_weights(path: Path, arrays: dict, spec_text: str) -> None:
    """The weights as .safetensors, their header naming the spec they belong to."""
    from alexnet_spec.interop.weights_io import weights_bytes

    name = next((line.split(":", 1)[1].strip() for line in spec_text.splitlines() if line.startswith("name:")), "")
    emit_bytes(weights_bytes(path, arrays, {"format": "alexspec canonical weights", "spec_name": name}), path,
               f" ({len(arrays)} arrays)")


def _chw(text: str | None) -> tuple[int, int, int] | None:
    """--input "3,227,227" as (3, 227, 227)."""
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 3 or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise SpecError(Diagnostic(f"--input {text!r} is not three positive whole numbers", file="--input",
                                   expected="C,H,W such as 3,227,227"))
    return tuple(int(part) for part in parts)


@import_app.command("onnx")
@reports_errors
def import_onnx_command(model: Annotated[Path, typer.Argument(metavar="MODEL", help="an ONNX model: a chain of the spec's layer "
                                                                  "types", show_default=False)],
                        output: SpecOutput = None,
                        weights_out: WeightsOut = None, verbose: VerboseOpt = False) -> None:
    """An ONNX model as a spec, and with --weights-out its weights in the canonical format."""
    _check_weights_out(weights_out)
    _needs_onnx("importing ONNX")
    from alexnet_spec.interop.onnx_import import import_onnx_text

    text, weights = import_onnx_text(model, output.parent if output is not None else None)
    if weights_out is not None:
        _write_weights(weights_out, weights, text)
    else:
        print(f"{model}: {len(weights)} weight arrays not written (pass --weights-out FILE.safetensors to keep "
              "them)", file=sys.stderr)
    emit(text, output)


@reports_errors
def export_command(spec: SpecArg,
                   format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT",
                                                       autocompletion=lambda: list(FORMATS),
                                                       help="the format to write: onnx")] = "onnx",
                   output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE",
                                                        help="the file to write (atomically)",
                                                        show_default=False)] = ...,
                   weights: Annotated[Optional[Path], typer.Option("--weights", metavar="FILE", help="trained weights: .safetensors, "
                                                                   "a torch .pt state dict or a .npz (canonical "
                                                                   "names); without it, drawn from the spec's init, "
                                                                   "seed 0")] = None,
                   set: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Export a spec and its weights to ONNX (opset 22) for runtimes such as onnxruntime."""
    if format not in FORMATS:
        raise unknown_choice("format", format, FORMATS, file="--format")
    _needs_onnx("--format onnx")
    import numpy as np

    from alexnet_spec.interop.onnx_export import OPSET, export_model
    from alexnet_spec.interop.weights_io import read_weights

    net = load_network(spec, set)
    if weights is None:
        from alexnet_spec.weights import init_weights

        arrays, source = init_weights(net, np.random.default_rng(0)), "the spec's init"
        print(f"{spec}: no --weights: weights drawn from the spec's declared init (seed 0)", file=sys.stderr)
    else:
        arrays, source = read_weights(weights, net), str(weights)
    data = export_model(net, arrays, source=source).SerializeToString()
    emit_bytes(data, output, f" (ONNX opset {OPSET}, {net.total_params:,} parameters, {len(data) / 1e6:.1f} MB)")

