"""The JAX module's view: resolved layers as finished strings (statements, shapes, parameter expressions)."""

from __future__ import annotations

from dataclasses import dataclass

from alexnet_spec.backends.source import escape_text, provenance
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
HELPER_OF = {"conv": "conv.jinja", "dense": "dense.jinja", "maxpool": "pool.jinja", "avgpool": "pool.jinja",
             "adaptive_avgpool": "adaptive_avgpool.jinja", "lrn": "lrn_helper.jinja", "batchnorm": "batchnorm.jinja",
             "dropout": "dropout.jinja"}
COMMENT_COLUMN = 100
CAFFE_LOWEST = -3.4028234663852886e38  # -FLT_MAX, where Caffe's max pooling starts each window


@dataclass(frozen=True)
class Entry:
    key: str
    expression: str
    comment: str


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
    helpers: tuple[str, ...]
    params: tuple[ParamsView, ...]
    key_count: int
    state: tuple[StateView, ...]
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


def distribution(dist, shape: tuple[int, ...]) -> tuple[str, str]:
    """(expression, comment) drawing one parameter from its resolved distribution; the comment is the formula
    behind the numbers when there is one (Kaiming, Xavier, PyTorch's default), else the distribution's kind."""
    if isinstance(dist, Normal):
        return f"normal(next(keys), {shape}, dtype, mean={dist.mean!r}, std={dist.std!r})", dist.formula or "normal"
    if isinstance(dist, Uniform):  # FrameworkDefault included: jax has no default of its own to leave it to
        return (f"uniform(next(keys), {shape}, dtype, low={dist.low!r}, high={dist.high!r})",
                dist.formula or "uniform")
    if isinstance(dist, Constant):
        return f"constant({shape}, dtype, {dist.value!r})", dist.formula or "constant"
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
        return ParamsView(layer.name, (Entry("scale", f"constant({width}, dtype, 1.0)", "batchnorm scale"),
                                       Entry("bias", f"constant({width}, dtype, 0.0)", "batchnorm shift")))
    else:
        return None
    entries = []
    for key, dist in (("kernel", attrs.weight_init), ("bias", attrs.bias_init)):
        if dist is None:
            continue
        expression, comment = distribution(dist, shapes[key])
        entries.append(Entry(key, expression, f"{comment}; {'HWIO' if len(shapes[key]) == 4 else ''}".rstrip("; ")))
    return ParamsView(layer.name, tuple(entries))


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
    key_count = max(1, sum(entry.expression.startswith(("normal", "uniform")) for view in params for entry in view.entries))
    placed = bool(net.devices)
    helpers = ["init_helpers.jinja"] + (["placement_helpers.jinja"] if placed else [])
    for layer in net.layers:
        helper = HELPER_OF.get(layer.type)
        if helper and helper not in helpers:
            helpers.append(helper)
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
                 "", "train: dropout drops (needs `key`) and batch normalisation uses batch statistics.",
                 "state: batch-normalisation running statistics (init_state() when None).",
                 "Returns the output; in training, a model with batch normalisation returns (output, new state).")
    if placed:
        apply_doc += ("mesh: a jax.sharding.Mesh of the spec's devices (one axis): split layers' activations are "
                      "sharded", "along their channels over it (see `place`); None computes on one device.")
    return FileView(header, tuple(helpers), params, key_count,
                    tuple(StateView(layer.name, layer.attrs.num_features) for layer in net.layers
                          if isinstance(layer.attrs, BatchNormAttrs)),
                    [layer.name for layer in net.layers if layer.type == "dropout"], tuple(statements), apply_doc,
                    placed)
