"""LRN speed: the generated LocalResponseNorm against torch.nn.LocalResponseNorm at AlexNet's norm1 and norm2 shapes.

    .venv/bin/python -m benchmarks.torch_lrn      (2 threads; part of `make bench`)

float32, eager, CPU, NCHW. Medians of interleaved repetitions after a warm-up. "grouped" is the paper's two towers
(groups=2): the generated module normalises within each group; the torch baseline is what users write today, one
nn.LocalResponseNorm per tower on torch.chunk and torch.cat. The bound is one read of x and one write of y, the time
of torch.add(x, 1, out=y) on the same tensor (twice that for forward+backward: x in, y out; dy in, dx out).
"""

from __future__ import annotations

import torch

from alexnet_spec.backends.torch import generated_module
from alexnet_spec.source.loading import parse_network
from benchmarks.harness import interleaved, ratio
from benchmarks.record import Row

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


def run(quick: bool = False) -> list[Row]:
    """Generated LRN against torch.nn.LocalResponseNorm (target 5x) and the memory-bandwidth bound, float32 eager."""
    torch.set_num_threads(2)
    lrn_class = generated_lrn_class()
    shapes = ((2, 16, 9, 9), (2, 32, 5, 5)) if quick else SHAPES
    repetitions = 2 if quick else 7
    rows = []
    for shape in shapes:
        for groups in (1, 2):
            rows += measure(shape, groups, repetitions, lrn_class)
    return rows


def measure(shape, groups: int, repetitions: int, lrn_class) -> list[Row]:
    torch.manual_seed(0)
    x = torch.randn(shape).abs() * 3  # after a ReLU, as in AlexNet
    grad = torch.randn(shape)
    x_grad = x.clone().requires_grad_(True)
    out = torch.empty_like(x)
    ours, baseline = lrn_class(SIZE, scale=ALPHA, beta=BETA, k=K, groups=groups), torch_baseline(groups)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), baseline(x), rtol=1e-5, atol=1e-6)  # the same function

    def backward(module):
        def step():
            module(x_grad).backward(grad)
            x_grad.grad = None
        return step

    def bound():
        torch.add(x, 1, out=out)

    # In place, as the generated model runs it in eval (after its ReLU): no fresh output, so no page faults on it.
    # Each call normalises the previous call's output; the values shrink (about 0.6× a call) but stay far from
    # float32's subnormals over these few calls, so every call does the same work.
    in_place, work = lrn_class(SIZE, scale=ALPHA, beta=BETA, k=K, groups=groups, inplace=True), x.clone()
    with torch.no_grad():
        forward = interleaved({"torch": lambda: baseline(x), "ours": lambda: ours(x), "bound": bound,
                               "in place": lambda: in_place(work)}, repetitions=repetitions)
    both = interleaved({"torch": backward(baseline), "ours": backward(ours), "bound": bound}, repetitions=repetitions)
    label = f"{'×'.join(map(str, shape))}, groups {groups}"
    rows = []
    for mode, timings, passes in (("forward", forward, 1), ("forward+backward", both, 2)):
        speedup = ratio(timings["torch"], timings["ours"])
        to_bound = timings["ours"].median / (passes * timings["bound"].median)
        rows.append(Row("LRN (torch)", f"LRN {label}, {mode} vs torch.nn.LocalResponseNorm", timings["ours"],
                        target=">= 5×", met=speedup >= 5, value=f"{speedup:.2f}× ({timings['ours'].describe()})",
                        ratio=speedup, target_ratio=5.0, note=f"torch {timings['torch'].describe()}"))
        rows.append(Row("LRN (torch)", f"LRN {label}, {mode} vs the bandwidth bound", timings["ours"],
                        target="within 3×", met=to_bound <= 3, value=f"{to_bound:.2f}× the bound",
                        note=f"bound: torch.add(x, 1, out=y){' × 2' if passes == 2 else ''}, "
                             f"{timings['bound'].describe()}"))
    to_bound = forward["in place"].median / forward["bound"].median
    rows.append(Row("LRN (torch)", f"LRN {label}, forward in place (as the generated model runs it) vs the "
                                   "bandwidth bound", forward["in place"], target="within 3×", met=to_bound <= 3,
                    value=f"{to_bound:.2f}× the bound", note=f"{forward['in place'].describe()}"))
    return rows


def main() -> None:
    from benchmarks import record

    print(record.markdown(run(), "python -m benchmarks.torch_lrn", record.machine(), None))


if __name__ == "__main__":
    main()
