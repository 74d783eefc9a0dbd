"""Fully connected layer: out[n, o] = bias[o] + sum over i of x[n, i] * weight[o, i]."""

from __future__ import annotations

import numpy as np


def dense(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """x: (N, in). weight: (out, in), PyTorch's layout. bias: (out,) or None. Returns (N, out)."""
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"dense: input {x.shape} does not fit weight {weight.shape}: expected (N, {weight.shape[1]})")
    # (out, in) times (in, N), then transposed: the same products, but OpenBLAS streams the large weight once
    # here, while x @ weight.T takes 2-3 times longer at small batches (measured: batch 2, 4096 x 9216).
    out = (weight @ x.T).T
    if bias is not None:
        out = out + bias[None, :]
    return out
