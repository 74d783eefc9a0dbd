"""The placed class: every split layer as one share per device (an nn.ModuleList), activations as a list `xs` of
per-device shares, and `gather` only where the spec's placement says a layer reads across devices.

The state of the activation between layers: INPUT (the caller's tensor, on any device), SPLIT (`xs`, share i on
device i), or the index of the one device holding `x`.
"""

from __future__ import annotations

from dataclasses import replace

from alexnet_spec.backends.common.rendering import Statement, statement_imports
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import INPUT as NETWORK_INPUT
from alexnet_spec.resolved import ResolvedLayer, ResolvedNetwork

from .initialisation import default_drawn_layers, init_calls, reset_doc
from .layers import (
    BATCHNORM_ISLAND,
    BATCHNORM_RESET,
    FLATTEN,
    TORCH_DTYPES,
    PRELU_RESET,
    ClassView,
    Expression,
    LayerView,
    activation_expression,
    batchnorm_constructor,
    conv_constructor,
    linear_constructor,
    lrn_constructor,
    lrn_note,
    memory_format_statement,
    weights_format_line,
    ends_in_relu,
    format_forward,
    in_float32,
    module_call,
    overwritable_after,
    pad_expression,
    pad_note,
    padded_shape,
    pad_statement,
    pool_followup,
    pooled_size,
    prelu_constructor,
    shape_text,
    simple_constructor,
)

INPUT, SPLIT = "input", "split"
LOOP_NAMES = {"conv": "conv", "dense": "linear", "batchnorm": "bn"}


def placed_view(net: ResolvedNetwork) -> ClassView:
    """The placed class of a chain (for a graph, see view.py's placed_graph_view)."""
    _refuse_split_prelu(net)
    devices = net.devices
    state, overwritable, after_relu, layers = INPUT, False, False, []
    for layer in net.layers:
        view, state = _layer(layer, state, overwritable and not (layer.type == "relu" and after_relu), devices,
                             net.precision)
        layers.append(view)
        overwritable = overwritable_after(layer, overwritable)
        after_relu = ends_in_relu(layer, after_relu)
    output = "return gather(xs, self.devices[0])" if state == SPLIT else "return x"
    names = ", ".join(f"devices[{index}] for {name}" for index, name in enumerate(devices))
    doc = (f"{net.name} split over {len(devices)} devices as the spec places it: {names}.", "",
           "Each split layer holds one share of its kernels (or neurons) per device in an nn.ModuleList;",
           "activations cross devices only where a layer reads across them (`gather`).",
           f"load_single_state_dict and single_state_dict convert weights from and to {net.class_name}'s layout.")
    imports = statement_imports(s for view in layers for s in view.statements())
    layers, definition, first = format_forward(layers, memory_format_statement(net))
    by_name = {layer.name: layer for layer in net.layers}
    return ClassView(f"{net.class_name}Placed", doc, definition, first, layers, output, devices,
                     _tuple_literal([view.name for view in layers if view.shares]), imports,
                     reset_doc(by_name, "Initialise every parameter as the spec declares, each share like the whole "
                               "layer."),
                     tuple(f"*self.{view.name}" if view.shares else f"self.{view.name}" for view in layers
                           if view.name in default_drawn_layers(by_name)), weights_format_line(net))


def _batchnorm_note(note: str, precision: str) -> str:
    """A batch normalisation's comment: in a low precision, it says the layer keeps float32 (as in view.py)."""
    return "; ".join(filter(None, (note, BATCHNORM_ISLAND if precision in TORCH_DTYPES else "")))


def is_chain(net: ResolvedNetwork) -> bool:
    """Whether every layer reads the one before it, outside any block, and the last is the one output: the placed
    class follows one activation (or its shares) down such a chain; graphs are placed layer by layer instead."""
    for index, layer in enumerate(net.layers):
        previous = (net.layers[index - 1].name,) if index else (NETWORK_INPUT,)
        if "." in layer.name or layer.inputs not in ((), previous):
            return False
    return net.output_names == (net.layers[-1].name,)


def _refuse_split_prelu(net: ResolvedNetwork) -> None:
    for layer in net.layers:
        if layer.type == "prelu" and layer.placement.split:
            raise _unplaceable(net, layer, "would be split across devices with its slopes",
                               "a PReLU on one device (after a layer placed on one device)")


