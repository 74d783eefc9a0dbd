"""The training loop every backend shares: data order, augmentation, metrics, schedule and checkpoints live here;
the backend (found in the registry by name) only runs a step and the forward pass (backends/*/train.py).

Everything random is drawn from the seed and the step's position, never from a generator that runs along: epoch e's
order is a permutation drawn from (seed, e), step i's crops, flips and colour shifts from (seed, e, i), dropout from
(seed, step) in the backend. So a run resumed from a checkpoint draws exactly what the uninterrupted run drew, and
two backends see the same batches.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from alexnet_spec import backends
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.logits import as_logits
from alexnet_spec.resolved import ResolvedNetwork
from alexnet_spec.training import checkpoint as checkpoints
from alexnet_spec.training.augment import Augmentation, colour_statistics, held_out_batch, training_batch
from alexnet_spec.training.data import Dataset, split
from alexnet_spec.training.metrics import cross_entropy, top_k
from alexnet_spec.training.optimizers import optimizer_settings
from alexnet_spec.training.schedule import Plateau

EVAL_CHUNK = 256  # held-out images per forward pass


@dataclass(frozen=True)
class TrainConfig:
    backend: str = "torch"
    epochs: int = 10
    steps: int | None = None  # stop after this many steps in all (a resumed run counts the steps before it)
    batch: int = 32  # images per step, over all processes and devices
    lr: float = 0.01
    optimizer: str = "sgd"
    patience: int = 1  # held-out epochs without improvement before the rate is divided by 10
    seed: int = 0
    holdout: float = 0.2
    augmentation: Augmentation = field(default_factory=Augmentation)
    device: str | None = None
    threads: int | None = None
    dtype: str = "float32"
    checkpoint: Path | None = None
    resume: bool = False

    def run_settings(self) -> dict:
        """What fixes the run's trajectory; a checkpoint stores it and a resumed run takes it from there."""
        return {"batch": self.batch, "optimizer": self.optimizer, "patience": self.patience, "seed": self.seed,
                "holdout": self.holdout, "augmentation": self.augmentation.to_json(), "dtype": self.dtype}


@dataclass
class Progress:
    """What the loop reports after each step, for progress bars."""

    step: int
    total_steps: int
    epoch: int  # 1-based
    epochs: int
    loss: float  # the epoch's running mean training loss
    accuracy: float  # the epoch's running training top-1
    images_per_second: float


@dataclass(frozen=True)
class TrainResult:
    history: list[dict]  # one entry per completed epoch
    weights: dict[str, np.ndarray]  # canonical
    steps: int  # the step count reached
    seconds: float  # of this run (a resumed run: since it resumed)
    backend: str
    classes: tuple[str, ...]
    first_step: int = 0  # where this run started (0, or the checkpoint's step)


