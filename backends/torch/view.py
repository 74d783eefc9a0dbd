"""The generated torch file's view, and `render`: resolved layers as the strings the templates place (constructor
calls, forward statements with their shape comment and arithmetic, `nn.init` calls). String work only: this module
never imports torch.

`file_view(net)` describes the whole generated file: its header, one class per block configuration and the
network's single-device class (`class_views`; see backends/common/scopes.py for which instances share a class and
where forward keeps each value) and, when the spec names devices, the placed class (placement.py). Every class is
rendered by model.jinja and the same per-kind templates.
"""

from __future__ import annotations

import itertools
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

from alexnet_spec.backends.common import rendering
from alexnet_spec.backends.common.rendering import Statement, statement_imports
from alexnet_spec.backends.common.scopes import (
    BlockClass,
    block_classes,
    camel_case,
    network_scope,
    output_shape,
    readers,
    variables,
)
from alexnet_spec.backends.common.source import escape_text, provenance
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import INPUT, BatchNormAttrs, ConcatAttrs, ResolvedLayer, ResolvedNetwork, Scope, ScopeMember

from .initialisation import default_drawn_layers, init_calls, reset_doc
from .layers import (
    BATCHNORM_RESET,
    FLATTEN,
    FUNCTIONAL,
    GLOBAL_POOL_NOTES,
    GLOBAL_POOLS,
    BATCHNORM_ISLAND,
    SOFTMAX_ISLAND,
    TORCH_DTYPES,
    KEEP_OUTPUT,
    PASS_THROUGH,
    PRELU_RESET,
    ClassView,
    Expression,
    LayerView,
    activation_expression,
    add_expression,
    batchnorm_constructor,
    concat_expression,
    conv_constructor,
    format_forward,
    in_float32,
    linear_constructor,
    lrn_constructor,
    lrn_note,
    memory_format_statement,
    module_call,
    pad_expression,
    pad_note,
    pad_shape,
    pool_followup,
    pooled_size,
    precision_note,
    prelu_constructor,
    shape_text,
    simple_constructor,
    weights_format_line,
)
from .placement import graph_home, is_chain, placed_view

TEMPLATES = Path(__file__).parent / "templates"

# Every import a generated file may have, in the order it has them. torch and nn are always used: the class is an
# nn.Module and images are made channels last (torch.channels_last); the others when code needs them.
IMPORTS = ("import torch", FUNCTIONAL, "from torch import nn")
ALWAYS_IMPORTED = frozenset({"import torch", "from torch import nn"})
# The imports of the helpers a layer kind brings into the file: helpers/lrn.jinja pads with F.pad, dense.jinja calls
# F.linear and max_pool.jinja F.max_pool2d.
HELPER_IMPORTS = {"lrn": (FUNCTIONAL,), "dense": (FUNCTIONAL,), "maxpool": (FUNCTIONAL,)}
# Module-level names of the generated file that a class named after the spec would shadow.
MODULE_NAMES = frozenset({"F", "LocalResponseNorm", "Linear", "MaxPool2d", "BiasedRunningVariance",
                          "BatchNorm1dBiasedVariance", "BatchNorm2dBiasedVariance"})
SEQUENTIAL_WIDTH = 80  # a longer nn.Sequential(...) of block instances gets one instance per line
ROW_RUN = 3  # this many instances of one class in a row are written as one comprehension
STATEFUL = frozenset({"conv", "dense", "batchnorm", "prelu"})  # layers whose modules hold parameters or buffers


@dataclass(frozen=True)
class FileView:
    header: tuple[str, ...]  # the module docstring's lines
    imports: tuple[str, ...]
    needs_lrn: bool  # include the LocalResponseNorm helper
    model: ClassView
    placed: ClassView | None  # the class splitting the layers over the spec's devices
    needs_biased_batchnorm: bool = False  # include the BatchNorm*dBiasedVariance helpers
    needs_dense: bool = False  # include the Linear helper
    needs_max_pool: bool = False  # include the MaxPool2d helper
    blocks: tuple[ClassView, ...] = ()  # one class per block configuration, before the model's


def render(net: ResolvedNetwork) -> str:
    """The module's source: a header, the helpers it needs, the single-device class and, when the spec names
    devices, the placed class."""
    return rendering.render(TEMPLATES, file_view(net))


