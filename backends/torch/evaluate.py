"""Every layer's output of a generated model, for `alexspec check` and the equivalence tests.

The generated `forward` is one statement per layer (plus padding, crop or activation statements); `layer_outputs`
runs it once under a line tracer and reads `x` after each layer's last statement, so what is compared is exactly
the code users read and run.
"""

from __future__ import annotations

from typing import Any, Mapping

from alexnet_spec.backends.common.source import values_after_lines

from alexnet_spec.resolved import ResolvedNetwork

from .view import model_view


def layer_outputs(model, net: ResolvedNetwork, x) -> dict[str, Any]:
    """{layer name: a copy of the activation after that layer} for one call of the single-device model.

    Copies, because later statements may overwrite an activation in place (relu, LRN without gradients).
    """
    import torch

    labels = [view.name for view in model_view(net).layers for _ in view.statements()]
    return values_after_lines(type(model).forward, labels, lambda: model(x),
                              copy=lambda value: value.clone() if isinstance(value, torch.Tensor) else value)


def evaluate(model, net: ResolvedNetwork, weights: Mapping[str, Any], x, dtype: str) -> list[tuple[str, Any]]:
    """[(layer name, output as a float numpy array (N, C, H, W) or (N, F))] in eval mode, with canonical `weights`
    (torch state_dict names and layouts; numpy arrays or tensors; num_batches_tracked may be absent)."""
    import numpy as np
    import torch

    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    state = {name: torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
             for name, value in weights.items()}
    model = model.to(torch_dtype).eval()
    missing, _ = model.load_state_dict({name: value.to(torch_dtype) if value.is_floating_point() else value
                                        for name, value in state.items()}, strict=False)
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"weights lack {', '.join(missing)} (canonical torch state_dict names)")
    with torch.no_grad():
        outputs = layer_outputs(model, net, torch.as_tensor(np.asarray(x), dtype=torch_dtype))
    return [(layer.name, outputs[layer.name].numpy()) for layer in net.layers]
