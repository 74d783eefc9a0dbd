"""The backend registry: backends are found by name through the `alexnet_spec.backends` entry-point group.

A backend is an object with `name`, `file_suffix`, `render(net) -> str` (source text, without importing its
framework) and `build(net, **options)` (executes that same source). Another package adds one by declaring an entry
point in the same group.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Protocol

from alexnet_spec.errors import Diagnostic, SpecError

GROUP = "alexnet_spec.backends"


class Backend(Protocol):
    name: str
    file_suffix: str

    def render(self, net: Any) -> str: ...

    def build(self, net: Any, **options: Any) -> Any: ...


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
        raise SpecError(Diagnostic(f"unknown backend {name!r}", file="--backend",
                                   expected=f"one of: {', '.join(available()) or '(none installed)'}",
                                   hint="backends register under the entry-point group " + GROUP))
    return points[name].load()