def graph_home(net: ResolvedNetwork, qualified: str, is_block: bool) -> int:
    """The index of the one device that runs a layer, or every layer of a block instance (or row), of a graph; a
    split layer, or an instance whose layers run on several devices, is refused naming the layer."""
    layers = [layer for layer in net.layers if layer.name.startswith(f"{qualified}.")] if is_block else \
        [net.layer(qualified)]
    for layer in layers:
        if layer.placement.split:
            raise _unplaceable(net, layer, "is split over the devices inside a graph",
                               "in a graph, every conv and dense layer placed on one device (`placement: gpu0`)")
    devices = {layer.placement.devices[0] for layer in layers}
    if len(devices) > 1:
        raise _unplaceable(net, layers[0], f"is in block instance {qualified}, whose layers run on "
                           f"{', '.join(sorted(devices))}", "every layer of a block instance on one device")
    return net.devices.index(devices.pop())


def _unplaceable(net: ResolvedNetwork, layer: ResolvedLayer, what: str, expected: str) -> SpecError:
    return SpecError(Diagnostic(f"the torch backend's placed class cannot place this layer: it {what}",
                                file=net.file, layer=layer.name, expected=expected,
                                hint="give it `placement: <device>`, or remove `devices` to compile the single-device "
                                     "model and move it with .to(device)"))


def _device(index: int) -> str:
    return f"self.devices[{index}]"


def _whole_on(index: int, state) -> str:
    """The whole activation, on device `index`."""
    if state == SPLIT:
        return f"gather(xs, {_device(index)})"
    return "x" if state == index else f"x.to({_device(index)})"


def _apply(expression: Expression, state, home: int, split: bool) -> str:
    """A statement applying `expression` to each share of a split activation, or to the whole activation on
    device `home`."""
    if split:
        return f"xs = [{expression.code} for x in xs]"
    return f"x = {expression.on(_whole_on(home, state))}"


def _shape(shape: tuple[int, ...], count: int, split: bool) -> str:
    """(N, 1000), or 2 × (N, 48, 55, 55): one share per device."""
    if not split:
        return shape_text(shape)
    return f"{count} × {shape_text((shape[0] // count,) + tuple(shape[1:]))}"


