"""`alexspec convert-weights`: trained weights between a torch `.pt` state dict and a `.npz` of JAX params."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from alexnet_spec import backends
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.weights import canonical_arrays


def convert_file(spec_path: str | Path, in_path: str | Path, out_path: str | Path) -> None:
    """A torch `.pt` state dict to a `.npz` of JAX params (keys "conv1/kernel", "bn1/mean" ...), or back; the
    direction follows the suffixes. Every array is checked against the spec before anything is written; the output
    file appears whole or not at all."""
    from alexnet_spec.files import write_bytes
    from alexnet_spec.interop.weights_io import load_npz, load_pt
    from alexnet_spec.source.loading import load_network

    source, target = Path(in_path), Path(out_path)
    direction = (source.suffix, target.suffix)
    if direction not in ((".pt", ".npz"), (".npz", ".pt")):
        raise SpecError(Diagnostic(f"cannot convert {source.suffix or 'no suffix'} to {target.suffix or 'no suffix'}",
                                   file=str(source), expected="IN.pt OUT.npz (torch to jax) or IN.npz OUT.pt (jax to "
                                   "torch)", hint="the direction follows the file suffixes"))
    net = load_network(spec_path)
    buffer = io.BytesIO()
    if direction == (".pt", ".npz"):
        state_dict = canonical_arrays(net, load_pt(source), str(source))
        np.savez(buffer, **backends.get("jax").canonical_to_flat(state_dict, net, str(source)))
    else:
        import torch

        state_dict = backends.get("jax").flat_to_canonical(load_npz(source), net, str(source))
        torch.save({name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in state_dict.items()}, buffer)
    write_bytes(target, buffer.getvalue())
