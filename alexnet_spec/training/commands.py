"""The `train` command: parse arguments, run alexnet_spec.training's loop with a progress bar, print each epoch's
metrics (or JSON), write the plot. cli.py registers it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from alexnet_spec.cli_support import JsonOpt, PrecisionOpt, SetOpt, SpecArg, VerboseOpt, emit, reports_errors
from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.source.loading import load_network


def default_threads(processes: int) -> int:
    """Threads per process that leave one core free when there are several: on a busy 2-core machine a small net
    trains many times faster on one thread than on two that fight other processes (LeNet-5: 1,417 against 53
    images/s in issue 21's measurement)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, (cores - 1) // processes) if cores > 1 else 1


@reports_errors
def train_command(
        spec: SpecArg,
        backend: Annotated[str, typer.Option("--backend", "-b", metavar="NAME", help="torch or jax")] = "torch",
        data: Annotated[str, typer.Option("--data", metavar="DATA", help="'digits' (scikit-learn's handwritten digits, no download) "
                                          "or a folder of class subfolders of images")] = "digits",
        epochs: Annotated[int, typer.Option("--epochs", metavar="N", help="passes over the training images")] = 10,
        steps: Annotated[Optional[int], typer.Option("--steps", metavar="N", help="stop after this many steps in all, "
                                                     "counting those before --resume", show_default=False)] = None,
        batch: Annotated[int, typer.Option("--batch", metavar="N", help="images per step, over all processes and devices")] = 32,
        lr: Annotated[float, typer.Option("--lr", metavar="RATE", help="learning rate; divided by 10 when held-out top-1 "
                                          "stops improving")] = 0.01,
        optimizer: Annotated[str, typer.Option("--optimizer", metavar="NAME", help="sgd (the paper's: momentum 0.9, weight decay "
                                               "0.0005), adam or adamw")] = "sgd",
        patience: Annotated[int, typer.Option("--patience", metavar="N", help="epochs without held-out improvement before "
                                              "the rate drops")] = 1,
        holdout: Annotated[float, typer.Option("--holdout", metavar="FRACTION", help="fraction of the images held out")] = 0.2,
        crop: Annotated[int, typer.Option("--crop", metavar="PIXELS", help="random crops: images are prepared this many pixels "
                                          "larger and a random window is trained on (the centre one held out)")] = 0,
        flip: Annotated[bool, typer.Option("--flip", help="mirror each training image with probability 1/2")] = False,
        pca_jitter: Annotated[float, typer.Option("--pca-jitter", metavar="STD", help="the paper's PCA colour jitter: standard "
                                                  "deviation of its alphas (0.1 in the paper; 0: off)")] = 0.0,
        device: Annotated[Optional[str], typer.Option("--device", metavar="DEVICE", help="torch: cpu, cuda, cuda:1; jax: a platform "
                                                      "(cpu, gpu)", show_default=False)] = None,
        threads: Annotated[Optional[int], typer.Option("--threads", metavar="N", help="threads per process (default: all cores "
                                                       "but one, shared among processes)", show_default=False)] = None,
        checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", metavar="DIR", help="folder for checkpoints (each "
                                                           "epoch, and at the end)", show_default=False)] = None,
        resume: Annotated[bool, typer.Option("--resume", help="continue the run saved in --checkpoint")] = False,
        seed: Annotated[int, typer.Option("--seed", metavar="N", help="seed of the weights, the split, the order and the "
                                          "augmentation")] = 0,
        plot: Annotated[Optional[Path], typer.Option("--plot", metavar="FILE", help="write the curves here as SVG",
                                                     show_default=False)] = None,
        precision: PrecisionOpt = None, set: SetOpt = None, json_output: JsonOpt = False,
        verbose: VerboseOpt = False) -> None:
    """Train a spec on real images: top-1 and top-5 on a held-out split after every epoch. With --precision
    bfloat16 (float16) the model computes in that type and the optimizer steps float32 master weights."""
    from alexnet_spec.precision import with_precision
    from alexnet_spec.training import Augmentation, TrainConfig, load_data, train
    from alexnet_spec.training.plot import curves_svg

    _check_numbers(epochs=epochs, batch=batch, steps=steps, lr=lr, crop=crop, threads=threads, patience=patience,
                   pca_jitter=pca_jitter)
    net = with_precision(load_network(spec, set), precision)
    shape = (net.input_shape[0], net.input_shape[1] + crop, net.input_shape[2] + crop)
    dataset = load_data(data, shape)
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    config = TrainConfig(backend=backend, epochs=epochs, steps=steps, batch=batch, lr=lr, optimizer=optimizer,
                         patience=patience, seed=seed, holdout=holdout,
                         augmentation=Augmentation(crop=crop, flip=flip, pca_jitter=pca_jitter), device=device,
                         threads=threads or default_threads(processes), checkpoint=checkpoint, resume=resume)
    main = int(os.environ.get("RANK", "0")) == 0
    with _progress(enabled=main and not json_output) as (on_step, console):
        result = train(net, dataset, config, on_step=on_step,
                       on_epoch=(lambda entry: console.print(epoch_line(entry), soft_wrap=True))
                       if main and not json_output else None)
    if not main:
        return
    if plot is not None:
        emit(curves_svg(result.history, f"{net.name} on {dataset.source}, {backend}"), plot)
    if json_output:
        print(json.dumps({"spec": str(spec), "backend": backend, "data": dataset.source, "steps": result.steps,
                          "seconds": round(result.seconds, 3), "epochs": result.history}, indent=2))
    else:
        print(f"{result.steps - result.first_step} steps in {result.seconds:.1f} s: "
              f"{(result.steps - result.first_step) * batch / max(result.seconds, 1e-9):,.0f} images/s")


