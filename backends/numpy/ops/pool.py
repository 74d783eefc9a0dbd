"""Max and average pooling with PyTorch's rules: output size (floor or ceil_mode), windows clipped at the edges,
and the average's divisor counting padded zeros but not what lies beyond the padding."""

from __future__ import annotations

import numpy as np


def pool_output_size(size: int, before: int, after: int, kernel: int, stride: int, ceil_mode: bool) -> int:
    """floor((size + before + after - kernel) / stride) + 1, or with ceil_mode the ceiling, less one when the last
    window would start past the input and its leading padding (PyTorch's rule)."""
    span = size + before + after - kernel
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + before:
        out -= 1
    return out


def max_pool2d(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int, int, int] = (0, 0, 0, 0), ceil_mode: bool = False) -> np.ndarray:
    """The largest value of each window; padding never wins (it is -inf).

    x: (N, C, H, W). kernel, stride: (vertical, horizontal). padding: (top, bottom, left, right).
    Returns (N, C, H', W'), H' from `pool_output_size`.
    """
    batch, channels, height, width = x.shape
    top, bottom, left, right = padding
    out_h = pool_output_size(height, top, bottom, kernel[0], stride[0], ceil_mode)
    out_w = pool_output_size(width, left, right, kernel[1], stride[1], ceil_mode)
    out = np.empty((batch, channels, out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            row, col = i * stride[0] - top, j * stride[1] - left  # window start in input coordinates
            window = x[:, :, max(row, 0):min(row + kernel[0], height), max(col, 0):min(col + kernel[1], width)]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out


def avg_pool2d(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int, int, int] = (0, 0, 0, 0), ceil_mode: bool = False) -> np.ndarray:
    """The mean of each window, padded zeros included (count_include_pad=True).

    The divisor is the window's area after clipping it to the padded input (H + top + bottom): a ceil_mode window
    running past the padding divides by less than kh*kw, as PyTorch does.
    x: (N, C, H, W). kernel, stride: (vertical, horizontal). padding: (top, bottom, left, right).
    Returns (N, C, H', W'), H' from `pool_output_size`.
    """
    batch, channels, height, width = x.shape
    top, bottom, left, right = padding
    out_h = pool_output_size(height, top, bottom, kernel[0], stride[0], ceil_mode)
    out_w = pool_output_size(width, left, right, kernel[1], stride[1], ceil_mode)
    out = np.empty((batch, channels, out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            row, col = i * stride[0] - top, j * stride[1] - left
            row_end, col_end = min(row + kernel[0], height + bottom), min(col + kernel[1], width + right)
            divisor = (row_end - row) * (col_end - col)
            window = x[:, :, max(row, 0):min(row_end, height), max(col, 0):min(col_end, width)]
            out[:, :, i, j] = window.sum(axis=(2, 3)) / divisor
    return out
