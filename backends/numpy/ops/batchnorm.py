"""Batch normalisation per channel (after a conv) or per feature (after a dense layer), PyTorch's conventions:

    y = (x - mean) / sqrt(var + eps) * weight + bias

eval: mean and var are the running statistics. train: the batch's mean and biased variance, and the running
statistics move by `momentum` towards the batch mean and the batch variance: the unbiased one (sum of squares over
n - 1, torch.nn.BatchNorm's rule) or the biased one (over n, Keras 3's), as the spec's `running_variance` says.
"""

from __future__ import annotations

import numpy as np


def _per_channel(x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(C,) reshaped to broadcast over x: (1, C, 1, 1) for images, (1, C) for features."""
    return values.reshape((1, -1) + (1,) * (x.ndim - 2))


def _reduced_axes(x: np.ndarray) -> tuple[int, ...]:
    """Every axis but the channels: (0, 2, 3) for (N, C, H, W), (0,) for (N, C)."""
    return (0,) + tuple(range(2, x.ndim))


def batchnorm_eval(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, running_mean: np.ndarray,
                   running_var: np.ndarray, eps: float) -> np.ndarray:
    """x: (N, C, H, W) or (N, C); weight, bias, running_mean, running_var: (C,). Returns x's shape."""
    normalised = (x - _per_channel(x, running_mean)) / np.sqrt(_per_channel(x, running_var) + eps)
    return normalised * _per_channel(x, weight) + _per_channel(x, bias)


def batchnorm_train(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, running_mean: np.ndarray,
                    running_var: np.ndarray, eps: float, momentum: float, running_variance: str = "unbiased"
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalise with the batch's own statistics.

    x: (N, C, H, W) or (N, C); the statistics of channel c are over its N*H*W (or N) values.
    Returns (y of x's shape, new running_mean (C,), new running_var (C,)), where
    new = (1 - momentum) * old + momentum * batch statistic, the variance there being the unbiased one
    (`running_variance` "unbiased") or the biased one ("biased").
    """
    axes = _reduced_axes(x)
    count = x.size // x.shape[1]
    if count < 2:
        raise ValueError(f"batchnorm in training needs more than one value per channel, got input {x.shape}")
    mean = x.mean(axis=axes)
    variance = ((x - _per_channel(x, mean)) ** 2).mean(axis=axes)  # biased: divides by count
    y = batchnorm_eval(x, weight, bias, mean, variance, eps)
    batch_variance = variance * count / (count - 1) if running_variance == "unbiased" else variance
    new_mean = (1 - momentum) * running_mean + momentum * mean
    new_var = (1 - momentum) * running_var + momentum * batch_variance
    return y, new_mean, new_var
