"""The PyTorch backend: a ResolvedNetwork rendered into one standalone, readable module (templates/), and
`build`, which executes that very source.

    source = backend.render(net)        # what `alexspec compile SPEC --backend torch` prints; never imports torch
    model = backend.build(net)          # an instance of the class in that source
    placed = backend.build(net, devices=["cuda:0", "cuda:1"])   # the spec's devices, one torch device each

Weights move between the two with `placed.load_single_state_dict(model.state_dict())` and
`model.load_state_dict(placed.single_state_dict())`; without a model, with `placed_state_dict(net, state)` and
`single_state_dict(net, state)`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from alexnet_spec.resolved import ResolvedNetwork

from .build import build as _build
from .build import generated_module
from .evaluate import build_without_storage
from .evaluate import evaluate as _evaluate
from .evaluate import evaluator as _evaluator
from .evaluate import layer_outputs
from .view import render as _render
from .weights import placed_state_dict, single_state_dict


class TorchBackend:
    name = "torch"

    def render(self, net: ResolvedNetwork) -> str:
        """The module's source text."""
        return _render(net)

    def build(self, net: ResolvedNetwork, devices: Sequence[str] | None = None, dtype: Any = None, **options: Any):
        """An nn.Module made by executing `render(net)`; see build.build."""
        return _build(net, devices=devices, dtype=dtype, **options)

    def prepare(self) -> None:
        """Import torch now, so that a caller (`alexspec check`) can do so while it does other work."""
        import torch  # noqa: F401

    def evaluate(self, net: ResolvedNetwork, weights: Mapping[str, Any], x: Any,
                 dtype: str = "float64") -> list[tuple[str, Any]]:
        """Every layer's output (numpy arrays) of the single-device model in eval mode, for `alexspec check`."""
        return _evaluate(build_without_storage(net), net, weights, x, dtype)

    def evaluator(self, net: ResolvedNetwork, batch: int, dtype: str = "float64"):
        """`evaluate` as a function of (weights, x), its model built now (on the meta device: no storage)."""
        return _evaluator(build_without_storage(net), net, batch, dtype)

    def trainer(self, net: ResolvedNetwork, weights: Mapping[str, Any], **options: Any):
        """A Trainer (train.py) for the loop of alexnet_spec/training, started from canonical `weights`."""
        from .train import Trainer

        return Trainer(net, weights, **options)


backend = TorchBackend()

__all__ = ["backend", "generated_module", "layer_outputs", "placed_state_dict", "single_state_dict"]
