"""Training checkpoints: a folder holding the weights in the canonical format and the optimizer state beside them.

    DIR/weights.safetensors            canonical weights (the single-device torch state_dict's names and layouts), so
                                       `convert-weights`, `export --weights` and `check --weights` read it as it is;
                                       its header names the spec, and holds the training state (JSON) and the name of
    DIR/optimizer-STEP.safetensors     the optimizer state, in canonical names and layouts ("momentum_buffer/c1.weight")
                                       whichever backend wrote it.

Every file is written atomically (alexnet_spec/files.py). The optimizer state goes first, under a new name; the
weights file, written last, is the commit: until it is replaced, it names the previous optimizer file, which is
removed only afterwards. An error or an interrupt at any point leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.files import write_bytes
from alexnet_spec.interop.weights_io import load_safetensors, safetensors_metadata, weights_bytes
from alexnet_spec.resolved import ResolvedNetwork
from alexnet_spec.weights import canonical_arrays

WEIGHTS = "weights.safetensors"


@dataclass(frozen=True)
class Checkpoint:
    weights: dict[str, np.ndarray]  # canonical
    optimizer: dict[str, np.ndarray]  # "state_name/canonical weight name", or a plain name for scalars
    state: dict  # the loop's own state (JSON): step, schedule, history, configuration


def prepare(folder: Path) -> None:
    """Make `folder` if needed and make sure a file can be written in it, before any training: a SpecError naming
    it otherwise."""
    try:
        if folder.exists() and not folder.is_dir():
            raise SpecError(Diagnostic("not a folder; cannot hold checkpoints", file=str(folder),
                                       expected="a folder (made if missing)"))
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".probe.")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise SpecError(Diagnostic(f"cannot write checkpoints here: {error.strerror or error}", file=str(folder),
                                   expected="a folder that can be created and written",
                                   hint="choose another --checkpoint folder")) from None


def save(folder: Path, net: ResolvedNetwork, checkpoint: Checkpoint) -> None:
    """Write `checkpoint` into `folder` (see the module's docstring for the order that keeps it whole)."""
    optimizer_name = f"optimizer-{checkpoint.state['step']:09d}.safetensors"
    stale = [path for path in folder.glob("optimizer-*.safetensors") if path.name != optimizer_name]
    write_bytes(folder / optimizer_name, weights_bytes(folder / optimizer_name, checkpoint.optimizer))
    metadata = {"spec": net.name, "spec_hash": net.spec_hash, "optimizer": optimizer_name,
                "training": json.dumps(checkpoint.state, sort_keys=True)}
    write_bytes(folder / WEIGHTS, weights_bytes(folder / WEIGHTS, checkpoint.weights, metadata))
    for path in stale:
        path.unlink(missing_ok=True)


def load(folder: Path, net: ResolvedNetwork) -> Checkpoint:
    """The checkpoint in `folder`, checked against `net`: a SpecError naming the file when it is missing, damaged
    or from another spec."""
    path = folder / WEIGHTS
    if not path.is_file():
        raise SpecError(Diagnostic("no checkpoint to resume from", file=str(path),
                                   hint="run once with --checkpoint and without --resume"))
    metadata = safetensors_metadata(path)
    if "training" not in metadata or "optimizer" not in metadata:
        raise SpecError(Diagnostic("the weights file holds no training state", file=str(path),
                                   hint="it was not written by `alexspec train`; pass it as weights instead"))
    if metadata.get("spec_hash") != net.spec_hash:
        raise SpecError(Diagnostic(f"the checkpoint was trained on spec {metadata.get('spec')!r} "
                                   f"({metadata.get('spec_hash')}), not on {net.name} ({net.spec_hash})",
                                   file=str(path), hint="resume with the spec (and --set edits) that started it"))
    weights = canonical_arrays(net, load_safetensors(path), str(path))
    optimizer = load_safetensors(folder / metadata["optimizer"])
    return Checkpoint(weights, optimizer, json.loads(metadata["training"]))
