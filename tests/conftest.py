"""Shared fixtures and helpers for every test folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS_DIR = ROOT / "specs"
SPEC_FILES = sorted(SPECS_DIR.glob("*.yaml"))


def spec_text(body: str) -> str:
    """A spec from an indented YAML literal (dedented), for inline test cases."""
    return textwrap.dedent(body).lstrip("\n")


def resolve_text(body: str, overrides=()):
    """The ResolvedNetwork of an inline YAML spec."""
    from alexnet_spec.source.loading import parse_network

    return parse_network(spec_text(body), "test.yaml", overrides)


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `alexspec ...` in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {}), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "alexnet_spec", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def tmp_spec(tmp_path):
    """Write an inline spec to a file and return its path."""

    def write(body: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(spec_text(body), encoding="utf-8")
        return path

    return write


TINY_SPEC = """
    name: Tiny
    input: {channels: 3, height: 12, width: 10}
    layers:
      - {type: conv, out_channels: 4, kernel: 3, padding: 1}
      - {type: relu}
      - {type: maxpool, kernel: 2, stride: 2}
      - {type: flatten}
      - {type: dense, out_features: 5}
"""


# Hypothesis: the default profile keeps `make test` within its budget; HYPOTHESIS_PROFILE=thorough runs many more
# examples for scheduled runs. A failure prints the seed and a reproduction blob.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("default", max_examples=40, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=2000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def lenet_digits():
    """LeNet-5's ResolvedNetwork and scikit-learn's digits at its input size, loaded once (training tests)."""
    pytest.importorskip("sklearn", reason="training on digits needs the [train] extra")
    import alexnet_spec
    from alexnet_spec.training import load_data

    net = alexnet_spec.resolve(SPECS_DIR / "lenet5.yaml")
    return net, load_data("digits", net.input_shape)
