"""The graph pass: blocks expanded into their instances, every layer named and wired to the layers it reads.

A scope is the network, a block instance, or the row of instances a `repeat` makes. Within a scope, a layer reads the
layer written before it unless it names its `inputs`; `input` is the scope's own input. Layer names inside an
instance are qualified by the instance's name (`layer2.0.conv1`). The result is a flat list of leaf layers in an
order where every layer comes after what it reads, and the scope tree that backends turn into nested modules.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from alexnet_spec.errors import Diagnostic, DiagnosticSink, SpecError
from alexnet_spec.limits import MAX_BLOCK_DEPTH, MAX_LAYERS
from alexnet_spec.passes.names import generated_names
from alexnet_spec.resolved import Scale, Scope, ScopeMember
from alexnet_spec.spec.layers import Layer
from alexnet_spec.spec.network import NetworkSpec
from alexnet_spec.spec.types import INPUT_REF, StrictModel


@dataclass(frozen=True)
class Node:
    """One leaf layer of the expanded graph."""

    name: str  # qualified: "layer2.0.conv1"
    layer: Any  # the validated layer model (its `name` is the qualified name)
    inputs: tuple[str, ...]  # qualified names of the layers it reads, or "input" (the network's input)
    path: tuple  # where its mapping is written: ("layers", 3) or ("blocks", "basic", "layers", 2)
    scope: str  # qualified name of the instance it belongs to ("" for the network)


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]  # every layer after the layers it reads
    scopes: tuple[Scope, ...]  # the network's scope first
    outputs: tuple[str, ...]  # qualified names of the layers the model returns
    scaling: tuple[Scale, ...]  # what depth_multiple and width_multiple changed


class _OneLayer(StrictModel):
    """A block's layer, validated as a network's first layer would be (so errors read the same)."""

    layers: list[Layer]


@dataclass
class _Member:
    local: str
    layer: Any  # validated model (a Block call for block members)
    path: tuple
    explicit: tuple[str, ...] | None  # `inputs` as written, or None
    previous: str  # the member written before it ("input" for the first)
    child: "_Scope | None" = None  # the instance (or row of instances) a block member makes

    @property
    def kept(self) -> bool:
        return self.layer.when

    @property
    def refs(self) -> tuple[str, ...]:
        return self.explicit if self.explicit is not None else (self.previous,)


@dataclass
class _Scope:
    name: str  # qualified ("" for the network)
    kind: str  # "network", "instance" or "sequence"
    block: str | None
    args: tuple[tuple[str, Any], ...]
    members: dict[str, _Member] = field(default_factory=dict)
    output_refs: tuple[str, ...] = ()
    output_path: tuple = ()
    parent: "_Scope | None" = None
    input_member: _Member | None = None  # in the parent scope: the block member this scope implements
    input_refs: tuple[str, ...] = (INPUT_REF,)  # for an instance of a row: the row member it reads

    def qualify(self, local: str) -> str:
        return f"{self.name}.{local}" if self.name else local


class _Expansion:
    def __init__(self, spec: NetworkSpec):
        self.spec = spec
        self.sink = DiagnosticSink()
        self.leaves = 0
        self.scaling: list[Scale] = []
        self.validated: dict[tuple, Any] = {}  # (path, args) -> layer: the instances of a repeat share their layers

    def fail(self, message: str, path: tuple, layer: str | None = None, **kwargs) -> None:
        self.sink.add(Diagnostic(message, layer=layer, path=path, **kwargs))

    # ------------------------------------------------------------------ structure
    def scope(self, name: str, kind: str, block: str | None, args: dict, layers: list, path: tuple,
              depth: int, validated: bool, output: str | None, output_path: tuple) -> _Scope:
        scope = _Scope(name, kind, block, tuple(args.items()))
        given = []
        for index, raw in enumerate(layers):
            layer = raw if validated else self.validate(raw, args, path + (index,), name)
            given.append(layer)
        names = generated_names([(layer.type, layer.name) if layer is not None else ("layer", None)
                                 for layer in given])
        previous = INPUT_REF
        first_index: dict[str, int] = {}
        for index, (layer, local) in enumerate(zip(given, names)):
            if layer is None:
                previous = local
                continue
            member_path = path + (index,)
            if local in scope.members:
                self.fail(f"duplicate layer name {local!r}", member_path + ("name",), scope.qualify(local),
                          expected="every layer name unique" + (" within the block" if scope.name else ""),
                          hint=f"layer {first_index[local] + 1} already has this name; rename one of them")
                continue
            first_index[local] = index
            explicit = tuple(layer.inputs) if layer.inputs is not None else None
            qualified = scope.qualify(local)
            layer = layer.model_copy(update={"name": qualified})
            member = _Member(local, layer, member_path, explicit, previous)
            if layer.type == "block" and layer.when:
                member.child = self.instantiate(member, scope, depth)
            elif layer.when:
                layer = self.scale_width(layer, member_path)
                member.layer = layer
                self.leaves += 1
            scope.members[local] = member
            previous = local
        if self.leaves > MAX_LAYERS:
            raise SpecError(Diagnostic(f"the blocks expand to more than {MAX_LAYERS:,} layers", path=path,
                                       expected=f"at most {MAX_LAYERS:,} layers (limits.py)",
                                       hint="lower a `repeat`, or the `depth_multiple`"))
        if output is not None:
            scope.output_refs, scope.output_path = (output,), output_path
        elif scope.members:
            scope.output_refs, scope.output_path = (list(scope.members)[-1],), path
        return scope

    def validate(self, raw: Any, args: dict, path: tuple, scope: str):
        key = (path, repr(args))
        if key not in self.validated:
            self.validated[key] = self._validate(raw, args, path, scope)
        return self.validated[key]

    def _validate(self, raw: Any, args: dict, path: tuple, scope: str):
        if not isinstance(raw, dict):
            self.fail(f"a layer must be a mapping, not {type(raw).__name__}", path,
                      expected="{type: ..., ...}", hint="write the layer as in `layers:`")
            return None
        reported = len(self.sink.diagnostics)
        data = {"layers": [_substitute(raw, args, self, path)]}
        if len(self.sink.diagnostics) > reported:  # an unknown `$name`: validating would only repeat it
            return None
        try:
            return _OneLayer.model_validate(data).layers[0]
        except ValidationError as error:
            from alexnet_spec.source.pydantic_errors import diagnostics_from

            for diagnostic in diagnostics_from(error, data):
                where = path + diagnostic.path[2:]
                layer = f"{scope}.{diagnostic.layer}" if scope and diagnostic.layer else diagnostic.layer
                self.sink.add(Diagnostic(diagnostic.message, layer=layer, path=where, at_key=diagnostic.at_key,
                                         details=diagnostic.details + (f"in block instance {scope}",),
                                         expected=diagnostic.expected, hint=diagnostic.hint))
            return None

    def instantiate(self, member: _Member, parent: _Scope, depth: int) -> _Scope | None:
        call = member.layer
        qualified = call.name
        definitions = self.spec.blocks
        if call.block not in definitions:
            close = difflib.get_close_matches(call.block, list(definitions), n=1)
            self.fail(f"unknown block {call.block!r}", member.path + ("block",), qualified,
                      expected=f"one of: {', '.join(definitions)}" if definitions else "a block defined under `blocks:`",
                      hint=f"did you mean {close[0]!r}?" if close else "define it under the top-level `blocks:`")
            return None
        if depth >= MAX_BLOCK_DEPTH:
            self.fail(f"blocks nested more than {MAX_BLOCK_DEPTH} deep", member.path + ("block",), qualified,
                      expected=f"at most {MAX_BLOCK_DEPTH} levels (limits.py)",
                      hint="a block that instantiates itself, directly or through another, never ends")
            return None
        if member.explicit is not None and len(member.explicit) != 1:
            self.fail(f"a block instance reads one input, not {len(member.explicit)}", member.path + ("inputs",),
                      qualified, expected="inputs: [one layer]", hint="concatenate or add the inputs first")
            return None
        definition = definitions[call.block]
        base = self.arguments(call, definition, member.path, "args", call.args)
        if base is None:
            return None
        repeat = self.scale_depth(call, member.path)
        indexed = "repeat" in call.model_fields_set
        if not indexed:
            return self.instance(qualified, call.block, base, definition, depth, parent, member)
        row = _Scope(qualified, "sequence", call.block, ())
        row.parent, row.input_member = parent, member
        for index in range(repeat):
            args = base
            if index == 0 and call.first:
                args = self.arguments(call, definition, member.path, "first", {**call.args, **call.first})
                if args is None:
                    return None
            instance = self.instance(f"{qualified}.{index}", call.block, args, definition, depth, row, None)
            instance.input_refs = (INPUT_REF,) if index == 0 else (str(index - 1),)
            fake = _Member(str(index), call, member.path, None, INPUT_REF if index == 0 else str(index - 1), instance)
            row.members[str(index)] = fake
        row.output_refs = (str(repeat - 1),)
        return row

    def instance(self, qualified: str, block: str, args: dict, definition, depth: int, parent: _Scope,
                 member: _Member | None) -> _Scope:
        path = ("blocks", block, "layers")
        scope = self.scope(qualified, "instance", block, args, definition.layers, path, depth + 1, validated=False,
                           output=definition.output, output_path=("blocks", block, "output"))
        scope.parent, scope.input_member = parent, member
        return scope

    def arguments(self, call, definition, path: tuple, key: str, given: dict) -> dict | None:
        args = {}
        ok = True
        for name in given:
            if name not in definition.params:
                close = difflib.get_close_matches(name, list(definition.params), n=1)
                self.fail(f"block {call.block!r} has no parameter {name!r}", path + (key, name), call.name,
                          at_key=True, expected=f"one of: {', '.join(definition.params)}" if definition.params
                          else "no arguments (the block declares no `params`)",
                          hint=f"did you mean {close[0]!r}?" if close else "declare it under the block's `params`")
                ok = False
        for name, default in definition.params.items():
            value = given.get(name, default)
            if value is None:
                self.fail(f"block {call.block!r} needs a value for {name!r}", path + ("args",) if "args" in
                          call.model_fields_set else path, call.name, at_key=True,
                          expected=f"args: {{{name}: ...}}", hint=f"the block declares `{name}` without a default")
                ok = False
            args[name] = value
        return args if ok else None

    def scale_depth(self, call, path: tuple) -> int:
        multiple = self.spec.depth_multiple
        repeat = call.repeat
        if multiple == 1 or repeat <= 1:
            return repeat
        scaled = max(round(repeat * multiple), 1)
        self.scaling.append(Scale(call.name, "repeat", repeat, scaled, multiple))
        return scaled

    def scale_width(self, layer, path: tuple):
        multiple = self.spec.width_multiple
        if multiple == 1 or layer.type != "conv" or not layer.scale_width:
            return layer
        scaled = math.ceil(layer.out_channels * multiple / 8) * 8  # Ultralytics' make_divisible(c * gw, 8)
        self.scaling.append(Scale(layer.name, "out_channels", layer.out_channels, scaled, multiple))
        return layer.model_copy(update={"out_channels": scaled})

    # ------------------------------------------------------------------ wiring
    def producer(self, scope: _Scope, ref: str, referrer: str, path: tuple, seen: frozenset = frozenset()) -> str | None:
        """The qualified leaf (or "input") whose value `ref` means in `scope`."""
        key = (scope.name, ref)
        if key in seen:
            self.fail(f"{referrer} reads itself through {ref!r}: the layers form a cycle", path, referrer,
                      expected="every layer reading only layers that do not read it",
                      hint="a cycle has no first layer to compute; break it by reading an earlier layer")
            return None
        seen = seen | {key}
        if ref == INPUT_REF:
            if scope.kind == "network":
                return INPUT_REF
            if scope.input_member is None:  # an instance in a row: its input is the row's member before it
                return self.producer(scope.parent, scope.input_refs[0], referrer, path, seen)
            parent_member = scope.input_member
            return self.producer(scope.parent, parent_member.refs[0], referrer, parent_member.path, seen)
        member = scope.members.get(ref)
        if member is None:
            close = difflib.get_close_matches(ref, list(scope.members), n=1)
            where = f"block instance {scope.name}" if scope.name else "the network"
            self.fail(f"{referrer} reads {ref!r}, which is not a layer of {where}", path, referrer,
                      expected=f"a layer of the same {'block' if scope.name else 'network'}, or `input`",
                      hint=f"did you mean {close[0]!r}?" if close else
                      "layers inside a block are reached through the block instance's name")
            return None
        if member.child is not None:
            child = member.child
            return self.producer(child, child.output_refs[0], referrer, child.output_path, seen)
        if member.layer.type == "block" and member.kept:
            return None  # the instance could not be made: that is reported already
        if not member.kept:
            if len(member.refs) != 1:
                self.fail(f"{member.layer.name} is left out by `when` but reads {len(member.refs)} layers", member.path
                          + ("when",), member.layer.name, expected="a layer left out reads one layer",
                          hint="whoever reads a left-out layer reads its input instead, so it must have one")
                return None
            return self.producer(scope, member.refs[0], referrer, member.path, seen)
        return member.layer.name

    def local(self, scope: _Scope, ref: str, seen: frozenset = frozenset()) -> str:
        """`ref` in `scope` with left-out layers passed through: a kept member's local name, or "input"."""
        member = scope.members.get(ref)
        if member is None or member.child is not None or member.kept or (scope.name, ref) in seen:
            return ref
        return self.local(scope, member.refs[0], seen | {(scope.name, ref)})


