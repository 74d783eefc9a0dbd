"""The benchmark code runs once on tiny sizes so it cannot rot; no timing is asserted (speed lives in the record)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("torch", reason="the benchmarks compare torch builds")
pytest.importorskip("jax", reason="the benchmarks compare jax builds")


# The sections each benchmark module writes. One test per module, so that the suite's workers share them out.
SECTIONS = {
    "benchmarks.limits": ("## Limits",),
    "benchmarks.torch_lrn": ("## LRN (torch)",),
    "benchmarks.torch_model": ("## Forward (torch)", "## Training step (torch)"),
    "benchmarks.memory": ("## Peak memory (torch)",),
    "benchmarks.jax_model": ("## Forward (jax)",),
    "benchmarks.graphs": ("## ResNet-18 (torch)", "## ResNet-18 (jax)", "## Scaling (graphs)"),
    "benchmarks.cli": ("## CLI",),
    "benchmarks.scaling": ("## Scaling",),
    "benchmarks.training": ("## Training to 95% (LeNet-5, digits)",),
    "benchmarks.precision": ("## Forward, bfloat16 (torch)", "## Training step, bfloat16 (torch)",
                             "## Forward, bfloat16 (jax)"),
    "benchmarks.cuda": ("## Forward (CUDA)", "## Training step (CUDA)"),  # on the CPU: the quick run needs no GPU
}


def test_every_benchmark_module_is_run_by_make_bench_and_here():
    from benchmarks.run import SECTIONS as RUN_SECTIONS

    assert set(RUN_SECTIONS) == set(SECTIONS)


@pytest.mark.parametrize("module", SECTIONS)
def test_quick_run_produces_its_sections_and_judges_nothing(module, capsys):
    # In-process: torch and jax are already imported by the suite, so only the benchmark code itself runs.
    from benchmarks.run import main

    assert main(["--quick", "--only", module]) == 0
    output = capsys.readouterr().out
    for section in SECTIONS[module]:
        assert section in output
    if module == "benchmarks.limits":
        assert "torch.mm" in output and "conv2d" in output and "bfloat16" in output  # the limit probes ran
    # Tiny sizes say nothing about targets: no judgement, no share, no ratio (shapes such as 2×16×9×9 are fine).
    rows = "\n".join(line for line in output.splitlines() if not line.startswith("#"))  # titles may say "95%"
    for judgement in ("| met |", "yes", "**no**", "%", "GFLOP/s"):
        assert judgement not in rows
    assert not re.search(r"\d×(?!\d)", rows)


def test_fitted_exponent_recovers_known_powers():
    from benchmarks.scaling import fit_exponent

    sizes = [10, 100, 1000]
    assert abs(fit_exponent(sizes, [2e-3 * s for s in sizes]) - 1) < 1e-9
    assert abs(fit_exponent(sizes, [1e-6 * s * s for s in sizes]) - 2) < 1e-9


def test_without_a_gpu_the_cuda_section_says_it_was_not_run(monkeypatch):
    import torch

    from benchmarks import cuda

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    (row,) = cuda.run()
    assert row.section == "Forward (CUDA)" and "not run" in row.name and row.met is None
