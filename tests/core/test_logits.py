"""`output="logits"` drops a final softmax, in the ResolvedNetwork before any backend: the logits model followed by
the framework's own softmax (torch.softmax, jax.nn.softmax) is the spec's model, on the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import alexnet_spec
from alexnet_spec.errors import SpecError
from alexnet_spec.logits import as_logits
from alexnet_spec.weights import init_weights
from tests.conftest import ROOT, run_cli

SOFTMAX_LAYER = """
    extends: {lenet}
    name: LeNetProb
    insert_after: {{output: [{{type: softmax, name: prob}}]}}
"""


@pytest.fixture
def softmax_layer_spec(tmp_spec):
    return tmp_spec(SOFTMAX_LAYER.format(lenet=ROOT / "specs" / "lenet5.yaml"))


def _fused_softmax_spec():
    return alexnet_spec.load(ROOT / "specs" / "lenet5.yaml", overrides=["output.activation=softmax"])


def test_a_final_softmax_layer_is_removed_and_a_fused_one_cleared(softmax_layer_spec):
    layered = alexnet_spec.resolve(softmax_layer_spec)
    logits = as_logits(layered)
    assert [layer.name for layer in logits.layers] == [layer.name for layer in layered.layers][:-1]
    fused = as_logits(alexnet_spec.resolve(_fused_softmax_spec()))
    assert fused.layers[-1].name == "output" and fused.layers[-1].attrs.activation is None
    assert logits.logits and logits.spec_hash != layered.spec_hash
    plain = alexnet_spec.resolve(ROOT / "specs" / "lenet5.yaml")
    assert as_logits(plain) is plain  # already logits


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("which", ["layer", "fused"])
def test_softmax_of_the_logits_model_is_the_spec_model(backend, which, softmax_layer_spec):
    spec = alexnet_spec.load(softmax_layer_spec) if which == "layer" else _fused_softmax_spec()
    weights = init_weights(alexnet_spec.resolve(spec), 3)
    x = np.random.default_rng(4).normal(size=(3, 1, 32, 32)).astype(np.float32)
    probabilities = _run(alexnet_spec.build(spec, backend), backend, spec, weights, x)
    logits = _run(alexnet_spec.build(spec, backend, output="logits"), backend, spec, weights, x)
    assert not np.allclose(logits.sum(axis=1), 1.0)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(shifted / shifted.sum(axis=1, keepdims=True), probabilities, rtol=1e-5, atol=1e-6)


def _run(model, backend, spec, weights, x):
    if backend == "torch":
        import torch

        model.load_state_dict({key: torch.tensor(value, dtype=torch.float32) for key, value in weights.items()})
        with torch.no_grad():
            return model.eval()(torch.from_numpy(x)).numpy()
    from alexnet_spec.backends.jax.weights import torch_to_jax

    params, _ = torch_to_jax(weights, spec)
    params = {layer: {k: np.asarray(v, np.float32) for k, v in fields.items()} for layer, fields in params.items()}
    return np.asarray(model.apply(params, x, layout="NCHW"))


def test_compile_logits_drops_the_softmax_and_says_so_in_the_header():
    default = run_cli("compile", "specs/alexnet.yaml")
    logits = run_cli("compile", "specs/alexnet.yaml", "--logits", "--backend", "jax")
    assert default.returncode == 0 and logits.returncode == 0, logits.stderr
    assert "torch.softmax" in default.stdout and "softmax" not in logits.stdout.split("def apply")[1]
    assert "Regenerate with: alexspec compile specs/alexnet.yaml --backend jax --logits" in logits.stdout


def test_unknown_output_is_a_located_error():
    with pytest.raises(SpecError) as error:
        alexnet_spec.compile_source(ROOT / "specs" / "lenet5.yaml", output="probabilities")
    assert "unknown output 'probabilities'" in str(error.value) and "spec, logits" in str(error.value)
