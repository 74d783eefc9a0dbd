"""Every layer's output of a generated JAX module, for `alexspec check` and the equivalence tests.

`apply` and each block function end in a block of one-line statements, one per layer or block instance (view.py
knows what each line writes). `layer_outputs` runs `apply` once under a line tracer, and reads the variable each
layer's statement wrote right after it (`evaluate` does so while jax.jit traces `apply`, so those values are the
outputs of one compiled program); a block function's frame is the instance its caller's line
called, so a layer inside it is named `layer2.0.conv1`. What is compared is the code users read. Spatial maps go
back from NHWC to the canonical (N, C, H, W) layout; features are compared as the module returns them (its flatten
is in C, H, W order)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from alexnet_spec.resolved import ResolvedNetwork
from alexnet_spec.weights import as_array, weight_shapes

from .view import Functions, FunctionView
from .weights import torch_to_jax


@dataclass
class _Frame:
    """One run of a generated function: its locals at each line event, and the functions it called (with the
    number of line events before each call)."""

    function: FunctionView
    events: list[dict] = field(default_factory=list)
    calls: list[tuple[int, "_Frame"]] = field(default_factory=list)


def layer_outputs(module, net: ResolvedNetwork, params, x, state) -> dict[str, Any]:
    """{qualified layer name: its output} for one eval-mode `apply(params, x, state=state)`."""
    functions = Functions(net)
    views = {view.name: view for view in functions.functions + (functions.apply,)}
    codes = {getattr(module, name).__code__: view for name, view in views.items()}
    stack: list[_Frame] = []
    root: list[_Frame] = []

    def in_function(frame, event, arg):
        if event == "line":
            stack[-1].events.append(dict(frame.f_locals))
        elif event == "return":
            stack.pop()
        return in_function

    def tracer(frame, event, arg):
        view = codes.get(frame.f_code)
        if view is None:
            return None
        record = _Frame(view)
        if stack:
            stack[-1].calls.append((len(stack[-1].events), record))
        else:
            root.append(record)
        stack.append(record)
        return in_function

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        module.apply(params, x, state=state)
    finally:
        sys.settrace(previous)
    outputs: dict[str, Any] = {}
    _collect(root[0], "", outputs)
    return outputs


def _collect(frame: _Frame, prefix: str, outputs: dict[str, Any]) -> None:
    """The values `frame`'s statements wrote; the last line events before its return are its statements', one each,
    and the locals at each event hold what the line before it computed."""
    lines = frame.function.lines
    if len(frame.events) < len(lines) + 1:
        raise RuntimeError(f"{frame.function.name} ran {len(frame.events)} lines, fewer than its {len(lines)} "
                           "statements")
    offset = len(frame.events) - (len(lines) + 1)
    for index, line in enumerate(lines):
        if line.kind == "layer":
            outputs[prefix + line.label] = frame.events[offset + index + 1][line.variable]
    for count, child in frame.calls:
        line = lines[count - 1 - offset]  # the call ran during the line event before `count`
        _collect(child, f"{prefix}{line.label}.", outputs)


def evaluate(module, net: ResolvedNetwork, weights: Mapping[str, Any], x, dtype: str) -> list[tuple[str, np.ndarray]]:
    """[(layer name, output in the canonical layout (N, C, H, W) or (N, F))] in eval mode with canonical weights."""
    return evaluator(module, net, int(np.shape(x)[0]), dtype)(weights, x)


def evaluator(module, net: ResolvedNetwork, batch: int, dtype: str) -> Callable[[Mapping[str, Any], Any], list]:
    """`evaluate` for inputs of `batch` images, with the work that needs no values done now: the trace of `apply`
    and its compilation, from the weights' shapes alone (`alexspec check` does it while it draws the weights).

    The compiled program takes the canonical weights and the (N, C, H, W) input as they are and lays them out itself,
    so a 64-byte aligned array in the program's dtype (as `init_weights` draws them) reaches XLA without a copy."""
    import jax
    import jax.numpy as jnp

    wide = dtype == "float64"
    host = np.float64 if wide else np.float32
    shapes = weight_shapes(net)
    with jax.enable_x64(wide):
        # A low precision: each parameter in the type the generated `init` gives it (bfloat16, batchnorm's float32),
        # rounded from float32 as the float32 master weights of training are.
        types = None if net.precision == "float32" else jax.eval_shape(module.init, jax.random.PRNGKey(0))

        def canonical_apply(canonical: dict, image):
            params, state = torch_to_jax(canonical, net) if canonical else ({}, {})
            if types is not None:
                params = jax.tree_util.tree_map(lambda value, like: value.astype(like.dtype), params, types)
            return layer_outputs(module, net, params, jnp.transpose(image, (0, 2, 3, 1)), state or None)

        # Traced once under jit, the statements' values are the compiled program's outputs: one compilation of the
        # whole network instead of one per operation (the shapes and types of every layer are new to JAX). The
        # program runs once, so LLVM's optimisations are skipped (compilation 0.96 -> 0.55 s of CPU for AlexNet);
        # XLA's own passes, which decide what is computed, run as always. The level changes a result only in its
        # rounding: on AlexNet at most 1e-15 (float64) and 6e-7 (float32) of a layer's largest value, far inside
        # check's tolerances.
        compiled = jax.jit(canonical_apply).lower(
            {name: jax.ShapeDtypeStruct(shape, host) for name, shape in shapes.items()},
            jax.ShapeDtypeStruct((batch,) + tuple(net.input_shape), host),
        ).compile(compiler_options={"xla_backend_optimization_level": 0})

    def run(weights: Mapping[str, Any], x) -> list[tuple[str, np.ndarray]]:
        torch_to_jax(weights, net)  # every weight present, of its shape: a SpecError naming the one that is not
        with jax.enable_x64(wide):
            canonical = {name: jax.device_put(np.asarray(as_array(weights[name]), host)) for name in shapes}
            outputs = compiled(canonical, jax.device_put(np.asarray(x, host)))
            result = []
            for layer in net.layers:
                value = np.asarray(outputs[layer.name], dtype=np.float64)
                if value.ndim == 4:  # NHWC, the module's layout for maps
                    value = value.transpose(0, 3, 1, 2)
                result.append((layer.name, value))
        return result

    return run
