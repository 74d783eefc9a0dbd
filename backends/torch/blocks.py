"""Block instances in the generated torch file: the constructor and forward statement of a block instance
(`Basic()`) or of a row made by `repeat` (`nn.Sequential(Basic2(), *[Basic3() for _ in range(3)])`), and the
docstring of a block's class. Which instances share a class: backends/common/scopes.py. String work only."""

from __future__ import annotations

import itertools
import textwrap

from alexnet_spec.backends.common.rendering import Statement
from alexnet_spec.backends.common.scopes import BlockClass, output_shape
from alexnet_spec.backends.common.source import escape_text

from alexnet_spec.resolved import INPUT, ResolvedNetwork, Scope, ScopeMember

from .layers import LayerView, shape_text

SEQUENTIAL_WIDTH = 80  # a longer nn.Sequential(...) of block instances gets one instance per line
ROW_RUN = 3  # this many instances of one class in a row are written as one comprehension


def block_member(net: ResolvedNetwork, member: ScopeMember, class_of: dict[str, str], source: str,
                  target: str) -> LayerView:
    """A block instance (`Basic()`) or a row made by `repeat` (`nn.Sequential(Basic2(), Basic())`)."""
    scope = net.scope(member.qualified)
    if scope.kind == "instance":
        constructor, note = f"{class_of[scope.name]}()", f"block {scope.block}"
    else:
        calls = row_calls([class_of[row.qualified] for row in scope.members])
        constructor = f"nn.Sequential({', '.join(calls)})"
        if len(constructor) > SEQUENTIAL_WIDTH:
            constructor = "nn.Sequential(\n" + "".join(f"            {call},\n" for call in calls) + "        )"
        note = f"block {scope.block} × {len(scope.members)}"
    call = Statement(f"{target} = self.{member.name}({source})", shape_text(output_shape(net, member)), note)
    return LayerView(member.name, "block.jinja", constructor, call=call, target=target, leaf=False)


def row_calls(classes: list[str]) -> list[str]:
    """The constructor calls of a row's instances; a run of ROW_RUN or more of one class as one comprehension."""
    calls = []
    for name, run in itertools.groupby(classes):
        count = len(list(run))
        calls += [f"*[{name}() for _ in range({count})]"] if count >= ROW_RUN else [f"{name}()"] * count
    return calls


def block_doc(net: ResolvedNetwork, block: BlockClass) -> tuple[str, ...]:
    """The block, its shapes, and its instances with their arguments."""
    first = block.instances[0]
    member = ScopeMember(first.name, first.name, True, (INPUT,))
    lines = [f"Block {block.block}: {shape_text(net.layer(first_leaf(net, first).qualified).input_shape)} -> "
             f"{shape_text(output_shape(net, member))}.", ""]
    by_args: dict[str, list[str]] = {}
    for scope in block.instances:
        by_args.setdefault(", ".join(f"{name}={value!r}" for name, value in scope.args), []).append(scope.name)
    uses = "; ".join(f"{name_runs(names)} ({args})" if args else name_runs(names) for args, names in by_args.items())
    lines += textwrap.wrap(f"Instances: {uses}.", 100)
    return tuple(escape_text(line) for line in lines)


def name_runs(names: list[str]) -> str:
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


def first_leaf(net: ResolvedNetwork, scope: Scope) -> ScopeMember:
    member = scope.members[0]
    while member.is_block:
        member = net.scope(member.qualified).members[0]
    return member
