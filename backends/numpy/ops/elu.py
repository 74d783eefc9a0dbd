"""ELU (Clevert et al. 2016), torch.nn.ELU's definition: x for x > 0, alpha * (exp(x) - 1) for x <= 0."""

from __future__ import annotations

import numpy as np


def elu(x: np.ndarray, alpha: float) -> np.ndarray:
    """Any shape, returns x's shape. exp(x) - 1 is computed as expm1(x), the same number without the cancellation
    near 0; exp is only taken of the non-positive part, so a large x cannot overflow."""
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))