def file_view(net: ResolvedNetwork) -> FileView:
    check_names(net)
    *blocks, model = class_views(net)
    placed = None if not net.devices else placed_view(net) if is_chain(net) else placed_graph_view(net)
    needs_lrn = any(layer.type == "lrn" for layer in net.layers)
    needs_dense = any(layer.type == "dense" for layer in net.layers)
    needs_max_pool = any(layer.type == "maxpool" for layer in net.layers)
    needed = set(model.imports + (placed.imports if placed else ()))
    needed.update(line for layer in net.layers for line in HELPER_IMPORTS.get(layer.type, ()))
    needed.update(line for block in blocks for line in block.imports)
    imports = tuple(line for line in IMPORTS if line in ALWAYS_IMPORTED or line in needed)
    biased = any(isinstance(layer.attrs, BatchNormAttrs) and layer.attrs.running_variance == "biased"
                 for layer in net.layers)
    return FileView(_header(net), imports, needs_lrn, model, placed, biased, needs_dense, needs_max_pool,
                    tuple(blocks))


def check_names(net: ResolvedNetwork) -> None:
    """A class named like a helper of the file would shadow it: refuse with the name. (Layer names that would
    shadow a method of the generated classes are refused with the spec's other reserved names, spec/types.py; the
    model name is checked here because the class is named after it capitalised: `f` becomes `F`.)"""
    if net.class_name in MODULE_NAMES:
        raise SpecError(Diagnostic(f"model name {net.name!r} is used by the generated torch module", file=net.file,
                                   path=("name",), expected=f"a name other than {', '.join(sorted(MODULE_NAMES))}",
                                   hint=f"try {net.name}Net"))


def class_views(net: ResolvedNetwork) -> tuple[ClassView, ...]:
    """Every class of the single-device model: one per block configuration (children before the blocks holding
    them), then the network's."""
    classes, class_of = block_classes(net, camel_case, MODULE_NAMES | {net.class_name, f"{net.class_name}Placed"})
    views = [_scope_view(net, block.instances[0], block.name, _block_doc(net, block), class_of) for block in classes]
    return tuple(views) + (_scope_view(net, network_scope(net), net.class_name, _class_doc(net), class_of),)


def model_view(net: ResolvedNetwork) -> ClassView:
    """The network's class: one attribute per layer with parameters or a module (or block), one statement per layer."""
    return class_views(net)[-1]


def _scope_view(net: ResolvedNetwork, scope: Scope, class_name: str, doc: tuple[str, ...],
                class_of: dict[str, str]) -> ClassView:
    """The class of the network or of a block configuration (made from its first instance, `scope`)."""
    names, reads = variables(scope), readers(scope)
    positions = {member.name: position for position, member in enumerate(scope.members)}
    views, leaves, drawn_blocks = [], {}, []
    for position, member in enumerate(scope.members):
        sources, target = names.of(member.inputs), names.names[member.name]
        if member.is_block:
            views.append(_block_member(net, member, class_of, sources[0], target))
            drawn_blocks.append(views[-1].name)
            continue
        layer = leaves[member.name] = net.layer(member.qualified)
        overwritable = _may_overwrite(net, scope, position, reads, positions)
        views.append(_layer(layer, member.name, overwritable, sources, target, net.precision))
    first = memory_format_statement(net, names.argument) if scope.kind == "network" else None
    imports = statement_imports(s for view in views for s in view.statements())
    input_shape = shape_text(net.input_shape if scope.kind == "network" else net.layer(
        _first_leaf(net, scope).qualified).input_shape)
    views, definition, first = format_forward(views, first, names.argument, input_shape)
    drawn = set(default_drawn_layers(leaves))
    default_drawn = [f"*self.{view.name}" if view.constructor.startswith("nn.Sequential") else f"self.{view.name}"
                     for view in views if view.name in drawn or view.name in drawn_blocks]
    return ClassView(class_name, doc, definition, first, views, f"return {', '.join(names.of(scope.outputs))}",
                     imports=imports, reset_doc=reset_doc(leaves, "Initialise every parameter as the spec declares."),
                     default_drawn=tuple(default_drawn),
                     weights_format=weights_format_line(net) if scope.kind == "network" else None)


