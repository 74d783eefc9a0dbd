"""LeakyReLU, torch.nn.LeakyReLU's definition: max(0, x) + negative_slope * min(0, x)."""

from __future__ import annotations

import numpy as np


def leaky_relu(x: np.ndarray, negative_slope: float) -> np.ndarray:
    """x where x >= 0, negative_slope * x below; any shape, returns x's shape."""
    return np.maximum(x, 0.0) + negative_slope * np.minimum(x, 0.0)
