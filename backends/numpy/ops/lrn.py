"""Local response normalisation across channels (Krizhevsky et al. 2012, Section 3.3):

    b[c] = a[c] / (k + scale * sum of a[c']**2 for c' in [c - n//2, c + n//2])**beta

the window clipped at the edges of the channel's group. `scale` is alpha in the paper's printed formula and in
TensorFlow, alpha/n in Caffe, cuda-convnet and torch.nn.LocalResponseNorm (see LRNAttrs.scale).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def lrn(x: np.ndarray, size: int, scale: float, beta: float, k: float, groups: int = 1) -> np.ndarray:
    """Normalise each channel by the energy of its neighbours.

    x: (N, C, H, W) or (N, C); channels on axis 1. size: the window n (odd), the channel itself included.
    scale: what multiplies the sum of squares. groups: channels are cut into `groups` contiguous blocks and the
    window never leaves a block (the paper's towers each normalise their own maps).
    Returns an array of x's shape.
    """
    channels = x.shape[1]
    if channels % groups:
        raise ValueError(f"lrn: {channels} channels are not divisible by groups={groups}")
    if groups > 1:
        per_group = channels // groups
        blocks = [lrn(x[:, g * per_group:(g + 1) * per_group], size, scale, beta, k) for g in range(groups)]
        return np.concatenate(blocks, axis=1)
    radius = size // 2
    # Zero channels on either side stand for the clipped edges: they add nothing to a window's sum.
    pad = [(0, 0)] * x.ndim
    pad[1] = (radius, radius)
    squares = np.pad(x ** 2, pad)
    windows = sliding_window_view(squares, size, axis=1)  # windows[:, c, ..., i] = squares[:, c + i]: channel c - r + i
    sum_of_squares = windows.sum(axis=-1)
    return x / (k + scale * sum_of_squares) ** beta
