"""The generated JAX file's view, and `render`: its header, imports, helper functions, `init`, `init_state` and
`apply`'s lines, one LayerView per layer (layers.py) for the per-kind templates. String work only: never imports jax.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alexnet_spec.backends.common import rendering
from alexnet_spec.backends.common.rendering import Statement, commented
from alexnet_spec.backends.common.source import provenance
from alexnet_spec.resolved import BatchNormAttrs, ConvAttrs, DenseAttrs, ResolvedNetwork

from .initialisation import DRAWS, INIT_HELPERS, ParamsView, StateView, params_view
from .layers import HELPER_OF, LayerView, layer_template, nhwc, note, statement

TEMPLATES = Path(__file__).parent / "templates"
# Every import a generated file may have, in its order. jnp is always used (`init` takes dtype=jnp.float32); the
# others where the code below uses them: jax for jax.random (keys, dropout), jax.nn and jax.sharding.
JAX, NUMPY, LAX = "import jax", "import numpy as np", "from jax import lax"
IMPORTS = (JAX, "import jax.numpy as jnp", NUMPY, LAX)
ALWAYS_IMPORTED = frozenset({"import jax.numpy as jnp"})
HELPER_IMPORTS = {"helpers/conv.jinja": (LAX,), "helpers/max_pool.jinja": (LAX,),
                  "helpers/avg_pool.jinja": (NUMPY, LAX), "helpers/lrn.jinja": (LAX,),
                  "helpers/batchnorm.jinja": (LAX,), "helpers/dropout.jinja": (JAX,),
                  "helpers/init_normal.jinja": (JAX,), "helpers/init_uniform.jinja": (JAX,),
                  "helpers/placement.jinja": (JAX, LAX)}
ACTIVATION_IMPORTS = {"relu": (JAX,), "sigmoid": (JAX,), "softmax": (JAX,), "tanh": ()}  # layers.ACTIVATIONS' modules
CODE_WIDTH = 96  # apply's comments start in column 100 (4 of indent, 96 of code): longer code gets its two spaces after


@dataclass(frozen=True)
class FileView:
    header: tuple[str, ...]
    imports: tuple[str, ...]
    helpers: tuple[str, ...]
    params: tuple[ParamsView, ...]
    key_count: int  # random draws in `init`; 0: it splits no key
    state: tuple[StateView, ...]  # batchnorm layers; none: no init_state, and apply ignores `state`
    dropouts: list[str]
    first: str  # apply's first line: the input's shape
    layers: tuple[LayerView, ...]
    apply_doc: tuple[str, ...]
    placed: bool  # the spec names devices: `apply` takes `mesh` and places activations on it


def render(net: ResolvedNetwork) -> str:
    """The module's source: a header, the helper functions its layers use, `init`, `init_state` and `apply`."""
    return rendering.render(TEMPLATES, file_view(net))


def layer_views(net: ResolvedNetwork) -> tuple[LayerView, ...]:
    """Each layer's statement of `apply`; in a placed file, a split conv or dense layer's output is sharded over the
    Mesh after it (`place`), and a split activation is replicated before the first layer that is not split."""
    placed, was_split, views = bool(net.devices), False, []
    for layer in net.layers:
        split = placed and layer.placement is not None and layer.placement.split
        gather = place = None
        if placed and was_split and not split:
            gather = Statement("x = place(x, mesh, split=False)", nhwc(layer.input_shape), f"gathered for {layer.name}")
        if split and isinstance(layer.attrs, (ConvAttrs, DenseAttrs)):
            axis = "channels" if layer.is_spatial else "features"
            place = Statement("x = place(x, mesh, split=True)", nhwc(layer.output_shape),
                              f"{layer.name}'s {axis} split over the {len(net.devices)} devices")
        call = Statement(statement(layer), nhwc(layer.output_shape), note(layer))
        views.append(LayerView(layer.name, layer_template(layer.type), _line(call), _line(gather), _line(place)))
        was_split = split
    return tuple(views)


def _line(statement: Statement | None) -> str | None:
    return None if statement is None else commented(statement, CODE_WIDTH)


def file_view(net: ResolvedNetwork) -> FileView:
    params = tuple(view for view in map(params_view, net.layers) if view is not None)
    entries = [entry for view in params for entry in view.entries]
    key_count = sum(entry.helper in DRAWS for entry in entries)
    placed = bool(net.devices)
    helpers = [INIT_HELPERS[name] for name in INIT_HELPERS if any(entry.helper == name for entry in entries)]
    helpers += ["helpers/placement.jinja"] if placed else []
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
                    dropouts, f"# x: {nhwc(net.input_shape)}, channels last", layer_views(net), apply_doc,
                    placed)
