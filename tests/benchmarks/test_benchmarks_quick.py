"""The benchmark code runs once on tiny sizes so it cannot rot; no timing is asserted (speed lives in the record)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="the benchmarks compare torch builds")
pytest.importorskip("jax", reason="the benchmarks compare jax builds")


def test_quick_run_produces_every_section(capsys):
    # In-process: torch and jax are already imported by the suite, so only the benchmark code itself runs.
    from benchmarks.run import main

    assert main(["--quick"]) == 0
    output = capsys.readouterr().out
    for section in ("## LRN (torch)", "## Forward (torch)", "## Training step (torch)", "## Forward (jax)", "## CLI",
                    "## Scaling", "## Training to 95% (LeNet-5, digits)"):
        assert section in output
    assert "fitted exponent" in output and "GFLOP/s" in output


def test_fitted_exponent_recovers_known_powers():
    from benchmarks.scaling import fit_exponent

    sizes = [10, 100, 1000]
    assert abs(fit_exponent(sizes, [2e-3 * s for s in sizes]) - 1) < 1e-9
    assert abs(fit_exponent(sizes, [1e-6 * s * s for s in sizes]) - 2) < 1e-9
