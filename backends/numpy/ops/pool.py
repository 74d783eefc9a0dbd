"""Max and average pooling with PyTorch's rules (output size by floor or ceil_mode, windows clipped at the edges),
or with Caffe's ceil rule (src/caffe/layers/pooling_layer.cpp), and the average's divisor with or without the
padded zeros (count_include_pad; TensorFlow's `same` leaves them out)."""

from __future__ import annotations

import numpy as np

CAFFE_LOWEST = float(np.finfo(np.float32).min)  # -FLT_MAX: Caffe's max of a window holding no input element


def pool_output_size(size: int, before: int, after: int, kernel: int, stride: int, ceil_mode: bool,
                     keep_last: bool = False) -> int:
    """floor((size + before + after - kernel) / stride) + 1, or with ceil_mode the ceiling, less one when the last
    window would start past the input (PyTorch's rule; Caffe's with padding). `keep_last`: Caffe without padding,
    which keeps that window."""
    span = size + before + after - kernel
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if not keep_last and (out - 1) * stride >= size + before:
        out -= 1
    return out


def _output_sizes(x: np.ndarray, kernel, stride, padding, ceil_mode: bool, ceil_rule: str) -> tuple[int, int]:
    top, bottom, left, right = padding
    keep_last = ceil_rule == "caffe" and not any(padding)  # Caffe: `if (pad_h_ || pad_w_)` guards the drop
    return (pool_output_size(x.shape[2], top, bottom, kernel[0], stride[0], ceil_mode, keep_last),
            pool_output_size(x.shape[3], left, right, kernel[1], stride[1], ceil_mode, keep_last))


def max_pool2d(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int, int, int] = (0, 0, 0, 0), ceil_mode: bool = False,
               ceil_rule: str = "torch") -> np.ndarray:
    """The largest value of each window; padding never wins (it is -inf).

    x: (N, C, H, W). kernel, stride: (vertical, horizontal). padding: (top, bottom, left, right).
    Returns (N, C, H', W'), H' from `pool_output_size`. With ceil_rule "caffe", Caffe's loop: each output starts at
    -FLT_MAX and takes any larger input in its window, so a window with no input element gives -FLT_MAX.
    """
    batch, channels, height, width = x.shape
    top, _, left, _ = padding
    out_h, out_w = _output_sizes(x, kernel, stride, padding, ceil_mode, ceil_rule)
    out = np.empty((batch, channels, out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            row, col = i * stride[0] - top, j * stride[1] - left  # window start in input coordinates
            window = x[:, :, max(row, 0):min(row + kernel[0], height), max(col, 0):min(col + kernel[1], width)]
            if ceil_rule == "caffe":
                out[:, :, i, j] = np.full((batch, channels), CAFFE_LOWEST) if window.size == 0 else \
                    np.maximum(window.max(axis=(2, 3)), CAFFE_LOWEST)
            else:
                out[:, :, i, j] = window.max(axis=(2, 3))
    return out


def avg_pool2d(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int, int, int] = (0, 0, 0, 0), ceil_mode: bool = False,
               count_include_pad: bool = True, ceil_rule: str = "torch") -> np.ndarray:
    """The mean of each window.

    count_include_pad: the divisor is the window's area after clipping it to the padded input (H + top + bottom),
    padded zeros included: a ceil_mode window running past the padding divides by less than kh*kw (PyTorch and
    Caffe: the area is taken before clipping to the input). Otherwise the divisor is the number of input elements
    in the window (PyTorch's count_include_pad=False, TensorFlow's `same`).
    x: (N, C, H, W). kernel, stride: (vertical, horizontal). padding: (top, bottom, left, right).
    Returns (N, C, H', W'), H' from `pool_output_size`.
    """
    batch, channels, height, width = x.shape
    top, bottom, left, right = padding
    out_h, out_w = _output_sizes(x, kernel, stride, padding, ceil_mode, ceil_rule)
    out = np.empty((batch, channels, out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            row, col = i * stride[0] - top, j * stride[1] - left
            row_end, col_end = min(row + kernel[0], height + bottom), min(col + kernel[1], width + right)
            rows = slice(max(row, 0), min(row_end, height))
            cols = slice(max(col, 0), min(col_end, width))
            if count_include_pad:
                divisor = (row_end - row) * (col_end - col)
            else:
                divisor = (rows.stop - rows.start) * (cols.stop - cols.start)
            out[:, :, i, j] = x[:, :, rows, cols].sum(axis=(2, 3)) / divisor
    return out
