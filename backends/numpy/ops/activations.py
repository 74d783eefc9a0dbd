"""Elementwise activations and softmax over axis 1 (features, or channels for (N, C, H, W))."""

from __future__ import annotations

import numpy as np


def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x), any shape."""
    return np.maximum(x, 0.0)


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh(x), any shape."""
    return np.tanh(x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), any shape; exp overflowing to inf for very negative x gives the right limit, 0."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    """exp(x) / sum of exp(x) over axis 1. x: (N, F) or (N, C, H, W); returns x's shape.
    The maximum is subtracted first, which changes nothing but avoids overflow."""
    shifted = np.exp(x - x.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


ACTIVATIONS = {"relu": relu, "tanh": tanh, "sigmoid": sigmoid, "softmax": softmax}
