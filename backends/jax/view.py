"""The JAX module's view: resolved layers as finished strings (statements, shapes, parameter expressions)."""

from __future__ import annotations

from dataclasses import dataclass

from alexnet_spec.backends.common.source import escape_text, provenance
from alexnet_spec.resolved import (
    AdaptivePoolAttrs,
    BatchNormAttrs,
    Constant,
    ConvAttrs,
    DenseAttrs,
    DropoutAttrs,
    LRNAttrs,
    Normal,
    PoolAttrs,
    ResolvedLayer,
    ResolvedNetwork,
    Uniform,
)

ACTIVATIONS = {"relu": "jax.nn.relu({})", "tanh": "jnp.tanh({})", "sigmoid": "jax.nn.sigmoid({})",
               "softmax": "jax.nn.softmax({}, axis=-1)"}
HELPER_OF = {"conv": "conv.jinja", "dense": "dense.jinja", "maxpool": "max_pool.jinja", "avgpool": "avg_pool.jinja",
             "adaptive_avgpool": "adaptive_avgpool.jinja", "lrn": "lrn_helper.jinja", "batchnorm": "batchnorm.jinja",
             "dropout": "dropout.jinja"}
# The helper that draws each kind of initial value (init_*.jinja), by the name `init` calls it with.
INIT_HELPERS = {"normal": "init_normal.jinja", "uniform": "init_uniform.jinja", "constant": "init_constant.jinja"}
DRAWS = ("normal", "uniform")  # the init helpers that take a key
# Every import a generated file may have, in its order. jnp is always used (`init` takes dtype=jnp.float32); the
# others where the code below uses them: jax for jax.random (keys, dropout), jax.nn and jax.sharding.
JAX, NUMPY, LAX = "import jax", "import numpy as np", "from jax import lax"
IMPORTS = (JAX, "import jax.numpy as jnp", NUMPY, LAX)
ALWAYS_IMPORTED = frozenset({"import jax.numpy as jnp"})
HELPER_IMPORTS = {"conv.jinja": (LAX,), "max_pool.jinja": (LAX,), "avg_pool.jinja": (NUMPY, LAX),
                  "lrn_helper.jinja": (LAX,), "batchnorm.jinja": (LAX,), "dropout.jinja": (JAX,),
                  "init_normal.jinja": (JAX,), "init_uniform.jinja": (JAX,), "placement_helpers.jinja": (JAX, LAX)}
ACTIVATION_IMPORTS = {"relu": (JAX,), "sigmoid": (JAX,), "softmax": (JAX,), "tanh": ()}  # ACTIVATIONS' modules
COMMENT_COLUMN = 100
CAFFE_LOWEST = -3.4028234663852886e38  # -FLT_MAX, where Caffe's max pooling starts each window


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


@dataclass(frozen=True)
class FileView:
    header: tuple[str, ...]
    imports: tuple[str, ...]
    helpers: tuple[str, ...]
    params: tuple[ParamsView, ...]
    key_count: int  # random draws in `init`; 0: it splits no key
    state: tuple[StateView, ...]  # batchnorm layers; none: no init_state, and apply ignores `state`
    dropouts: list[str]
    statements: tuple[str, ...]
    apply_doc: tuple[str, ...]
    placed: bool  # the spec names devices: `apply` takes `mesh` and places activations on it


