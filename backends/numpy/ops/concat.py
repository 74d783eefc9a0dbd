"""Concatenation along axis 1 (channels of (N, C, H, W), features of (N, F)), as torch.cat(dim=1)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def concat(inputs: Sequence[np.ndarray], widths: Sequence[int]) -> np.ndarray:
    """inputs: arrays that agree on every axis but 1. widths: each input's size on axis 1, as the resolved network
    says (checked). Returns (N, sum(widths), ...): input k's channels start where the widths before it end."""
    if [array.shape[1] for array in inputs] != list(widths):
        raise ValueError(f"concat: inputs {[array.shape for array in inputs]} do not have widths {list(widths)}")
    first = inputs[0]
    out = np.empty((first.shape[0], sum(widths)) + first.shape[2:], dtype=np.result_type(*inputs))
    start = 0
    for array, width in zip(inputs, widths):
        out[:, start:start + width] = array
        start += width
    return out
