"""Validate and compile time of generated specs with 10 to 10,000 layers; the fitted exponent should be ~1."""

from __future__ import annotations

import math

from alexnet_spec import backends
from alexnet_spec.source.loading import parse_network
from benchmarks.harness import interleaved
from benchmarks.record import Row

SIZES = (10, 100, 1000, 10000)
VALIDATE_TARGET_LAYERS, VALIDATE_TARGET_SECONDS = 10000, 1.0


def chain_spec(layers: int) -> str:
    """conv/relu pairs with an LRN and a pool now and then, on a small image so shapes stay valid."""
    lines = ["name: Chain", "input: {channels: 8, height: 16, width: 16}", "layers:"]
    cycle = ["  - {type: conv, out_channels: 8, kernel: 3, padding: 1}", "  - {type: relu}",
             "  - {type: lrn, size: 3, alpha: 1.0e-4, beta: 0.75, k: 2, convention: paper}",
             "  - {type: maxpool, kernel: 3, stride: 1, padding: 1}"]
    lines += [cycle[index % len(cycle)] for index in range(layers)]
    return "\n".join(lines) + "\n"


def fit_exponent(sizes, seconds) -> float:
    """Least-squares slope of log(time) against log(size)."""
    xs, ys = [math.log(size) for size in sizes], [math.log(value) for value in seconds]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)


def run(quick: bool = False) -> list[Row]:
    sizes = SIZES[:2] if quick else SIZES
    torch_backend = backends.get("torch")
    rows, validate_medians, compile_medians = [], [], []
    for size in sizes:
        text = chain_spec(size)
        timings = interleaved({"validate": lambda: parse_network(text, "chain.yaml"),
                               "compile": lambda: torch_backend.render(parse_network(text, "chain.yaml"))},
                              repetitions=2 if quick else (3 if size >= 10000 else 7), warmup=1)
        validate_medians.append(timings["validate"].median)
        compile_medians.append(timings["compile"].median)
        judged = size == VALIDATE_TARGET_LAYERS and not quick
        rows.append(Row("Scaling", f"validate, {size:,} layers", timings["validate"],
                        f"< {VALIDATE_TARGET_SECONDS:g} s" if judged else None,
                        timings["validate"].median < VALIDATE_TARGET_SECONDS if judged else None,
                        note="in process: read, validate, resolve (the CLI adds its start-up)" if judged else ""))
        rows.append(Row("Scaling", f"compile (torch), {size:,} layers", timings["compile"], None, None))
    for label, medians in (("validate", validate_medians), ("compile", compile_medians)):
        exponent = fit_exponent(sizes, medians)
        rows.append(Row("Scaling", f"{label}: fitted exponent of time vs layers", None, target="<= 1.1 (linear)",
                        met=exponent <= 1.1, value=f"{exponent:.2f}"))
    return rows
