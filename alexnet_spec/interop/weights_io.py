"""Weight files for export and import, always in the canonical format (the single-device torch state_dict's names
and layouts). The canonical file is `.safetensors` (framework-neutral, no code in it); a torch `.pt` state dict or a
`.npz` of the same names is read and written too. A `.npz` of JAX params as `alexspec
convert-weights` writes them ("conv1/kernel", ...) is accepted too and converted. torch is imported only for `.pt`."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path
from typing import Mapping

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import ResolvedNetwork

SUFFIXES = "a .safetensors file, a torch state dict (.pt) or a .npz with the canonical names (conv1.weight, ...)"


def read_weights(path: str | Path, net: ResolvedNetwork) -> dict[str, np.ndarray]:
    """Canonical weights from a file; a SpecError naming the file (and the array) when it cannot be read."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_safetensors(path)
    if path.suffix == ".npz":
        arrays = load_npz(path)
        if arrays and all("/" in key for key in arrays):  # JAX params from `alexspec convert-weights`
            from alexnet_spec import backends

            return backends.get("jax").flat_to_canonical(arrays, net, str(path))
        return arrays
    if path.suffix in (".pt", ".pth"):
        return load_pt(path)
    _require_file(path)
    raise SpecError(Diagnostic(f"cannot read weights from a {path.suffix or 'suffix-less'} file", file=str(path),
                               expected=SUFFIXES))


def load_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a `.safetensors` file, as arrays (the format holds only a JSON header and raw tensors)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    _require_file(path)
    try:
        arrays = load(path.read_bytes())
    except (SafetensorError, ValueError, TypeError, OSError) as error:
        raise SpecError(Diagnostic(f"cannot read a .safetensors file: {_reason(error)}", file=str(path),
                                   expected=SUFFIXES, hint="the file is damaged or not a weights file")) from None
    return {key: _numeric(array, key, path) for key, array in arrays.items()}


def safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The text metadata of a `.safetensors` file's header (alexspec writes the spec's name and hash there)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return dict(handle.metadata() or {})


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of a `.npz`, read now; never unpickles (a pickled object array is an error, not code run)."""
    path = Path(path)
    _require_file(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise SpecError(_not_npz(path, _reason(error))) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a .npy under a .npz name
        raise SpecError(_not_npz(path, "it holds a single array, not an archive of named arrays"))
    with archive:
        return {key: _read_member(archive, key, path) for key in archive.files}


def _claimed_bytes_fit(archive, key: str, path: Path) -> None:
    """A .npy header states the array's shape, and numpy allocates that much before reading a zip member: a header
    may claim terabytes in a file of a few bytes. Refuse any header that claims more than its member holds."""
    member = key if key in archive.zip.namelist() else f"{key}.npy"
    try:
        info = archive.zip.getinfo(member)
        with archive.zip.open(member) as stream:
            version = np.lib.format.read_magic(stream)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(stream)
            header = stream.tell() if stream.seekable() else None
    except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error):
        return  # not a .npy member, or a damaged one: reading it reports that
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if header is not None and claimed > info.file_size - header:
        raise SpecError(Diagnostic(f"array {key!r} claims {claimed:,} bytes ({'×'.join(map(str, shape))} {dtype}) "
                                   f"but the file holds {max(info.file_size - header, 0):,}", file=str(path),
                                   hint="the file is damaged or not a weights file")) from None


def _read_member(archive, key: str, path: Path) -> np.ndarray:
    _claimed_bytes_fit(archive, key, path)
    try:
        array = archive[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as error:
        raise SpecError(Diagnostic(f"cannot read array {key!r}: {_reason(error)}", file=str(path),
                                   hint="the file is damaged or truncated; save it again")) from None
    if not isinstance(array, np.ndarray):  # numpy hands back the raw bytes of a member that is not a .npy
        raise SpecError(_not_npz(path, f"member {key!r} is not a .npy array"))
    return _numeric(array, key, path)


def load_pt(path: str | Path) -> dict[str, np.ndarray]:
    """A torch state dict's tensors as arrays. torch.load(weights_only=True) refuses pickles that would build
    anything but tensors and plain containers, so a malicious file is an error and never runs."""
    path = Path(path)
    _require_file(path)
    try:
        import torch
    except ImportError:
        raise SpecError(Diagnostic("reading a .pt file needs torch", file=str(path),
                                   hint='pip install "alexspec[torch]", or pass a .npz')) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError ... for what is not a state dict
        raise SpecError(Diagnostic(f"cannot read a torch state dict: {_reason(error)}", file=str(path),
                                   expected=SUFFIXES, hint=SAVE_HINT)) from None
    if not isinstance(state, Mapping):
        raise SpecError(Diagnostic(f"the file holds a {_kind(state)}, not a state dict", file=str(path),
                                   expected="a mapping of names to tensors", hint=SAVE_HINT))
    arrays = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise SpecError(Diagnostic(f"the state dict has a key {key!r} that is not a name", file=str(path),
                                       expected="string keys such as conv1.weight", hint=SAVE_HINT))
        if not isinstance(value, torch.Tensor):
            hint = "is this a training checkpoint? save model.state_dict() itself" if isinstance(value, Mapping) \
                else SAVE_HINT
            raise SpecError(Diagnostic(f"entry {key!r} is a {_kind(value)}, not a tensor", file=str(path),
                                       expected="a mapping of names to tensors", hint=hint))
        arrays[key] = _numeric(value.detach().cpu().numpy(), key, path)
    return arrays


SAVE_HINT = "save weights with torch.save(model.state_dict(), path)"


def _numeric(array: np.ndarray, key: str, path: Path) -> np.ndarray:
    """Weights are real numbers: booleans, strings and complex values are not weights."""
    if array.dtype.kind not in "fiu":
        raise SpecError(Diagnostic(f"array {key!r} holds {array.dtype} values", file=str(path),
                                   expected="a floating-point (or integer) array"))
    return array


def _require_file(path: Path) -> None:
    if not path.exists():
        raise SpecError(Diagnostic("no such file", file=str(path), expected=SUFFIXES))
    if not path.is_file():
        raise SpecError(Diagnostic("not a regular file", file=str(path), expected=SUFFIXES))


def _not_npz(path: Path, reason: str) -> Diagnostic:
    return Diagnostic(f"cannot read a .npz: {reason}", file=str(path), expected=SUFFIXES,
                      hint="save weights with numpy.savez(path, **arrays); a torch file should end in .pt")


def _reason(error: BaseException) -> str:
    """The first line of an exception's message: torch's run to several paragraphs."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _kind(value) -> str:
    return type(value).__module__.split(".")[0] + "." + type(value).__name__ \
        if type(value).__module__ not in ("builtins",) else type(value).__name__


def weights_bytes(path: str | Path, weights: Mapping[str, np.ndarray],
                  metadata: Mapping[str, str] | None = None) -> bytes:
    """The bytes of a weight file for `path`'s suffix: .safetensors (with `metadata` in its header), .npz, or .pt
    (a torch state dict)."""
    path = Path(path)
    buffer = io.BytesIO()
    if path.suffix == ".safetensors":
        from safetensors.numpy import save

        # np.ascontiguousarray would make a 0-d array (num_batches_tracked) 1-d
        return save({key: np.require(value, requirements="C") for key, value in weights.items()},
                    metadata=dict(metadata or {}))
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
                                   expected=".safetensors, .npz or .pt"))
    return buffer.getvalue()