def placed_graph_view(net: ResolvedNetwork) -> ClassView:
    """The placed class of a graph: the single-device class's modules (its block classes too, so the state dict is
    the same), each layer and each block instance built on the device the spec places it, and forward reading a
    value with `.to(device)` only where an edge crosses devices (and from the caller's input)."""
    _, class_of = block_classes(net, camel_case, MODULE_NAMES | {net.class_name, f"{net.class_name}Placed"})
    scope = network_scope(net)
    names, reads = variables(scope), readers(scope)
    positions = {member.name: position for position, member in enumerate(scope.members)}
    homes: dict[str, int | None] = {INPUT: None}  # the device index holding each value; None: the caller's
    views, leaves, drawn_blocks = [], {}, []
    for position, member in enumerate(scope.members):
        home = homes[member.name] = graph_home(net, member.qualified, member.is_block)
        sources = [variable if homes[name] == home else f"{variable}.to(self.devices[{home}])"
                   for name, variable in zip(member.inputs, names.of(member.inputs))]
        target = names.names[member.name]
        if member.is_block:
            view = _block_member(net, member, class_of, sources[0], target)
            drawn_blocks.append(view.name)
        else:
            layer = leaves[member.name] = net.layer(member.qualified)
            view = _layer(layer, member.name, _may_overwrite(net, scope, position, reads, positions), sources, target)
        views.append(_on_device(view, home, net.devices[home], member.is_block or layer.type in STATEFUL))
    imports = statement_imports(s for view in views for s in view.statements())
    views, definition, first = format_forward(views, memory_format_statement(net, names.argument), names.argument)
    drawn = set(default_drawn_layers(leaves)) | set(drawn_blocks)
    by_device = ", ".join(f"devices[{index}] for {name}" for index, name in enumerate(net.devices))
    doc = (f"{net.name} over {len(net.devices)} devices as the spec places it: {by_device}.", "",
           "Every layer and block instance runs on one device; forward moves a value with .to(device) only where",
           f"a layer reads it from another device. The state dict is the same as {net.class_name}'s.")
    output = f"return {', '.join(names.of(scope.outputs))}"
    return ClassView(f"{net.class_name}Placed", doc, definition, first, views, output, net.devices, "()", imports, reset_doc(leaves, "Initialise every parameter as the spec declares."),
                     tuple(f"*self.{view.name}" if view.constructor.startswith("nn.Sequential") else f"self.{view.name}"
                           for view in views if view.name in drawn), weights_format_line(net))


def _on_device(view: LayerView, home: int, device: str, has_state: bool) -> LayerView:
    """The view built on device `home` (modules with parameters or buffers, and block instances) and noting where
    it runs."""
    constructor = f"{view.constructor}.to(self.devices[{home}])" if view.constructor and has_state else \
        view.constructor
    call = replace(view.call, note="; ".join(filter(None, (f"on {device}", view.call.note))))
    return replace(view, constructor=constructor, call=call)


def _first_leaf(net: ResolvedNetwork, scope: Scope) -> ScopeMember:
    member = scope.members[0]
    while member.is_block:
        member = net.scope(member.qualified).members[0]
    return member


def _may_overwrite(net: ResolvedNetwork, scope: Scope, position: int, reads: dict[str, list[int]],
                   positions: dict[str, int]) -> bool:
    """Whether the layer at `position` may overwrite its input in place (relu, LRN): it must be the input's only
    reader, the input a tensor this forward made (not the scope's input or a block's result), through layers that
    hand on their input (dropout, flatten) too, and not an output that a gradient reads (tanh's, relu's for a relu)."""
    member = scope.members[position]
    if len(member.inputs) != 1:
        return False
    reader, value, is_relu = position, member.inputs[0], net.layer(member.qualified).type == "relu"
    while value != INPUT and reads[value] == [reader]:
        producer = scope.members[positions[value]]
        if producer.is_block:
            return False
        layer = net.layer(producer.qualified)
        if layer.type not in PASS_THROUGH:
            activation = getattr(layer.attrs, "activation", None)
            return (layer.type not in KEEP_OUTPUT and activation not in KEEP_OUTPUT
                    and not (is_relu and "relu" in (layer.type, activation)))
        reader, value = positions[value], producer.inputs[0]
    return False