def _layer(layer: ResolvedLayer, state, overwritable: bool, devices: tuple[str, ...], precision: str):
    """The LayerView of one layer and the state of the activation after it; `precision`: the network's."""
    placement, kind, name, count = layer.placement, layer.type, layer.name, len(devices)
    split = placement.split
    home = 0 if split else devices.index(placement.devices[0])
    after = SPLIT if split else home
    shape = _shape(layer.output_shape, count, split)
    note = "; ".join(filter(None, ("" if split else f"on {placement.devices[0]}",) + layer.equations))
    pad = _pad(layer, state, count) if kind in ("conv", "maxpool", "avgpool") else None
    if kind in ("conv", "dense"):
        return _weighted(layer, state, count, home, shape, note, pad, precision), after
    if kind == "lrn":
        groups = layer.attrs.groups // count if split else layer.attrs.groups
        where = lrn_note(layer, groups, precision) + (", on each device's channels" if split else "")
        call = Statement(_apply(in_float32(module_call(name), precision), state, home, split), shape,
                         "; ".join(filter(None, (where, note))))
        return LayerView(name, "lrn.jinja", lrn_constructor(layer, groups, inplace=overwritable), call=call), after
    if kind == "batchnorm" and split:
        shares = tuple(batchnorm_constructor(layer, layer.attrs.num_features // count, _device(index))
                       for index in range(count))
        call = Statement(f"xs = [bn(x) for bn, x in zip(self.{name}, xs)]", shape, _batchnorm_note(note, precision))
        init = (BATCHNORM_RESET.format(target="share"),)
        return LayerView(name, "batchnorm.jinja", shares=shares, call=call, init=init), after
    if kind == "batchnorm":
        constructor = batchnorm_constructor(layer, layer.attrs.num_features, _device(home))
        call = Statement(_apply(module_call(name), state, home, split), shape, _batchnorm_note(note, precision))
        init = (BATCHNORM_RESET.format(target=f"self.{name}"),)
        return LayerView(name, "batchnorm.jinja", constructor, call=call, init=init), after
    if kind in ("maxpool", "avgpool", "adaptive_avgpool", "dropout"):
        call = Statement(_apply(module_call(name), state, home, split), shape, note)
        crop_statement = None
        followup = pool_followup(layer) if kind in ("maxpool", "avgpool") else None
        if followup is not None:
            call = replace(call, shape=_shape((layer.output_shape[0],) + pooled_size(layer), count, split))
            crop_statement = Statement(_apply(followup[0], after, home, split), shape, followup[1],
                                       followup[0].imports)
        template = "pool.jinja" if kind in ("maxpool", "avgpool") else f"{kind}.jinja"
        return LayerView(name, template, simple_constructor(layer), pad=pad, call=call, crop=crop_statement), after
    if kind == "flatten":
        if split:
            channels, height, width = layer.input_shape
            features = layer.output_shape[0] // count
            note = f"{channels // count} * {height} * {width} = {features} on each device"
        return LayerView(name, "flatten.jinja", call=Statement(_apply(FLATTEN, state, home, split),
                                                               shape, note)), after
    if kind == "prelu":  # on one device (_refuse_split_prelu)
        call = Statement(_apply(module_call(name), state, home, split), shape, note)
        return LayerView(name, "prelu.jinja", prelu_constructor(layer, _device(home), precision), call=call,
                         init=(PRELU_RESET.format(target=f"self.{name}"),)), after
    expression = activation_expression(kind, overwritable and (split or state == home), layer.attrs, precision)
    return LayerView(name, "activation.jinja",
                     call=Statement(_apply(expression, state, home, split), shape, note,
                                    expression.imports)), after


def _weighted(layer: ResolvedLayer, state, count: int, home: int, shape: str, note: str,
              pad: Statement | None, precision: str) -> LayerView:
    """A conv or dense layer: one share per device when split, else the whole layer on its device."""
    a, name, kind = layer.attrs, layer.name, layer.type
    if not layer.placement.split:
        constructor = (conv_constructor(layer, a.in_channels, a.out_channels, a.groups, _device(home), precision)
                       if kind == "conv" else
                       linear_constructor(layer, a.in_features, a.out_features, _device(home), precision))
        call = Statement(f"x = self.{name}({_whole_on(home, state)})", shape, note)
        return LayerView(name, f"{kind}.jinja", constructor, init=init_calls(a, f"self.{name}"), pad=pad, call=call,
                         activation=_activation(layer, home, home, shape, precision))
    loop = LOOP_NAMES[kind]
    per_group = kind == "conv" and a.groups % count == 0  # each device holds whole groups: it reads only its share
    if kind == "conv":
        in_channels, groups = (a.in_channels // count, a.groups // count) if per_group else (a.in_channels, a.groups)
        shares = tuple(conv_constructor(layer, in_channels, a.out_channels // count, groups, _device(index), precision)
                       for index in range(count))
    else:
        shares = tuple(linear_constructor(layer, a.in_features, a.out_features // count, _device(index), precision)
                       for index in range(count))
    if per_group and state == SPLIT:
        code = f"xs = [{loop}(x) for {loop}, x in zip(self.{name}, xs)]"
    elif per_group:
        code = (f"xs = [{loop}(part.to(device)) for {loop}, part, device in "
                f"zip(self.{name}, x.chunk({count}, dim=1), self.devices)]")
    elif state == SPLIT:
        code = f"xs = [{loop}(gather(xs, device)) for {loop}, device in zip(self.{name}, self.devices)]"
        note = "; ".join(filter(None, ("reads across devices", note)))
    else:
        code = f"xs = [{loop}(x.to(device)) for {loop}, device in zip(self.{name}, self.devices)]"
    return LayerView(name, f"{kind}.jinja", shares=shares, init=init_calls(a, "share"), pad=pad,
                     call=Statement(code, shape, note), activation=_activation(layer, SPLIT, home, shape, precision))


def _activation(layer: ResolvedLayer, state, home: int, shape: str, precision: str) -> Statement | None:
    kind = layer.attrs.activation
    if kind is None:
        return None
    expression = activation_expression(kind, overwritable=True, precision=precision)
    return Statement(_apply(expression, state, home, state == SPLIT), shape, f"activation: {kind}",
                     expression.imports)


def _pad(layer: ResolvedLayer, state, count: int) -> Statement | None:
    """Explicit asymmetric padding, applied where the activation is (each share pads its own channels)."""
    if state != SPLIT:
        return pad_statement(layer)
    expression = pad_expression(layer)
    if expression is None:
        return None
    share = shape_text(padded_shape(layer, layer.input_shape[0] // count))
    return Statement(_apply(expression, state, 0, split=True), f"{count} × {share}", pad_note(layer),
                     expression.imports)


def _tuple_literal(names: list[str]) -> str:
    return "(" + ", ".join(f'"{name}"' for name in names) + ("," if len(names) == 1 else "") + ")"
