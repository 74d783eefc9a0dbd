"""The JAX backend: a ResolvedNetwork rendered into one standalone module of pure functions (templates/), and
`build`, which executes that very source.

    source = backend.render(net)      # what `alexspec compile SPEC --backend jax` prints; never imports jax
    model = backend.build(net)        # the executed module: model.init(key), model.init_state(), model.apply(...)

Weights move from and to canonical (PyTorch) weights with backends/jax/weights.py: torch_to_jax, jax_to_torch, and
the flat params files of `alexspec convert-weights`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from alexnet_spec.resolved import ResolvedNetwork

from .build import build as _build
from .build import generated_module
from .view import render as _render


class JaxBackend:
    name = "jax"
    evaluator_compiles = True  # `alexspec check` prepares it first, so that XLA compiles while torch is imported

    def render(self, net: ResolvedNetwork) -> str:
        """The module's source text."""
        return _render(net)

    def build(self, net: ResolvedNetwork, devices: Sequence[str] | None = None, **options: Any):
        """The executed module (init, init_state, apply); see build.build."""
        return _build(net, devices=devices, **options)

    def prepare(self) -> None:
        """Import jax and start its CPU client now, so that a caller (`alexspec check`) can do so while it does other
        work."""
        import jax

        jax.devices()

    def evaluate(self, net: ResolvedNetwork, weights: Mapping[str, Any], x, dtype: str = "float64"):
        """Every layer's output, canonical layout, for `alexspec check`."""
        from .evaluate import evaluate

        return evaluate(generated_module(net), net, weights, x, dtype)

    def evaluator(self, net: ResolvedNetwork, batch: int, dtype: str = "float64"):
        """`evaluate` as a function of (weights, x), `apply` traced and compiled now for `batch` images."""
        from .evaluate import evaluator

        return evaluator(generated_module(net), net, batch, dtype)

    def flat_to_canonical(self, arrays: Mapping[str, Any], net: ResolvedNetwork, source: str):
        """Canonical weights from a params file's flat "layer/field" arrays, every name and shape checked."""
        from .weights import jax_file_to_torch

        return jax_file_to_torch(arrays, net, source)

    def canonical_to_flat(self, weights: Mapping[str, Any], net: ResolvedNetwork, source: str):
        """A params file's flat "layer/field" arrays from canonical weights."""
        from .weights import canonical_to_flat

        return canonical_to_flat(weights, net, source)

    def trainer(self, net: ResolvedNetwork, weights: Mapping[str, Any], **options: Any):
        """A Trainer (train.py) for the loop of alexnet_spec/training, started from canonical `weights`."""
        from .train import Trainer

        return Trainer(net, weights, **options)


backend = JaxBackend()

__all__ = ["backend", "generated_module"]
