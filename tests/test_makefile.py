"""The README's first command, `make demo`, works in the checkout as it is."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import ROOT


def test_make_demo_prints_the_summary_and_writes_the_module():
    # Only where `make test` set the virtualenv up (make -q: exit 0 when the target is up to date); the demo must
    # not install anything from inside the test suite.
    if subprocess.run(["make", "-q", ".venv/.installed-stamp"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("the virtualenv of `make` is not set up here")
    output = ROOT / "build" / "alexnet_torch.py"
    output.unlink(missing_ok=True)
    if output.parent.is_dir() and not any(output.parent.iterdir()):
        output.parent.rmdir()  # as on a fresh clone, where build/ does not exist yet
    result = subprocess.run(["make", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "60,965,224" in result.stdout and "class AlexNet(nn.Module)" in output.read_text(encoding="utf-8")
