"""Every layer's output of a generated JAX module, for `alexspec check` and the equivalence tests.

`apply` has one statement per layer; `layer_outputs` runs it once, not jitted, under a line tracer and reads `x` after
each layer's statement, so what is compared is the code users read. Spatial maps go back from NHWC to the canonical
(N, C, H, W) layout; features are compared as the module returns them (its flatten is in C, H, W order)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from alexnet_spec.backends.common.source import values_after_statements
from alexnet_spec.resolved import ResolvedNetwork

from .layers import statement
from .weights import torch_to_jax


def layer_outputs(module, net: ResolvedNetwork, params, x, state) -> dict[str, Any]:
    statements = [(layer.name, statement(layer)) for layer in net.layers]
    return values_after_statements(module.apply, statements, lambda: module.apply(params, x, state=state))


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
