"""The functions of a generated JAX module: `apply` for the network's scope, and one function per block
configuration, called once per instance with that instance's nested params (`params["layer1"]["0"]`).

Instances whose resolved content is the same apart from names (members, wiring, attrs, shapes, placement) share one
function, named after the block in CamelCase (`Basic`, then `Basic2` ... for further configurations). A row made by
`repeat` is one call per instance in the scope that holds it. In each function a value read only by the next
statement stays in `x`; a value read later, or more than once, or returned from further up, is kept in a variable
named after its member (a Namespace keeps those names clear of keywords, builtins and the module's own names).
String work only: never imports jax.
"""

from __future__ import annotations

import builtins
import keyword
from dataclasses import dataclass

from alexnet_spec.backends.common.rendering import Statement, commented
from alexnet_spec.resolved import (
    INPUT,
    BatchNormAttrs,
    ConvAttrs,
    DenseAttrs,
    DropoutAttrs,
    PReLUAttrs,
    ResolvedLayer,
    ResolvedNetwork,
    Scope,
    Shape,
)

from .layers import GENERATED_NAMES, LayerView, layer_template, nhwc, note, statement

CODE_WIDTH = 96  # comments start in column 100 (4 of indent, 96 of code): longer code gets its two spaces after
PARAMETRISED = (ConvAttrs, DenseAttrs, BatchNormAttrs, PReLUAttrs)  # the layers with an entry in params


class Namespace:
    """Variable names for a function's kept values, in the manner of torch.fx's _Namespace.create_name: a name that
    is a keyword, a builtin, one of the module's own names or already taken gets `_1`, `_2` ... appended."""

    def __init__(self, taken=()):
        self.taken = set(taken) | GENERATED_NAMES | set(keyword.kwlist) | set(dir(builtins))

    def create(self, candidate: str) -> str:
        name, number = candidate, 0
        while name in self.taken:
            number += 1
            name = f"{candidate}_{number}"
        self.taken.add(name)
        return name


@dataclass(frozen=True)
class Needs:
    """What a function takes besides its input: params (a layer with parameters), state and train (batchnorm),
    train and key (dropout), mesh (a placed network)."""

    params: bool
    state: bool
    dropout: bool
    mesh: bool

    def arguments(self, state: str, key: str) -> tuple[str, ...]:
        """A call's arguments after the input (`state`, `key`: the expressions of its state and dropout key), or a
        definition's parameters after `x` (given "state" and "key")."""
        return ((state,) if self.state else ()) + (("train",) if self.state or self.dropout else ()) + (
            (key,) if self.dropout else ()) + (("mesh",) if self.mesh else ())


@dataclass(frozen=True)
class Line:
    """What one line of a function's statement block computes, for evaluate's tracer: a leaf layer's output into
    `variable` (`label`: the layer's name in the scope), a block instance call (`label`: the instance's name relative
    to the scope, `layer2.0`), or nothing to record (a gather)."""

    kind: str  # "layer", "call" or "skip"
    label: str | None = None
    variable: str | None = None


@dataclass(frozen=True)
class FunctionView:
    name: str  # "apply", or the block configuration's CamelCase name
    parameters: str  # a block function's parameter list
    doc: tuple[str, ...]
    new_state: str | None  # the statement starting new_state ("new_state = {}"), None without batchnorm
    dropouts: tuple[str, ...]  # drop_keys' names: dropout layers and the instances holding dropout layers
    preamble: tuple[str, ...]  # lines before the statements (a kept input)
    layers: tuple[LayerView, ...]
    lines: tuple[Line, ...]  # one per line of `layers`, in order
    returns: str


@dataclass
class _Item:
    """One statement: a leaf layer, or the call of a block instance."""

    value: str  # the value it computes, as the scope's readers name it (a row's inner instances: "layer1.0")
    reads: tuple[str, ...]
    layer: ResolvedLayer | None = None
    call: Scope | None = None
    path: tuple[str, ...] = ()  # a call's params path: ("layer1", "0")


