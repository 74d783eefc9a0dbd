"""The precision a network is generated in: `build(spec, ..., precision=...)`, `alexspec compile|build|check
--precision` and the spec's own `precision:` go through `with_precision`.

A pure function on the ResolvedNetwork, before any backend, as alexnet_spec/logits.py is: every backend reads the
chosen precision from `net.precision` and never from the spec.
"""

from __future__ import annotations

import dataclasses
import hashlib

from alexnet_spec.errors import unknown_choice
from alexnet_spec.resolved import ResolvedNetwork

PRECISIONS = ("float32", "bfloat16", "float16")  # what `precision=` and `--precision` accept
LOW_PRECISIONS = ("bfloat16", "float16")  # generated with float32 islands (LRN sums, softmax, batchnorm statistics)


def with_precision(net: ResolvedNetwork, precision: str | None) -> ResolvedNetwork:
    """`net` generated in `precision`; None keeps the spec's (float32 unless it says otherwise). Another precision
    than the spec's is another module: its `spec_hash` differs, and its headers say `--precision`."""
    if precision is None or precision == net.precision:
        return net
    if precision not in PRECISIONS:
        raise unknown_choice("precision", precision, list(PRECISIONS), file="--precision")
    digest = hashlib.sha256(f"{net.spec_hash}:{precision}".encode()).hexdigest()[:16]
    return dataclasses.replace(net, precision=precision, precision_option=True, spec_hash=digest)


def is_low(net: ResolvedNetwork) -> bool:
    return net.precision in LOW_PRECISIONS
