"""2-D convolution (cross-correlation, as in every framework), straight from its definition.

    out[n, o, i, j] = bias[o] + sum over c, a, b of
                      x_padded[n, c, i*stride_h + a*dilation_h, j*stride_w + b*dilation_w] * weight[o, c, a, b]
"""

from __future__ import annotations

import numpy as np


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
    batch, channels, height, width = x.shape
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
    out_h = (height + top + bottom - span_h) // stride[0] + 1
    out_w = (width + left + right - span_w) // stride[1] + 1
    out = np.zeros((batch, out_channels, out_h, out_w), dtype=np.result_type(x, weight))
    for i in range(out_h):
        for j in range(out_w):
            row, col = i * stride[0], j * stride[1]
            window = padded[:, :, row:row + span_h:dilation[0], col:col + span_w:dilation[1]]  # (N, C, kh, kw)
            out[:, :, i, j] = np.tensordot(window, weight, axes=([1, 2, 3], [1, 2, 3]))  # (N, O)
    if bias is not None:
        out += bias[None, :, None, None]
    return out
