"""alexspec: a declarative architecture-spec compiler for convolutional networks.

    spec = alexnet_spec.load("specs/alexnet.yaml")
    model = alexnet_spec.build(spec, backend="torch")

Importing this package never imports torch or jax; `build` imports the framework of the chosen backend.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.spec.network import NetworkSpec

__version__ = "0.1.0"
__all__ = ["Diagnostic", "NetworkSpec", "SpecError", "build", "compile_source", "load", "resolve", "__version__"]


def load(path: str | Path, overrides: Sequence[str] | dict[str, Any] | None = None) -> NetworkSpec:
    """The validated spec of a YAML file, every layer named; errors are SpecError located in the file.

    `overrides` are `--set` edits: ["conv1.groups=1", "input.height=224"], or {"conv1.groups": 1}.
    """
    from alexnet_spec.source.loading import load_network

    network = load_network(path, _override_list(overrides))
    spec = network.spec
    spec._source_file = str(path)
    spec._overrides = network.overrides  # generated headers' "Regenerate with:" repeats them
    return spec


def resolve(spec: NetworkSpec | str | Path):
    """The ResolvedNetwork (shapes, parameters, placement) of a spec or a spec file."""
    from alexnet_spec.source.loading import load_network
    from alexnet_spec.passes import resolve as resolve_spec

    if isinstance(spec, (str, Path)):
        return load_network(spec)
    if getattr(spec, "_source_file", None) is None:
        return resolve_spec(spec)
    return dataclasses.replace(resolve_spec(spec, spec._source_file), overrides=spec._overrides)


def compile_source(spec: NetworkSpec | str | Path, backend: str = "torch", output: str = "spec",
                   precision: str | None = None) -> str:
    """The standalone source text a backend generates for `spec` (never imports the framework); `output`: "spec"
    (what the spec says) or "logits" (a final softmax dropped); `precision`: "float32", "bfloat16" or "float16"
    (default: the spec's `precision`, float32 unless it says otherwise)."""
    from alexnet_spec import backends
    from alexnet_spec.logits import with_output
    from alexnet_spec.precision import with_precision

    return backends.get(backend).render(with_precision(with_output(resolve(spec), output), precision))


def build(spec: NetworkSpec | str | Path, backend: str = "torch", devices: Sequence[str] | None = None,
          output: str = "spec", precision: str | None = None, **options: Any):
    """Build the model by executing the very source that `compile_source` returns.

    torch: an `nn.Module`; `devices` (e.g. ["cuda:0", "cuda:1"]) places each device's share of split layers there.
    jax: an object with `.init(key)` and `.apply(params, x)`. `output="logits"` drops a final softmax, so that
    training can use the numerically stable cross-entropy on logits; the default keeps what the spec says.
    `precision`: "bfloat16" or "float16" stores parameters and activations in that type, float32 only where the
    numerics need it (docs/precision.md); default: the spec's `precision`, float32 unless it says otherwise.
    """
    from alexnet_spec import backends
    from alexnet_spec.logits import with_output
    from alexnet_spec.precision import with_precision

    net = with_precision(with_output(resolve(spec), output), precision)
    return backends.get(backend).build(net, devices=devices, **options)


def _override_list(overrides) -> list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        import json

        return [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
    return list(overrides)