def _block_member(net: ResolvedNetwork, member: ScopeMember, class_of: dict[str, str], source: str,
                  target: str) -> LayerView:
    """A block instance (`Basic()`) or a row made by `repeat` (`nn.Sequential(Basic2(), Basic())`)."""
    scope = net.scope(member.qualified)
    if scope.kind == "instance":
        constructor, note = f"{class_of[scope.name]}()", f"block {scope.block}"
    else:
        calls = _row_calls([class_of[row.qualified] for row in scope.members])
        constructor = f"nn.Sequential({', '.join(calls)})"
        if len(constructor) > SEQUENTIAL_WIDTH:
            constructor = "nn.Sequential(\n" + "".join(f"            {call},\n" for call in calls) + "        )"
        note = f"block {scope.block} × {len(scope.members)}"
    call = Statement(f"{target} = self.{member.name}({source})", shape_text(output_shape(net, member)), note)
    return LayerView(member.name, "block.jinja", constructor, call=call, target=target, leaf=False)


def _row_calls(classes: list[str]) -> list[str]:
    """The constructor calls of a row's instances; a run of ROW_RUN or more of one class as one comprehension."""
    calls = []
    for name, run in itertools.groupby(classes):
        count = len(list(run))
        calls += [f"*[{name}() for _ in range({count})]"] if count >= ROW_RUN else [f"{name}()"] * count
    return calls


def _layer(layer: ResolvedLayer, name: str, overwritable: bool, sources: list[str] | None = None,
           target: str = "x", precision: str = "float32") -> LayerView:
    """The view of one layer, its attribute `name`, reading the variables `sources` (one, except concat and add)
    and leaving its value in `target`. A layer of several statements (padding, the call, a crop, an activation)
    hands `x` from one to the next. `precision`: the network's (alexnet_spec/precision.py)."""
    kind, shape, a, sources = layer.type, shape_text(layer.output_shape), layer.attrs, sources or ["x"]
    call = _Step(module_call(name), shape, "; ".join(layer.equations))
    steps: dict[str, _Step | None] = {"call": call}
    constructor, init, template = None, (), f"{kind}.jinja"
    if kind == "conv":
        constructor = conv_constructor(layer, a.in_channels, a.out_channels, a.groups, precision=precision)
        init = init_calls(a, f"self.{name}")
        steps.update(pad=_step(pad_expression(layer), pad_shape(layer), pad_note(layer)),
                     activation=_activation(layer, precision))
    elif kind == "dense":
        constructor = linear_constructor(layer, a.in_features, a.out_features, precision=precision)
        init = init_calls(a, f"self.{name}")
        steps["activation"] = _activation(layer, precision)
    elif kind in ("maxpool", "avgpool"):
        constructor, template = simple_constructor(layer), "pool.jinja"
        steps["pad"] = _step(pad_expression(layer), pad_shape(layer), pad_note(layer))
        followup = pool_followup(layer)
        if followup is not None:
            steps["call"] = replace(call, shape=shape_text((layer.output_shape[0],) + pooled_size(layer)))
            steps["crop"] = _Step(followup[0], shape, followup[1])
    elif kind == "lrn":
        constructor = lrn_constructor(layer, a.groups, inplace=overwritable)
        steps["call"] = replace(call, expression=in_float32(call.expression, precision),
                                note=lrn_note(layer, a.groups, precision))
    elif kind == "batchnorm":
        constructor = batchnorm_constructor(layer, a.num_features)
        init = (BATCHNORM_RESET.format(target=f"self.{name}"),)
        if precision in TORCH_DTYPES:
            steps["call"] = replace(call, note=BATCHNORM_ISLAND)
    elif kind in ("dropout", "adaptive_avgpool"):
        constructor = simple_constructor(layer)
    elif kind == "prelu":
        constructor = prelu_constructor(layer, precision=precision)
        init = (PRELU_RESET.format(target=f"self.{name}"),)
        steps["call"] = replace(call, note="one slope" if a.num_parameters == 1 else "one slope per channel")
    elif kind == "flatten":
        steps["call"] = replace(call, expression=FLATTEN)
    elif kind == "concat":
        steps["call"] = _Step(concat_expression(sources), shape, _concat_note(a))
    elif kind == "add":
        steps["call"] = _Step(add_expression(sources), shape)
    else:
        template, note = "activation.jinja", ""
        if kind in GLOBAL_POOLS:
            note = "; ".join((f"{GLOBAL_POOL_NOTES[kind]} over height and width",) + layer.equations)
            template = "global_pool.jinja"
        if kind == "softmax" and precision in TORCH_DTYPES:
            note = SOFTMAX_ISLAND
        steps["call"] = _Step(activation_expression(kind, overwritable, a, precision), shape, note)
    statements = _chained(steps, sources[0], target)
    return LayerView(name, template, constructor, init=init, target=target, **statements)


