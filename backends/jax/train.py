"""Training on the JAX backend, with optax: one optimizer step and the forward pass, for the loop of
alexnet_spec/training. The same class as backends/torch/train.py, translated:

    trainer = Trainer(net, weights, settings=..., optimizer_state=None, dtype="float32", device="cpu", threads=1)
    loss, correct = trainer.step(images, labels, lr, step)   # (N, C, H, W) float32, (N,) int64: the whole batch
    logits = trainer.logits(images)
    trainer.weights(), trainer.optimizer_state()             # canonical (torch) names and layouts, numpy

The batch is sharded over a Mesh of the available devices (of `device`'s platform): each device computes its share
and XLA averages the gradients, as DistributedDataParallel does across processes. Parameters are replicated.
Dropout takes a key folded from the seed and the step, so a resumed run draws the same masks. The optimizer is the
same arithmetic as torch.optim's: sgd is add_decayed_weights then trace (torch's momentum buffer, no dampening),
adam scale_by_adam after (adam) or before (adamw, decoupled) the weight decay, and params -= lr * update.

A network generated in bfloat16 or float16 (`net.precision`) trains with float32 master weights: `params` stay
float32, each step rounds them into the types the generated `init` gives (the gradient flows back through that
rounding into the masters), and the loss is computed in float32.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import BatchNormAttrs, ResolvedNetwork
from alexnet_spec.weights import BATCHNORM_BUFFERS, weight_shapes

from .build import generated_module
from .weights import jax_to_torch, torch_to_jax

# optax state field <-> torch.optim state name
STATE_FIELDS = {"trace": "momentum_buffer", "mu": "exp_avg", "nu": "exp_avg_sq"}


class Trainer:
    world_size, rank = 1, 0  # one process; devices share the batch inside it

    def __init__(self, net: ResolvedNetwork, weights: Mapping[str, np.ndarray], *, settings: Any,
                 optimizer_state: Mapping[str, np.ndarray] | None = None, dtype: str = "float32",
                 device: str | None = None, threads: int | None = None, seed: int = 0):
        if threads == 1 and "jax" not in sys.modules:  # XLA reads its flags once, when jax starts
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                       "intra_op_parallelism_threads=1").strip()
        import jax
        import optax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        self.net, self.settings, self.dtype = net, settings, dtype
        with self._precision():
            devices = _devices(jax, device)
            self.mesh = Mesh(np.array(devices), ("data",))
            self.batch_sharding = NamedSharding(self.mesh, PartitionSpec("data"))
            self.replicated = NamedSharding(self.mesh, PartitionSpec())
            params, state = torch_to_jax(weights, net)
            self.params = self._put(params)
            self.state = self._put(state) if state else None
            self.transform, self.stateful = _transformation(optax, settings)
            self.opt_state = self.transform.init(self.params)
            if optimizer_state:
                self.opt_state = self._with_optimizer_state(optimizer_state)
            self.key = jax.random.PRNGKey(seed)
            self._step, self._logits = _compiled(net, settings, self.state is not None)

    def step(self, images: np.ndarray, labels: np.ndarray, lr: float, step: int) -> tuple[float, int]:
        """One optimizer step on the batch, sharded over the mesh; its mean loss and top-1 hits."""
        import jax

        if len(labels) % self.mesh.size:
            raise SpecError(Diagnostic(f"a batch of {len(labels)} cannot be shared by {self.mesh.size} devices",
                                       file="--batch", expected=f"a multiple of {self.mesh.size}"))
        with self._precision():
            x = jax.device_put(np.asarray(images, self.dtype), self.batch_sharding)
            y = jax.device_put(labels, self.batch_sharding)
            key = jax.random.fold_in(self.key, step)
            self.params, self.state, self.opt_state, loss, correct = self._step(
                self.params, self.state, self.opt_state, x, y, key, np.asarray(lr, self.dtype))
            return float(loss), int(correct)

    def finish(self) -> None:
        """The end of the run: one process holds every device, so nothing is left to close."""

    def logits(self, images: np.ndarray) -> np.ndarray:
        with self._precision():
            return np.asarray(self._logits(self.params, self.state, np.asarray(images, self.dtype)))

    def weights(self) -> dict[str, np.ndarray]:
        tree = _numpy(self.params)
        return jax_to_torch(tree, self.net, _numpy(self.state) if self.state else None)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The optimizer's per-parameter state in canonical names ("momentum_buffer/c1.weight") and layouts."""
        inner = self.opt_state[self.stateful]
        trainable = _trainable(self.net)
        arrays = {}
        for field, name in STATE_FIELDS.items():
            if field in inner._fields:
                canonical = jax_to_torch(_numpy(getattr(inner, field)), self.net)
                arrays.update({f"{name}/{key}": value for key, value in canonical.items() if key in trainable})
        if "count" in inner._fields:  # (hasattr would find tuple.count)
            arrays["step"] = np.asarray(float(inner.count))
        return arrays

    def _with_optimizer_state(self, arrays: Mapping[str, np.ndarray]):
        inner = self.opt_state[self.stateful]
        fields = {}
        for field, name in STATE_FIELDS.items():
            if field in inner._fields:
                canonical = {key: np.asarray(arrays[f"{name}/{key}"]) for key in _trainable(self.net)}
                fields[field] = self._put(torch_to_jax(_with_buffers(canonical, self.net), self.net)[0])
        if "count" in inner._fields:  # (hasattr would find tuple.count)
            fields["count"] = np.asarray(int(arrays["step"]), np.int32)
        states = list(self.opt_state)
        states[self.stateful] = inner._replace(**fields)
        return tuple(states)

    def _put(self, tree):
        import jax
        import jax.numpy as jnp

        return jax.device_put(jax.tree_util.tree_map(lambda value: jnp.asarray(value, self.dtype), tree),
                              self.replicated)

    def _precision(self):
        import jax

        return jax.enable_x64(self.dtype == "float64")


