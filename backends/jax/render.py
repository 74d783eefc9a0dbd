"""Render a ResolvedNetwork into the source of one standalone JAX module (never imports jax)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from alexnet_spec.resolved import ResolvedNetwork

from .view import file_view

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=None)
def environment() -> jinja2.Environment:
    """The one template environment: a typo in a template fails instead of printing nothing."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def render(net: ResolvedNetwork) -> str:
    """The module's source: a header, the helper functions its layers use, `init`, `init_state` and `apply`."""
    return environment().get_template("module.jinja").render(file=file_view(net))
