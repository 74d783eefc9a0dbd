"""Per-layer code of the generated JAX module: the one statement of `apply` that computes each layer (calling the
helper functions of templates/helpers/), its shape comment and note, and the view the per-kind templates place."""

from __future__ import annotations

from dataclasses import dataclass

from alexnet_spec.resolved import (
    AdaptivePoolAttrs,
    BatchNormAttrs,
    ConcatAttrs,
    ConvAttrs,
    DenseAttrs,
    DropoutAttrs,
    ELUAttrs,
    GELUAttrs,
    LeakyReLUAttrs,
    LRNAttrs,
    PoolAttrs,
    PReLUAttrs,
    ResolvedLayer,
)

# Activation functions around the expression `{}`.
ACTIVATIONS = {"relu": "jax.nn.relu({})", "tanh": "jnp.tanh({})", "sigmoid": "jax.nn.sigmoid({})",
               "softmax": "jax.nn.softmax({}, axis=-1)"}
# The activation layers with a setting, as torch.nn defines them (F.leaky_relu, F.elu, F.gelu, F.silu): jax.nn's
# functions compute the same formulas (gelu's approximate=True is torch's approximate="tanh").
SET_ACTIVATIONS = ("leaky_relu", "elu", "gelu", "silu")
# The helper function (templates/helpers/) each layer kind calls.
HELPER_OF = {"conv": "helpers/conv.jinja", "dense": "helpers/dense.jinja", "maxpool": "helpers/max_pool.jinja",
             "avgpool": "helpers/avg_pool.jinja", "adaptive_avgpool": "helpers/adaptive_avgpool.jinja",
             "lrn": "helpers/lrn.jinja", "batchnorm": "helpers/batchnorm.jinja", "dropout": "helpers/dropout.jinja",
             "prelu": "helpers/prelu.jinja"}
# Every name a generated module defines or imports at its top level, and apply's own: a value kept in a variable
# never takes one of them (see view.Namespace).
GENERATED_NAMES = frozenset({
    "jax", "jnp", "np", "lax", "init", "init_state", "apply", "params", "x", "state", "train", "key", "layout",
    "mesh", "new_state", "drop_keys", "keys", "conv2d", "dense", "max_pool", "avg_pool", "adaptive_avg_pool",
    "local_response_norm", "batch_norm", "dropout", "prelu", "normal", "uniform", "constant", "place"})
CAFFE_LOWEST = -3.4028234663852886e38  # -FLT_MAX, where Caffe's max pooling starts each window
# The jnp dtype of each low precision; float32 files name no dtype, and read as they always have.
JAX_DTYPES = {"bfloat16": "jnp.bfloat16", "float16": "jnp.float16"}
SOFTMAX_ISLAND = "in float32: its sum of exponentials"
LRN_ISLAND = "float32: its sum of squares"
BATCHNORM_ISLAND = "statistics and parameters in float32"


def in_float32(code: str, precision: str) -> str:
    """`code` (on a low-precision activation `{}`) computed in float32 and its result rounded back once; float32:
    `code` itself."""
    if precision not in JAX_DTYPES:
        return code
    return f"{code.format('{}.astype(jnp.float32)')}.astype({JAX_DTYPES[precision]})"


def activation(kind: str, code: str, precision: str) -> str:
    """The activation `kind` around `code`; softmax in float32 in a low precision."""
    template = ACTIVATIONS[kind]
    return (in_float32(template, precision) if kind == "softmax" else template).format(code)


def layer_template(kind: str) -> str:
    """The template of a layer kind, named as the torch backend's: the poolings share pool.jinja, the activation
    functions activation.jinja."""
    if kind in ("maxpool", "avgpool"):
        return "pool.jinja"
    if kind in ("global_avgpool", "global_maxpool"):
        return "global_pool.jinja"
    if kind in ACTIVATIONS or kind in SET_ACTIVATIONS:
        return "activation.jinja"
    return f"{kind}.jinja"


@dataclass(frozen=True)
class LayerView:
    """One statement of a generated function, finished (comments aligned): on a Mesh, `gather` replicates split
    activations before a layer that is not split, and `place` shards a split layer's output over the devices."""

    name: str  # the layer's (or block instance's) name in its scope
    template: str  # conv.jinja, pool.jinja ...: one per layer kind, named as torch's; block.jinja for an instance
    call: str
    gather: tuple[str, ...] = ()
    place: str | None = None


