"""Local response normalisation across channels (Krizhevsky et al. 2012, Section 3.3):

    b[c] = a[c] / (k + scale * sum of a[c']**2 for c' in [c - n//2, c + n//2])**beta

the window clipped at the edges of the channel's group. `scale` is alpha in the paper's printed formula and in
TensorFlow, alpha/n in Caffe, cuda-convnet and torch.nn.LocalResponseNorm (see LRNAttrs.scale).
"""

from __future__ import annotations

import numpy as np


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
    out = np.empty_like(x)
    for c in range(channels):
        first, last = max(0, c - radius), min(channels - 1, c + radius)
        sum_of_squares = np.sum(x[:, first:last + 1] ** 2, axis=1)
        out[:, c] = x[:, c] / (k + scale * sum_of_squares) ** beta
    return out