def train(net: ResolvedNetwork, data: Dataset, config: TrainConfig,
          on_step: Callable[[Progress], None] | None = None,
          on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train `net` (its final softmax dropped: the loss is cross-entropy on logits) on `data`, holding out a fixed
    fraction; one history entry per epoch with training loss and top-1 and held-out loss, top-1 and top-5."""
    resumed = _resumed(net, config)
    if resumed is not None:
        config = dataclasses.replace(config, **_settings_from(resumed.state["settings"]))
    logits_net = as_logits(net)
    check_classes(net, data)
    training, held = split(data, config.holdout, config.seed)
    colour = colour_statistics(training.images)
    settings = optimizer_settings(config.optimizer)
    trainer = backends.get(config.backend).trainer(
        logits_net, resumed.weights if resumed else _initial_weights(net, config.seed), settings=settings,
        optimizer_state=resumed.optimizer if resumed else None, dtype=config.dtype, device=config.device,
        threads=config.threads, seed=config.seed)
    per_epoch = len(training) // config.batch
    if per_epoch == 0 or config.batch % trainer.world_size:
        raise SpecError(Diagnostic(f"--batch {config.batch} does not fit: {len(training)} training images, "
                                   f"{trainer.world_size} process(es) or device(s)", file="--batch",
                                   expected=f"at most {len(training)}, a multiple of {trainer.world_size}"))
    total = config.steps if config.steps is not None else config.epochs * per_epoch
    state = resumed.state if resumed else {"step": 0, "history": [], "loss_sum": 0.0, "correct": 0,
                                           "schedule": Plateau(config.lr, patience=config.patience).to_json()}
    step, history = state["step"], list(state["history"])
    first_step = step
    loss_sum, correct, schedule = state["loss_sum"], state["correct"], Plateau(**state["schedule"])
    started, epoch_started, seen = time.perf_counter(), time.perf_counter(), 0
    share = config.batch // trainer.world_size
    mine = slice(trainer.rank * share, (trainer.rank + 1) * share)
    while step < total:
        epoch, position = divmod(step, per_epoch)
        order = np.random.default_rng([config.seed, epoch]).permutation(len(training))
        indices = order[position * config.batch:(position + 1) * config.batch]
        images = training_batch(training.images[indices], config.augmentation, colour,
                                np.random.default_rng([config.seed, epoch, position]))
        loss, right = trainer.step(images[mine], training.labels[indices][mine], schedule.lr, step)
        step, seen = step + 1, seen + config.batch
        loss_sum, correct = loss_sum + loss, correct + right
        done_in_epoch = position + 1
        if on_step is not None:
            on_step(Progress(step, total, epoch + 1, -(-total // per_epoch), loss_sum / done_in_epoch,
                             correct / (done_in_epoch * config.batch),
                             seen / max(time.perf_counter() - started, 1e-9)))
        if done_in_epoch == per_epoch:
            entry = _epoch_entry(trainer, held, config, colour, epoch, loss_sum / per_epoch,
                                 correct / (per_epoch * config.batch), schedule.lr,
                                 per_epoch * config.batch / max(time.perf_counter() - epoch_started, 1e-9))
            history.append(entry)
            schedule = schedule.after_epoch(entry["held_out_top1"])
            loss_sum, correct, epoch_started = 0.0, 0, time.perf_counter()
            if on_epoch is not None:
                on_epoch(entry)
        if config.checkpoint is not None and trainer.rank == 0 and (done_in_epoch == per_epoch or step == total):
            state = {"step": step, "history": history, "loss_sum": loss_sum, "correct": correct,
                     "schedule": schedule.to_json(), "settings": config.run_settings()}
            checkpoints.save(config.checkpoint, net, checkpoints.Checkpoint(trainer.weights(),
                                                                            trainer.optimizer_state(), state))
    weights = trainer.weights()
    trainer.finish()
    return TrainResult(history, weights, step, time.perf_counter() - started, config.backend, data.classes, first_step)


def check_classes(net: ResolvedNetwork, data: Dataset) -> None:
    """The spec's output must have one value per class of the data: a SpecError at the last layer that sets it."""
    outputs = net.output_shape[0]
    if len(net.output_shape) == 1 and outputs == len(data.classes):
        return
    sizing = next((layer for layer in reversed(net.layers) if layer.type in ("dense", "conv")), net.layers[-1])
    field_name = "out_features" if sizing.type == "dense" else "out_channels"
    diagnostic = Diagnostic(f"the network outputs {'×'.join(map(str, net.output_shape))} values per image but "
                            f"{data.source} has {len(data.classes)} classes", file=net.file, layer=sizing.name,
                            path=("layers", _spec_index(net, sizing.name), field_name),
                            expected=f"{len(data.classes)} outputs, one per class",
                            hint=f"--set {sizing.name}.{field_name}={len(data.classes)}")
    raise SpecError(_located(net, diagnostic))


def _spec_index(net: ResolvedNetwork, name: str) -> int:
    return next(index for index, layer in enumerate(net.spec.layers) if layer.name == name)


def _located(net: ResolvedNetwork, diagnostic: Diagnostic) -> list[Diagnostic]:
    """`diagnostic` with the line and column of its spec path in the file (and `--set` edits) `net` came from."""
    from alexnet_spec.source import yaml_source
    from alexnet_spec.source.loading import locate, validate_document

    if net.file.startswith("<"):
        return [diagnostic]
    _, document = validate_document(yaml_source.read_document(net.file), net.overrides)
    return locate([diagnostic], document)


def _initial_weights(net: ResolvedNetwork, seed: int) -> dict[str, np.ndarray]:
    from alexnet_spec.weights import init_weights

    return init_weights(net, seed)


def _resumed(net: ResolvedNetwork, config: TrainConfig) -> checkpoints.Checkpoint | None:
    if config.checkpoint is not None:
        checkpoints.prepare(config.checkpoint)
    if not config.resume:
        return None
    if config.checkpoint is None:
        raise SpecError(Diagnostic("--resume needs --checkpoint DIR", file="--resume",
                                   hint="name the folder the run wrote its checkpoints to"))
    return checkpoints.load(config.checkpoint, net)


def _settings_from(settings: dict) -> dict:
    return {**settings, "augmentation": Augmentation(**settings["augmentation"])}


def _epoch_entry(trainer, held: Dataset, config: TrainConfig, colour, epoch: int, loss: float, accuracy: float,
                 lr: float, rate: float) -> dict:
    logits = np.concatenate([trainer.logits(held_out_batch(held.images[start:start + EVAL_CHUNK],
                                                           config.augmentation, colour))
                             for start in range(0, len(held), EVAL_CHUNK)])
    return {"epoch": epoch + 1, "train_loss": loss, "train_top1": accuracy,
            "held_out_loss": cross_entropy(logits, held.labels), "held_out_top1": top_k(logits, held.labels, 1),
            "held_out_top5": top_k(logits, held.labels, 5), "lr": lr, "images_per_second": rate}
