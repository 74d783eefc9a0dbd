"""Training on the torch backend: one optimizer step and the forward pass, for the loop of alexnet_spec/training
(which owns data, schedule, metrics and checkpoints). backends/jax/train.py is the same class in JAX.

    trainer = Trainer(net, weights, settings=..., optimizer_state=None, dtype="float32", device="cpu", threads=1)
    loss, correct = trainer.step(images, labels, lr, step)   # (n, C, H, W) float32, (n,) int64: this process's share
    logits = trainer.logits(images)                          # eval mode, numpy
    trainer.weights(), trainer.optimizer_state()             # canonical names and layouts, numpy

Under torchrun (WORLD_SIZE > 1) the model is wrapped in DistributedDataParallel (gloo on the CPU, NCCL on GPUs): each
process steps on its share of the batch, gradients are averaged, and step() returns the whole batch's loss and hits.

A network generated in bfloat16 or float16 (`net.precision`) trains with float32 master weights: the optimizer
steps float32 copies of the low-precision parameters (their gradients converted up), each step's result is rounded
into the model, and `weights()` returns the masters; the loss is computed in float32.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import ResolvedNetwork

from .build import build


class Trainer:
    def __init__(self, net: ResolvedNetwork, weights: Mapping[str, np.ndarray], *, settings: Any,
                 optimizer_state: Mapping[str, np.ndarray] | None = None, dtype: str = "float32",
                 device: str | None = None, threads: int | None = None, seed: int = 0):
        import torch
        import torch.distributed as dist

        if threads:
            torch.set_num_threads(threads)
        distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device is None:
            device = f"cuda:{local_rank}" if distributed and torch.cuda.is_available() else "cpu"
        self.device, self.dtype, self.seed, self.settings = _device(torch, device), getattr(torch, dtype), seed, settings
        if distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.rank, self.world_size = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
        low = net.precision != "float32"
        self.model = build(net, dtype=None if low else dtype)  # a low build keeps its parameters' own types
        self.model.load_state_dict({key: torch.tensor(np.asarray(value), dtype=self.dtype)
                                    for key, value in weights.items()}, strict=False)
        self.model.to(self.device)
        self.wrapped = torch.nn.parallel.DistributedDataParallel(self.model) if distributed else self.model
        self.working = dict(self.model.named_parameters())
        # what the optimizer steps: the parameters themselves, or float32 masters of the low-precision ones, made
        # from `weights` (not from their rounded copies in the model)
        self.parameters = {name: parameter if parameter.dtype == self.dtype else torch.tensor(
            np.asarray(weights[name]), dtype=self.dtype, device=self.device, requires_grad=True)
            for name, parameter in self.working.items()}
        self.optimizer = _optimizer(torch, list(self.parameters.values()), settings)
        if optimizer_state:
            self._load_optimizer_state(optimizer_state)

    def step(self, images: np.ndarray, labels: np.ndarray, lr: float, step: int) -> tuple[float, int]:
        """One optimizer step on this process's share; the mean loss and the top-1 hits of the whole batch."""
        import torch
        import torch.nn.functional as F

        # Dropout draws from a generator seeded by the step (and rank), so a resumed run draws the same masks.
        torch.manual_seed(int(np.random.SeedSequence([self.seed, step, self.rank]).generate_state(1)[0]))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.wrapped.train()
        x = torch.from_numpy(images).to(self.device, self.dtype)
        y = torch.from_numpy(labels).to(self.device)
        output = self.wrapped(x)
        loss = F.cross_entropy(output.to(self.dtype), y)  # a low-precision model's logits: the loss in float32
        self.optimizer.zero_grad(set_to_none=True)
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        self._step_masters()
        totals = torch.stack([loss.detach().double() * len(labels), (output.argmax(1) == y).sum().double()])
        if self.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(totals)
        return float(totals[0]) / (len(labels) * self.world_size), int(totals[1])

    def _step_masters(self) -> None:
        """The optimizer's step on the parameters, or on the float32 masters of low-precision ones: their gradients
        converted up first, the stepped values rounded into the model after."""
        import torch

        masters = [(self.working[name], master) for name, master in self.parameters.items()
                   if master is not self.working[name]]
        for parameter, master in masters:
            master.grad = None if parameter.grad is None else parameter.grad.to(master.dtype)
        self.optimizer.step()
        with torch.no_grad():
            for parameter, master in masters:
                parameter.copy_(master)

    def finish(self) -> None:
        """The end of the run. Processes leave together and close the process group: a rank that exits while gloo's
        threads still serve another aborts ("terminate called without an active exception", seen in the tests)."""
        import gc

        import torch.distributed as dist

        if self.world_size > 1 and dist.is_initialized():
            dist.barrier()
            # DistributedDataParallel's reducer holds the process group: released while Python runs, so that gloo's
            # threads are not left to the interpreter's finalisation
            self.wrapped = self.model
            gc.collect()
            dist.destroy_process_group()

    def logits(self, images: np.ndarray) -> np.ndarray:
        import torch

        self.model.eval()
        with torch.no_grad():
            return self.model(torch.from_numpy(images).to(self.device, self.dtype)).to(self.dtype).cpu().numpy()

    def weights(self) -> dict[str, np.ndarray]:
        """Canonical weights: the masters of low-precision parameters, everything else as the model holds it."""
        return {key: self.parameters.get(key, value).detach().cpu().numpy()
                for key, value in self.model.state_dict().items() if not key.endswith(".num_batches_tracked")}

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """torch.optim's per-parameter state under "state_name/parameter name"; adam's shared count as "step"."""
        arrays = {}
        for name, parameter in self.parameters.items():
            state = self.optimizer.state.get(parameter, {})
            for key in self.settings.state_names:
                if state.get(key) is not None:
                    arrays[f"{key}/{name}"] = state[key].detach().cpu().numpy()
            if "step" in state:
                arrays["step"] = np.asarray(float(state["step"]))
        return arrays

    def _load_optimizer_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        import torch

        for name, parameter in self.parameters.items():
            state = {key: torch.tensor(np.asarray(arrays[f"{key}/{name}"]), dtype=self.dtype, device=self.device)
                     for key in self.settings.state_names if f"{key}/{name}" in arrays}
            if "step" in arrays and state:
                state["step"] = torch.tensor(float(arrays["step"]))
            if state:
                self.optimizer.state[parameter] = state


def _device(torch, name: str):
    """A torch device that exists here; a SpecError naming --device otherwise."""
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise SpecError(Diagnostic(f"unknown torch device {name!r}: {str(error).splitlines()[0]}", file="--device",
                                   expected="cpu, cuda or cuda:N")) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpecError(Diagnostic(f"--device {name}: no CUDA device is available", file="--device",
                                   hint="train on the CPU: --device cpu")) from None
    return device


def _optimizer(torch, parameters, settings):
    if settings.name == "sgd":
        return torch.optim.SGD(parameters, lr=0.0, momentum=settings.momentum, weight_decay=settings.weight_decay)
    kind = torch.optim.Adam if settings.name == "adam" else torch.optim.AdamW
    return kind(parameters, lr=0.0, betas=settings.betas, eps=settings.eps, weight_decay=settings.weight_decay)
