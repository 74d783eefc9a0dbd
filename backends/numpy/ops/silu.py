"""SiLU (swish), torch.nn.SiLU's definition: x * sigmoid(x)."""

from __future__ import annotations

import numpy as np

from alexnet_spec.backends.numpy.ops.activations import sigmoid


def silu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x); any shape, returns x's shape."""
    return x * sigmoid(x)
