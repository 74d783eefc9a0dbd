"""The NumPy reference backend: the oracle that the torch and jax builds are checked against.

It interprets the resolved network directly in float64 (interpreter.py, ops/) and generates no source:
`render` is an error, `build` returns a model whose `.run(weights, x)` computes the network.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from alexnet_spec.backends.numpy.interpreter import run

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import ResolvedNetwork
from alexnet_spec.weights import init_weights, weight_shapes


class NumpyModel:
    """A resolved network ready to run in float64; weights are passed to each call, in the canonical format."""

    def __init__(self, net: ResolvedNetwork, devices: Sequence[str] | None = None):
        self.net = net
        self.devices = tuple(devices) if devices else net.devices  # names only: every tower runs on the CPU
        self.dtype = np.float64

    def run(self, weights: Mapping[str, Any], x: Any, *, train: bool = False,
            rng: np.random.Generator | int | None = None, intermediates: bool = False,
            new_buffers: dict[str, np.ndarray] | None = None):
        """(N, C, H, W) -> (N, *output_shape), or a tuple of outputs for a network with several; see
        `interpreter.run` for the arguments."""
        return run(self.net, weights, x, train=train, rng=rng, intermediates=intermediates, new_buffers=new_buffers)

    def init_weights(self, seed: int | np.random.Generator | None = 0) -> dict[str, np.ndarray]:
        """Canonical float64 weights drawn from the declared distributions."""
        return init_weights(self.net, seed)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return weight_shapes(self.net)

    def __repr__(self) -> str:
        return f"NumpyModel({self.net.name}, {len(self.net.layers)} layers, float64)"


class NumpyBackend:
    name = "numpy"
    generates_source = False

    def render(self, net: ResolvedNetwork) -> str:
        raise SpecError(Diagnostic("the numpy backend is a reference interpreter: it has no source to compile",
                                   file="--backend", hint="use --backend torch or --backend jax to generate source"))

    def build(self, net: ResolvedNetwork, devices: Sequence[str] | None = None, dtype: Any = None,
              **options: Any) -> NumpyModel:
        """A NumpyModel. `devices` only names the towers (all run on the CPU); `dtype` is accepted so that every
        backend takes the same options, and ignored: the oracle always computes in float64."""
        if options:
            raise TypeError(f"unknown numpy build option(s): {', '.join(sorted(options))}; expected devices, dtype")
        if devices and net.devices and len(devices) != len(net.devices):
            raise SpecError(Diagnostic(f"{len(devices)} devices given for a spec that names {len(net.devices)}",
                                       file="--devices", expected=f"{len(net.devices)} device names"))
        return NumpyModel(net, devices)

    def evaluate(self, net: ResolvedNetwork, weights: Mapping[str, Any], x: np.ndarray,
                 dtype: str = "float64") -> list[tuple[str, np.ndarray]]:
        """Every layer's output for `alexspec check`, always in float64 (the reference)."""
        return run(net, weights, x, intermediates=True)


backend = NumpyBackend()
