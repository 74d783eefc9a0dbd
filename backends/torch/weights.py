"""Move weights between the single-device layout (canonical: "conv1.weight") and the placed one ("conv1.0.weight",
one share per device), for a spec with devices, without building a model.

The conversion is the generated file's own `split_state_dict` and `join_state_dict`, which the placed class also
calls in `load_single_state_dict` and `single_state_dict`; these functions execute that same source.
"""

from __future__ import annotations

from alexnet_spec.resolved import ResolvedNetwork

from .build import generated_module


def placed_state_dict(net: ResolvedNetwork, state_dict: dict) -> dict:
    """A single-device state dict of `net` cut into the placed layout: split layers' tensors along their first axis."""
    module = generated_module(_require_devices(net))
    return module.split_state_dict(state_dict, _split_layers(module, net), len(net.devices))


def single_state_dict(net: ResolvedNetwork, state_dict: dict) -> dict:
    """A placed state dict of `net` joined into the single-device layout, on the device of its first share."""
    module = generated_module(_require_devices(net))
    first = next(iter(state_dict.values()))
    return module.join_state_dict(state_dict, _split_layers(module, net), first.device)


def _require_devices(net: ResolvedNetwork) -> ResolvedNetwork:
    if not net.devices:
        raise ValueError(f"{net.name} names no devices: its single-device state dict is the only layout")
    return net


def _split_layers(module, net: ResolvedNetwork) -> tuple[str, ...]:
    return getattr(module, f"{net.class_name}Placed").split_layers
