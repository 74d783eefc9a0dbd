"""Build a model by executing the very source that `render` returns, from a file that tracebacks, `inspect.getsource`
and debuggers can read (see backends/common/source.py)."""

from __future__ import annotations

import types
from typing import Sequence

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import ResolvedNetwork

from alexnet_spec.backends.common.source import load_source

from .view import render


def generated_module(net: ResolvedNetwork) -> types.ModuleType:
    """The module that `alexspec compile SPEC --backend torch` prints, executed."""
    return load_source(render(net), f"alexspec_torch_{net.class_name}_{net.spec_hash}")


def build(net: ResolvedNetwork, devices: Sequence[str] | None = None, dtype=None, **options):
    """An instance of the generated class: `net.class_name` on one device, or with `devices` (one per device the
    spec names, e.g. ["cuda:0", "cuda:1"]) the placed class, each device holding its share of every split layer.

    The single-device model is on the CPU; move it as any nn.Module (`.to("cuda")`). `dtype`: "float32" (the
    default), "float64", or a torch dtype, for the parameters of a float32 build; a network generated in bfloat16
    or float16 (`net.precision`) already stores each parameter in its own type.
    """
    if options:
        raise TypeError(f"unknown option(s) {', '.join(sorted(options))} for the torch backend; "
                        "it takes devices and dtype")
    if devices is not None and len(devices) != len(net.devices):
        named = f"{len(net.devices)} devices ({', '.join(net.devices)})" if net.devices else "no devices"
        raise SpecError(Diagnostic(f"{net.name} places its layers on {named}, but build got {len(devices)}: "
                                   f"{', '.join(map(str, devices))}", file=net.file, path=("devices",),
                                   expected=f"one torch device per spec device ({len(net.devices)})",
                                   hint="build without `devices` for the single-device model" if not net.devices
                                   else f"for example devices={['cuda:%d' % i for i in range(len(net.devices))]}"))
    if dtype is not None and net.precision != "float32":
        raise TypeError(f"dtype={dtype!r} would convert a {net.precision} build whole, its float32 islands included; "
                        f"build it with precision= alone")
    module = generated_module(net)
    if devices is None:
        model = getattr(module, net.class_name)()
    else:
        model = getattr(module, f"{net.class_name}Placed")(list(devices))
    return model if dtype is None else model.to(_torch_dtype(dtype))


def _torch_dtype(dtype):
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in ("float32", "float64", "float16", "bfloat16"):
        raise TypeError(f"unknown dtype {dtype!r}; expected float32, float64, float16, bfloat16 or a torch dtype")
    return getattr(torch, dtype)
