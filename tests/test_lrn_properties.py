"""LRN of random inputs and parameters matches its formula, in every convention, in every backend."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from alexnet_spec import backends
from tests.conftest import resolve_text
from tests.test_equivalence import CANDIDATES


def formula(a: np.ndarray, n: int, alpha: float, beta: float, k: float, convention: str, groups: int) -> np.ndarray:
    """b[c] = a[c] / (k + s * sum of a[c']^2 over the window of c within its group)^beta, written out per channel."""
    scale = alpha if convention in ("paper", "tf") else alpha / n
    channels = a.shape[1]
    per_group = channels // groups
    b = np.empty_like(a)
    for c in range(channels):
        first = (c // per_group) * per_group
        low, high = max(first, c - n // 2), min(first + per_group - 1, c + n // 2)
        total = sum(a[:, j] ** 2 for j in range(low, high + 1))
        b[:, c] = a[:, c] / (k + scale * total) ** beta
    return b


@st.composite
def lrn_cases(draw):
    groups = draw(st.integers(1, 3))
    per_group = draw(st.integers(1, 6))
    n = draw(st.sampled_from([size for size in (1, 3, 5, 7) if size <= per_group]))
    params = dict(n=n, alpha=draw(st.floats(1e-4, 2.0)), beta=draw(st.floats(0.1, 1.5)), k=draw(st.floats(0.5, 3.0)),
                  convention=draw(st.sampled_from(["paper", "tf", "caffe", "torch"])), groups=groups)
    shape = (2, groups * per_group, draw(st.integers(1, 4)), draw(st.integers(1, 5)))
    seed = draw(st.integers(0, 2**31))
    return params, np.random.default_rng(seed).normal(0, 2, shape)


@settings(max_examples=max(10, settings().max_examples // 2))
@given(lrn_cases())
def test_every_backend_computes_the_lrn_formula(case):
    params, x = case
    net = resolve_text(f"""
        name: OneLRN
        input: {{channels: {x.shape[1]}, height: {x.shape[2]}, width: {x.shape[3]}}}
        layers:
          - {{type: lrn, size: {params['n']}, alpha: {params['alpha']!r}, beta: {params['beta']!r},
              k: {params['k']!r}, convention: {params['convention']}, groups: {params['groups']}}}
    """)
    expected = formula(x, **params)
    for name in ["numpy"] + CANDIDATES:
        [(_, actual)] = backends.get(name).evaluate(net, {}, x, dtype="float64")
        np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-14, err_msg=name)
