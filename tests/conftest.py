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

# `--set` edits under which the tests that execute every shipped spec (each backend, the oracle, ONNX Runtime) run the
# large networks: narrowed and on small images, as at full size VGG-16 alone took about 400 s across those tests.
# Their full-size shapes and parameter and MAC counts are asserted in tests/core/test_specs.py, and
# tests/backends/torch/test_torch_references.py runs their full widths against hand-written models.
_NARROW = ("width_multiple=0.25", "input.height=64", "input.width=64")
RUN_OVERRIDES = {
    "googlenet.yaml": _NARROW,
    "googlenet_bvlc.yaml": _NARROW,
    "nin.yaml": _NARROW,
    "resnet18.yaml": _NARROW,
    "squeezenet1_0.yaml": _NARROW,
    "vgg16.yaml": ("width_multiple=0.25", "input.height=32", "input.width=32", "fc6.out_features=64",
                   "fc7.out_features=64"),
}


def spec_to_run(path: Path):
    """The ResolvedNetwork of a shipped spec as the tests that execute every spec run it (see RUN_OVERRIDES)."""
    from alexnet_spec.source.loading import load_network

    return load_network(path, RUN_OVERRIDES.get(path.name, ()))


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
