"""`alexspec convert-weights`: trained weights from any file alexspec reads (.safetensors, a torch .pt/.pth state
dict, a .npz of canonical names or of JAX params) to .safetensors or .pt (canonical names and layouts) or to a .npz
of JAX params ("conv1/kernel", HWIO, ...)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from alexnet_spec import backends
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.weights import canonical_arrays

TARGETS = (".safetensors", ".pt", ".pth", ".npz")


def convert_file(spec_path: str | Path, in_path: str | Path, out_path: str | Path,
                 from_order: bool = False) -> list[str]:
    """Read `in_path` (its suffix says how), check every array against the spec, and write `out_path` in the form its
    suffix names: .safetensors or .pt canonical, .npz JAX params. The output appears whole or not at all.

    from_order: `in_path` names its arrays after another model's modules (torchvision's `features.0.weight`): they
    are paired with the spec's layers by order and shape (weights_by_order.py); returns the pairing's report."""
    from alexnet_spec.files import write_bytes
    from alexnet_spec.interop.weights_io import read_weights, weights_bytes
    from alexnet_spec.source.loading import load_network

    source, target = Path(in_path), Path(out_path)
    if target.suffix not in TARGETS:
        raise SpecError(Diagnostic(f"cannot write weights to a {target.suffix or 'suffix-less'} file",
                                   file=str(target), expected=".safetensors or .pt (canonical names), or .npz (JAX "
                                   "params)", hint="the output's suffix says what it holds"))
    net = load_network(spec_path)
    report: list[str] = []
    if from_order:
        from alexnet_spec.tools.weights_by_order import by_order

        if source.suffix == ".safetensors":
            raise SpecError(Diagnostic("--from-order needs a file that keeps its arrays' order", file=str(source),
                                       expected="a torch .pt/.pth state dict or a .npz",
                                       hint=".safetensors stores its tensors sorted by name, not in model order"))
        arrays, report = by_order(net, read_weights(source, net), str(source))
    else:
        arrays = read_weights(source, net)
    state_dict = canonical_arrays(net, arrays, str(source))
    if target.suffix == ".npz":
        buffer = io.BytesIO()
        np.savez(buffer, **backends.get("jax").canonical_to_flat(state_dict, net, str(source)))
        data = buffer.getvalue()
    else:
        data = weights_bytes(target, state_dict, {"format": "alexspec canonical weights", "spec_name": net.name,
                                                  "spec_hash": net.spec_hash})
    write_bytes(target, data)
    return report
