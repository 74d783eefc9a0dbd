"""Max and average pooling with PyTorch's rules (output size by floor or ceil_mode, windows clipped at the edges),
or with Caffe's ceil rule (src/caffe/layers/pooling_layer.cpp), and the average's divisor with or without the
padded zeros (count_include_pad; TensorFlow's `same` leaves them out)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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


def _windows(x: np.ndarray, kernel, stride, padding, out_h: int, out_w: int, fill: float) -> np.ndarray:
    """windows[n, c, i, j, a, b] = x[n, c, i*stride_h - top + a, j*stride_w - left + b], `fill` outside x: a strided
    view of x padded with `fill` far enough that the last window (ceil_mode) is whole. Returns (N, C, H', W', kh, kw)."""
    top, _, left, _ = padding
    below = max(0, (out_h - 1) * stride[0] + kernel[0] - top - x.shape[2])  # rows past the input, padding included
    right = max(0, (out_w - 1) * stride[1] + kernel[1] - left - x.shape[3])
    padded = np.pad(x, ((0, 0), (0, 0), (top, below), (left, right)), constant_values=fill)
    windows = sliding_window_view(padded, tuple(kernel), axis=(2, 3))
    return windows[:, :, ::stride[0], ::stride[1]][:, :, :out_h, :out_w]


def max_pool2d(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int, int, int] = (0, 0, 0, 0), ceil_mode: bool = False,
               ceil_rule: str = "torch") -> np.ndarray:
    """The largest value of each window; padding never wins (it is -inf).

    x: (N, C, H, W). kernel, stride: (vertical, horizontal). padding: (top, bottom, left, right).
    Returns (N, C, H', W'), H' from `pool_output_size`. With ceil_rule "caffe", Caffe's loop: each output starts at
    -FLT_MAX and takes any larger input in its window, so a window with no input element gives -FLT_MAX.
    """
    out_h, out_w = _output_sizes(x, kernel, stride, padding, ceil_mode, ceil_rule)
    out = _windows(x, kernel, stride, padding, out_h, out_w, -np.inf).max(axis=(4, 5))
    if ceil_rule == "caffe":
        out = np.maximum(out, CAFFE_LOWEST)
    return out


def _divisors(size: int, before: int, after: int, kernel: int, stride: int, count: int,
              count_include_pad: bool) -> np.ndarray:
    """Each window's extent along one axis: clipped to the padded input (count_include_pad), or to the input."""
    start = np.arange(count) * stride - before  # window start in input coordinates
    end = np.minimum(start + kernel, size + after)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


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
    top, bottom, left, right = padding
    out_h, out_w = _output_sizes(x, kernel, stride, padding, ceil_mode, ceil_rule)
    sums = _windows(x, kernel, stride, padding, out_h, out_w, 0.0).sum(axis=(4, 5))
    rows = _divisors(x.shape[2], top, bottom, kernel[0], stride[0], out_h, count_include_pad)
    cols = _divisors(x.shape[3], left, right, kernel[1], stride[1], out_w, count_include_pad)
    return sums / (rows[:, None] * cols[None, :])
