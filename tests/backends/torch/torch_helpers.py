"""Helpers for the torch backend's tests: build inline specs, read every layer's output."""

from __future__ import annotations

import torch

from alexnet_spec.backends.torch import backend
from alexnet_spec.backends.torch import layer_outputs as backend_layer_outputs
from tests.conftest import resolve_text


def build_text(body: str, devices=None, dtype=torch.float32):
    """(net, model) for an inline YAML spec, the model in eval mode."""
    net = resolve_text(body)
    return net, backend.build(net, devices=devices, dtype=dtype).eval()


def layer_outputs(model, net, x) -> dict[str, torch.Tensor]:
    """Every layer's output in the single-device model's forward (see backends/torch/evaluate.py)."""
    return backend_layer_outputs(model, net, x)