def nhwc(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return f"(N, {shape[1]}, {shape[2]}, {shape[0]})"
    return f"(N, {shape[0]})"


def statement(layer: ResolvedLayer, inputs: tuple[str, ...] = ("x",), target: str = "x", key: str | None = None,
              precision: str = "float32") -> str:
    """The one statement of a generated function that computes `layer` from `inputs` (the expressions of the values
    it reads, in order) into `target`; `key`: its entry in params, state and drop_keys (its name in its scope);
    `precision`: the network's (LRN and softmax run in float32 in bfloat16 and float16)."""
    attrs, name, x = layer.attrs, key or layer.name, inputs[0]
    if isinstance(attrs, ConvAttrs):
        top, bottom, left, right = attrs.padding
        code = (f'conv2d({x}, params["{name}"], stride={attrs.stride}, padding=(({top}, {bottom}), ({left}, {right})), '
                f"dilation={attrs.dilation}, groups={attrs.groups})")
    elif isinstance(attrs, DenseAttrs):
        code = f'dense({x}, params["{name}"])'
    elif isinstance(attrs, PoolAttrs):
        (top, bottom, left, right), extra = attrs.padding, ceil_extra(layer)
        if layer.type == "maxpool":
            padding = f"(({top}, {bottom + extra[0]}), ({left}, {right + extra[1]}))"
            code = f"max_pool({x}, window={attrs.kernel}, stride={attrs.stride}, padding={padding})"
            if any(attrs.empty_last):  # Caffe's empty last window: its max stays at Caffe's start value, -FLT_MAX
                code = f"jnp.maximum({code}, {CAFFE_LOWEST!r})"
        else:
            exclude = "" if attrs.count_include_pad else ", count_include_pad=False"
            code = (f"avg_pool({x}, window={attrs.kernel}, stride={attrs.stride}, padding=(({top}, {bottom}), "
                    f"({left}, {right})), extra={extra}{exclude})")
    elif isinstance(attrs, AdaptivePoolAttrs):
        code = f"adaptive_avg_pool({x}, bins={adaptive_bins(layer)})"
    elif isinstance(attrs, LRNAttrs):
        code = in_float32(f"local_response_norm({{}}, size={attrs.size}, scale={attrs.scale!r}, beta={attrs.beta!r}, "
                          f"k={float(attrs.k)!r}, groups={attrs.groups})", precision).format(x)
    elif isinstance(attrs, BatchNormAttrs):
        return (f'{target}, new_state["{name}"] = batch_norm({x}, params["{name}"], state["{name}"], train, '
                f"eps={attrs.eps!r}, momentum={attrs.momentum!r}, running_variance={attrs.running_variance!r})")
    elif isinstance(attrs, DropoutAttrs):
        code = f'dropout({x}, {attrs.p!r}, train, drop_keys.get("{name}"))'
    elif isinstance(attrs, ConcatAttrs):  # channels and features are both the last axis, channels last
        code = f"jnp.concatenate([{', '.join(inputs)}], axis=-1)"
    elif layer.type == "add":
        code = " + ".join(inputs)
    elif layer.type in ("global_avgpool", "global_maxpool"):  # (N, H, W, C) -> (N, C)
        code = f"{x}.{'mean' if layer.type == 'global_avgpool' else 'max'}(axis=(1, 2))"
    elif isinstance(attrs, LeakyReLUAttrs):
        code = f"jax.nn.leaky_relu({x}, negative_slope={attrs.negative_slope!r})"
    elif isinstance(attrs, ELUAttrs):
        code = f"jax.nn.elu({x}, alpha={attrs.alpha!r})"
    elif isinstance(attrs, GELUAttrs):
        code = f"jax.nn.gelu({x}, approximate={attrs.approximate == 'tanh'})"
    elif layer.type == "silu":
        code = f"jax.nn.silu({x})"
    elif isinstance(attrs, PReLUAttrs):
        code = f'prelu({x}, params["{name}"])'
    elif layer.type == "flatten":
        if len(layer.input_shape) == 3:  # channels first before flattening: features in PyTorch's (C, H, W) order
            return f"{target} = jnp.transpose({x}, (0, 3, 1, 2)).reshape({x}.shape[0], -1)"
        return f"{target} = {x}.reshape({x}.shape[0], -1)"
    else:
        code = activation(layer.type, x, precision)
    fused = getattr(attrs, "activation", None)
    return f"{target} = {activation(fused, code, precision) if fused else code}"


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


def note(layer: ResolvedLayer, precision: str = "float32") -> str:
    low = precision in JAX_DTYPES
    if layer.type == "flatten":
        return "flattened in C, H, W order, as PyTorch"
    if isinstance(layer.attrs, LRNAttrs):
        island = f"; {LRN_ISLAND}" if low else ""
        return f"LRN n={layer.attrs.size}, {layer.attrs.convention} convention, groups={layer.attrs.groups}{island}"
    if low and isinstance(layer.attrs, BatchNormAttrs):
        return BATCHNORM_ISLAND
    if low and "softmax" in (layer.type, getattr(layer.attrs, "activation", None)):
        return "; ".join(layer.equations + (SOFTMAX_ISLAND,))
    return "; ".join(layer.equations)