def nhwc(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return f"(N, {shape[1]}, {shape[2]}, {shape[0]})"
    return f"(N, {shape[0]})"


def statement(layer: ResolvedLayer) -> str:
    """The one statement of `apply` that computes `layer`."""
    attrs, name = layer.attrs, layer.name
    if isinstance(attrs, ConvAttrs):
        top, bottom, left, right = attrs.padding
        code = (f'conv2d(x, params["{name}"], stride={attrs.stride}, padding=(({top}, {bottom}), ({left}, {right})), '
                f"dilation={attrs.dilation}, groups={attrs.groups})")
    elif isinstance(attrs, DenseAttrs):
        code = f'dense(x, params["{name}"])'
    elif isinstance(attrs, PoolAttrs):
        (top, bottom, left, right), extra = attrs.padding, ceil_extra(layer)
        if layer.type == "maxpool":
            padding = f"(({top}, {bottom + extra[0]}), ({left}, {right + extra[1]}))"
            code = f"max_pool(x, window={attrs.kernel}, stride={attrs.stride}, padding={padding})"
            if any(attrs.empty_last):  # Caffe's empty last window: its max stays at Caffe's start value, -FLT_MAX
                code = f"jnp.maximum({code}, {CAFFE_LOWEST!r})"
        else:
            exclude = "" if attrs.count_include_pad else ", count_include_pad=False"
            code = (f"avg_pool(x, window={attrs.kernel}, stride={attrs.stride}, padding=(({top}, {bottom}), "
                    f"({left}, {right})), extra={extra}{exclude})")
    elif isinstance(attrs, AdaptivePoolAttrs):
        code = f"adaptive_avg_pool(x, bins={adaptive_bins(layer)})"
    elif isinstance(attrs, LRNAttrs):
        code = (f"local_response_norm(x, size={attrs.size}, scale={attrs.scale!r}, beta={attrs.beta!r}, "
                f"k={float(attrs.k)!r}, groups={attrs.groups})")
    elif isinstance(attrs, BatchNormAttrs):
        return (f'x, new_state["{name}"] = batch_norm(x, params["{name}"], state["{name}"], train, '
                f"eps={attrs.eps!r}, momentum={attrs.momentum!r}, running_variance={attrs.running_variance!r})")
    elif isinstance(attrs, DropoutAttrs):
        code = f'dropout(x, {attrs.p!r}, train, drop_keys.get("{name}"))'
    elif layer.type == "flatten":
        if len(layer.input_shape) == 3:  # channels first before flattening: features in PyTorch's (C, H, W) order
            return "x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)"
        return "x = x.reshape(x.shape[0], -1)"
    else:
        code = ACTIVATIONS[layer.type].format("x")
    activation = getattr(attrs, "activation", None)
    return f"x = {ACTIVATIONS[activation].format(code) if activation else code}"


def ceil_extra(layer: ResolvedLayer) -> tuple[int, int]:
    """Rows (columns) past the padding that ceil_mode's last window reaches."""
    attrs = layer.attrs
    extra = []
    for axis in range(2):
        size = layer.input_shape[1 + axis] + attrs.padding[2 * axis] + attrs.padding[2 * axis + 1]
        reach = (layer.output_shape[1 + axis] - 1) * attrs.stride[axis] + attrs.kernel[axis]
        extra.append(max(0, reach - size))
    return tuple(extra)


def adaptive_bins(layer: ResolvedLayer) -> tuple:
    bins = []
    for axis in range(2):
        size, out = layer.input_shape[1 + axis], layer.output_shape[1 + axis]
        bins.append(tuple((i * size // out, -(-(i + 1) * size // out)) for i in range(out)))
    return tuple(bins)


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


def with_comment(code: str, shape: str, note: str = "") -> str:
    note = escape_text(note)  # notes name layers: escaped, so no name can end the comment
    text = f"{code}  # {shape}" if len(code) + 4 >= COMMENT_COLUMN else f"{code.ljust(COMMENT_COLUMN - 4)}  # {shape}"
    return f"{text}   {note}" if note else text


def note(layer: ResolvedLayer) -> str:
    if layer.type == "flatten":
        return "flattened in C, H, W order, as PyTorch"
    if isinstance(layer.attrs, LRNAttrs):
        return f"LRN n={layer.attrs.size}, {layer.attrs.convention} convention, groups={layer.attrs.groups}"
    return "; ".join(layer.equations)


def file_view(net: ResolvedNetwork) -> FileView:
    params = tuple(view for view in map(params_view, net.layers) if view is not None)
    entries = [entry for view in params for entry in view.entries]
    key_count = sum(entry.helper in DRAWS for entry in entries)
    placed = bool(net.devices)
    helpers = [INIT_HELPERS[name] for name in INIT_HELPERS if any(entry.helper == name for entry in entries)]
    helpers += ["placement_helpers.jinja"] if placed else []
    for layer in net.layers:
        helper = HELPER_OF.get(layer.type)
        if helper and helper not in helpers:
            helpers.append(helper)
    needed = {line for helper in helpers for line in HELPER_IMPORTS.get(helper, ())}
    needed.update(line for layer in net.layers for kind in (layer.type, getattr(layer.attrs, "activation", None))
                  for line in ACTIVATION_IMPORTS.get(kind, ()))
    dropouts = [layer.name for layer in net.layers if layer.type == "dropout"]
    if key_count or dropouts:  # init splits its key; apply splits one for the dropout layers
        needed.add(JAX)
    imports = tuple(line for line in IMPORTS if line in ALWAYS_IMPORTED or line in needed)
    state = tuple(StateView(layer.name, layer.attrs.num_features) for layer in net.layers
                  if isinstance(layer.attrs, BatchNormAttrs))
    header = provenance(net, "jax") + (
        f"Input {nhwc(net.input_shape)} (NHWC; layout=\"NCHW\" accepted), output {nhwc(net.output_shape)}; "
        f"{net.total_params:,} parameters, {net.total_macs:,} multiply-accumulates per example.",
        "Needs only jax and numpy: params = init(jax.random.PRNGKey(0)); y = jax.jit(apply)(params, x).")
    statements = [f"# x: {nhwc(net.input_shape)}, channels last"]
    was_split = False
    for layer in net.layers:
        split = placed and layer.placement is not None and layer.placement.split
        if placed and was_split and not split:
            statements.append(with_comment("x = place(x, mesh, split=False)", nhwc(layer.input_shape),
                                           f"gathered for {layer.name}"))
        statements.append(with_comment(statement(layer), nhwc(layer.output_shape), note(layer)))
        if split and isinstance(layer.attrs, (ConvAttrs, DenseAttrs)):
            axis = "channels" if layer.is_spatial else "features"
            statements.append(with_comment("x = place(x, mesh, split=True)", nhwc(layer.output_shape),
                                           f"{layer.name}'s {axis} split over the {len(net.devices)} devices"))
        was_split = split
    apply_doc = ("The network on a batch x: (N, H, W, C), or (N, C, H, W) with layout=\"NCHW\".",
                 "", "train: dropout drops (needs `key`) and batch normalisation uses batch statistics.")
    if state:
        apply_doc += ("state: batch-normalisation running statistics (init_state() when None).",
                      "Returns the output; in training, (output, new state).")
    else:
        apply_doc += ("state: unused, as the network has no batch normalisation; taken so that every generated",
                      "`apply` is called alike. Returns the output.")
    if placed:
        apply_doc += ("mesh: a jax.sharding.Mesh of the spec's devices (one axis): split layers' activations are "
                      "sharded", "along their channels over it (see `place`); None computes on one device.")
    return FileView(header, imports, tuple(helpers), params, key_count, state,
                    dropouts, tuple(statements), apply_doc,
                    placed)
