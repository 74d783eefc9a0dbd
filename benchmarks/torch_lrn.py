"""LRN speed: the generated LocalResponseNorm against torch.nn.LocalResponseNorm at AlexNet's norm1 and norm2 shapes.

    .venv/bin/python -m benchmarks.torch_lrn      (2 threads; part of `make bench`)

float32, eager, CPU, in both memory formats: NCHW and channels_last, the one the generated model runs (it converts
its input to channels_last and every layer before an LRN keeps it). Medians of interleaved repetitions after a
warm-up. "grouped" is the paper's two towers (groups=2): the generated module normalises within each group; the torch
baseline is what users write today, one nn.LocalResponseNorm per tower on torch.chunk and torch.cat. The bound is one
read of x and one write of y, the time of torch.add(x, 1, out=y) on the same tensor (twice that for
forward+backward: x in, y out; dy in, dx out).

Where the in-place forward's time goes, measured in the same run: the element-wise passes it makes over each block
(aten operations counted, views excluded) and their time on blocks that stay in cache, scaled to the whole tensor;
and what the same number of passes would take were each as fast as a plain torch.add in cache. Eager operations
run one after another, so x's own read and write (the bound) cannot overlap those passes once x outgrows the
cache: the in-cache time plus the bound is then the floor of this kernel.
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from alexnet_spec.backends.torch import generated_module
from alexnet_spec.source.loading import parse_network
from benchmarks.harness import interleaved, ratio
from benchmarks.record import Row

SHAPES = ((32, 96, 55, 55), (32, 256, 27, 27))  # AlexNet's norm1 and norm2 inputs at batch 32
LAYOUTS = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}
SIZE, ALPHA, BETA, K = 5, 1e-4, 0.75, 2.0  # the paper's values; torch divides alpha by n, so it gets ALPHA * SIZE


def generated_lrn():
    """The module the torch backend generates for a one-layer LRN spec, built: LocalResponseNorm and its helpers."""
    net = parse_network("name: OnlyLRN\ninput: {channels: 2, height: 1, width: 1}\n"
                        "layers:\n  - {type: lrn, size: 1, alpha: 1.0, beta: 0.75, k: 1, convention: paper}\n",
                        "<benchmark>")
    return generated_module(net)


def torch_baseline(groups: int):
    norm = torch.nn.LocalResponseNorm(SIZE, alpha=ALPHA * SIZE, beta=BETA, k=K)
    if groups == 1:
        return norm
    return lambda x: torch.cat([norm(part) for part in x.chunk(groups, dim=1)], dim=1)


def run(quick: bool = False) -> list[Row]:
    """Generated LRN against torch.nn.LocalResponseNorm (target 5x) and the memory-bandwidth bound, float32 eager."""
    torch.set_num_threads(2)
    module = generated_lrn()
    shapes = ((2, 16, 9, 9), (2, 32, 5, 5)) if quick else SHAPES
    repetitions = 2 if quick else 7
    rows = []
    for shape in shapes:
        for groups in (1, 2):
            for layout in LAYOUTS:
                rows += measure(shape, groups, layout, repetitions, module)
    rows.append(operations_row(module._ChannelBlocks.BLOCK_BYTES, repetitions))
    rows.append(block_sizes_row(module, shapes[0], repetitions))
    return rows


def block_sizes_row(module, shape, repetitions: int) -> Row:
    """The in-place forward at half, the same and twice the generated block size, on norm1's channels_last input
    with two groups (the generated AlexNet's first LRN), side by side."""
    blocks, chosen = module._ChannelBlocks, module._ChannelBlocks.BLOCK_BYTES
    x = (torch.randn(shape).abs() * 3).contiguous(memory_format=torch.channels_last)
    norm, work = module.LocalResponseNorm(SIZE, scale=ALPHA, beta=BETA, k=K, groups=2, inplace=True), x.clone()

    def at(block_bytes):
        def call():
            blocks.BLOCK_BYTES = block_bytes
            try:
                norm(work.copy_(x))
            finally:
                blocks.BLOCK_BYTES = chosen
        return call

    sizes = {f"{block_bytes / 2**20:g} MiB": block_bytes for block_bytes in (chosen // 2, chosen, chosen * 2)}
    with torch.no_grad():
        timings = interleaved({name: at(block_bytes) for name, block_bytes in sizes.items()}, repetitions=repetitions)
    return Row("LRN (torch)", f"LRN {'×'.join(map(str, shape))} channels_last, groups 2, forward in place (after a "
                              "copy of x) by block size", timings[f"{chosen / 2**20:g} MiB"], target=None, met=None,
               value=", ".join(f"{name} {timing.median * 1e3:.3f} ms" for name, timing in timings.items()),
               note=f"the generated kernel's blocks are {chosen / 2**20:g} MiB")


def operations_row(block_bytes: int, repetitions: int) -> Row:
    """One pass of each candidate operation for d ** -0.75 over a block that stays in cache, with torch.add for
    scale: which of them the kernel can afford."""
    d = torch.rand(block_bytes // 4) + 2.0  # k + scale * sum of squares, k = 2
    out = torch.empty_like(d)
    candidates = {"pow(d, -0.5)": lambda: torch.pow(d, -0.5, out=out), "rsqrt": lambda: torch.rsqrt(d, out=out),
                  "sqrt": lambda: torch.sqrt(d, out=out), "pow(d, -0.75)": lambda: torch.pow(d, -0.75, out=out),
                  "torch.add": lambda: torch.add(d, d, out=out)}
    timings = interleaved(candidates, repetitions=repetitions, inner=20)
    per_element = {name: timing.median / d.numel() * 1e9 for name, timing in timings.items()}
    return Row("LRN (torch)", "LRN: one pass over a block in cache, by operation", timings["pow(d, -0.5)"],
               target=None, met=None, value=", ".join(f"{name} {ns:.3f} ns" for name, ns in per_element.items()),
               note=f"an element, {block_bytes >> 20} MiB blocks, float32, 2 threads")


def measure(shape, groups: int, layout: str, repetitions: int, module) -> list[Row]:
    torch.manual_seed(0)
    x = (torch.randn(shape).abs() * 3).contiguous(memory_format=LAYOUTS[layout])  # after a ReLU, as in AlexNet
    grad = torch.randn(shape).contiguous(memory_format=LAYOUTS[layout])
    x_grad = x.clone().requires_grad_(True)
    out = torch.empty_like(x)
    lrn_class = module.LocalResponseNorm
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
    label = f"{'×'.join(map(str, shape))} {layout}, groups {groups}"
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
    bound_time = forward["bound"].median
    to_bound = forward["in place"].median / bound_time
    rows.append(Row("LRN (torch)", f"LRN {label}, forward in place (as the generated model runs it) vs the "
                                   "bandwidth bound", forward["in place"], target="within 3×", met=to_bound <= 3,
                    value=f"{to_bound:.2f}× the bound", note=f"{forward['in place'].describe()}"))
    rows.append(in_cache_row(module, x, groups, label, bound_time, repetitions))
    return rows


def in_cache_row(module, x, groups: int, label: str, bound_time: float, repetitions: int) -> Row:
    """The in-place forward's passes with x in cache, scaled to x: its time on 4 blocks' worth of items less its time
    on one (which takes off the per-call set-up) over 3 blocks, again and again so that they stay in L3; its passes
    over each block, counted; a plain torch.add over one block in cache, for scale. Each call first copies the items
    back in (a normalised input shrinks, and after a few dozen calls would be subnormal and slow), and the time of
    that copy alone is taken off."""
    layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    items = max(1, module._ChannelBlocks.BLOCK_BYTES // (x[0].numel() * x.element_size()))
    one, two, four = (x[:1].expand(count * items, *x.shape[1:]).contiguous(memory_format=layout) for count in (1, 2, 4))
    norm = module.LocalResponseNorm(SIZE, scale=ALPHA, beta=BETA, k=K, groups=groups, inplace=True)
    work_one, work_four = torch.empty_like(one), torch.empty_like(four)
    with torch.no_grad():
        passes = (_operations(norm, two) - _operations(norm, one)) // max(1, _blocks(module, two, groups) -
                                                                         _blocks(module, one, groups))
        timings = interleaved({"one": lambda: norm(work_one.copy_(one)), "copy one": lambda: work_one.copy_(one),
                               "four": lambda: norm(work_four.copy_(four)), "copy four": lambda: work_four.copy_(four),
                               "add": lambda: torch.add(one, 1, out=work_one)}, repetitions=repetitions, inner=10)
    seconds = {name: timing.median for name, timing in timings.items()}
    per_element = ((seconds["four"] - seconds["copy four"]) - (seconds["one"] - seconds["copy one"])) / (
        four.numel() - one.numel())
    add = seconds["add"] / one.numel()
    in_cache, floor = (seconds_an_element * x.numel() / bound_time for seconds_an_element in (per_element, passes * add))
    return Row("LRN (torch)", f"LRN {label}, forward in place: its passes in cache vs the bandwidth bound",
               timings["four"], target=None, met=None,
               value=f"{in_cache:.2f}× the bound in cache, {in_cache + 1:.2f}× with x's own traffic",
               note=f"{passes} passes over each block, {per_element / passes * 1e9:.3f} ns an element a pass; were "
                    f"each as fast as torch.add in cache ({add * 1e9:.3f} ns), {floor:.2f}× and {floor + 1:.2f}×")


class _Counting(TorchDispatchMode):
    """Counts the aten operations that compute (views excluded)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += not func.is_view
        return func(*args, **(kwargs or {}))


def _blocks(module, x, groups: int) -> int:
    blocks = module._ChannelBlocks(x, SIZE, groups)
    return -(-blocks.rows // blocks.length)


def _operations(norm, x) -> int:
    x = x.clone()
    with _Counting() as counting:
        norm(x)
    return counting.count


def main() -> None:
    from benchmarks import record

    print(record.markdown(run(), "python -m benchmarks.torch_lrn", record.machine(), None))


if __name__ == "__main__":
    main()
