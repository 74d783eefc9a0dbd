"""Batch normalisation's running statistics after one training step, by the peers' own rules, for the backend tests.

unbiased: torch.nn.BatchNorm1d/2d itself (the peer), run on the same input from the same running statistics.
biased: Keras 3's rule, written out here from keras/src/layers/normalization/batch_normalization.py (`call`, in
training): mean, variance = ops.moments(inputs) (the biased variance, over n), then

    moving_mean = moving_mean * momentum_keras + mean * (1 - momentum_keras)
    moving_variance = moving_variance * momentum_keras + variance * (1 - momentum_keras)

with the spec's momentum = 1 - momentum_keras.
"""

from __future__ import annotations

import numpy as np

MOMENTUM = 0.3


def spec_text(running_variance: str) -> str:
    """A spatial batchnorm (3 channels of 4×5) and, after a flatten, a feature one (60 features)."""
    return f"""
        name: BNRule
        input: {{channels: 3, height: 4, width: 5}}
        layers:
          - {{type: batchnorm, name: bn, momentum: {MOMENTUM}, running_variance: {running_variance}}}
          - {{type: flatten, name: flatten}}
          - {{type: batchnorm, name: bnf, momentum: {MOMENTUM}, running_variance: {running_variance}}}
    """


def weights_and_input(seed: int = 0, batch: int = 4) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Canonical weights with running statistics far from 0 and 1, and an input (N, 3, 4, 5) off zero mean."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, width in (("bn", 3), ("bnf", 60)):
        weights.update({f"{name}.weight": rng.uniform(0.5, 1.5, width), f"{name}.bias": rng.normal(size=width),
                        f"{name}.running_mean": rng.normal(size=width),
                        f"{name}.running_var": rng.uniform(0.5, 2.0, width)})
    return weights, 2.0 + 3.0 * rng.standard_normal((batch, 3, 4, 5))


def expected_running_statistics(weights: dict[str, np.ndarray], x: np.ndarray, running_variance: str
                                ) -> dict[str, np.ndarray]:
    """{"bn.running_mean": ..., "bn.running_var": ..., "bnf....": ...} after one training step on x. The feature
    batchnorm's input is the spatial one's training output (torch's, the same under both rules)."""
    import torch


    result = {}
    bn_output = _torch_step(torch.nn.BatchNorm2d, "bn", weights, x, result, running_variance, (0, 2, 3))
    _torch_step(torch.nn.BatchNorm1d, "bnf", weights, bn_output.reshape(len(x), -1), result, running_variance, (0,))
    return result


def _torch_step(cls, name, weights, x, result, running_variance, axes):
    import torch

    layer = cls(weights[f"{name}.weight"].size, momentum=MOMENTUM).double().train()
    layer.load_state_dict({key: torch.from_numpy(weights[f"{name}.{key}"]) for key in
                           ("weight", "bias", "running_mean", "running_var")}, strict=False)
    with torch.no_grad():
        y = layer(torch.from_numpy(x)).numpy()
    if running_variance == "unbiased":  # torch's own update
        result[f"{name}.running_mean"] = layer.running_mean.numpy()
        result[f"{name}.running_var"] = layer.running_var.numpy()
    else:  # Keras 3's, written out
        momentum_keras = 1 - MOMENTUM
        mean, variance = x.mean(axis=axes), x.var(axis=axes)  # numpy's var: ddof 0, the biased variance
        result[f"{name}.running_mean"] = weights[f"{name}.running_mean"] * momentum_keras + mean * (1 - momentum_keras)
        result[f"{name}.running_var"] = weights[f"{name}.running_var"] * momentum_keras + variance * (1 - momentum_keras)
    return y
