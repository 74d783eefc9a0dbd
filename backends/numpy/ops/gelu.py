"""GELU (Hendrycks and Gimpel 2016) with torch.nn.GELU's two forms:

    approximate="none": x * Phi(x) = x * 0.5 * (1 + erf(x / sqrt(2)))
    approximate="tanh": 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))

erf is the standard library's math.erf, element by element: numpy has none, and scipy is not a dependency.
"""

from __future__ import annotations

import math

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """Any shape, returns x's shape (float64). approximate: "none" (the exact erf form) or "tanh"."""
    x = np.asarray(x, dtype=np.float64)
    if approximate == "none":
        return x * 0.5 * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    raise ValueError(f"gelu: unknown approximate={approximate!r}; expected 'none' or 'tanh'")
