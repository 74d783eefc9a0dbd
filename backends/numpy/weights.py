"""The oracle's view of canonical weights (alexnet_spec.weights): float64 arrays, each checked against its shape."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from alexnet_spec.resolved import ResolvedNetwork
from alexnet_spec.weights import weight_shapes


def to_float64(value: Any) -> np.ndarray:
    """`value` as a float64 numpy array: an array (not copied when it already is one; the oracle never writes into
    its inputs) or a torch tensor (duck-typed: anything with .detach(), so torch is never imported here)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def canonical_weights(net: ResolvedNetwork, weights: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The weights `net` needs, as float64 arrays, each checked against its canonical shape.

    Extra entries (torch's `num_batches_tracked`) are ignored; a missing or misshapen one is a ValueError that
    names it and the expected shape.
    """
    expected = weight_shapes(net)
    missing = [name for name in expected if name not in weights]
    if missing:
        raise ValueError(f"weights lack {', '.join(missing)}; expected the canonical (torch state_dict) names: "
                         f"{', '.join(expected)}")
    converted = {}
    for name, shape in expected.items():
        array = to_float64(weights[name])
        if array.shape != shape:
            raise ValueError(f"weight {name} has shape {array.shape}; expected {shape}")
        converted[name] = array
    return converted
