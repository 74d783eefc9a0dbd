"""LRN speed: the generated LocalResponseNorm against torch.nn.LocalResponseNorm at AlexNet's norm1 and norm2 shapes.

    .venv/bin/python -m benchmarks.torch_lrn [--repeats 7] [--threads 2]

float32, eager, CPU. Medians of interleaved repetitions after a warm-up. "grouped" is the paper's two towers
(groups=2): the generated module normalises within each group; the torch baseline is what users write today, one
nn.LocalResponseNorm per tower on torch.chunk and torch.cat. The bound is one read of x and one write of y, the time
of torch.add(x, 1, out=y) on the same tensor (twice that for forward+backward: x in, y out; dy in, dx out).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from alexnet_spec.backends.torch import generated_module
from alexnet_spec.loading import parse_network

SHAPES = ((32, 96, 55, 55), (32, 256, 27, 27))  # AlexNet's norm1 and norm2 inputs at batch 32
SIZE, ALPHA, BETA, K = 5, 1e-4, 0.75, 2.0  # the paper's values; torch divides alpha by n, so it gets ALPHA * SIZE


def generated_lrn_class():
    """LocalResponseNorm as the torch backend generates it (one code path: a one-layer spec, built)."""
    net = parse_network("name: OnlyLRN\ninput: {channels: 2, height: 1, width: 1}\n"
                        "layers:\n  - {type: lrn, size: 1, alpha: 1.0, beta: 0.75, k: 1, convention: paper}\n",
                        "<benchmark>")
    return generated_module(net).LocalResponseNorm


def torch_baseline(groups: int):
    norm = torch.nn.LocalResponseNorm(SIZE, alpha=ALPHA * SIZE, beta=BETA, k=K)
    if groups == 1:
        return norm
    return lambda x: torch.cat([norm(part) for part in x.chunk(groups, dim=1)], dim=1)


def median_times(functions: dict, repeats: int) -> dict[str, float]:
    """Milliseconds, median over `repeats` rounds; each round runs every function once, in turn."""
    for function in functions.values():
        function()
        function()
    samples = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in samples.items()}


def measure(shape, groups: int, repeats: int, lrn_class) -> list[dict]:
    torch.manual_seed(0)
    x = torch.randn(shape).abs() * 3  # after a ReLU, as in AlexNet
    grad = torch.randn(shape)
    x_grad = x.clone().requires_grad_(True)
    out = torch.empty_like(x)
    ours, baseline = lrn_class(SIZE, scale=ALPHA, beta=BETA, k=K, groups=groups), torch_baseline(groups)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), baseline(x), rtol=1e-5, atol=1e-6)  # the same function

    def backward(module):
        def run():
            module(x_grad).backward(grad)
            x_grad.grad = None
        return run

    with torch.no_grad():
        forward = median_times({"torch": lambda: baseline(x), "ours": lambda: ours(x),
                                "bound": lambda: torch.add(x, 1, out=out)}, repeats)
    both = median_times({"torch": backward(baseline), "ours": backward(ours),
                         "bound": lambda: torch.add(x, 1, out=out)}, repeats)
    both["bound"] *= 2
    return [dict(shape=shape, groups=groups, mode=mode, **times) for mode, times in
            (("forward", forward), ("forward+backward", both))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lrn_class = generated_lrn_class()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, medians of {args.repeats}")
    header = f"{'input':>18} {'groups':>6} {'pass':>16} {'torch ms':>9} {'ours ms':>8} {'speed-up':>8} " \
             f"{'bound ms':>8} {'ours/bound':>10}"
    print(header)
    print("-" * len(header))
    for shape in SHAPES:
        for groups in (1, 2):
            for row in measure(shape, groups, args.repeats, lrn_class):
                print(f"{'x'.join(map(str, row['shape'])):>18} {row['groups']:>6} {row['mode']:>16} "
                      f"{row['torch']:>9.2f} {row['ours']:>8.2f} {row['torch'] / row['ours']:>7.1f}x "
                      f"{row['bound']:>8.2f} {row['ours'] / row['bound']:>9.1f}x")


if __name__ == "__main__":
    main()
