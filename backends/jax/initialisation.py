"""The generated `init`: each parameter drawn from its resolved distribution by the helper functions
templates/helpers/init_*.jinja, in the layout the JAX module uses (HWIO kernels, (in, out) dense kernels).

Each distribution arrives concrete (passes/init.py applied the fans): the entry carries its numbers and, as a
comment, the formula they come from. jax has no default of its own, so PyTorch's default is drawn as its Uniform.
"""

from __future__ import annotations

from dataclasses import dataclass

from alexnet_spec.resolved import BatchNormAttrs, Constant, ConvAttrs, DenseAttrs, Normal, ResolvedLayer, Uniform

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


def params_view(layer: ResolvedLayer) -> ParamsView | None:
    attrs = layer.attrs
    if isinstance(attrs, ConvAttrs):
        shapes = {"kernel": attrs.kernel + (attrs.in_channels // attrs.groups, attrs.out_channels),
                  "bias": (attrs.out_channels,)}
    elif isinstance(attrs, DenseAttrs):
        shapes = {"kernel": (attrs.in_features, attrs.out_features), "bias": (attrs.out_features,)}
    elif isinstance(attrs, BatchNormAttrs):
        width = (attrs.num_features,)
        return ParamsView(layer.name, (Entry("scale", f"constant({width}, dtype, 1.0)", "batchnorm scale", "constant"),
                                       Entry("bias", f"constant({width}, dtype, 0.0)", "batchnorm shift", "constant")))
    else:
        return None
    entries = tuple(distribution(key, dist, shapes[key])
                    for key, dist in (("kernel", attrs.weight_init), ("bias", attrs.bias_init)) if dist is not None)
    return ParamsView(layer.name, entries)