_COMPILED: dict = {}


def _compiled(net: ResolvedNetwork, settings: Any, has_state: bool):
    """The jitted step and forward pass of a network (by its hash) and optimizer, kept for the process: a resumed or
    repeated run reuses XLA's compiled code instead of compiling again."""
    key = (net.spec_hash, settings, has_state)
    if key not in _COMPILED:
        _COMPILED[key] = _jitted(net, settings, has_state)
    return _COMPILED[key]


def _jitted(net: ResolvedNetwork, settings: Any, has_state: bool):
    import jax
    import optax

    import jax.numpy as jnp

    module = generated_module(net)
    transform, _ = _transformation(optax, settings)
    working = _working_types(jax, module, net)

    def step(params, state, opt_state, x, y, key, lr):
        def loss_of(params):
            output = module.apply(working(params), x, train=True, key=key, state=state, layout="NCHW")
            logits, new_state = output if has_state else (output, state)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.promote_types(logits.dtype,
                                                                                                     jnp.float32)), y)
            return loss.mean(), (logits, new_state)

        (loss, (logits, new_state)), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
        updates, opt_state = transform.update(grads, opt_state, params)
        params = jax.tree_util.tree_map(lambda value, update: value - lr * update, params, updates)
        return params, new_state, opt_state, loss, (logits.argmax(axis=1) == y).sum()

    def logits(params, state, x):
        output = module.apply(working(params), x, state=state, layout="NCHW")
        return output.astype(jnp.promote_types(output.dtype, jnp.float32))

    return jax.jit(step), jax.jit(logits)


def _working_types(jax, module, net: ResolvedNetwork):
    """params -> the params the generated module computes with: the masters rounded into the types of a low
    precision's `init` (bfloat16, batchnorm's float32); unchanged in float32 (and float64) builds."""
    if net.precision == "float32":
        return lambda params: params
    types = jax.eval_shape(module.init, jax.random.PRNGKey(0))
    return lambda params: jax.tree_util.tree_map(lambda value, like: value.astype(like.dtype), params, types)


def _devices(jax, platform: str | None) -> list:
    """The devices of `platform` (every device when None); a SpecError naming --device when there are none."""
    if platform is None:
        return jax.devices()
    try:
        return jax.devices(platform)
    except RuntimeError as error:
        raise SpecError(Diagnostic(f"no jax devices on platform {platform!r}: {str(error).splitlines()[0]}",
                                   file="--device", expected="a platform jax has here: cpu, gpu or tpu")) from None


def _transformation(optax, settings) -> tuple[Any, int]:
    """The optax chain without the rate (params -= lr * update), and the index of its stateful link."""
    if settings.name == "sgd":
        return optax.chain(optax.add_decayed_weights(settings.weight_decay), optax.trace(settings.momentum)), 1
    adam = optax.scale_by_adam(*settings.betas, eps=settings.eps)
    if settings.name == "adam":
        return optax.chain(optax.add_decayed_weights(settings.weight_decay), adam), 1
    return optax.chain(adam, optax.add_decayed_weights(settings.weight_decay)), 0


def _trainable(net: ResolvedNetwork) -> list[str]:
    return [key for key in weight_shapes(net) if not key.endswith(BATCHNORM_BUFFERS)]


def _with_buffers(arrays: dict, net: ResolvedNetwork) -> dict:
    """Batchnorm running statistics filled in, so torch_to_jax takes per-parameter optimizer state."""
    for layer in net.layers:
        if isinstance(layer.attrs, BatchNormAttrs):
            for buffer in BATCHNORM_BUFFERS:
                arrays[f"{layer.name}.{buffer}"] = np.zeros(layer.attrs.num_features)
    return arrays


def _numpy(tree):
    import jax

    return jax.tree_util.tree_map(np.asarray, tree)
