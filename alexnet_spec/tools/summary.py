"""What `summary` shows: per-layer rows, totals, per-device totals; as a rich table or as JSON."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from alexnet_spec.resolved import ResolvedLayer, ResolvedNetwork


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(size) for size in shape)


def summary_json(net: ResolvedNetwork) -> dict[str, Any]:
    return {
        "name": net.name,
        "input": list(net.input_shape),
        "total_params": net.total_params,
        "total_buffers": net.total_buffers,
        "total_macs": net.total_macs,
        "layers": [
            {
                "name": layer.name,
                "type": layer.type,
                "output_shape": list(layer.output_shape),
                "params": layer.params,
                "macs": layer.macs,
                "placement": layer.placement.label if layer.placement else None,
                "reads_across_devices": bool(layer.placement and layer.placement.reads_across),
                "arithmetic": list(layer.equations),
            }
            for layer in net.layers
        ],
    }


def per_device_totals(net: ResolvedNetwork) -> dict[str, dict[str, int]]:
    """Parameters and MACs held by each device: a split layer's share is its 1/n of the kernels or neurons."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"params": 0, "macs": 0})
    for layer in net.layers:
        if layer.placement is None:
            continue
        share = len(layer.placement.devices)
        for device in layer.placement.devices:
            totals[device]["params"] += layer.params // share
            totals[device]["macs"] += layer.macs // share
    return {device: dict(totals[device]) for device in net.devices}


def summary_table(net: ResolvedNetwork):
    from rich.table import Table

    placed = bool(net.devices)
    table = Table(title=f"{net.name}: input {shape_text(net.input_shape)}", title_justify="left")
    table.add_column("layer")
    table.add_column("type")
    table.add_column("output", justify="right")
    table.add_column("params", justify="right")
    table.add_column("MACs", justify="right")
    if placed:
        table.add_column("placement")
        table.add_column("across")
    table.add_column("arithmetic", style="dim")
    for layer in net.layers:
        table.add_row(*_row(layer, placed))
    table.add_section()
    totals = ["total", "", shape_text(net.output_shape), f"{net.total_params:,}", f"{net.total_macs:,}"]
    table.add_row(*(totals + (["", ""] if placed else []) + [f"buffers {net.total_buffers:,}"]))
    return table


def device_table(net: ResolvedNetwork):
    from rich.table import Table

    table = Table(title="per device", title_justify="left")
    for column in ("device", "params", "MACs", "layers reading across devices"):
        table.add_column(column, justify="left" if column != "params" and column != "MACs" else "right")
    reads = cross_device_reads(net)
    for device, totals in per_device_totals(net).items():
        table.add_row(device, f"{totals['params']:,}", f"{totals['macs']:,}", ", ".join(reads[device]))
    return table


def cross_device_reads(net: ResolvedNetwork) -> dict[str, list[str]]:
    """For each device, the layers it runs that read activations another device holds. The read is the reading
    device's: a layer on one device fetches the shares it lacks; each tower of a split layer reads the others'
    shares, or, after a layer on one device, every tower but that device's reads its output."""
    reads: dict[str, list[str]] = {device: [] for device in net.devices}
    previous = None
    for layer in net.layers:
        if layer.placement and layer.placement.reads_across:
            held = previous.placement if previous is not None and previous.placement else None
            holder = held.devices[0] if held is not None and not held.split else None
            for device in layer.placement.devices:
                if device != holder:
                    reads[device].append(layer.name)
        previous = layer
    return reads


def _row(layer: ResolvedLayer, placed: bool) -> list[str]:
    row = [layer.name, layer.type, shape_text(layer.output_shape), f"{layer.params:,}", f"{layer.macs:,}"]
    if placed:
        placement = layer.placement
        row += [placement.label if placement else "", "yes" if placement and placement.reads_across else ""]
    row.append("; ".join(layer.equations))
    return row
