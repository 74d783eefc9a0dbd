"""Every layer's output of a generated model, for `alexspec check` and the equivalence tests.

Each generated `forward` (the network's, and each block class's) is one statement per layer (plus padding, crop or
activation statements); `layer_outputs` runs the model once under a line tracer and reads each layer's variable
after its last statement, in every block instance, so what is compared is exactly the code users read and run.
"""

from __future__ import annotations

from typing import Any, Mapping

from alexnet_spec.backends.common.source import values_in_frames

from alexnet_spec.resolved import ResolvedNetwork

from .view import class_views


def layer_outputs(model, net: ResolvedNetwork, x) -> dict[str, Any]:
    """{qualified layer name: a copy of the activation after that layer} for one call of the single-device model.

    Copies, because later statements may overwrite an activation in place (relu, LRN without gradients).
    """
    import torch

    classes = {type(module).__name__: type(module) for module in model.modules()}
    labels = {}
    for view in class_views(net):
        labels[classes[view.class_name].forward.__code__] = [
            (layer.name, layer.target) if layer.leaf and index == len(layer.statements()) - 1 else None
            for layer in view.layers for index, _ in enumerate(layer.statements())]
    scopes = {id(module): name for name, module in model.named_modules()}
    return values_in_frames(labels, lambda: model(x), lambda frame: scopes[id(frame.f_locals["self"])],
                            copy=lambda value: value.clone() if isinstance(value, torch.Tensor) else value)


def evaluate(model, net: ResolvedNetwork, weights: Mapping[str, Any], x, dtype: str) -> list[tuple[str, Any]]:
    """[(layer name, output as a float numpy array (N, C, H, W) or (N, F))] in eval mode, with canonical `weights`
    (torch state_dict names and layouts; numpy arrays or tensors; num_batches_tracked may be absent).

    A network generated in bfloat16 or float16 runs as generated (`dtype` is then the float32 of its input and
    its islands): loading rounds the weights into each parameter's own type, and outputs come back as float32."""
    import numpy as np
    import torch

    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    state = {name: torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
             for name, value in weights.items()}
    if net.precision == "float32":
        model = model.to(torch_dtype)
    model = model.eval()
    missing, _ = model.load_state_dict({name: value.to(torch_dtype) if value.is_floating_point() else value
                                        for name, value in state.items()}, strict=False)
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"weights lack {', '.join(missing)} (canonical torch state_dict names)")
    with torch.no_grad():
        outputs = layer_outputs(model, net, torch.as_tensor(np.asarray(x), dtype=torch_dtype))
    return [(layer.name, _numpy(outputs[layer.name])) for layer in net.layers]


def _numpy(value):
    """A float numpy array of an output: numpy has no bfloat16, so low precisions come back as float32."""
    import torch

    return (value.float() if value.dtype in (torch.bfloat16, torch.float16) else value).numpy()
