"""Time to 95%: `alexspec train specs/lenet5.yaml --data digits` from the shell prompt (imports, data, compilation
and training) to the end of the epoch whose held-out top-1 reaches 95%, per backend; issue 21's target is 60 s on a
2-core machine. The command runs 3 epochs (95% comes at epoch 3 with the default seed), so its wall time is the
time to 95%. The quick run trains 2 steps in-process, so the code cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from benchmarks.harness import Timing
from benchmarks.record import Row

TARGET_SECONDS = 60.0
GOAL = 0.95
COMMAND = ["-m", "alexnet_spec", "train", "specs/lenet5.yaml", "--data", "digits", "--epochs", "3", "--lr", "0.05",
           "--json"]


def run(quick: bool = False) -> list[Row]:
    rows = []
    for backend in ("torch", "jax"):
        if quick:
            rows.append(_quick(backend))
            continue
        started = time.perf_counter()
        result = subprocess.run([sys.executable, *COMMAND, "--backend", backend], check=True, capture_output=True,
                                text=True)
        seconds = time.perf_counter() - started  # the whole command: an upper bound when 95% comes earlier
        epochs = json.loads(result.stdout)["epochs"]
        reached = next((entry["epoch"] for entry in epochs if entry["held_out_top1"] >= GOAL), None)
        note = (f"{epochs[-1]['held_out_top1']:.2%} held-out top-1 after {len(epochs)} epochs, 95% first at epoch "
                f"{reached}; the whole command" if reached else f"95% not reached in {len(epochs)} epochs")
        rows.append(Row("Training to 95% (LeNet-5, digits)", f"alexspec train --backend {backend}",
                        Timing(backend, (seconds,)), target=f"< {TARGET_SECONDS:.0f} s",
                        met=reached is not None and seconds < TARGET_SECONDS, note=note, value=f"{seconds:.1f} s"))
    return rows


def _quick(backend: str) -> Row:
    import alexnet_spec
    from alexnet_spec.training import TrainConfig, load_data, train

    net = alexnet_spec.resolve("specs/lenet5.yaml")
    started = time.perf_counter()
    result = train(net, load_data("digits", net.input_shape), TrainConfig(backend=backend, steps=2, threads=1))
    return Row("Training to 95% (LeNet-5, digits)", f"alexspec train --backend {backend} (2 steps)",
               Timing(backend, (time.perf_counter() - started,)), target=None, met=None,
               note=f"{result.steps} steps")
