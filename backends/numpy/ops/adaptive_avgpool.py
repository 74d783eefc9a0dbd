"""Adaptive average pooling with PyTorch's bins: bin i of n over a size S is [floor(i*S/n), ceil((i+1)*S/n))."""

from __future__ import annotations

import numpy as np


def adaptive_bins(size: int, bins: int) -> list[tuple[int, int]]:
    """The [start, end) of each bin; neighbouring bins overlap when `bins` does not divide `size` (5 -> 3 gives
    [0, 2), [1, 4), [3, 5))."""
    return [((i * size) // bins, -(-((i + 1) * size) // bins)) for i in range(bins)]


def adaptive_avg_pool2d(x: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """The mean of each bin.

    x: (N, C, H, W). output_size: (H', W'). Returns (N, C, H', W').
    """
    batch, channels, height, width = x.shape
    out = np.empty((batch, channels) + tuple(output_size), dtype=x.dtype)
    for i, (row, row_end) in enumerate(adaptive_bins(height, output_size[0])):
        for j, (col, col_end) in enumerate(adaptive_bins(width, output_size[1])):
            out[:, :, i, j] = x[:, :, row:row_end, col:col_end].mean(axis=(2, 3))
    return out
