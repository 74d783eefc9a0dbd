"""CLI wall time: validate, summary and compile-to-source against `python -c pass`, the interpreter's floor."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.harness import interleaved
from benchmarks.record import Row

TARGET_SECONDS = 0.3
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "alexspec validate": [sys.executable, "-m", "alexnet_spec", "validate", "specs/alexnet.yaml"],
    "alexspec summary": [sys.executable, "-m", "alexnet_spec", "summary", "specs/alexnet.yaml"],
    "alexspec compile --backend torch": [sys.executable, "-m", "alexnet_spec", "compile", "specs/alexnet.yaml",
                                         "--backend", "torch"],
}


def _runner(command: list[str]):
    def run():
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return run


def run(quick: bool = False) -> list[Row]:
    timings = interleaved({name: _runner(command) for name, command in COMMANDS.items()},
                          repetitions=2 if quick else 9, warmup=0 if quick else 1)
    floor = timings["python -c pass"]
    rows = [Row("CLI", "python -c pass (floor)", floor, None, None)]
    for name, timing in timings.items():
        if name != "python -c pass":
            rows.append(Row("CLI", name, timing, target=f"< {TARGET_SECONDS} s", met=timing.median < TARGET_SECONDS,
                            note=f"{timing.median - floor.median:.3f} s above the floor"))
    return rows
