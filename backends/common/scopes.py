"""Graph networks, for the code-generating backends: which block instances share one generated class (function),
what each is named, and where each value of a scope's forward lives.

A value read only by the next statement stays in `x`; a value read later, more than once, or returned with others
is kept in a variable named after its member. The scope's own input is `x` when only its first member reads it, and
`input` otherwise (torch.nn's own name for a forward argument).
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from typing import Callable

from alexnet_spec.resolved import INPUT, ResolvedNetwork, Scope, ScopeMember

RUNNING = "x"  # the value handed from one statement to the next
ARGUMENT = "input"  # the scope's input when more than its first member reads it


def network_scope(net: ResolvedNetwork) -> Scope:
    """The network's scope; a chain built without scopes reads as one, each layer reading the one before."""
    if net.scopes:
        return net.scopes[0]
    members = tuple(ScopeMember(layer.name, layer.name, False, layer.inputs or (
        (net.layers[index - 1].name,) if index else (INPUT,))) for index, layer in enumerate(net.layers))
    return Scope("", "network", None, (), members, net.output_names)


def readers(scope: Scope) -> dict[str, list[int]]:
    """{member name or INPUT: the positions of the members reading it, once per read}; returning a value counts as
    a read at position len(members)."""
    reads: dict[str, list[int]] = {INPUT: []}
    for position, member in enumerate(scope.members):
        reads.setdefault(member.name, [])
        for name in member.inputs:
            reads[name].append(position)
    for name in scope.outputs:
        reads[name].append(len(scope.members))
    return reads


@dataclass(frozen=True)
class Variables:
    """Where a scope's forward keeps each value."""

    argument: str  # forward's parameter: RUNNING or ARGUMENT
    names: dict[str, str]  # {member name or INPUT: the variable holding its value}

    def of(self, names: tuple[str, ...]) -> list[str]:
        return [self.names[name] for name in names]


def variables(scope: Scope) -> Variables:
    reads, members = readers(scope), scope.members
    argument = RUNNING if reads[INPUT] == [0] else ARGUMENT
    names = {INPUT: argument}
    last = len(members) - 1
    for position, member in enumerate(members):
        handed_on = reads[member.name] == [position + 1] and position < last
        returned_alone = position == last and scope.outputs == (member.name,) and reads[member.name] == [last + 1]
        names[member.name] = RUNNING if handed_on or returned_alone else variable_name(member.name)
    return Variables(argument, names)


def variable_name(name: str) -> str:
    """A member's name as a local variable. The spec refuses keywords and the generated code's own names as layer
    names; this keeps the generated code valid should a name reach here another way."""
    if not name.isidentifier() or keyword.iskeyword(name) or name in (RUNNING, ARGUMENT):
        return f"{name}_" if name.isidentifier() else f"v_{name}"
    return name


# ---------------------------------------------------------------- block configurations


@dataclass(frozen=True)
class BlockClass:
    """One generated class (function): the block instances whose content is the same apart from names."""

    name: str  # Basic, Basic2 ... (the backend's spelling)
    block: str  # the block definition's name
    instances: tuple[Scope, ...]  # in the order they appear in the network


def block_classes(net: ResolvedNetwork, spell: Callable[[str, int], str],
                  taken: frozenset[str] = frozenset()) -> tuple[tuple[BlockClass, ...], dict[str, str]]:
    """(the classes, children before the blocks that hold them; {instance scope name: its class name}).

    Instances share a class when their members, attributes and shapes are the same (`signature`). `spell(block, n)`
    names the n-th configuration of `block` (from 1); a name in `taken` or already given moves on to the next n.
    """
    signatures: dict[str, tuple] = {}
    groups: dict[tuple, list[Scope]] = {}
    for scope in _post_order(net, network_scope(net)):
        if scope.kind == "instance":
            signatures[scope.name] = signature(net, scope, signatures)
            groups.setdefault(signatures[scope.name], []).append(scope)
    used, counts, classes, class_of = set(taken), {}, [], {}
    for instances in groups.values():
        block = instances[0].block
        count = counts.get(block, 0) + 1
        while spell(block, count) in used:
            count += 1
        counts[block] = count
        name = spell(block, count)
        used.add(name)
        classes.append(BlockClass(name, block, tuple(sorted(instances, key=_appearance(net)))))
        class_of.update((scope.name, name) for scope in instances)
    return tuple(classes), class_of


def signature(net: ResolvedNetwork, scope: Scope, known: dict[str, tuple]) -> tuple:
    """What a class made of `scope` depends on: the block, every member's name, inputs and content (a layer's type,
    attributes and shapes; an instance's own signature; a row's instances'), and the outputs."""
    members = []
    for member in scope.members:
        if not member.is_block:
            layer = net.layer(member.qualified)
            content = (layer.type, layer.attrs, layer.input_shapes, layer.output_shape)
        else:
            child = net.scope(member.qualified)
            content = known[child.name] if child.kind == "instance" else tuple(
                known[row.qualified] for row in child.members)
        members.append((member.name, member.inputs, content))
    return scope.block, tuple(members), scope.outputs


def _post_order(net: ResolvedNetwork, scope: Scope):
    for member in scope.members:
        if member.is_block:
            yield from _post_order(net, net.scope(member.qualified))
    yield scope


def _appearance(net: ResolvedNetwork):
    order = {scope.name: position for position, scope in enumerate(net.scopes)}
    return lambda scope: order.get(scope.name, 0)


def camel_case(name: str, count: int = 1) -> str:
    """basic -> Basic, inception_a -> InceptionA; the n-th configuration after the first gets n: Basic2."""
    words = [word for word in name.split("_") if word]
    spelled = "".join(word[0].upper() + word[1:] for word in words) or "Block"
    if not spelled[0].isalpha():
        spelled = "Block" + spelled
    return spelled if count == 1 else f"{spelled}{count}"


def output_shape(net: ResolvedNetwork, member: ScopeMember) -> tuple[int, ...]:
    """The shape of a member's value: a layer's output, or what a block instance (row) returns."""
    while member.is_block:
        scope = net.scope(member.qualified)
        member = next(m for m in scope.members if m.name == scope.outputs[0])
    return net.layer(member.qualified).output_shape
