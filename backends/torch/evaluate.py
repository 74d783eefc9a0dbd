"""Every layer's output of a generated model, for `alexspec check` and the equivalence tests.

Each generated `forward` (the network's, and each block class's) is one statement per layer (plus padding, crop or
activation statements); `layer_outputs` runs the model once under a line tracer and reads each layer's variable
after its last statement, in every block instance, so what is compared is exactly the code users read and run.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

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

    `model` may be built on the meta device (`build_without_storage`): every tensor it holds is then the given
    weights, laid out as the model lays out its own. A network generated in bfloat16 or float16 runs as generated
    (`dtype` is then the float32 of its input and its islands): each weight is rounded into its parameter's own type,
    and outputs come back as float32."""
    import numpy as np

    return evaluator(model, net, int(np.shape(x)[0]), dtype)(weights, x)


def evaluator(model, net: ResolvedNetwork, batch: int, dtype: str) -> Callable[[Mapping[str, Any], Any], list]:
    """`evaluate` with `model` made ready now: in eval mode, in `dtype` (a float32 network). Eager torch compiles
    nothing, so `batch` changes nothing; it is taken as the JAX backend's evaluator takes it."""
    import numpy as np
    import torch

    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    if net.precision == "float32":
        model = model.to(torch_dtype)
    model = model.eval()

    def run(weights: Mapping[str, Any], x) -> list[tuple[str, Any]]:
        with torch.no_grad():
            outputs = layer_outputs(with_weights(model, weights), net,
                                    torch.as_tensor(np.asarray(x), dtype=torch_dtype))
        return [(layer.name, _numpy(outputs[layer.name])) for layer in net.layers]

    return run


def build_without_storage(net: ResolvedNetwork):
    """The generated single-device model on the meta device: its constructor runs as written, but no tensor gets
    storage or is initialised, which `with_weights` then replaces. (AlexNet's default initialisation alone is 61
    million random draws, and its conversion to float64 half a gigabyte written, all overwritten by the weights.)"""
    import torch

    from .build import build

    with torch.device("meta"), _no_draws_on_meta_mode():
        return build(net)


def _no_draws_on_meta_mode():
    """A torch function mode under which `normal_` on a meta tensor returns it as it is: a meta tensor has no values
    to draw, and torch's meta `normal_` runs a Python reference whose first call imports torch._dynamo (1-2 s)."""
    import torch

    class NoDrawsOnMeta(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is torch.Tensor.normal_ or func is torch.nn.init.normal_:
                tensor = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
                if tensor.is_meta:
                    return tensor
            return func(*args, **kwargs)

    return NoDrawsOnMeta()


def with_weights(model, weights: Mapping[str, Any]):
    """`model` holding canonical `weights`, each converted as `load_state_dict` would copy it into the model's own
    tensor: that tensor's dtype, and its strides (a channels-last kernel stays channels last). A weight
    already so (a float64 numpy array for a float64 dense layer) is used as it is, without a copy; the model only
    reads its weights. Unexpected entries are ignored; a missing one is a ValueError, except the batch counter
    num_batches_tracked, which eval mode never reads (it starts at 0)."""
    import numpy as np
    import torch

    given = {name: value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
             for name, value in weights.items()}
    own = model.state_dict(keep_vars=True)
    missing = [name for name in own if name not in given and not name.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"weights lack {', '.join(missing)} (canonical torch state_dict names)")
    state = {name: _laid_out_as(name, tensor, given.get(name)) for name, tensor in own.items()}
    model.load_state_dict(state, assign=True)
    unloaded = [name for name, tensor in [*model.named_parameters(), *model.named_buffers()] if tensor.is_meta]
    if unloaded:  # a tensor outside the state dict (a non-persistent buffer) would have no value
        raise RuntimeError(f"the generated model holds tensors that no weight fills: {', '.join(unloaded)}")
    return model


def _laid_out_as(name: str, own, value):
    """`value` (None: the batch counter's 0) with the dtype, strides and device of the model's tensor `own`."""
    import torch

    if value is None:
        return torch.zeros(own.shape, dtype=own.dtype, device="cpu" if own.is_meta else own.device)
    if value.shape != own.shape:
        raise ValueError(f"weight {name!r} has shape {tuple(value.shape)}, the model's {tuple(own.shape)}")
    device = value.device if own.is_meta else own.device
    if value.dtype == own.dtype and value.device == device and value.stride() == own.stride():
        return value.detach()
    laid_out = torch.empty_strided(own.shape, own.stride(), dtype=own.dtype, device=device)
    return laid_out.copy_(value)


def _numpy(value):
    """A float numpy array of an output: numpy has no bfloat16, so low precisions come back as float32."""
    import torch

    return (value.float() if value.dtype in (torch.bfloat16, torch.float16) else value).numpy()
