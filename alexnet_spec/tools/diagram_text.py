"""The architecture as text for other renderers: Graphviz DOT (`draw -o x.dot`, then `dot -Tsvg`) and Mermaid
(`draw -o x.mmd`; GitHub renders a ```mermaid block inside markdown). Both come from the nodes and edges that the
SVG is laid out from (graph.fold), one cluster (subgraph) per device, cross-device edges in red."""

from __future__ import annotations

import re

from alexnet_spec.resolved import ResolvedNetwork
from alexnet_spec.tools.graph import Node, fold
from alexnet_spec.tools.summary import shape_text

CROSS_COLOUR = "#c0392b"


def _ident(node: Node, device: str) -> str:
    """An identifier both languages accept: letters, digits and underscores (dots of block names become _)."""
    base = re.sub(r"\W", "_", node.name, flags=re.ASCII)
    return f"{base}__{re.sub(r'[^A-Za-z0-9_]', '_', device)}" if device else base


def _label(node: Node, input_shape: tuple[int, ...]) -> list[str]:
    from alexnet_spec.tools.draw import layer_detail

    if not node.layers:
        return ["input", shape_text(input_shape)]
    share = len(node.devices) if node.split else 1
    whole = node.output_shape
    held = shape_text((whole[0] // share,) + whole[1:])
    return [" · ".join(node.names), " → ".join(layer_detail(layer) for layer in node.layers),
            held + (f" of {shape_text(whole)}" if share > 1 else "")]


def _wiring(net: ResolvedNetwork):
    """(node, device) pairs per device and the edges between them, with whether each crosses devices."""
    nodes, edges = fold(net)
    by_name = {node.name: node for node in nodes}
    wires = []
    for source, target in edges:
        for device in by_name[target].devices:
            sources = by_name[source].devices
            if not by_name[target].reads_across and device in sources:
                sources = (device,)
            for origin in sources:
                wires.append((_ident(by_name[source], origin), _ident(by_name[target], device), origin != device))
    return nodes, wires


def _dot_string(text: str) -> str:
    """A DOT double-quoted string: quotes and backslashes escaped, line breaks as \\n."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(net: ResolvedNetwork) -> str:
    """Graphviz DOT source."""
    nodes, wires = _wiring(net)
    lines = [f"digraph {_dot_string(net.name)} {{", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3f8", fontname="DejaVu Sans"];']
    for index, device in enumerate(net.devices or ("",)):
        indent = "  "
        if device:
            lines += [f"  subgraph cluster_{index} {{", f"    label={_dot_string(device)};"]
            indent = "    "
        for node in nodes:
            if device in node.devices:
                label = _dot_string("\n".join(_label(node, net.input_shape)))
                lines.append(f"{indent}{_ident(node, device)} [label={label}];")
        if device:
            lines.append("  }")
    for source, target, cross in wires:
        style = f' [color="{CROSS_COLOUR}", penwidth=1.6]' if cross else ""
        lines.append(f"  {source} -> {target}{style};")
    return "\n".join(lines) + "\n}\n"


def _mermaid_text(text: str) -> str:
    """Mermaid labels are quoted; a quote or markup character is written as an entity code."""
    return "".join(f"#{ord(char)};" if char in '"#<>&' else char for char in text)


def mermaid(net: ResolvedNetwork) -> str:
    """Mermaid flowchart source."""
    nodes, wires = _wiring(net)
    lines = ["flowchart TB"]
    for index, device in enumerate(net.devices or ("",)):
        indent = "  "
        if device:
            lines.append(f'  subgraph device_{index}["{_mermaid_text(device)}"]')
            indent = "    "
        for node in nodes:
            if device in node.devices:
                label = "<br/>".join(_mermaid_text(line) for line in _label(node, net.input_shape))
                lines.append(f'{indent}{_ident(node, device)}["{label}"]')
        if device:
            lines.append("  end")
    crossing = []
    for number, (source, target, cross) in enumerate(wires):
        lines.append(f"  {source} --> {target}")
        if cross:
            crossing.append(str(number))
    if crossing:
        lines.append(f"  linkStyle {','.join(crossing)} stroke:{CROSS_COLOUR},stroke-width:2px")
    return "\n".join(lines) + "\n"