def expand(spec: NetworkSpec) -> Graph:
    """The leaf layers in dependency order, and the scope tree; every problem a located SpecError."""
    expansion = _Expansion(spec)
    network = expansion.scope("", "network", None, {}, list(spec.layers), ("layers",), 0, validated=True,
                              output=None, output_path=("layers",))
    if spec.outputs is not None:
        network.output_refs, network.output_path = tuple(spec.outputs), ("outputs",)
    expansion.sink.raise_if_any()
    nodes, scopes = [], []
    _wire(expansion, network, nodes, scopes)
    outputs = tuple(expansion.producer(network, ref, "outputs", ("outputs", index) if spec.outputs else ("layers",))
                    for index, ref in enumerate(network.output_refs))
    expansion.sink.raise_if_any()
    ordered = _ordered(expansion, nodes)
    _check_used(expansion, network, nodes, outputs)
    expansion.sink.raise_if_any()
    return Graph(ordered, tuple(scopes), outputs, tuple(expansion.scaling))


def _wire(expansion: _Expansion, scope: _Scope, nodes: list, scopes: list) -> None:
    members = []
    for local, member in scope.members.items():
        if member.child is None and not member.kept:
            continue
        refs = member.refs if scope.kind != "sequence" else ((INPUT_REF,) if local == "0" else (str(int(local) - 1),))
        members.append(ScopeMember(local, scope.qualify(local), member.child is not None,
                                   tuple(expansion.local(scope, ref) for ref in refs)))
    outputs = tuple(expansion.local(scope, ref) for ref in scope.output_refs)
    scopes.append(Scope(scope.name, scope.kind, scope.block, scope.args, _members_in_order(members), outputs))
    for local, member in scope.members.items():
        if member.child is not None:
            _wire(expansion, member.child, nodes, scopes)
        elif member.kept:
            path = member.path + ("inputs",) if member.explicit is not None else member.path
            inputs = tuple(expansion.producer(scope, ref, member.layer.name, path) for ref in member.refs)
            if None not in inputs:
                nodes.append(Node(member.layer.name, member.layer, inputs, member.path, scope.name))


