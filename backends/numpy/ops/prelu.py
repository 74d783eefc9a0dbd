"""PReLU (He et al. 2015), torch.nn.PReLU's definition: max(0, x) + a * min(0, x), with one learned slope `a` for
every element, or one per channel (per feature), on axis 1."""

from __future__ import annotations

import numpy as np


def prelu(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """x: (N, C, H, W) or (N, F). weight: (1,), one slope for all, or (C,) (or (F,)), one per channel on axis 1.
    Returns x's shape."""
    if weight.shape[0] not in (1, x.shape[1]):
        raise ValueError(f"prelu: {weight.shape[0]} slopes for input {x.shape}; expected 1 or {x.shape[1]}")
    slope = weight.reshape((1, -1) + (1,) * (x.ndim - 2))  # along axis 1, broadcast over the rest
    return np.maximum(x, 0.0) + slope * np.minimum(x, 0.0)
