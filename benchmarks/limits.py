"""This machine's practical limits, measured in the same run as everything they judge:

- compute, per dtype: a large matmul (torch.mm) and a large convolution (torch.nn.functional.conv2d, which runs
  oneDNN's kernels on the CPU, channels-last as the generated modules use it); the better of the two, or any row
  that beats both, is the limit the record's shares are of (record.practical_limits);
- memory: the bandwidth bound of benchmarks/torch_lrn.py is torch.add(x, 1, out=y) on each tensor measured there.

    .venv/bin/python -m benchmarks.limits      (2 threads; part of `make bench`)
"""

from __future__ import annotations

import torch

from benchmarks.harness import interleaved
from benchmarks.record import Row

DTYPES = (torch.float32, torch.bfloat16)
MATMUL = 4096  # square: 2 * 4096³ = 137 GFLOP
CONV = {"batch": 32, "channels": 384, "size": 27, "kernel": 3}  # 384 -> 384 channels on 27×27, 3×3, padding 1: 62 GFLOP
QUICK_MATMUL, QUICK_CONV = 128, {"batch": 2, "channels": 16, "size": 9, "kernel": 3}


def conv_flops(batch: int, channels: int, size: int, kernel: int) -> float:
    """2 * multiply-accumulates of a same-size convolution with as many output channels as input channels."""
    return 2.0 * batch * channels * channels * kernel * kernel * size * size


def run(quick: bool = False) -> list[Row]:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    size, conv = (QUICK_MATMUL, QUICK_CONV) if quick else (MATMUL, CONV)
    rows = []
    for dtype in DTYPES:
        rows += probe(dtype, size, conv, repetitions=1 if quick else 5, warmup=1 if quick else 2)
    return rows


def probe(dtype: torch.dtype, size: int, conv: dict[str, int], repetitions: int, warmup: int) -> list[Row]:
    """The matmul and the convolution in `dtype`, interleaved; rows marked as probes, with their FLOP counts."""
    name = str(dtype).removeprefix("torch.")
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    x = torch.randn(conv["batch"], conv["channels"], conv["size"], conv["size"], dtype=dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(conv["channels"], conv["channels"], conv["kernel"], conv["kernel"], dtype=dtype)
    weight = weight.contiguous(memory_format=torch.channels_last)

    def convolve():
        with torch.no_grad():
            torch.nn.functional.conv2d(x, weight, padding=conv["kernel"] // 2)

    timings = interleaved({"mm": lambda: torch.mm(a, b), "conv": convolve}, repetitions=repetitions, warmup=warmup)
    shape = f"{conv['batch']}×{conv['channels']}×{conv['size']}×{conv['size']}"
    return [Row("Limits", f"torch.mm {size}³ {name}", timings["mm"], None, None, flops=2.0 * size ** 3, dtype=name,
                probe=True),
            Row("Limits", f"conv2d {shape} -> {conv['channels']} channels, {conv['kernel']}×{conv['kernel']}, "
                          f"channels-last {name}", timings["conv"], None, None, flops=conv_flops(**conv), dtype=name,
                probe=True)]


def main() -> None:
    from benchmarks import record

    rows = record.judge(run())
    print(record.markdown(rows, "python -m benchmarks.limits", record.machine(), None))


if __name__ == "__main__":
    main()
