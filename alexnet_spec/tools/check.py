"""`alexspec check`: build several backends, give them one set of weights and one input, and compare every layer.

Each backend offers `evaluate(net, weights, x, dtype=...) -> [(layer name, output)]`, outputs in the canonical
layout (N, C, H, W) or (N, F) as numpy arrays. The NumPy oracle (float64) is the reference when it takes part;
otherwise the first backend listed is. Layers are matched by their qualified names (`layer2.0.conv1`), not by
position, so a backend may evaluate a graph's branches in another order; a layer a backend does not report fails.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError, unknown_choice
from alexnet_spec.resolved import ResolvedNetwork

# Documented defaults: float64 agrees to rounding; float32 accumulates over long sums (9216-wide dense layers,
# 2304-term convolutions), so its tolerance is that of float32 arithmetic on unit-scale activations.
DEFAULT_TOLERANCE = {"float64": (1e-9, 1e-12), "float32": (1e-4, 1e-5)}
# Every backend runs the whole batch at once in memory: beyond this a typo (--batch 20000) would exhaust memory.
MAX_BATCH = 1024


@dataclass(frozen=True)
class Comparison:
    backend: str
    max_abs: float
    max_rel: float  # max |a - b| / max |reference| over the layer
    within: bool
    problem: str | None = None  # why nothing could be compared: no output for the layer, or another shape


@dataclass(frozen=True)
class LayerRow:
    name: str  # qualified: "layer2.0.conv1"
    type: str
    shape: tuple[int, ...]
    comparisons: tuple[Comparison, ...]
    inputs: tuple[str, ...] = ()  # the layers it reads (qualified names), or "input"
    bound: float | None = None  # --precision: the normwise relative error allowed (tools/tolerance.py)

    @property
    def within(self) -> bool:
        return all(comparison.within for comparison in self.comparisons)


@dataclass(frozen=True)
class CheckReport:
    spec: str
    reference: str
    backends: tuple[str, ...]
    dtype: str
    batch: int
    seed: int
    rtol: float
    atol: float
    rows: tuple[LayerRow, ...] = field(default_factory=tuple)
    outputs: tuple[str, ...] = ()  # the layers the model returns
    precision: str | None = None  # bfloat16 or float16: the builds compared were generated in it
    top1: dict[str, float] = field(default_factory=dict)  # --precision: per backend, the share of the batch whose
    # first output's largest class is the oracle's

    @property
    def passed(self) -> bool:
        return all(row.within for row in self.rows)

    @property
    def first_divergence(self) -> LayerRow | None:
        return next((row for row in self.rows if not row.within), None)

    def to_json(self) -> dict:
        return {
            "spec": self.spec, "reference": self.reference, "backends": list(self.backends), "dtype": self.dtype,
            "batch": self.batch, "seed": self.seed, "rtol": self.rtol, "atol": self.atol, "passed": self.passed,
            "first_divergence": self.first_divergence.name if self.first_divergence else None,
            "outputs": list(self.outputs), "precision": self.precision, "top1_agreement": self.top1,
            "layers": [{"name": row.name, "type": row.type, "inputs": list(row.inputs),
                        "output_shape": list(row.shape), "within": row.within, "bound": row.bound,
                        "backends": {c.backend: {"max_abs": c.max_abs, "max_rel": c.max_rel, "within": c.within,
                                                 "problem": c.problem}
                                     for c in row.comparisons}} for row in self.rows],
        }


def compare(reference: np.ndarray, candidate: np.ndarray, rtol: float, atol: float) -> tuple[float, float, bool]:
    """(max |a - b|, that over max |reference|, whether |a - b| <= atol + rtol * |reference| everywhere)."""
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        return float("inf"), float("inf"), False
    difference = np.abs(candidate - reference)
    max_abs = float(difference.max()) if difference.size else 0.0
    scale = float(np.abs(reference).max()) if reference.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    finite = bool(np.isfinite(candidate).all() == np.isfinite(reference).all())
    within = finite and bool((difference <= atol + rtol * np.abs(reference)).all())
    return max_abs, max_rel, within


def _checked_tolerance(option: str, value: float | None) -> float | None:
    """A tolerance is a finite number >= 0: a negative one fails everything, NaN or infinity passes everything."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise SpecError(Diagnostic(f"invalid tolerance {value!r}", file=option, expected="a finite number >= 0",
                                   hint="for example --rtol 1e-5 --atol 1e-7; leave them out for the dtype's defaults"))
    return float(value)


def _check_batch(batch: int) -> None:
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise SpecError(Diagnostic(f"invalid batch size {batch!r}", file="--batch",
                                   expected=f"an int from 1 to {MAX_BATCH}",
                                   hint="a few images are enough to compare backends; the default is 2"))


