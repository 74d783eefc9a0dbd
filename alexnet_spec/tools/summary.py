"""What `summary` shows: per-layer rows (input and output shapes, parameters, MACs, activation memory, placement,
arithmetic), the totals torchinfo and Keras print (trainable and non-trainable parameters, buffers, parameter and
activation memory for a batch and a dtype, MACs and FLOPs), and per-device totals; as text or as JSON.

Conventions, stated where they differ between tools:
- MACs are multiply-accumulates of the weights (a conv: kernel volume × output elements); FLOPs = 2 × MACs (one
  multiply and one add each). torchinfo's "mult-adds" also count one addition per output element of a layer with a
  bias, so it prints 714.68 M for torchvision's AlexNet where this counts 714,188,480 MACs.
- Non-trainable parameters are the buffers a layer keeps (batchnorm's running mean and variance), as Keras counts
  them; PyTorch calls them buffers and torchinfo leaves them out.
- Activation memory is every layer's output for the whole batch (what a training step keeps for the backward pass
  when nothing runs in place); MB are 10^6 bytes, as torchinfo's.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from dataclasses import dataclass
from math import prod
from typing import Any

from alexnet_spec.errors import unknown_choice
from alexnet_spec.resolved import ResolvedLayer, ResolvedNetwork
from alexnet_spec.tools.text_table import Column, render_table

DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
MAX_BATCH = 1 << 20  # a sum of products stays exact in Python, but a typo should not print 19-digit numbers


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(size) for size in shape)


def input_shapes(layer: ResolvedLayer) -> tuple[tuple[int, ...], ...]:
    """What a layer reads: one shape in a chain; several once graph layers read more than one (`input_shapes`)."""
    return getattr(layer, "input_shapes", None) or (layer.input_shape,)


def megabytes(size: int) -> str:
    """Bytes as torchinfo prints them (MB = 10^6 bytes); below a megabyte in kB, so no figure reads 0.00."""
    return f"{size / 1e6:,.2f} MB" if size >= 10**6 else f"{size / 1e3:,.1f} kB"


@dataclass(frozen=True)
class Options:
    """The batch and the element type that memory figures are computed for."""

    batch: int = 1
    dtype: str = "float32"
    depth: int | None = None  # block instances nested deeper than this are one row each (None: every layer)

    def __post_init__(self):
        if self.depth is not None and (isinstance(self.depth, bool) or self.depth < 0):
            from alexnet_spec.errors import Diagnostic, SpecError

            raise SpecError(Diagnostic(f"--depth must be 0 or more, got {self.depth}", file="--depth",
                                       expected="0 (top-level blocks as one row each), 1, ..."))
        if self.dtype not in DTYPE_BYTES:
            raise unknown_choice("dtype", self.dtype, list(DTYPE_BYTES), file="--dtype")
        if isinstance(self.batch, bool) or not 1 <= self.batch <= MAX_BATCH:
            from alexnet_spec.errors import Diagnostic, SpecError

            raise SpecError(Diagnostic(f"--batch must be between 1 and {MAX_BATCH:,}, got {self.batch}",
                                       file="--batch", expected="images in one batch, for the memory figures"))

    @property
    def bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]


def activation_bytes(layer: ResolvedLayer, options: Options) -> int:
    """The layer's output for the whole batch, in bytes."""
    return prod(layer.output_shape) * options.batch * options.bytes


def totals(net: ResolvedNetwork, options: Options) -> dict[str, int]:
    """The model-wide figures of the summary (bytes for the given batch and dtype; MACs and FLOPs per image)."""
    return {
        "trainable_params": net.total_params,
        "non_trainable_params": net.total_buffers,
        "total_params": net.total_params + net.total_buffers,
        "param_bytes": (net.total_params + net.total_buffers) * options.bytes,
        "input_bytes": prod(net.input_shape) * options.batch * options.bytes,
        "activation_bytes": sum(activation_bytes(layer, options) for layer in net.layers),
        "macs": net.total_macs,
        "flops": 2 * net.total_macs,
    }


