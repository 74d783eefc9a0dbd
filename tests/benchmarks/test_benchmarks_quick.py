"""The benchmark code runs once on tiny sizes so it cannot rot; no timing is asserted (speed lives in the record)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytest.importorskip("torch", reason="the benchmarks compare torch builds")
pytest.importorskip("jax", reason="the benchmarks compare jax builds")


def test_quick_run_produces_every_section():
    result = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={"OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    for section in ("## LRN (torch)", "## Forward (torch)", "## Training step (torch)", "## Forward (jax)", "## CLI",
                    "## Scaling"):
        assert section in result.stdout
    assert "fitted exponent" in result.stdout and "GFLOP/s" in result.stdout


def test_fitted_exponent_recovers_known_powers():
    from benchmarks.scaling import fit_exponent

    sizes = [10, 100, 1000]
    assert abs(fit_exponent(sizes, [2e-3 * s for s in sizes]) - 1) < 1e-9
    assert abs(fit_exponent(sizes, [1e-6 * s * s for s in sizes]) - 2) < 1e-9
