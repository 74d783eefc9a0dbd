"""`alexspec check` on graph networks: layers matched by qualified name, whatever order a backend reports them in;
the first divergence in the network's order; a layer a backend does not report is a failure, not a crash. The
cross-backend comparisons run for every backend that renders graph networks (see conftest.graph_support)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alexnet_spec import backends
from alexnet_spec.tools.check import check_table, run_check
from tests.conftest import GRAPH_SPEC, graph_support, resolve_text, run_cli


class Distorted:
    """The oracle, reporting its layers in reverse order, some of them changed and some left out: a stand-in for a
    backend with a bug in one branch."""

    def __init__(self, changed: dict[str, float] | None = None, dropped: tuple[str, ...] = ()):
        self.changed, self.dropped = changed or {}, dropped

    def evaluate(self, net, weights, x, dtype="float64"):
        trace = backends.get("numpy").evaluate(net, weights, x, dtype=dtype)
        return [(name, value + self.changed.get(name, 0.0)) for name, value in reversed(trace)
                if name not in self.dropped]


@pytest.fixture
def with_backend(monkeypatch):
    def install(backend):
        real = backends.get
        monkeypatch.setattr(backends, "get", lambda name: backend if name == "distorted" else real(name))
    return install


@pytest.fixture(scope="module")
def net():
    return resolve_text(GRAPH_SPEC)


def test_layers_are_matched_by_qualified_name_and_the_first_divergence_follows_the_network(net, with_backend):
    with_backend(Distorted())
    assert run_check(net, ("numpy", "distorted")).passed  # reversed, yet every layer matches its own
    # Two branches changed; the reverse report meets stage2.1.conv3 first, the network meets stage1.0.conv2 first.
    with_backend(Distorted({"stage1.0.conv2": 1e-6, "stage2.1.conv3": 1e-3}))
    report = run_check(net, ("numpy", "distorted"))
    assert not report.passed
    assert report.first_divergence.name == "stage1.0.conv2"
    failing = [row.name for row in report.rows if not row.within]
    assert failing == ["stage1.0.conv2", "stage2.1.conv3"]  # only those: the rows are not shifted onto others
    row = next(row for row in report.rows if row.name == "stage1.0.conv2")
    assert row.comparisons[0].max_abs == pytest.approx(1e-6, rel=1e-6)


def test_a_layer_a_backend_does_not_report_fails_and_is_named(net, with_backend):
    with_backend(Distorted(dropped=("stage2.0.add",)))
    report = run_check(net, ("numpy", "distorted"))
    assert report.first_divergence.name == "stage2.0.add"
    assert report.first_divergence.comparisons[0].problem == "no output from distorted"
    assert [row.name for row in report.rows if not row.within] == ["stage2.0.add"]
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(check_table(report))
    assert "distorted: no output from distorted" in console.export_text()


def test_json_names_layers_their_inputs_and_the_outputs(net, with_backend):
    with_backend(Distorted({"fc": 1.0}))
    report = run_check(net, ("numpy", "distorted")).to_json()
    layers = {row["name"]: row for row in report["layers"]}
    assert list(layers) == [layer.name for layer in net.layers]
    assert layers["stage2.0.add"]["inputs"] == ["stage2.0.mix", "stage2.0.proj"]
    assert layers["stage1.0.add"]["inputs"] == ["stage1.0.mix", "stem_act"]  # project false: the instance's input
    assert layers["features"]["inputs"] == ["pool", "aux_pool"]
    assert report["outputs"] == ["fc", "aux"] and report["first_divergence"] == "fc"
    assert layers["fc"]["backends"]["distorted"]["within"] is False
    assert layers["aux"]["backends"]["distorted"] == {"max_abs": 0.0, "max_rel": 0.0, "within": True,
                                                      "problem": None}


def test_check_runs_the_oracle_on_a_graph_spec_from_the_command_line(tmp_spec):
    path = tmp_spec(GRAPH_SPEC)
    result = run_cli("check", str(path), "--backends", "numpy,numpy", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outputs"] == ["fc", "aux"]
    assert report["layers"][-1]["name"] == "aux" and report["layers"][-1]["output_shape"] == [3]
    assert "stage2.1.conv1" in [row["name"] for row in report["layers"]]


# ---------------------------------------------------------------- generated backends against the oracle

@pytest.mark.parametrize("backend_name, dtype", [("torch", "float64"), ("torch", "float32"), ("jax", "float64")])
def test_backends_agree_with_the_oracle_on_a_graph(backend_name, dtype, net):
    pytest.importorskip(backend_name)
    reason = graph_support(backend_name)
    if reason:
        pytest.skip(reason)
    report = run_check(net, (backend_name, "numpy"), dtype=dtype, seed=3)
    first = report.first_divergence
    assert report.passed, f"{backend_name} differs from the oracle first at {first.name}: {first.comparisons}"
    assert np.isfinite([row.comparisons[0].max_abs for row in report.rows]).all()