def summary_json(net: ResolvedNetwork, options: Options = Options()) -> dict[str, Any]:
    figures = totals(net, options)
    return {
        "name": net.name,
        "input": list(net.input_shape),
        "batch": options.batch,
        "dtype": options.dtype,
        "bytes_per_element": options.bytes,
        "total_params": net.total_params,
        "trainable_params": figures["trainable_params"],
        "non_trainable_params": figures["non_trainable_params"],
        "total_buffers": net.total_buffers,
        "total_macs": net.total_macs,
        "total_flops": figures["flops"],
        "param_bytes": figures["param_bytes"],
        "input_bytes": figures["input_bytes"],
        "activation_bytes": figures["activation_bytes"],
        "outputs": list(net.output_names),
        "blocks": [{"name": scope.name, "kind": scope.kind, "block": scope.block, "args": dict(scope.args),
                    "members": [member.name for member in scope.members]} for scope in net.scopes if scope.name],
        "scaling": [{"name": scale.name, "field": scale.field, "declared": scale.declared, "scaled": scale.scaled,
                     "multiple": scale.multiple} for scale in net.scaling],
        "devices": {device: {**held, "reads_across": cross_device_reads(net)[device]}
                    for device, held in per_device_totals(net).items()},
        "layers": [
            {
                "name": layer.name,
                "type": layer.type,
                "inputs": list(layer.inputs),
                "input_shapes": [list(shape) for shape in input_shapes(layer)],
                "output_shape": list(layer.output_shape),
                "params": layer.params,
                "buffers": layer.buffers,
                "macs": layer.macs,
                "flops": 2 * layer.macs,
                "activation_bytes": activation_bytes(layer, options),
                "placement": layer.placement.label if layer.placement else None,
                "reads_across_devices": bool(layer.placement and layer.placement.reads_across),
                "arithmetic": list(layer.equations),
            }
            for layer in net.layers
        ],
    }


def per_device_totals(net: ResolvedNetwork) -> dict[str, dict[str, int]]:
    """Parameters and MACs held by each device: a split layer's share is its 1/n of the kernels or neurons."""
    held: dict[str, dict[str, int]] = defaultdict(lambda: {"params": 0, "macs": 0})
    for layer in net.layers:
        if layer.placement is None:
            continue
        share = len(layer.placement.devices)
        for device in layer.placement.devices:
            held[device]["params"] += layer.params // share
            held[device]["macs"] += layer.macs // share
    return {device: dict(held[device]) for device in net.devices}


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


def _placement_note(layer: ResolvedLayer) -> str:
    """Where a layer runs when that is news: split is the default, so only one device's name or a cross read."""
    placement = layer.placement
    if placement is None:
        return ""
    where = "" if placement.split else f"on {placement.label}"
    return ", ".join(filter(None, (where, "reads across devices" if placement.reads_across else "")))


@dataclass(frozen=True)
class Entry:
    """A row of the summary: a layer, a block instance's heading, or a collapsed instance (its layers summed)."""

    label: str  # indented by nesting: "  conv1" under "layer1.0"
    kind: str  # the layer type, or "basic (channels=64)" for a block
    layers: tuple[ResolvedLayer, ...]  # the layers it stands for; () for a heading
    output: ResolvedLayer | None  # the layer whose output is the row's


def block_label(net: ResolvedNetwork, name: str) -> str:
    """How a block instance or row is named in the summary: "basic (channels=64, stride=1)", "2 × basic"."""
    scope = net.scope(name)
    if scope.kind == "sequence":
        return f"{len(scope.members)} × {scope.block}"
    args = ", ".join(f"{key}={_arg(value)}" for key, value in scope.args)
    return f"{scope.block} ({args})" if args else scope.block


