"""The generated `init`: each parameter drawn from its resolved distribution by the helper functions
templates/helpers/init_*.jinja, in the layout the JAX module uses (HWIO kernels, (in, out) dense kernels).

Each distribution arrives concrete (passes/init.py applied the fans): the entry carries its numbers and, as a
comment, the formula they come from. jax has no default of its own, so PyTorch's default is drawn as its Uniform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from alexnet_spec.resolved import (
    BatchNormAttrs,
    Constant,
    ConvAttrs,
    DenseAttrs,
    Normal,
    PReLUAttrs,
    ResolvedLayer,
    ResolvedNetwork,
    Uniform,
)

# The helper that draws each kind of initial value, by the name `init` calls it with.
INIT_HELPERS = {"normal": "helpers/init_normal.jinja", "uniform": "helpers/init_uniform.jinja",
                "constant": "helpers/init_constant.jinja"}
DRAWS = ("normal", "uniform")  # the init helpers that take a key


@dataclass(frozen=True)
class Entry:
    key: str
    expression: str
    comment: str
    helper: str  # the init helper the expression calls: normal, uniform or constant


@dataclass(frozen=True)
class ParamsView:
    name: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class StateView:
    name: str
    width: int


def distribution(key: str, dist, shape: tuple[int, ...]) -> Entry:
    """The entry drawing one parameter from its resolved distribution; its comment is the formula behind the
    numbers when there is one (Kaiming, Xavier, PyTorch's default), else the distribution's kind."""
    layout = "; HWIO" if len(shape) == 4 else ""
    if isinstance(dist, Normal):
        return Entry(key, f"normal(next(keys), {shape}, dtype, mean={dist.mean!r}, std={dist.std!r})",
                     (dist.formula or "normal") + layout, "normal")
    if isinstance(dist, Uniform):  # FrameworkDefault included: jax has no default of its own to leave it to
        return Entry(key, f"uniform(next(keys), {shape}, dtype, low={dist.low!r}, high={dist.high!r})",
                     (dist.formula or "uniform") + layout, "uniform")
    if isinstance(dist, Constant):
        return Entry(key, f"constant({shape}, dtype, {dist.value!r})", (dist.formula or "constant") + layout,
                     "constant")
    raise TypeError(f"unknown distribution {dist!r}; expected Normal, Uniform or Constant")


def params_view(layer: ResolvedLayer, precision: str = "float32") -> ParamsView | None:
    """`precision`: the network's; in bfloat16 and float16 batch normalisation's parameters are float32 still."""
    attrs = layer.attrs
    if isinstance(attrs, ConvAttrs):
        shapes = {"kernel": attrs.kernel + (attrs.in_channels // attrs.groups, attrs.out_channels),
                  "bias": (attrs.out_channels,)}
    elif isinstance(attrs, DenseAttrs):
        shapes = {"kernel": (attrs.in_features, attrs.out_features), "bias": (attrs.out_features,)}
    elif isinstance(attrs, BatchNormAttrs):
        width, dtype = (attrs.num_features,), "dtype" if precision == "float32" else "jnp.float32"
        return ParamsView(layer.name, (Entry("scale", f"constant({width}, {dtype}, 1.0)", "batchnorm scale", "constant"),
                                       Entry("bias", f"constant({width}, {dtype}, 0.0)", "batchnorm shift", "constant")))
    elif isinstance(attrs, PReLUAttrs):
        slopes = (attrs.num_parameters,)
        return ParamsView(layer.name, (Entry("negative_slope", f"constant({slopes}, dtype, {attrs.initial_slope!r})",
                                             "prelu slope" + ("s, one per channel" if attrs.num_parameters > 1 else ""),
                                             "constant"),))
    else:
        return None
    entries = tuple(distribution(key, dist, shapes[key])
                    for key, dist in (("kernel", attrs.weight_init), ("bias", attrs.bias_init)) if dist is not None)
    return ParamsView(layer.name, entries)


def nested_lines(net: ResolvedNetwork, entry: Callable[[ResolvedLayer], list[str] | None]) -> list[str]:
    """The body of a nested dict literal keyed as params are, `params["layer1"]["0"]["conv1"]`: each layer's lines
    from `entry` (None: the layer has no entry) under its scopes' keys, four spaces deeper per level, in the order
    of the scopes' members. A scope without entries has no key."""
    scopes = {scope.name: scope for scope in net.scopes}

    def walk(scope) -> list[str]:
        lines = []
        for member in scope.members:
            if member.is_block:
                inner = walk(scopes[member.qualified])
            else:
                inner = entry(net.layer(member.qualified))
                if inner is not None:
                    lines += inner
                continue
            if inner:
                lines += [f'"{member.name}": {{'] + ["    " + line for line in inner] + ["},"]
        return lines

    if not net.scopes:  # a network resolved without scopes: every layer in the network's
        return [line for layer in net.layers for line in entry(layer) or ()]
    return walk(scopes[""])


def params_lines(layer: ResolvedLayer, precision: str = "float32") -> list[str] | None:
    """A layer's entry in `init`'s dict: its key, then one line per parameter with the formula behind it."""
    view = params_view(layer, precision)
    if view is None:
        return None
    key = layer.name.rsplit(".", 1)[-1]
    return ([f'"{key}": {{'] + [f'    "{entry.key}": {entry.expression},  # {entry.comment}' for entry in view.entries]
            + ["},"])


def state_lines(layer: ResolvedLayer) -> list[str] | None:
    """A batchnorm layer's entry in `init_state`'s dict."""
    if not isinstance(layer.attrs, BatchNormAttrs):
        return None
    width, key = layer.attrs.num_features, layer.name.rsplit(".", 1)[-1]
    return [f'"{key}": {{"mean": jnp.zeros(({width},), dtype), "var": jnp.ones(({width},), dtype)}},']
