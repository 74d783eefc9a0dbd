"""Per-layer code of the generated JAX module: the one statement of `apply` that computes each layer (calling the
helper functions of templates/helpers/), its shape comment and note, and the view the per-kind templates place."""

from __future__ import annotations

from dataclasses import dataclass

from alexnet_spec.resolved import (
    AdaptivePoolAttrs,
    BatchNormAttrs,
    ConvAttrs,
    DenseAttrs,
    DropoutAttrs,
    LRNAttrs,
    PoolAttrs,
    ResolvedLayer,
)

# Activation functions around the expression `{}`.
ACTIVATIONS = {"relu": "jax.nn.relu({})", "tanh": "jnp.tanh({})", "sigmoid": "jax.nn.sigmoid({})",
               "softmax": "jax.nn.softmax({}, axis=-1)"}
# The helper function (templates/helpers/) each layer kind calls.
HELPER_OF = {"conv": "helpers/conv.jinja", "dense": "helpers/dense.jinja", "maxpool": "helpers/max_pool.jinja",
             "avgpool": "helpers/avg_pool.jinja", "adaptive_avgpool": "helpers/adaptive_avgpool.jinja",
             "lrn": "helpers/lrn.jinja", "batchnorm": "helpers/batchnorm.jinja", "dropout": "helpers/dropout.jinja"}
CAFFE_LOWEST = -3.4028234663852886e38  # -FLT_MAX, where Caffe's max pooling starts each window


def layer_template(kind: str) -> str:
    """The template of a layer kind, named as the torch backend's: the poolings share pool.jinja, the activation
    functions activation.jinja."""
    if kind in ("maxpool", "avgpool"):
        return "pool.jinja"
    if kind in ACTIVATIONS:
        return "activation.jinja"
    return f"{kind}.jinja"


@dataclass(frozen=True)
class LayerView:
    """One layer's lines of `apply`, finished (comments aligned): on a Mesh, `gather` replicates a split activation
    before a layer that is not split, and `place` shards a split layer's output over the devices."""

    name: str
    template: str  # conv.jinja, pool.jinja ...: one per layer kind, named as torch's
    call: str
    gather: str | None = None
    place: str | None = None


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


def note(layer: ResolvedLayer) -> str:
    if layer.type == "flatten":
        return "flattened in C, H, W order, as PyTorch"
    if isinstance(layer.attrs, LRNAttrs):
        return f"LRN n={layer.attrs.size}, {layer.attrs.convention} convention, groups={layer.attrs.groups}"
    return "; ".join(layer.equations)