@dataclass(frozen=True)
class _Step:
    """One statement of a layer before it knows which variables it reads and assigns."""

    expression: Expression
    shape: str
    note: str = ""


def _step(expression: Expression | None, shape: str, note: str) -> _Step | None:
    return None if expression is None else _Step(expression, shape, note)


def _chained(steps: dict[str, _Step | None], source: str, target: str) -> dict[str, Statement]:
    """The steps as Statements, in forward's order: the first reads `source`, the last assigns `target`, and `x`
    carries the value between them."""
    order = [slot for slot in ("pad", "call", "crop", "activation") if steps.get(slot) is not None]
    statements = {}
    for index, slot in enumerate(order):
        step = steps[slot]
        reads, assigns = source if index == 0 else "x", target if index == len(order) - 1 else "x"
        statements[slot] = Statement(f"{assigns} = {step.expression.on(reads)}", step.shape, step.note,
                                     step.expression.imports)
    return statements


def _activation(layer: ResolvedLayer, precision: str) -> _Step | None:
    kind = layer.attrs.activation
    if kind is None:
        return None
    note = f"activation: {kind}" + (f"; {SOFTMAX_ISLAND}" if kind == "softmax" and precision in TORCH_DTYPES else "")
    return _Step(activation_expression(kind, overwritable=True, precision=precision), shape_text(layer.output_shape),
                 note)


def _concat_note(attrs: ConcatAttrs) -> str:
    return f"{' + '.join(map(str, attrs.widths))} = {sum(attrs.widths)} {attrs.axis}"


def _block_doc(net: ResolvedNetwork, block: BlockClass) -> tuple[str, ...]:
    """The block, its shapes, and its instances with their arguments."""
    first = block.instances[0]
    member = ScopeMember(first.name, first.name, True, (INPUT,))
    lines = [f"Block {block.block}: {shape_text(net.layer(_first_leaf(net, first).qualified).input_shape)} -> "
             f"{shape_text(output_shape(net, member))}.", ""]
    by_args: dict[str, list[str]] = {}
    for scope in block.instances:
        by_args.setdefault(", ".join(f"{name}={value!r}" for name, value in scope.args), []).append(scope.name)
    uses = "; ".join(f"{_name_runs(names)} ({args})" if args else _name_runs(names) for args, names in by_args.items())
    lines += textwrap.wrap(f"Instances: {uses}.", 100)
    return tuple(escape_text(line) for line in lines)


def _name_runs(names: list[str]) -> str:
    """Instance names, consecutive ones of a row shortened: layer3.1 to layer3.35."""
    runs: list[list[str]] = []
    for name in names:
        row, _, index = name.rpartition(".")
        if runs and index.isdigit() and runs[-1][-1] == f"{row}.{int(index) - 1}":
            runs[-1].append(name)
        else:
            runs.append([name])
    parts = []
    for run in runs:
        parts += [f"{run[0]} to {run[-1]}"] if len(run) >= ROW_RUN else run
    return ", ".join(parts)


def _header(net: ResolvedNetwork) -> tuple[str, ...]:
    """The module docstring: what the network is, where it comes from, how to regenerate it."""
    return provenance(net, "torch") + (
        f"Input {shape_text(net.input_shape)}, output {shape_text(net.output_shape)}; "
        f"{net.total_params:,} parameters, {net.total_macs:,} multiply-accumulates per example.",
        *precision_note(net), "Needs only PyTorch.")


def _class_doc(net: ResolvedNetwork) -> tuple[str, ...]:
    lines = [f"{net.name}: {shape_text(net.input_shape)} -> {shape_text(net.output_shape)}.", ""]
    if net.devices:
        lines.append(f"All layers on one device; {net.class_name}Placed splits them over the spec's devices "
                     f"({', '.join(net.devices)}).")
    lines.append("Initialised as the spec declares (see reset_parameters).")
    return tuple(lines)
