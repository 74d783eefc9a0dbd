"""`alexspec check`: per-layer comparison between backends, exit 1 beyond tolerance, naming the first divergence."""

from __future__ import annotations

import json

import pytest

from alexnet_spec.tools.check import compare
from tests.conftest import run_cli

pytest.importorskip("torch", reason="check compares the torch build with the oracle")


def test_check_passes_and_prints_every_layer():
    result = run_cli("check", "specs/lenet5.yaml", "--backends", "torch,numpy")
    assert result.returncode == 0, result.stderr
    for name in ("c1", "s2", "c3", "s4", "c5", "flatten", "f6", "output"):
        assert name in result.stdout
    assert "specs/lenet5.yaml: ok" in result.stdout


def test_zero_tolerance_in_float32_fails_and_locates_the_first_divergence():
    result = run_cli("check", "specs/lenet5.yaml", "--backends", "torch,numpy", "--dtype", "float32", "--rtol", "0",
                     "--atol", "0", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["passed"] is False
    assert report["first_divergence"] == "c1"  # float32 rounding shows up in the first convolution
    assert report["layers"][0]["backends"]["torch"]["max_abs"] > 0


def test_bad_options_are_errors_with_status_2():
    result = run_cli("check", "specs/lenet5.yaml", "--backends", "torch", "--dtype", "float16")
    assert result.returncode == 2 and "one of: float64, float32" in result.stderr
    result = run_cli("check", "specs/lenet5.yaml", "--backends", "torch,numpy", "--dtype", "flaot32")
    assert result.returncode == 2 and "did you mean 'float32'?" in result.stderr
    result = run_cli("check", "specs/lenet5.yaml", "--backends", "torch")
    assert result.returncode == 2 and "at least two backends" in result.stderr


def test_compare_uses_a_mixed_tolerance():
    assert compare([1.0, 0.0], [1.0 + 1e-10, 1e-13], rtol=1e-9, atol=1e-12)[2]
    assert not compare([1.0, 0.0], [1.0, 1e-11], rtol=1e-9, atol=1e-12)[2]
    assert not compare([1.0], [1.0, 2.0], rtol=1, atol=1)[2]


@pytest.mark.parametrize("option, value, needle", [
    ("--rtol", "-1e-3", "--rtol: error: invalid tolerance -0.001"),
    ("--atol", "nan", "--atol: error: invalid tolerance nan"),
    ("--rtol", "inf", "--rtol: error: invalid tolerance inf"),
    ("--batch", "1025", "--batch: error: invalid batch size 1025"),
    ("--batch", "0", "--batch: error: invalid batch size 0"),
])
def test_tolerances_and_batch_out_of_range_are_errors(option, value, needle):
    # |a - b| <= atol + rtol * |b| (numpy.isclose's rule) fails everywhere for a negative tolerance and holds everywhere
    # for an infinite one, and NaN compares false: none of them can be asked for.
    result = run_cli("check", "specs/lenet5.yaml", "--backends", "numpy,numpy", option, value)
    assert result.returncode == 2 and needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    if option == "--batch":
        assert "expected: an int from 1 to 1024" in result.stderr
    else:
        assert "expected: a finite number >= 0" in result.stderr


def test_check_precision_compares_the_low_builds_with_the_oracle_within_each_layers_bound():
    result = run_cli("check", "specs/lenet5.yaml", "--backends", "torch,jax", "--precision", "bfloat16", "--batch",
                     "4", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["precision"] == "bfloat16" and report["reference"] == "numpy" and report["passed"] is True
    assert set(report["top1_agreement"]) == {"torch", "jax"}
    bounds = [layer["bound"] for layer in report["layers"]]
    assert bounds[0] == pytest.approx(0.5 * 2 ** -7 * 5)  # c1: K = 1 * 5 * 5 = 25
    assert bounds == sorted(bounds)  # a chain: each layer inherits the larger bound
    result = run_cli("check", "specs/lenet5.yaml", "--backends", "torch", "--precision", "bfloat16")
    assert "top-1 agreement with the oracle over 2 inputs: torch " in result.stdout


def test_check_precision_exits_1_beyond_a_tighter_bound_and_2_for_a_bad_precision():
    result = run_cli("check", "specs/lenet5.yaml", "--backends", "torch", "--precision", "float16", "--rtol", "1e-6")
    assert result.returncode == 1 and "DIFFERS, first at layer c1" in result.stdout
    result = run_cli("check", "specs/lenet5.yaml", "--backends", "torch", "--precision", "float32")
    assert result.returncode == 2 and "check compares float32 with --dtype" in result.stderr


class _Recording:
    """A registered backend whose calls are recorded: (what, backend, thread), in the order they happened."""

    def __init__(self, backend, calls: list, fail: bool = False):
        self.backend, self.calls, self.fail = backend, calls, fail

    def prepare(self, *args):
        import threading

        self.calls.append(("prepare", self.backend.name, threading.get_ident()))

    def evaluate(self, net, weights, x, dtype="float64"):
        import threading

        self.calls.append(("evaluate", self.backend.name, threading.get_ident()))
        if self.fail:
            raise ValueError(f"{self.backend.name} failed")
        return self.backend.evaluate(net, weights, x, dtype=dtype)


def test_backends_are_prepared_then_evaluated_side_by_side_on_one_draw(monkeypatch):
    import numpy as np

    from alexnet_spec import backends
    from alexnet_spec.tools.check import run_check
    from alexnet_spec.weights import init_weights
    from tests.conftest import TINY_SPEC, resolve_text

    net, calls, registered = resolve_text(TINY_SPEC), [], backends.get
    monkeypatch.setattr(backends, "get", lambda name: _Recording(registered(name), calls))
    report = run_check(net, ("torch", "numpy"), seed=5)
    assert report.passed and [row.name for row in report.rows] == [layer.name for layer in net.layers]
    assert sorted(what for what, _, _ in calls) == ["evaluate", "evaluate", "prepare", "prepare"]
    steps = [call[:2] for call in calls]
    assert all(steps.index(("prepare", name)) < steps.index(("evaluate", name)) for name in ("torch", "numpy"))
    assert len({thread for what, _, thread in calls if what == "evaluate"}) == 2
    # The draw is the sequential one: init_weights, then the input, from one generator of the seed.
    rng = np.random.default_rng(5)
    weights, x = init_weights(net, rng), rng.standard_normal((2,) + tuple(net.input_shape))
    expected = dict(registered("numpy").evaluate(net, weights, x))
    monkeypatch.setattr(backends, "get", registered)
    torch_rows = {row.name: row.comparisons[0] for row in run_check(net, ("numpy", "torch"), seed=5).rows}
    assert all(comparison.within for comparison in torch_rows.values())
    last = net.layers[-1].name
    actual = dict(registered("torch").evaluate(net, weights, x, dtype="float64"))[last]
    assert np.abs(actual - expected[last]).max() == torch_rows[last].max_abs


class _RecordingAhead(_Recording):
    """A recorded backend that readies its evaluation ahead, as torch's and jax's do."""

    def __getattr__(self, name):
        if name == "evaluator_compiles":
            return getattr(self.backend, name)
        raise AttributeError(name)

    def evaluator(self, net, batch, dtype="float64"):
        self.calls.append(("evaluator", self.backend.name, batch))
        run = self.backend.evaluator(net, batch, dtype)

        def recorded(weights, x):
            self.calls.append(("run", self.backend.name, x.shape[0]))
            return run(weights, x)

        return recorded


def test_a_backend_whose_evaluator_compiles_is_prepared_first_and_every_evaluator_is_readied_once(monkeypatch):
    from alexnet_spec import backends
    from alexnet_spec.tools.check import run_check
    from tests.conftest import TINY_SPEC, resolve_text

    net, calls, registered = resolve_text(TINY_SPEC), [], backends.get
    monkeypatch.setattr(backends, "get", lambda name: _RecordingAhead(registered(name), calls))
    assert run_check(net, ("torch", "jax"), batch=3).passed
    assert [call[:2] for call in calls if call[0] == "prepare"] == [("prepare", "jax"), ("prepare", "torch")]
    assert sorted(call for call in calls if call[0] != "prepare") == [
        ("evaluator", "jax", 3), ("evaluator", "torch", 3), ("run", "jax", 3), ("run", "torch", 3)]


def test_a_failing_backend_fails_the_check(monkeypatch):
    from alexnet_spec import backends
    from alexnet_spec.tools.check import run_check
    from tests.conftest import TINY_SPEC, resolve_text

    registered = backends.get
    monkeypatch.setattr(backends, "get", lambda name: _Recording(registered(name), [], fail=name == "torch"))
    with pytest.raises(ValueError, match="torch failed"):
        run_check(resolve_text(TINY_SPEC), ("torch", "numpy"))
