"""Inverted dropout: in training each element is zeroed with probability p and the survivors are scaled by
1/(1-p), so that eval (the identity) needs no rescaling."""

from __future__ import annotations

import numpy as np


def dropout(x: np.ndarray, p: float, *, train: bool = False, rng: np.random.Generator | None = None) -> np.ndarray:
    """x: any shape. p: probability of zeroing, 0 <= p < 1. rng: the Generator that draws the mask (train only).
    Returns x's shape: x itself in eval, x * keep / (1 - p) in training, keep[...] = (uniform draw >= p)."""
    if not train or p == 0:
        return x
    if rng is None:
        raise ValueError("dropout in training needs a numpy Generator: pass rng=np.random.default_rng(seed)")
    keep = rng.random(x.shape) >= p
    return x * keep / (1 - p)
