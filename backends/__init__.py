"""The backend registry: backends are found by name through the `alexnet_spec.backends` entry-point group.

A backend is an object with `name`, `render(net) -> str` (source text, without importing its framework),
`build(net, **options)` (executes that same source) and `evaluate(net, weights, x, dtype)` (every layer's output,
which `alexspec check` compares with the reference's). Another package adds one by declaring an entry point in the
same group. Backends that can train (torch, jax) also offer `trainer(net, weights, **options)`: the step and the
forward pass behind `alexspec train` (alexnet_spec/training/loop.py; backends/*/train.py), `prepare()`, which
imports the framework ahead of `evaluate`, and `evaluator(net, batch, dtype)`, which does the work of `evaluate`
that needs no values (building, tracing, compiling) and returns it as a function of (weights, x): `alexspec check`
calls both while it draws the weights, and prepares first a backend whose `evaluator_compiles` is true (its
compiler then runs, off the interpreter lock, while the other frameworks are imported).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Mapping, Protocol

from alexnet_spec.errors import unknown_choice

GROUP = "alexnet_spec.backends"


class Backend(Protocol):
    name: str

    def render(self, net: Any) -> str:
        """The generated module's source text; never imports the backend's framework."""
        ...

    def build(self, net: Any, **options: Any) -> Any:
        """A model made by executing the source that `render` returns."""
        ...

    def evaluate(self, net: Any, weights: Mapping[str, Any], x: Any, dtype: str = "float64") -> list[tuple[str, Any]]:
        """[(layer name, output)] for every layer, in eval mode, with `weights` in the canonical format (the
        single-device torch state_dict's names and layouts) and outputs in the canonical layout ((N, C, H, W) or
        (N, F)), as numpy arrays: what `alexspec check` compares."""
        ...


@lru_cache(maxsize=None)
def _entry_points() -> dict[str, Any]:
    return {point.name: point for point in entry_points(group=GROUP)}


def available() -> list[str]:
    """The names of every registered backend, sorted."""
    return sorted(_entry_points())


def get(name: str) -> Backend:
    """The backend registered under `name`; an unknown name is a SpecError listing the known ones."""
    points = _entry_points()
    if name not in points:
        raise unknown_choice("backend", name, available() or ["(none installed)"], file="--backend",
                             hint="another package adds a backend under the entry-point group " + GROUP)
    return points[name].load()
