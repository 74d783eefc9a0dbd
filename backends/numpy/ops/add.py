"""Element-wise sum of inputs of one shape: the residual connection (He et al. 2016)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def add(inputs: Sequence[np.ndarray]) -> np.ndarray:
    """inputs: two or more arrays of one shape. Returns their sum, in the order given."""
    shapes = {array.shape for array in inputs}
    if len(shapes) != 1:
        raise ValueError(f"add: inputs of shapes {[array.shape for array in inputs]}; expected one shape")
    total = inputs[0].copy()
    for array in inputs[1:]:
        total += array
    return total
