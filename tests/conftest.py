"""Shared fixtures and helpers for every test folder."""

from __future__ import annotations

import functools
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
# The paper's own model runs at full size; its variants, which only add or remove layers and groups, run narrowed.
_NARROW_ALEXNET = ("width_multiple=0.25", "fc6.out_features=64", "fc7.out_features=64")
RUN_OVERRIDES = {
    **{name: _NARROW_ALEXNET for name in ("alexnet_10class.yaml", "alexnet_1gpu.yaml", "alexnet_keras_bn.yaml",
                                          "alexnet_keras_nolrn.yaml", "alexnet_nolrn.yaml", "alexnet_torchvision.yaml",
                                          "caffenet.yaml")},
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

# A small graph exercising what graph networks add: a block with parameters, `repeat` with `first`, `when`, concat,
# add, a skip across blocks, the new activations, global pools and two outputs.
GRAPH_SPEC = """
    name: TinyGraph
    input: {channels: 3, height: 9, width: 8}
    allow_truncation: true
    blocks:
      unit:
        params: {width: null, stride: 1, project: false}
        layers:
          - {type: conv, name: conv1, out_channels: $width, kernel: 3, stride: $stride, padding: 1, bias: false}
          - {type: batchnorm, name: bn1}
          - {type: gelu, name: act1}
          - {type: conv, name: conv2, inputs: [act1], out_channels: $width, kernel: 1}
          - {type: conv, name: conv3, inputs: [act1], out_channels: $width, kernel: 3, padding: 1}
          - {type: elu, name: act3}
          - {type: concat, name: cat, inputs: [conv2, act3]}
          - {type: conv, name: mix, out_channels: $width, kernel: 1}
          - {type: conv, name: proj, inputs: [input], out_channels: $width, kernel: 1, stride: $stride,
             when: $project}
          - {type: add, name: add, inputs: [mix, proj]}
          - {type: prelu, name: out, per_channel: true}
    layers:
      - {type: conv, name: stem, out_channels: 4, kernel: 3, padding: 1}
      - {type: silu, name: stem_act}
      - {type: block, block: unit, name: stage1, repeat: 2, args: {width: 4}}
      - {type: block, block: unit, name: stage2, repeat: 2, args: {width: 6}, first: {stride: 2, project: true}}
      - {type: global_avgpool, name: pool}
      - {type: global_maxpool, name: aux_pool, inputs: [stage1]}
      - {type: concat, name: features, inputs: [pool, aux_pool]}
      - {type: leaky_relu, name: features_act, negative_slope: 0.1}
      - {type: dense, name: fc, out_features: 5}
      - {type: dense, name: aux, inputs: [aux_pool], out_features: 3}
    outputs: [fc, aux]
"""


@functools.lru_cache(maxsize=None)
def graph_support(backend_name: str) -> str | None:
    """None when backend `backend_name` renders GRAPH_SPEC, otherwise why not: the tests comparing a backend with
    the oracle on graph networks skip, saying so, until that backend generates graph networks."""
    from alexnet_spec import backends

    try:
        backend = backends.get(backend_name)
        if getattr(backend, "generates_source", True):
            backend.render(resolve_text(GRAPH_SPEC))
    except Exception as error:  # noqa: BLE001 - any failure means: not yet
        return f"the {backend_name} backend does not render graph networks yet ({type(error).__name__}: {error})"
    return None


# Hypothesis: the default profile keeps `make test` within its budget; HYPOTHESIS_PROFILE=thorough runs many more
# examples for scheduled runs. A failure prints the seed and a reproduction blob.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("default", max_examples=25, deadline=None, print_blob=True,
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
