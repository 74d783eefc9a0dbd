"""CLI wall time: validate, summary and compile-to-source against `python -c pass`, the interpreter's floor, and
`alexspec check` of the paper model (three backends and the NumPy oracle, float64)."""

from __future__ import annotations

import resource
import subprocess
import sys

from benchmarks.harness import interleaved
from benchmarks.record import Row

TARGET_SECONDS = 0.3
CHECK_TARGET_SECONDS = 3.0
SPEC = "specs/alexnet.yaml"
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "alexspec validate": [sys.executable, "-m", "alexnet_spec", "validate", SPEC],
    "alexspec summary": [sys.executable, "-m", "alexnet_spec", "summary", SPEC],
    "alexspec compile --backend torch": [sys.executable, "-m", "alexnet_spec", "compile", SPEC, "--backend", "torch"],
}
CHECK = [sys.executable, "-m", "alexnet_spec", "check", SPEC]


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
    if not quick:  # seconds per call: three calls after one that fills the generated-module cache
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        check = interleaved({"check": _runner(CHECK)}, repetitions=3, warmup=1)["check"]
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        processor = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / 4  # warm-up included
        rows.append(Row("CLI", f"alexspec check {SPEC} (torch, jax, numpy; float64, batch 2)", check,
                        target=f"< {CHECK_TARGET_SECONDS:g} s", met=check.median < CHECK_TARGET_SECONDS,
                        note=f"{processor:.2f} s of CPU per call, on up to two cores (the backends run side by side); "
                        "cached between calls: only the generated sources (~/.cache/alexspec/generated)"))
    return rows
