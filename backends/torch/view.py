"""The generated torch file's view, and `render`: resolved layers as the strings the templates place (constructor
calls, forward statements with their shape comment and arithmetic, `nn.init` calls). String work only: this module
never imports torch.

`file_view(net)` describes the whole generated file: its header, the single-device class (`model_view`) and, when
the spec names devices, the placed class (placement.py). Both classes are rendered by model.jinja and the same
per-kind templates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from alexnet_spec.backends.common import rendering
from alexnet_spec.backends.common.rendering import Statement, statement_imports
from alexnet_spec.backends.common.source import provenance
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import BatchNormAttrs, ResolvedLayer, ResolvedNetwork

from .initialisation import default_drawn_layers, init_calls, reset_doc
from .layers import (
    BATCHNORM_RESET,
    FLATTEN,
    FUNCTIONAL,
    ClassView,
    LayerView,
    activation_expression,
    batchnorm_constructor,
    conv_constructor,
    linear_constructor,
    lrn_constructor,
    lrn_note,
    memory_format_statement,
    ends_in_relu,
    format_forward,
    overwritable_after,
    pad_statement,
    pool_followup,
    pooled_size,
    shape_text,
    simple_constructor,
)
from .placement import placed_view

TEMPLATES = Path(__file__).parent / "templates"

# Every import a generated file may have, in the order it has them. torch and nn are always used: the class is an
# nn.Module and forward starts with x.contiguous(memory_format=torch.channels_last); the others when code needs them.
IMPORTS = ("import torch", FUNCTIONAL, "from torch import nn")
ALWAYS_IMPORTED = frozenset({"import torch", "from torch import nn"})
LRN_HELPER_IMPORTS = (FUNCTIONAL,)  # helpers/lrn.jinja's local_response_norm pads with F.pad
# Module-level names of the generated file that a class named after the spec would shadow.
MODULE_NAMES = frozenset({"F", "LocalResponseNorm", "BiasedRunningVariance", "BatchNorm1dBiasedVariance",
                          "BatchNorm2dBiasedVariance"})


@dataclass(frozen=True)
class FileView:
    header: tuple[str, ...]  # the module docstring's lines
    imports: tuple[str, ...]
    needs_lrn: bool  # include the LocalResponseNorm helper
    model: ClassView
    placed: ClassView | None  # the class splitting the layers over the spec's devices
    needs_biased_batchnorm: bool = False  # include the BatchNorm*dBiasedVariance helpers


def render(net: ResolvedNetwork) -> str:
    """The module's source: a header, the helpers it needs, the single-device class and, when the spec names
    devices, the placed class."""
    return rendering.render(TEMPLATES, file_view(net))


def file_view(net: ResolvedNetwork) -> FileView:
    check_names(net)
    model = model_view(net)
    placed = placed_view(net) if net.devices else None
    needs_lrn = any(layer.type == "lrn" for layer in net.layers)
    needed = set(model.imports + (placed.imports if placed else ()) + (LRN_HELPER_IMPORTS if needs_lrn else ()))
    imports = tuple(line for line in IMPORTS if line in ALWAYS_IMPORTED or line in needed)
    biased = any(isinstance(layer.attrs, BatchNormAttrs) and layer.attrs.running_variance == "biased"
                 for layer in net.layers)
    return FileView(_header(net), imports, needs_lrn, model, placed, biased)


def check_names(net: ResolvedNetwork) -> None:
    """A class named like a helper of the file would shadow it: refuse with the name. (Layer names that would
    shadow a method of the generated classes are refused with the spec's other reserved names, spec/types.py; the
    model name is checked here because the class is named after it capitalised: `f` becomes `F`.)"""
    if net.class_name in MODULE_NAMES:
        raise SpecError(Diagnostic(f"model name {net.name!r} is used by the generated torch module", file=net.file,
                                   path=("name",), expected=f"a name other than {', '.join(sorted(MODULE_NAMES))}",
                                   hint=f"try {net.name}Net"))


def model_view(net: ResolvedNetwork) -> ClassView:
    """The single-device class: one attribute per layer with parameters or a module, one statement per layer."""
    overwritable, after_relu, layers = False, False, []
    for layer in net.layers:
        layers.append(_layer(layer, overwritable and not (layer.type == "relu" and after_relu)))
        overwritable = overwritable_after(layer, overwritable)
        after_relu = ends_in_relu(layer, after_relu)
    imports = statement_imports(s for view in layers for s in view.statements())
    layers, definition, first = format_forward(layers, memory_format_statement(net))
    return ClassView(net.class_name, _class_doc(net), definition, first, layers, "return x", imports=imports,
                     reset_doc=reset_doc(net, "Initialise every parameter as the spec declares."),
                     default_drawn=tuple(f"self.{name}" for name in default_drawn_layers(net)))


def _layer(layer: ResolvedLayer, overwritable: bool) -> LayerView:
    kind, name, shape = layer.type, layer.name, shape_text(layer.output_shape)
    call = Statement(f"x = self.{name}(x)", shape, "; ".join(layer.equations))
    a = layer.attrs
    if kind == "conv":
        return LayerView(name, "conv.jinja", conv_constructor(layer, a.in_channels, a.out_channels, a.groups),
                         init=init_calls(a, f"self.{name}"), pad=pad_statement(layer), call=call,
                         activation=_activation(layer, shape))
    if kind == "dense":
        return LayerView(name, "dense.jinja", linear_constructor(layer, a.in_features, a.out_features),
                         init=init_calls(a, f"self.{name}"), call=call, activation=_activation(layer, shape))
    if kind in ("maxpool", "avgpool"):
        pooled, followup, crop = pooled_size(layer), pool_followup(layer), None
        if followup is not None:
            call = replace(call, shape=shape_text((layer.output_shape[0],) + pooled))
            crop = Statement(f"x = {followup[0].code}", shape, followup[1], followup[0].imports)
        return LayerView(name, "pool.jinja", simple_constructor(layer), pad=pad_statement(layer), call=call,
                         crop=crop)
    if kind == "lrn":
        return LayerView(name, "lrn.jinja", lrn_constructor(layer, a.groups, inplace=overwritable),
                         call=replace(call, note=lrn_note(layer, a.groups)))
    if kind == "batchnorm":
        return LayerView(name, "batchnorm.jinja", batchnorm_constructor(layer, a.num_features),
                         init=(BATCHNORM_RESET.format(target=f"self.{name}"),), call=call)
    if kind in ("dropout", "adaptive_avgpool"):
        return LayerView(name, f"{kind}.jinja", simple_constructor(layer), call=call)
    if kind == "flatten":
        return LayerView(name, "flatten.jinja", call=replace(call, code=f"x = {FLATTEN.code}"))
    expression = activation_expression(kind, overwritable)
    return LayerView(name, "activation.jinja", call=Statement(f"x = {expression.code}", shape,
                                                              imports=expression.imports))


def _activation(layer: ResolvedLayer, shape: str) -> Statement | None:
    kind = layer.attrs.activation
    if kind is None:
        return None
    expression = activation_expression(kind, overwritable=True)
    return Statement(f"x = {expression.code}", shape, f"activation: {kind}", expression.imports)


def _header(net: ResolvedNetwork) -> tuple[str, ...]:
    """The module docstring: what the network is, where it comes from, how to regenerate it."""
    return provenance(net, "torch") + (
        f"Input {shape_text(net.input_shape)}, output {shape_text(net.output_shape)}; "
        f"{net.total_params:,} parameters, {net.total_macs:,} multiply-accumulates per example.",
        "Needs only PyTorch.")


def _class_doc(net: ResolvedNetwork) -> tuple[str, ...]:
    lines = [f"{net.name}: {shape_text(net.input_shape)} -> {shape_text(net.output_shape)}.", ""]
    if net.devices:
        lines.append(f"All layers on one device; {net.class_name}Placed splits them over the spec's devices "
                     f"({', '.join(net.devices)}).")
    lines.append("Initialised as the spec declares (see reset_parameters).")
    return tuple(lines)
