"""Weight files for export and import, always in the canonical format (the single-device torch state_dict's names
and layouts): a torch `.pt` state dict or a `.npz` of the same names. A `.npz` of JAX params as `alexspec
convert-weights` writes them ("conv1/kernel", ...) is accepted too and converted. torch is imported only for `.pt`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import ResolvedNetwork

SUFFIXES = "a torch state dict (.pt) or a .npz with the canonical names (conv1.weight, ...)"


def read_weights(path: str | Path, net: ResolvedNetwork) -> dict[str, np.ndarray]:
    """Canonical weights from a file; a SpecError naming the file when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(Diagnostic("no such file" if not path.exists() else "not a file", file=str(path),
                                   expected=SUFFIXES))
    if path.suffix == ".npz":
        try:
            with np.load(path) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except (OSError, ValueError) as error:
            raise SpecError(Diagnostic(f"cannot read a .npz ({error})", file=str(path), expected=SUFFIXES))
        if arrays and all("/" in key for key in arrays):  # JAX params from `alexspec convert-weights`
            from alexnet_spec.weights import jax_to_torch

            params, state = {}, {}
            for key, value in arrays.items():
                layer, _, field = key.partition("/")
                (state if field in ("mean", "var") else params).setdefault(layer, {})[field] = value
            return jax_to_torch(params, net, state, str(path))
        return arrays
    if path.suffix in (".pt", ".pth"):
        try:
            import torch
        except ImportError:
            raise SpecError(Diagnostic("reading a .pt file needs torch", file=str(path),
                                       hint='pip install "alexspec[torch]", or pass a .npz'))
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises RuntimeError, UnpicklingError, ... for what is not a state dict
            raise SpecError(Diagnostic(f"cannot read a torch state dict ({type(error).__name__})", file=str(path),
                                       expected=SUFFIXES,
                                       hint="save weights with torch.save(model.state_dict(), path)"))
        if not isinstance(state, Mapping):
            raise SpecError(Diagnostic(f"the file holds a {type(state).__name__}, not a state dict", file=str(path),
                                       hint="save weights with torch.save(model.state_dict(), path)"))
        return {key: value.detach().cpu().numpy() for key, value in state.items() if hasattr(value, "detach")}
    raise SpecError(Diagnostic(f"cannot read weights from a {path.suffix or 'suffix-less'} file", file=str(path),
                               expected=SUFFIXES))


def weights_bytes(path: str | Path, weights: Mapping[str, np.ndarray]) -> bytes:
    """The bytes of a weight file for `path`'s suffix: .npz, or .pt (a torch state dict)."""
    path = Path(path)
    buffer = io.BytesIO()
    if path.suffix == ".npz":
        np.savez(buffer, **{key: np.asarray(value) for key, value in weights.items()})
    elif path.suffix in (".pt", ".pth"):
        try:
            import torch
        except ImportError:
            raise SpecError(Diagnostic("writing a .pt file needs torch", file=str(path),
                                       hint='pip install "alexspec[torch]", or write a .npz'))
        torch.save({key: torch.from_numpy(np.array(value)) for key, value in weights.items()}, buffer)  # copies
    else:
        raise SpecError(Diagnostic(f"cannot write weights to a {path.suffix or 'suffix-less'} file", file=str(path),
                                   expected=".npz or .pt"))
    return buffer.getvalue()
