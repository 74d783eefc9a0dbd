"""Loss and accuracy from logits, in float64 numpy, the same for every backend."""

from __future__ import annotations

import numpy as np


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean of -log softmax(logits)[label] over the batch: (N, K), (N,) -> scalar."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probabilities[np.arange(len(labels)), labels].mean())


def top_k(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """The fraction of examples whose label is among the k largest logits (ties count against: a label is in the
    top k when fewer than k classes score strictly more)."""
    logits = np.asarray(logits, np.float64)
    label_scores = logits[np.arange(len(labels)), labels]
    above = (logits > label_scores[:, None]).sum(axis=1)
    return float((above < k).mean())
