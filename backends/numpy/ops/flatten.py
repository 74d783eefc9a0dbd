"""Flatten an image to features in C, H, W order (PyTorch's), which the dense weights' layout assumes."""

from __future__ import annotations

import numpy as np


def flatten(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, C*H*W), feature index c*H*W + h*W + w. A (N, F) input is returned as is."""
    return x.reshape(x.shape[0], -1)
