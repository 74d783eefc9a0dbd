"""Global pooling, (N, C, H, W) -> (N, C): the mean or the maximum of each map (Keras' GlobalAveragePooling2D and
GlobalMaxPooling2D; in torch, the mean or amax over dims 2 and 3)."""

from __future__ import annotations

import numpy as np


def global_avg_pool2d(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, C): sum of each map divided by H * W."""
    return x.sum(axis=(2, 3)) / (x.shape[2] * x.shape[3])


def global_max_pool2d(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, C): the largest element of each map."""
    return x.max(axis=(2, 3))
