"""The generated JAX file's view, and `render`: its header, imports, helper functions, `init`, `init_state`, the
block functions and `apply` (blocks.py), one LayerView per statement (layers.py) for the per-kind templates. String
work only: never imports jax.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alexnet_spec.backends.common import rendering
from alexnet_spec.backends.common.source import provenance
from alexnet_spec.resolved import ResolvedNetwork

from .blocks import FunctionView, Functions
from .initialisation import DRAWS, INIT_HELPERS, nested_lines, params_lines, params_view, state_lines
from .layers import HELPER_OF, nhwc

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
# The modules each activation's code uses (layers.ACTIVATIONS, layers.SET_ACTIVATIONS).
ACTIVATION_IMPORTS = {"relu": (JAX,), "sigmoid": (JAX,), "softmax": (JAX,), "tanh": (), "leaky_relu": (JAX,),
                      "elu": (JAX,), "gelu": (JAX,), "silu": (JAX,)}


@dataclass(frozen=True)
class FileView:
    header: tuple[str, ...]
    imports: tuple[str, ...]
    helpers: tuple[str, ...]
    params: tuple[str, ...]  # init's dict, one line each (nested under block instances)
    key_count: int  # random draws in `init`; 0: it splits no key
    state: tuple[str, ...]  # init_state's dict (batchnorm layers); none: no init_state, and apply ignores `state`
    nesting: str  # a layer inside a block instance as params and state key it, '["layer1"]["0"]["conv1"]'; "" without blocks
    first: str  # apply's first line: the input's shape
    functions: tuple[FunctionView, ...]  # one per block configuration, each before those that call it
    apply: FunctionView  # apply's statements
    apply_doc: tuple[str, ...]
    placed: bool  # the spec names devices: `apply` takes `mesh` and places activations on it


def render(net: ResolvedNetwork) -> str:
    """The module's source: a header, the helper functions its layers use, `init`, `init_state`, a function per
    block configuration, and `apply`."""
    return rendering.render(TEMPLATES, file_view(net))


def file_view(net: ResolvedNetwork) -> FileView:
    params = tuple(view for view in map(params_view, net.layers) if view is not None)
    entries = [entry for view in params for entry in view.entries]
    key_count = sum(entry.helper in DRAWS for entry in entries)
    placed = bool(net.devices)
    functions = Functions(net)
    helpers = [INIT_HELPERS[name] for name in INIT_HELPERS if any(entry.helper == name for entry in entries)]
    helpers += ["helpers/placement.jinja"] if placed else []
    for layer in net.layers:
        helper = HELPER_OF.get(layer.type)
        if helper and helper not in helpers:
            helpers.append(helper)
    needed = {line for helper in helpers for line in HELPER_IMPORTS.get(helper, ())}
    needed.update(line for layer in net.layers for kind in (layer.type, getattr(layer.attrs, "activation", None))
                  for line in ACTIVATION_IMPORTS.get(kind, ()))
    if key_count or any(layer.type == "dropout" for layer in net.layers):  # init splits its key; apply, dropout's
        needed.add(JAX)
    imports = tuple(line for line in IMPORTS if line in ALWAYS_IMPORTED or line in needed)
    state = tuple(nested_lines(net, state_lines))
    header = provenance(net, "jax") + (
        f"Input {nhwc(net.input_shape)} (NHWC; layout=\"NCHW\" accepted), {_outputs(net)}; "
        f"{net.total_params:,} parameters, {net.total_macs:,} multiply-accumulates per example.",
        "Needs only jax and numpy: params = init(jax.random.PRNGKey(0)); y = jax.jit(apply)(params, x).")
    several = len(net.output_names) > 1
    apply_doc = ("The network on a batch x: (N, H, W, C), or (N, C, H, W) with layout=\"NCHW\".",
                 "", "train: dropout drops (needs `key`) and batch normalisation uses batch statistics.")
    returned = f"the tuple ({', '.join(net.output_names)})" if several else "the output"
    if state:
        apply_doc += ("state: batch-normalisation running statistics (init_state() when None).",
                      f"Returns {returned}; in training, ({returned.removeprefix('the ')}, new state)."
                      if several else "Returns the output; in training, (output, new state).")
    else:
        apply_doc += ("state: unused, as the network has no batch normalisation; taken so that every generated",
                      f"`apply` is called alike. Returns {returned}.")
    if placed:
        apply_doc += ("mesh: a jax.sharding.Mesh of the spec's devices (one axis): split layers' activations are "
                      "sharded", "along their channels over it (see `place`); None computes on one device.")
    nested = next((layer.name for layer in net.layers if "." in layer.name), None)
    nesting = "" if nested is None else "".join(f'["{key}"]' for key in nested.split("."))
    return FileView(header, imports, tuple(helpers), tuple(nested_lines(net, params_lines)), key_count, state, nesting,
                    f"# x: {nhwc(net.input_shape)}, channels last", functions.functions, functions.apply, apply_doc,
                    placed)


def _outputs(net: ResolvedNetwork) -> str:
    if len(net.output_names) == 1:
        return f"output {nhwc(net.output_shape)}"
    return "outputs " + ", ".join(f"{name} {nhwc(shape)}" for name, shape in zip(net.output_names, net.output_shapes))
