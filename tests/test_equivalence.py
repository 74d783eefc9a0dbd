"""Properties over generated specs: every backend produces the inferred shapes and computes the oracle's function.

Backends are taken from the registry (all that can `evaluate`), so a new backend is checked without new tests.
The NumPy oracle in float64 is the reference.
"""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alexnet_spec import backends
from alexnet_spec.errors import SpecError
from alexnet_spec.tools.check import compare
from alexnet_spec.source.loading import parse_network
from tests.conftest import graph_support
from tests.strategies import (
    GraphModel,
    graph_parameters,
    graph_specs,
    invalid_graph_specs,
    to_yaml,
    valid_specs,
)


def _checkable() -> list[str]:
    names = []
    for name in backends.available():
        try:
            backend = backends.get(name)
        except Exception:  # a backend whose framework is not installed
            continue
        if hasattr(backend, "evaluate") and name != "numpy":
            names.append(name)
    return names


CANDIDATES = _checkable()
# jit compilation per generated spec is what costs: fewer examples than the profile's default, scaled with it.
EXAMPLES = max(8, settings().max_examples // 4)


def oracle(net, weights, x):
    return backends.get("numpy").evaluate(net, weights, x, dtype="float64")


def random_case(data, seed):
    from alexnet_spec.weights import init_weights

    net = parse_network(to_yaml(data), "generated.yaml")
    rng = np.random.default_rng(seed)
    weights = init_weights(net, rng)
    for name in list(weights):  # batchnorm statistics away from their defaults, so eval mode really uses them
        if name.endswith("running_var"):
            weights[name] = rng.uniform(0.5, 2.0, weights[name].shape)
        elif name.endswith("running_mean"):
            weights[name] = rng.normal(0, 0.5, weights[name].shape)
    x = rng.standard_normal((2,) + tuple(net.input_shape))
    return net, weights, x


@given(valid_specs(), st.integers(0, 2**32 - 1))
def test_oracle_produces_the_inferred_shapes(data, seed):
    net, weights, x = random_case(data, seed)
    trace = oracle(net, weights, x)
    assert [output.shape[1:] for _, output in trace] == [layer.output_shape for layer in net.layers]


@given(valid_specs(), st.integers(0, 2**32 - 1))
def test_placed_build_equals_the_single_device_build(data, seed):
    net, weights, x = random_case(data, seed)
    if not net.devices:
        return
    single = parse_network(to_yaml({**data, "devices": None, "layers": [
        {key: value for key, value in layer.items() if key != "placement"} for layer in data["layers"]]}), "single.yaml")
    placed_out = oracle(net, weights, x)[-1][1]
    single_out = oracle(single, weights, x)[-1][1]
    np.testing.assert_allclose(placed_out, single_out, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend_name", CANDIDATES)
@settings(max_examples=EXAMPLES)
@given(data=valid_specs(max_spatial=4), seed=st.integers(0, 2**32 - 1))
def test_backend_matches_the_oracle_in_float64(backend_name, data, seed):
    net, weights, x = random_case(data, seed)
    expected = oracle(net, weights, x)
    actual = backends.get(backend_name).evaluate(net, weights, x, dtype="float64")
    assert [name for name, _ in actual] == [layer.name for layer in net.layers]
    for layer, (_, want), (_, got) in zip(net.layers, expected, actual):
        assert got.shape[1:] == layer.output_shape, layer.name
        max_abs, max_rel, within = compare(want, got, rtol=1e-9, atol=1e-12)
        assert within, f"{backend_name} differs from the oracle at {layer.name} ({layer.type}): max abs {max_abs:.3e}"


@pytest.mark.parametrize("backend_name", CANDIDATES)
@settings(max_examples=EXAMPLES)
@given(data=valid_specs(max_spatial=4), seed=st.integers(0, 2**32 - 1))
def test_backend_matches_the_oracle_in_float32(backend_name, data, seed):
    net, weights, x = random_case(data, seed)
    expected = oracle(net, weights, x)[-1][1]
    actual = backends.get(backend_name).evaluate(net, weights, x, dtype="float32")[-1][1]
    max_abs, max_rel, within = compare(expected, actual, rtol=1e-3, atol=1e-4)
    assert within, f"{backend_name} float32 output differs from the oracle: max abs {max_abs:.3e}"




def _without_training_only_layers(data: dict) -> dict:
    """Eval-mode gradients: dropout is the identity and batchnorm uses running statistics in both frameworks."""
    return {**data, "layers": [layer for layer in data["layers"] if layer["type"] != "dropout"]}


@pytest.mark.skipif(not {"torch", "jax"} <= set(CANDIDATES), reason="compares the torch and jax backends")
@settings(max_examples=EXAMPLES)
@given(data=valid_specs(max_spatial=3, allow_devices=False), seed=st.integers(0, 2**32 - 1))
def test_torch_and_jax_gradients_agree(data, seed):
    import jax
    import jax.numpy as jnp
    import torch

    from alexnet_spec.backends.jax.weights import jax_to_torch, torch_to_jax

    net, weights, x = random_case(_without_training_only_layers(data), seed)
    model = backends.get("torch").build(net, dtype="float64").eval()
    model.load_state_dict({name: torch.from_numpy(value) for name, value in weights.items()}, strict=False)
    x_torch = torch.from_numpy(x).requires_grad_(True)
    (model(x_torch) ** 2).sum().backward()
    module = backends.get("jax").build(net)
    with jax.enable_x64(True):
        params, state = torch_to_jax(weights, net)
        params = jax.tree_util.tree_map(jnp.asarray, params)

        def loss(params, x):
            return (module.apply(params, x, state=state or None, layout="NCHW") ** 2).sum()

        # One compiled program instead of one per primitive: the shapes differ in every example.
        grad_params, grad_x = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, jnp.asarray(x))
        np.testing.assert_allclose(np.asarray(grad_x), x_torch.grad.numpy(), rtol=1e-7, atol=1e-10)
        as_torch = jax_to_torch(grad_params, net, state)
        for name, parameter in model.named_parameters():
            np.testing.assert_allclose(as_torch[name], parameter.grad.numpy(), rtol=1e-7, atol=1e-10, err_msg=name)


# ---------------------------------------------------------------- graph networks (tests/strategies.py: graph_specs)
# The oracle interprets every graph; the tests comparing a generated backend with it skip, saying why, while that
# backend does not render graph networks (conftest.graph_support).
GRAPH_EXAMPLES = max(10, settings().max_examples // 4)
# A generated backend runs un-jitted under a line tracer, one dispatch per statement: fewer examples, scaled alike.
BACKEND_GRAPH_EXAMPLES = max(6, settings().max_examples // 6)


def _without_devices(data: dict) -> dict:
    return {**data, "devices": None, "layers": [{key: value for key, value in layer.items() if key != "placement"}
                                                for layer in data["layers"]]}


@settings(max_examples=GRAPH_EXAMPLES)
@given(graph_specs())
def test_graph_specs_resolve_with_the_shapes_and_parameters_counted_independently(data):
    net = parse_network(to_yaml(data), "graph.yaml")
    shapes, params = GraphModel(data).network(data)
    assert net.total_params == params == graph_parameters(data)
    assert net.output_shapes == tuple(shapes[name] for name in net.output_names)
    assert list(net.output_names) == data.get("outputs", [data["layers"][-1]["name"]])
    for layer in net.layers:  # network-level layers keep their names; inside blocks they are qualified
        if layer.name in shapes:
            assert layer.output_shape == shapes[layer.name], layer.name


@settings(max_examples=GRAPH_EXAMPLES)
@given(invalid_graph_specs())
def test_invalid_graph_specs_are_rejected_with_a_position(case):
    error_class, data = case
    try:
        parse_network(to_yaml(data), "bad.yaml")
    except SpecError as error:
        for diagnostic in error.diagnostics:
            assert diagnostic.file == "bad.yaml" and diagnostic.line is not None, (error_class, diagnostic)
    else:
        raise AssertionError(f"{error_class}: accepted\n{to_yaml(data)}")


@settings(max_examples=GRAPH_EXAMPLES)
@given(graph_specs(), st.integers(0, 2**32 - 1))
def test_oracle_follows_graphs_with_the_inferred_shapes_and_outputs(data, seed):
    net, weights, x = random_case(data, seed)
    trace = oracle(net, weights, x)
    assert [name for name, _ in trace] == [layer.name for layer in net.layers]
    assert [output.shape[1:] for _, output in trace] == [layer.output_shape for layer in net.layers]
    outputs = backends.get("numpy").build(net).run(weights, x)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    assert len(outputs) == len(net.output_names)
    by_name = dict(trace)
    for name, output in zip(net.output_names, outputs):
        np.testing.assert_array_equal(output, by_name[name])


@settings(max_examples=GRAPH_EXAMPLES)
@given(graph_specs(), st.integers(0, 2**32 - 1))
def test_placed_graph_equals_the_single_device_graph(data, seed):
    if "devices" not in data:
        data = {**data, "devices": ["d0", "d1"]}  # placement is drawn in a quarter of the cases: place this one too
        try:
            parse_network(to_yaml(data), "placed.yaml")
        except SpecError:  # widths that do not split evenly
            return
    net, weights, x = random_case(data, seed)
    single = parse_network(to_yaml(_without_devices(data)), "single.yaml")
    for (name, got), (_, want) in zip(oracle(net, weights, x), oracle(single, weights, x)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("backend_name", CANDIDATES)
@settings(max_examples=BACKEND_GRAPH_EXAMPLES)
@given(data=graph_specs(allow_devices=False), seed=st.integers(0, 2**32 - 1))
def test_backend_matches_the_oracle_on_graphs(backend_name, data, seed):
    # Single-device specs: a backend may refuse to place a graph (its placed module is its own tests' business);
    # the oracle's towers are compared with its single-device self above.
    reason = graph_support(backend_name)
    if reason:
        pytest.skip(reason)
    net, weights, x = random_case(data, seed)
    expected = dict(oracle(net, weights, x))
    actual = dict(backends.get(backend_name).evaluate(net, weights, x, dtype="float64"))
    for layer in net.layers:  # by qualified name: a backend may compute branches in another order
        assert layer.name in actual, f"{backend_name} gives no output for {layer.name}"
        max_abs, max_rel, within = compare(expected[layer.name], actual[layer.name], rtol=1e-9, atol=1e-12)
        assert within, f"{backend_name} differs from the oracle at {layer.name} ({layer.type}): max abs {max_abs:.3e}"


@pytest.mark.skipif("torch" not in CANDIDATES, reason="counts torch's parameters")
@settings(max_examples=BACKEND_GRAPH_EXAMPLES)
@given(graph_specs(allow_devices=False))
def test_torch_module_has_the_parameters_counted_independently(data):
    reason = graph_support("torch")
    if reason:
        pytest.skip(reason)
    net = parse_network(to_yaml(data), "graph.yaml")
    model = backends.get("torch").build(net)
    assert sum(parameter.numel() for parameter in model.parameters()) == graph_parameters(data)

