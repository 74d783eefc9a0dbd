"""The paper's model parallelism on a jax Mesh: each split layer's kernels (neurons) are sharded along their output
channel axis over the devices (NamedSharding), and their activations are constrained to the same channel sharding
by the generated `place` (`lax.with_sharding_constraint`); XLA's partitioner inserts the cross-device transfers (the
paper's conv3 and dense layers), so the placed model computes the same function as the single-device one."""

from __future__ import annotations

from typing import Any, Sequence

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import ConvAttrs, DenseAttrs, ResolvedNetwork

AXIS = "devices"


def jax_devices(net: ResolvedNetwork, devices: Sequence[Any]):
    """jax Device objects for `devices`: Device objects as they are, or "cpu:1"-style names and indices."""
    import jax

    if not net.devices or len(devices) != len(net.devices):
        named = f"{len(net.devices)} devices" if net.devices else "no devices"
        raise SpecError(Diagnostic(f"{net.name} places its layers on {named}, but build got {len(devices)}",
                                   file=net.file, path=("devices",), expected="one jax device per spec device"))
    available = jax.devices()
    chosen = []
    for device in devices:
        if isinstance(device, (str, int)):
            index = int(str(device).rsplit(":", 1)[-1])
            if index >= len(available):
                raise SpecError(Diagnostic(f"jax has {len(available)} device(s); {device!r} is not one of them",
                                           file=net.file, hint="on a CPU, XLA_FLAGS=--xla_force_host_platform_"
                                           "device_count=2 makes two"))
            device = available[index]
        chosen.append(device)
    return chosen


class PlacedModel:
    """The generated module's functions with params sharded over a Mesh: `init`, `init_state`, `apply` (jitted, the
    generated `apply` with `mesh`), `shard(params)` to place existing params, `source`."""

    def __init__(self, module, net: ResolvedNetwork, devices: Sequence[Any]):
        import numpy as np
        from jax.sharding import Mesh

        self.module, self.net = module, net
        self.mesh = Mesh(np.array(jax_devices(net, devices)), (AXIS,))
        if hasattr(module, "init_state"):  # generated only for networks with batch normalisation
            self.init_state = module.init_state
        self.source = module.source
        self._jitted = {}

    def sharding(self, params):
        """A NamedSharding per parameter: split layers along their last (output) axis, everything else replicated."""
        import jax
        from jax.sharding import NamedSharding, PartitionSpec

        split = {layer.name for layer in self.net.layers
                 if isinstance(layer.attrs, (ConvAttrs, DenseAttrs)) and layer.placement and layer.placement.split}

        def spec(path, leaf):
            layer = ".".join(str(entry.key) for entry in path[:-1])  # params["layer2"]["0"]["conv1"]["kernel"]
            if layer in split:
                return NamedSharding(self.mesh, PartitionSpec(*([None] * (leaf.ndim - 1)), AXIS))
            return NamedSharding(self.mesh, PartitionSpec())

        return jax.tree_util.tree_map_with_path(spec, params)

    def shard(self, params):
        import jax

        return jax.device_put(params, self.sharding(params))

    def init(self, key, dtype=None):
        import jax.numpy as jnp

        return self.shard(self.module.init(key, dtype or jnp.float32))

    def apply(self, params, x, *, train=False, key=None, state=None, layout="NHWC"):
        """The generated `apply` on the Mesh, jitted once per (train, layout): split layers' activations are
        constrained to their channel sharding (the generated `place`), the rest left to the partitioner."""
        import functools

        import jax

        function = self._jitted.get((train, layout))
        if function is None:
            function = jax.jit(functools.partial(self.module.apply, train=train, layout=layout, mesh=self.mesh))
            self._jitted[(train, layout)] = function
        return function(params, x, key=key, state=state)