def _arg(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def entries(net: ResolvedNetwork, depth: int | None = None) -> list[Entry]:
    """The summary's rows in layer order: each block instance a heading over its indented layers, or (deeper than
    `depth`) one row summing them."""
    scopes = {scope.name for scope in net.scopes if scope.name}
    rows, opened, collapsed = [], set(), {}
    for layer in net.layers:
        parts = layer.name.split(".")
        ancestors = [".".join(parts[:end]) for end in range(1, len(parts)) if ".".join(parts[:end]) in scopes]
        for level, scope in enumerate(ancestors):
            if depth is not None and level >= depth:
                if scope not in collapsed:
                    collapsed[scope] = len(rows)
                    rows.append(Entry("  " * level + scope.split(".")[-1] if level else scope, block_label(net, scope),
                                      (), None))
                entry = rows[collapsed[scope]]
                rows[collapsed[scope]] = Entry(entry.label, entry.kind, entry.layers + (layer,), layer)
                break
            if scope not in opened:
                opened.add(scope)
                rows.append(Entry("  " * level + (scope.split(".")[-1] if level else scope), block_label(net, scope),
                                  (), None))
        else:
            rows.append(Entry("  " * len(ancestors) + (parts[-1] if ancestors else layer.name), layer.type, (layer,),
                              layer))
    return rows


def scaling_lines(net: ResolvedNetwork) -> list[str]:
    """What depth_multiple and width_multiple made of the declared integers, one line per distinct change."""
    changes: dict[tuple, list[str]] = defaultdict(list)
    for scale in net.scaling:
        changes[(scale.field, scale.declared, scale.scaled, scale.multiple)].append(scale.name)
    lines = []
    for (field, declared, scaled, multiple), names in changes.items():
        which = "depth_multiple" if field == "repeat" else "width_multiple"
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        lines.append(f"{which} {multiple:g}: {field} {declared} -> {scaled} ({shown})")
    return lines


def summary_text(net: ResolvedNetwork, options: Options, width: int) -> str:
    """The layer table, then the totals, then (for placed specs) the per-device table, laid out within `width`."""
    columns = [Column("layer"), Column("type", movable=True), Column("input", right=True),
               Column("output", right=True), Column("params", right=True), Column("MACs", right=True),
               Column("activations", right=True)]
    rows, notes = [], []
    for entry in entries(net, options.depth):
        if entry.output is None:  # a heading: its layers follow, indented
            rows.append([entry.label, entry.kind, "", "", "", "", ""])
            notes.append("")
            continue
        first = entry.layers[0]
        rows.append([entry.label, entry.kind, ", ".join(shape_text(shape) for shape in input_shapes(first)),
                     shape_text(entry.output.output_shape),
                     f"{sum(layer.params + layer.buffers for layer in entry.layers):,}",
                     f"{sum(layer.macs for layer in entry.layers):,}",
                     megabytes(sum(activation_bytes(layer, options) for layer in entry.layers))])
        if len(entry.layers) > 1:
            notes.append(f"{len(entry.layers)} layers")
        else:
            notes.append(" · ".join(filter(None, [_placement_note(first)] + list(first.equations))))
    figures = totals(net, options)
    rows.append(["total", "", shape_text(net.input_shape), shape_text(net.output_shape),
                 f"{figures['total_params']:,}", f"{net.total_macs:,}", megabytes(figures["activation_bytes"])])
    notes.append("")
    batch = f"batch {options.batch}" if options.batch > 1 else "one image"
    title = f"{net.name}: input {shape_text(net.input_shape)}, {batch}, {options.dtype}"
    if net.devices:
        title += f"; layers split over {', '.join(net.devices)} unless noted"
    title = "\n".join(textwrap.wrap(title, width)) + "\n"
    table = render_table(columns, rows, notes, width, note_header="arithmetic", rules=(len(rows) - 1,))
    per_image = "" if options.batch == 1 else f" per image ({net.total_macs * options.batch:,} for the batch)"
    lines = [
        f"parameters: {figures['total_params']:,} (trainable {figures['trainable_params']:,}, "
        f"non-trainable {figures['non_trainable_params']:,}: batchnorm's running statistics, PyTorch's buffers)",
        f"parameter memory: {megabytes(figures['param_bytes'])} in {options.dtype} ({options.bytes} bytes each)",
        f"input: {megabytes(figures['input_bytes'])}; activations: {megabytes(figures['activation_bytes'])} "
        f"(every layer's output for {batch}, as training keeps them)",
        f"MACs: {net.total_macs:,}{per_image}",
        f"FLOPs: {figures['flops']:,} (FLOPs = 2 × MACs: a multiply and an add)",
    ] + scaling_lines(net)
    text = title + table + "".join(textwrap.fill(line, width, subsequent_indent="  ") + "\n" for line in lines)
    if net.devices:
        text += "\n" + device_text(net, width)
    return text


def device_text(net: ResolvedNetwork, width: int) -> str:
    """Per device: the parameters and MACs it holds, and the layers that read activations across devices."""
    reads = cross_device_reads(net)
    rows = [[device, f"{held['params']:,}", f"{held['macs']:,}"] for device, held in per_device_totals(net).items()]
    return "per device\n" + render_table([Column("device"), Column("params", right=True), Column("MACs", right=True)],
                                         rows, [", ".join(reads[device]) for device in net.devices], width,
                                         note_header="layers reading across devices")