def run_check(net: ResolvedNetwork, backend_names: tuple[str, ...] = ("torch", "jax", "numpy"),
              dtype: str = "float64", batch: int = 2, seed: int = 0, rtol: float | None = None,
              atol: float | None = None, precision: str | None = None) -> CheckReport:
    """Every layer of each backend against the reference. `precision` (bfloat16, float16; default: the spec's when
    it sets a low one): the backends run the network generated in it, against the float64 oracle, each layer within
    its bound from tools/tolerance.py (`rtol`, when given, replaces every bound; `atol` is added)."""
    precision = precision or (net.precision if net.precision != "float32" else None)
    if precision is not None:
        return _run_low_precision(net, backend_names, precision, batch, seed, rtol, atol)
    from alexnet_spec import backends

    if dtype not in DEFAULT_TOLERANCE:
        raise unknown_choice("dtype", dtype, list(DEFAULT_TOLERANCE), file="--dtype")
    rtol = _checked_tolerance("--rtol", rtol)
    atol = _checked_tolerance("--atol", atol)
    _check_batch(batch)
    if len(backend_names) < 2:
        raise SpecError(Diagnostic("check needs at least two backends to compare", file="--backends",
                                   hint="for example --backends torch,jax,numpy"))
    default_rtol, default_atol = DEFAULT_TOLERANCE[dtype]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    generators = {name: backends.get(name) for name in backend_names}
    for name, generator in generators.items():
        if not hasattr(generator, "evaluate"):
            raise SpecError(Diagnostic(f"backend {name!r} cannot be checked: it has no `evaluate`", file="--backends"))
    outputs = _side_by_side(net, batch, seed, {name: (generator, net, dtype) for name, generator in generators.items()})
    reference = "numpy" if "numpy" in outputs else backend_names[0]
    rows = []
    for layer in net.layers:
        comparisons = tuple(_compare_layer(layer.name, reference, outputs[reference], name, trace, rtol, atol)
                            for name, trace in outputs.items() if name != reference)
        rows.append(LayerRow(layer.name, layer.type, layer.output_shape, comparisons, layer.inputs))
    return CheckReport(net.file, reference, tuple(backend_names), dtype, batch, seed, rtol, atol, tuple(rows),
                       net.output_names)


def _run_low_precision(net: ResolvedNetwork, backend_names: tuple[str, ...], precision: str, batch: int, seed: int,
                       rtol: float | None, atol: float | None) -> CheckReport:
    from alexnet_spec import backends
    from alexnet_spec.precision import LOW_PRECISIONS, with_precision
    from alexnet_spec.tools.tolerance import layer_bounds

    if precision in DEFAULT_TOLERANCE:
        raise SpecError(Diagnostic(f"--precision {precision}: check compares {precision} with --dtype",
                                   file="--precision", expected=f"one of: {', '.join(LOW_PRECISIONS)}",
                                   hint=f"alexspec check SPEC --dtype {precision}"))
    if precision not in LOW_PRECISIONS:
        raise unknown_choice("precision", precision, list(LOW_PRECISIONS), file="--precision")
    rtol, atol = _checked_tolerance("--rtol", rtol), _checked_tolerance("--atol", atol) or 0.0
    _check_batch(batch)
    names = tuple(name for name in backend_names if name != "numpy")
    if not names:
        raise SpecError(Diagnostic("check --precision needs a backend besides the oracle", file="--backends",
                                   hint="for example --backends torch,jax"))
    generators = {name: backends.get(name) for name in names}
    oracle = backends.get("numpy")
    low = with_precision(net, precision)
    outputs = _side_by_side(net, batch, seed, {"numpy": (oracle, net, "float64"),
                                               **{name: (generator, low, "float32")
                                                  for name, generator in generators.items()}})
    expected = outputs.pop("numpy")
    bounds = layer_bounds(net, precision, batch)
    rows = []
    for layer in net.layers:
        bound = bounds[layer.name] if rtol is None else rtol
        comparisons = tuple(_compare_normwise(layer.name, expected, name, trace, bound, atol)
                            for name, trace in outputs.items())
        rows.append(LayerRow(layer.name, layer.type, layer.output_shape, comparisons, layer.inputs, bound))
    first = net.output_names[0]
    top1 = {name: _top1_agreement(expected[first], trace.get(first)) for name, trace in outputs.items()}
    return CheckReport(net.file, "numpy", ("numpy",) + names, precision, batch, seed, math.nan if rtol is None else rtol,
                       atol, tuple(rows), net.output_names, precision, top1)