class Functions:
    """The functions a graph network's module defines: `functions` (block configurations, each after the
    functions it calls) and `apply`'s statements (`apply`)."""

    def __init__(self, net: ResolvedNetwork):
        self.net = net
        self.scopes = {scope.name: scope for scope in net.scopes}
        self.input_shapes: dict[str, Shape] = {}
        self._keys: dict[str, tuple] = {}
        self._needs: dict[str, Needs] = {}
        self._input_shapes(self.scopes[""], net.input_shape)
        self.names = self._name_configurations()
        self.functions = tuple(self._function(scope) for scope in self._definition_order())
        self.apply = self._body(self.scopes[""], "apply")

    # ------------------------------------------------------------------ structure
    def _input_shapes(self, scope: Scope, shape: Shape) -> None:
        self.input_shapes[scope.name] = shape
        for member in scope.members:
            if member.is_block:
                child = self.scopes[member.qualified]
                if child.kind == "sequence":
                    self.input_shapes[child.name] = self.value_shape(scope, member.inputs[0])
                    for index, instance in enumerate(child.members):
                        before = member.inputs[0] if index == 0 else None
                        self._input_shapes(self.scopes[instance.qualified], self.value_shape(scope, before) if before
                                           else self.value_shape(child, child.members[index - 1].name))
                else:
                    self._input_shapes(child, self.value_shape(scope, member.inputs[0]))

    def value_shape(self, scope: Scope, ref: str) -> Shape:
        """The shape of the value `ref` names in `scope`: a member's output, or the scope's input."""
        if ref == INPUT:
            return self.input_shapes[scope.name]
        member = next(member for member in scope.members if member.name == ref)
        if not member.is_block:
            return self.net.layer(member.qualified).output_shape
        child = self.scopes[member.qualified]
        return self.value_shape(child, child.outputs[0])

    def needs(self, scope: Scope) -> Needs:
        """What the scope's layers, its instances' included, need."""
        if scope.name not in self._needs:
            found = {"params": False, "state": False, "dropout": False}
            for member in scope.members:
                if member.is_block:
                    inner = self.needs(self.scopes[member.qualified])
                    found = {kind: found[kind] or getattr(inner, kind) for kind in found}
                    continue
                attrs = self.net.layer(member.qualified).attrs
                found["params"] |= isinstance(attrs, PARAMETRISED)
                found["state"] |= isinstance(attrs, BatchNormAttrs)
                found["dropout"] |= isinstance(attrs, DropoutAttrs)
            self._needs[scope.name] = Needs(**found, mesh=bool(self.net.devices))
        return self._needs[scope.name]

    def split(self, name: str) -> bool:
        """Whether a leaf's output is split over the devices (never the network's input)."""
        if name == INPUT:
            return False
        placement = self.net.layer(name).placement
        return bool(self.net.devices) and placement is not None and placement.split

    def key(self, scope: Scope) -> tuple:
        """What makes an instance's function: everything it resolved to but its names (torch's class, likewise)."""
        if scope.name not in self._keys:
            members = []
            for member in scope.members:
                if member.is_block:
                    child = self.scopes[member.qualified]
                    content = (tuple(self.key(self.scopes[instance.qualified]) for instance in child.members)
                               if child.kind == "sequence" else self.key(child))
                else:
                    layer = self.net.layer(member.qualified)
                    content = (layer.type, layer.attrs, layer.input_shapes, layer.output_shape,
                               layer.placement, tuple(map(self.split, layer.inputs)))
                members.append((member.name, member.is_block, member.inputs, content))
            self._keys[scope.name] = (scope.block, self.input_shapes[scope.name], tuple(members), scope.outputs)
        return self._keys[scope.name]

    def _name_configurations(self) -> dict[tuple, str]:
        names: dict[tuple, str] = {}
        taken = Namespace()
        for scope in self.net.scopes:
            if scope.kind == "instance" and self.key(scope) not in names:
                names[self.key(scope)] = _numbered(taken, _camel(scope.block))
        return names

    def _definition_order(self) -> list[Scope]:
        """One instance of each configuration, each after the configurations it calls."""
        order, seen = [], set()

        def visit(scope: Scope) -> None:
            for member in scope.members:
                if member.is_block:
                    child = self.scopes[member.qualified]
                    for instance in (child.members if child.kind == "sequence" else (member,)):
                        visit(self.scopes[instance.qualified])
            if scope.kind == "instance" and self.key(scope) not in seen:
                seen.add(self.key(scope))
                order.append(scope)

        visit(self.scopes[""])
        return order

    def instances(self, key: tuple) -> list[Scope]:
        return [scope for scope in self.net.scopes if scope.kind == "instance" and self.key(scope) == key]

    # ------------------------------------------------------------------ code
    def _function(self, scope: Scope) -> FunctionView:
        name = self.names[self.key(scope)]
        view = self._body(scope, name)
        needs = self.needs(scope)
        parameters = ", ".join((("params",) if needs.params else ()) + ("x",) + needs.arguments("state", "key"))
        by_args: dict[tuple, list[str]] = {}
        for instance in self.instances(self.key(scope)):
            by_args.setdefault(instance.args, []).append(instance.name)
        uses = "; ".join(f"{', '.join(names)} ({', '.join(f'{arg}={value!r}' for arg, value in args)})" if args
                         else ", ".join(names) for args, names in by_args.items())
        out = nhwc(self.value_shape(scope, scope.outputs[0]))
        doc = (f"Block `{scope.block}`, as {uses}.", f"x: {nhwc(self.input_shapes[scope.name])} -> {out}." + (
               " Returns (y, the batchnorm state it updates)." if needs.state else ""))
        return FunctionView(name, parameters, doc, view.new_state, view.dropouts, view.preamble, view.layers,
                            view.lines, view.returns)

    def _items(self, scope: Scope) -> list[_Item]:
        items = []
        for member in scope.members:
            if not member.is_block:
                items.append(_Item(member.name, member.inputs, layer=self.net.layer(member.qualified)))
                continue
            child = self.scopes[member.qualified]
            if child.kind != "sequence":
                items.append(_Item(member.name, member.inputs, call=child, path=(member.name,)))
                continue
            reads = member.inputs
            for index, instance in enumerate(child.members):
                last = index == len(child.members) - 1
                value = member.name if last else f"{member.name}.{instance.name}"
                items.append(_Item(value, reads, call=self.scopes[instance.qualified],
                                   path=(member.name, instance.name)))
                reads = (value,)
        return items

    def _body(self, scope: Scope, function: str) -> FunctionView:
        items = self._items(scope)
        readers: dict[str, set[int]] = {}
        for position, item in enumerate(items):
            for ref in item.reads:
                readers.setdefault(ref, set()).add(position)
        for ref in scope.outputs:
            readers.setdefault(ref, set()).add(len(items))
        names = Namespace(self.names.values())
        variables = {}  # value -> the variable that keeps it; values without one stay in x
        produced = [(INPUT, -1)] + [(item.value, position) for position, item in enumerate(items)]
        for value, position in produced:
            if readers.get(value, set()) != {position + 1}:
                variables[value] = names.create(value.split(".")[0] if value != INPUT else INPUT)

        def expression(value: str) -> str:
            return variables.get(value, "x")

        views, lines = [], []
        for item in items:
            target = expression(item.value)
            if item.layer is not None:
                view, item_lines = self._layer(item, scope, target, expression)
            else:
                view, item_lines = self._call(item, target, expression)
            views.append(view)
            lines += item_lines
        returned = tuple(expression(ref) for ref in scope.outputs)
        result = returned[0] if len(returned) == 1 else f"({', '.join(returned)})"
        needs = self.needs(scope)
        if function == "apply":
            returns = f"({result}, new_state) if train else {result}" if needs.state else result
        else:
            returns = f"{result}, new_state" if needs.state else result
        rows = [item.path[0] for item in items if item.call is not None and len(item.path) == 2
                and self.needs(item.call).state]
        new_state = None
        if needs.state:
            new_state = "new_state = {" + ", ".join(f'"{row}": {{}}' for row in dict.fromkeys(rows)) + "}"
        dropouts = tuple(item.value if item.layer is not None else ".".join(item.path) for item in items
                         if (item.layer is not None and item.layer.type == "dropout")
                         or (item.call is not None and self.needs(item.call).dropout))
        preamble = (f"{variables[INPUT]} = x",) if INPUT in variables else ()
        return FunctionView(function, "", (), new_state, dropouts, preamble, tuple(views), tuple(lines), returns)

    def _layer(self, item: _Item, scope: Scope, target: str, expression) -> tuple[LayerView, list[Line]]:
        layer, local = item.layer, item.value
        inputs = tuple(expression(ref) for ref in item.reads)
        split = self.split(layer.name)
        gathers, lines = [], []
        for ref, producer, shape in zip(item.reads, layer.inputs, layer.input_shapes):
            if not split and self.split(producer) and expression(ref) not in [g[0] for g in gathers]:
                gathers.append((expression(ref), shape))
        gather = tuple(_line(Statement(f"{value} = place({value}, mesh, split=False)", nhwc(shape),
                                       f"gathered for {local}")) for value, shape in gathers)
        lines += [Line("skip")] * len(gather)
        call = Statement(statement(layer, inputs, target, local), nhwc(layer.output_shape), note(layer))
        lines.append(Line("layer", local, target))
        place = None
        if split and isinstance(layer.attrs, (ConvAttrs, DenseAttrs)):
            axis = "channels" if layer.is_spatial else "features"
            place = _line(Statement(f"{target} = place({target}, mesh, split=True)", nhwc(layer.output_shape),
                                    f"{local}'s {axis} split over the {len(self.net.devices)} devices"))
            lines.append(Line("layer", local, target))
        return LayerView(local, layer_template(layer.type), _line(call), gather, place), lines

    def _call(self, item: _Item, target: str, expression) -> tuple[LayerView, list[Line]]:
        scope, path = item.call, "".join(f'["{key}"]' for key in item.path)
        needs = self.needs(scope)
        arguments = (f"params{path}",) if needs.params else ()
        arguments += (expression(item.reads[0]),) + needs.arguments(f"state{path}",
                                                                    f'drop_keys.get("{".".join(item.path)}")')
        written = f"{target}, new_state{path}" if needs.state else target
        code = f"{written} = {self.names[self.key(scope)]}({', '.join(arguments)})"
        args = ", ".join(f"{name}={value!r}" for name, value in scope.args)
        shape = nhwc(self.value_shape(scope, scope.outputs[0]))
        view = LayerView(".".join(item.path), "block.jinja", _line(Statement(code, shape, args)))
        return view, [Line("call", ".".join(item.path), target)]


def _line(statement: Statement) -> str:
    return commented(statement, CODE_WIDTH)


def _numbered(namespace: Namespace, base: str) -> str:
    """`base`, or `base2`, `base3` ... when taken: a block's further configurations."""
    name, number = base, 1
    while name in namespace.taken:
        number += 1
        name = f"{base}{number}"
    namespace.taken.add(name)
    return name


def _camel(block: str) -> str:
    """basic -> Basic, fire_module -> FireModule."""
    return "".join(part[:1].upper() + part[1:] for part in block.split("_") if part) or "Block"

