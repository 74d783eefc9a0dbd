"""Every layer's output of a generated JAX module, for `alexspec check` and the equivalence tests.

`apply` has one statement per layer; `layer_outputs` runs it once, not jitted, under a line tracer and reads `x` after
each layer's statement, so what is compared is the code users read. Spatial maps go back from NHWC to the canonical
(N, C, H, W) layout; features are compared as the module returns them (its flatten is in C, H, W order)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from alexnet_spec.backends.common.source import values_after_lines

from alexnet_spec.resolved import ResolvedNetwork

from .view import file_view
from .weights import torch_to_jax


def layer_outputs(module, net: ResolvedNetwork, params, x, state) -> dict[str, Any]:
    # A layer's lines: a gather of the previous output (on a Mesh), its call, a place of its output; x after the
    # last one is the layer's output.
    labels = [label for view in file_view(net).layers
              for label in ((None,) if view.gather else ()) + (view.name,) + ((view.name,) if view.place else ())]
    return values_after_lines(module.apply, labels, lambda: module.apply(params, x, state=state))


def evaluate(module, net: ResolvedNetwork, weights: Mapping[str, Any], x, dtype: str) -> list[tuple[str, np.ndarray]]:
    """[(layer name, output in the canonical layout (N, C, H, W) or (N, F))] in eval mode with canonical weights."""
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(dtype == "float64"):
        cast = jnp.float64 if dtype == "float64" else jnp.float32
        if not weights:  # layers without parameters (a lone LRN): nothing to transfer
            params, state = {}, {}
        else:
            params, state = torch_to_jax(weights, net)
        params = jax.tree_util.tree_map(lambda value: jnp.asarray(value, cast), params)
        state = jax.tree_util.tree_map(lambda value: jnp.asarray(value, cast), state) or None
        nhwc = jnp.asarray(np.transpose(np.asarray(x), (0, 2, 3, 1)), cast)
        outputs = layer_outputs(module, net, params, nhwc, state)
        result = []
        for layer in net.layers:
            value = np.asarray(outputs[layer.name], dtype=np.float64)
            if value.ndim == 4:  # NHWC, the module's layout for maps
                value = value.transpose(0, 3, 1, 2)
            result.append((layer.name, value))
    return result