def _side_by_side(net: ResolvedNetwork, batch: int, seed: int,
                  plans: dict[str, tuple[Any, ResolvedNetwork, str]]) -> dict[str, dict[str, np.ndarray]]:
    """{name: {layer: output}} of each backend's evaluation of (its network, in its dtype), for the weights and input
    drawn from `seed` (weights first, in the order of `init_weights`, then the input).

    While the weights are drawn, each framework is imported (the backend's optional `prepare`) and, in a thread of
    its own, does what needs no values (its optional `evaluator`: JAX traces and compiles); each run starts, in a
    thread of its own, as soon as its backend is ready and the weights are drawn. Most of the time is spent outside
    the interpreter lock (numpy's draws, torch's kernels, XLA's compiler), so a second core takes half of it. The
    backends are prepared in the order that keeps that core busy while torch is imported (which holds the lock): one
    whose evaluator compiles first, then one with nothing to import (the oracle runs meanwhile), then the others.
    Each run reads the same weights and writes nothing shared; its line tracer (sys.settrace) is its own thread's."""
    from alexnet_spec.weights import init_weights

    def draw():
        rng = np.random.default_rng(seed)
        weights = init_weights(net, rng)
        return weights, rng.standard_normal((batch,) + tuple(net.input_shape))

    def ready(generator, network, dtype):
        if hasattr(generator, "evaluator"):
            return generator.evaluator(network, batch, dtype)
        return lambda weights, x: generator.evaluate(network, weights, x, dtype=dtype)

    def run(evaluator):
        weights, x = drawn.result()
        return dict(evaluator.result()(weights, x))

    def order(name):
        generator = plans[name][0]
        return not getattr(generator, "evaluator_compiles", False), hasattr(generator, "prepare")

    with ThreadPoolExecutor(max_workers=1 + 2 * len(plans)) as pool:
        drawn = pool.submit(draw)
        running = {}
        for name in sorted(plans, key=order):
            generator, network, dtype = plans[name]
            if hasattr(generator, "prepare"):
                generator.prepare()
            running[name] = pool.submit(run, pool.submit(ready, generator, network, dtype))
        return {name: running[name].result() for name in plans}


def _compare_normwise(layer: str, expected: dict, backend: str, actual: dict, bound: float,
                      atol: float) -> Comparison:
    """A low-precision output against the oracle's: max |a - b| <= bound * max |oracle| + atol. Normwise, because a
    rounding of the largest values is what a low precision promises; an element near zero may differ by all of
    itself (a sum that cancels)."""
    if layer not in actual:
        return Comparison(backend, math.inf, math.inf, False, f"no output from {backend}")
    want, got = np.asarray(expected[layer], dtype=np.float64), np.asarray(actual[layer], dtype=np.float64)
    if want.shape != got.shape:
        return Comparison(backend, math.inf, math.inf, False, f"shape {got.shape}, numpy {want.shape}")
    max_abs, max_rel, _ = compare(want, got, 0.0, 0.0)
    scale = float(np.abs(want).max()) if want.size else 0.0
    within = bool(np.isfinite(got).all()) and max_abs <= bound * scale + atol
    return Comparison(backend, max_abs, max_rel, within)


def _top1_agreement(expected: np.ndarray, actual: np.ndarray | None) -> float:
    """The share of the batch whose largest class (axis 1) is the same in both; 0 when there is no output."""
    if actual is None or np.shape(actual) != np.shape(expected) or np.ndim(expected) < 2:
        return 0.0
    return float(np.mean(np.argmax(expected, axis=1) == np.argmax(actual, axis=1)))


def _compare_layer(layer: str, reference: str, expected: dict, backend: str, actual: dict, rtol: float,
                   atol: float) -> Comparison:
    """One backend's output of `layer` against the reference's, both looked up by the layer's qualified name."""
    missing = [name for name, trace in ((reference, expected), (backend, actual)) if layer not in trace]
    if missing:
        return Comparison(backend, math.inf, math.inf, False, f"no output from {' and '.join(missing)}")
    want, got = np.asarray(expected[layer]), np.asarray(actual[layer])
    if want.shape != got.shape:
        return Comparison(backend, math.inf, math.inf, False, f"shape {got.shape}, {reference} {want.shape}")
    return Comparison(backend, *compare(want, got, rtol, atol))


def check_table(report: CheckReport):
    """The comparison as a rich table that fits 80 columns with two backends against the oracle: no borders, numbers
    never cut (the title and the layer names wrap instead)."""
    from rich import box
    from rich.table import Table

    tolerance = (f"bound per layer (docs/precision.md), atol {report.atol:g}" if report.precision and
                 math.isnan(report.rtol) else f"rtol {report.rtol:g}, atol {report.atol:g}")
    table = Table(title=f"{report.spec}: {', '.join(report.backends)} against {report.reference}, {report.dtype}, "
                        f"batch {report.batch}, seed {report.seed}, {tolerance}",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("layer", overflow="fold")
    table.add_column("type", no_wrap=True)
    table.add_column("output", justify="right", no_wrap=True)
    others = [comparison.backend for comparison in report.rows[0].comparisons] if report.rows else []
    for name in others:  # --precision: the normwise relative error against the bound, the absolute one left out
        if not report.precision:
            table.add_column(f"{name} abs", justify="right", no_wrap=True, min_width=8)
        table.add_column(f"{name} rel", justify="right", no_wrap=True, min_width=8)
    if report.precision:
        table.add_column("bound", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    first = report.first_divergence
    for row in report.rows:
        cells = [row.name, row.type, "×".join(map(str, row.shape))]
        for comparison in row.comparisons:
            cells += ([] if report.precision else [f"{comparison.max_abs:.2e}"]) + [f"{comparison.max_rel:.2e}"]
        if report.precision:
            cells.append(f"{row.bound:.2e}")
        mark = "ok" if row.within else ("first" if row is first else "differs")
        problems = [f"{c.backend}: {c.problem}" for c in row.comparisons if c.problem]
        mark = "; ".join([mark] + problems)
        table.add_row(*cells, mark, style=None if row.within else "red")
    return table