def _members_in_order(members: list[ScopeMember]) -> tuple[ScopeMember, ...]:
    """Each member after the members it reads, otherwise as written (a cycle is reported on the leaf layers)."""
    placed: set[str] = {INPUT_REF}
    ordered, pending = [], list(members)
    while pending:
        ready = next((member for member in pending if set(member.inputs) <= placed), pending[0])
        pending.remove(ready)
        ordered.append(ready)
        placed.add(ready.name)
    return tuple(ordered)


def _check_used(expansion: _Expansion, network: _Scope, nodes: list[Node], outputs: tuple) -> None:
    read = {name for node in nodes for name in node.inputs} | set(outputs)
    for node in nodes:
        if node.name not in read:
            expansion.fail(f"the output of {node.name} is never used", node.path, node.name,
                           expected="every layer read by another layer or listed in `outputs`",
                           hint="feed it to a layer with `inputs:`, add it to the top-level `outputs`, or remove it")


def _ordered(expansion: _Expansion, nodes: list[Node]) -> tuple[Node, ...]:
    """Kahn's algorithm, taking layers in the order they are written whenever several are ready."""
    import heapq

    position = {node.name: index for index, node in enumerate(nodes)}
    waiting = {node.name: {name for name in node.inputs if name != INPUT_REF} for node in nodes}
    readers: dict[str, list[str]] = {}
    for node in nodes:
        for name in waiting[node.name]:
            readers.setdefault(name, []).append(node.name)
    ready = [position[name] for name, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    ordered = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        ordered.append(node)
        for reader in readers.get(node.name, ()):
            waiting[reader].discard(node.name)
            if not waiting[reader]:
                heapq.heappush(ready, position[reader])
    if len(ordered) < len(nodes):
        cycle = _a_cycle(waiting, position)
        first = nodes[position[cycle[0]]]
        if len(cycle) == 1:
            what = f"{first.name} reads itself"
        elif len(cycle) == 2:
            what = f"{first.name} and {cycle[1]} read each other"
        else:
            what = f"{first.name} reads {cycle[1]}, which leads back to {first.name}"
        raise SpecError(Diagnostic(f"{what}: the layers form a cycle", layer=first.name,
                                   path=first.path + ("inputs",) if first.layer.inputs else first.path,
                                   details=(" -> ".join(cycle + [cycle[0]]) + " (each reads the next)",),
                                   expected="every layer reading only layers that do not read it",
                                   hint="a cycle has no first layer to compute; read an earlier layer instead"))
    return tuple(ordered)


def _a_cycle(waiting: dict[str, set[str]], position: dict[str, int]) -> list[str]:
    """One cycle among the layers that never became ready, starting at the earliest written."""
    start = min((name for name, needs in waiting.items() if needs), key=position.get)
    path, seen = [start], {start: 0}
    while True:
        following = min(waiting[path[-1]], key=position.get)
        if following in seen:
            return path[seen[following]:]
        seen[following] = len(path)
        path.append(following)


def _substitute(value: Any, args: dict, expansion: _Expansion, path: tuple) -> Any:
    """`$name` strings replaced by the instance's argument values, anywhere inside a layer's mapping."""
    if isinstance(value, str) and value.startswith("$"):
        name = value[1:]
        if name not in args:
            close = difflib.get_close_matches(name, list(args), n=1)
            expansion.fail(f"unknown block parameter {value!r}", path,
                           expected=f"one of: {', '.join('$' + arg for arg in args)}" if args else
                           "a parameter declared under the block's `params`",
                           hint=f"did you mean '${close[0]}'?" if close else "declare it under the block's `params`")
            return value
        return args[name]
    if isinstance(value, dict):
        return {key: _substitute(item, args, expansion, path + (key,)) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, args, expansion, path + (index,)) for index, item in enumerate(value)]
    return value


__all__ = ["Graph", "Node", "expand"]