def epoch_line(entry: dict) -> str:
    """An epoch's metrics; the speed is left to the last line (and --json), so that these lines depend only on the
    seed and the arithmetic."""
    return (f"epoch {entry['epoch']:>2}  loss {entry['train_loss']:.4f}  top-1 {entry['train_top1']:6.2%}  |  "
            f"held-out loss {entry['held_out_loss']:.4f}  top-1 {entry['held_out_top1']:6.2%}  "
            f"top-5 {entry['held_out_top5']:6.2%}  |  lr {entry['lr']:g}")


class _progress:
    """A rich progress bar (step, loss, accuracy, images/s) while the loop runs, drawn only on a terminal; epoch
    lines print above it, to stdout. Off for --json."""

    def __init__(self, enabled: bool):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console(highlight=False)
        self.bar = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]:.4f}  top-1 {task.fields[accuracy]:.2%}  "
                                       "{task.fields[rate]:,.0f} img/s"), TimeRemainingColumn(),
                            console=self.console, transient=True,
                            disable=not (enabled and self.console.is_terminal))
        self.task = None

    def __enter__(self):
        return self.update, self.console

    def update(self, progress) -> None:
        if self.task is None:  # started at the first step, so that an error before it prints nothing else
            self.bar.start()
            self.task = self.bar.add_task("train", total=progress.total_steps, epoch=1, loss=0.0, accuracy=0.0,
                                          rate=0.0)
        self.bar.update(self.task, completed=progress.step, epoch=f"{progress.epoch}/{progress.epochs}",
                        loss=progress.loss, accuracy=progress.accuracy, rate=progress.images_per_second)

    def __exit__(self, *exc) -> None:
        if self.task is not None:
            self.bar.stop()


def _check_numbers(**values) -> None:
    """Counts must be positive and rates positive; the two augmentations' sizes may be 0."""
    problems = []
    for name, value in values.items():
        if value is None:
            continue
        zero_allowed = name in ("crop", "patience", "pca_jitter")
        if value < 0 or (value == 0 and not zero_allowed):
            option = "--" + name.replace("_", "-")
            problems.append(Diagnostic(f"{option} {value} is not {'non-negative' if zero_allowed else 'positive'}",
                                       file=option, expected="0 or more" if zero_allowed else "more than 0"))
    if problems:
        raise SpecError(problems)
