"""2-D convolution (cross-correlation, as in every framework), straight from its definition.

    out[n, o, i, j] = bias[o] + sum over c, a, b of
                      x_padded[n, c, i*stride_h + a*dilation_h, j*stride_w + b*dilation_w] * weight[o, c, a, b]

The windows x_padded[n, c, i*stride_h + a*dilation_h, j*stride_w + b*dilation_w] are a strided view of the padded
input (numpy's sliding_window_view, no copy), and the sum over c, a, b is one tensordot: the formula above, read
as an array expression.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, *,
           stride: tuple[int, int] = (1, 1), padding: tuple[int, int, int, int] = (0, 0, 0, 0),
           dilation: tuple[int, int] = (1, 1), groups: int = 1) -> np.ndarray:
    """Convolve a batch of images with a bank of kernels.

    x: (N, C, H, W). weight: (O, C // groups, kh, kw). bias: (O,) or None.
    stride, dilation: (vertical, horizontal). padding: zeros added (top, bottom, left, right), possibly unequal.
    groups: input and output channels are cut into `groups` contiguous blocks; block g of the output sees only
    block g of the input.
    Returns (N, O, H', W') with H' = floor((H + top + bottom - dilation_h*(kh - 1) - 1) / stride_h) + 1 (and W' alike).
    """
    channels = x.shape[1]
    out_channels, channels_per_group, kernel_h, kernel_w = weight.shape
    if channels % groups or out_channels % groups or channels // groups != channels_per_group:
        raise ValueError(f"conv2d: input {x.shape} and weight {weight.shape} do not fit groups={groups}: expected "
                         f"weight (O, {channels // groups}, kh, kw) with O and {channels} divisible by {groups}")
    if groups > 1:
        # One ordinary convolution per group, on that group's slice of channels, then side by side.
        outputs = []
        for group in range(groups):
            inputs = slice(group * channels_per_group, (group + 1) * channels_per_group)
            kernels = slice(group * (out_channels // groups), (group + 1) * (out_channels // groups))
            outputs.append(conv2d(x[:, inputs], weight[kernels], None if bias is None else bias[kernels],
                                  stride=stride, padding=padding, dilation=dilation, groups=1))
        return np.concatenate(outputs, axis=1)

    top, bottom, left, right = padding
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    span_h = dilation[0] * (kernel_h - 1) + 1  # rows covered by one window
    span_w = dilation[1] * (kernel_w - 1) + 1
    # windows[n, c, i, j, a, b] = padded[n, c, i*stride_h + a*dilation_h, j*stride_w + b*dilation_w]
    windows = sliding_window_view(padded, (span_h, span_w), axis=(2, 3))
    windows = windows[:, :, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]]  # (N, C, H', W', kh, kw)
    out = np.tensordot(windows, weight, axes=([1, 4, 5], [1, 2, 3]))  # (N, H', W', O)
    out = out.transpose(0, 3, 1, 2)  # (N, O, H', W')
    if bias is not None:
        out = out + bias[None, :, None, None]
    return np.ascontiguousarray(out)
