"""bfloat16 and float16 builds, the same checks for every backend that generates code: parameters really stored
in the low type, batch normalisation's kept in float32, and the float32 islands visible in the source."""

from __future__ import annotations

import pytest

from alexnet_spec import backends
from alexnet_spec.precision import LOW_PRECISIONS, with_precision
from tests.conftest import resolve_text

pytest.importorskip("torch")
pytest.importorskip("jax")

WITH_BATCHNORM = """
    name: Normed
    input: {channels: 3, height: 10, width: 9}
    layers:
      - {type: conv, name: conv, out_channels: 4, kernel: 3}
      - {type: batchnorm, name: batchnorm}
      - {type: prelu, name: prelu}
      - {type: lrn, name: lrn, size: 3, alpha: 1.0e-4, beta: 0.75, k: 2, convention: paper}
      - {type: flatten, name: flatten}
      - {type: dense, name: dense, out_features: 5}
      - {type: softmax, name: prob}
"""


def _parameter_types(backend: str, net) -> dict[str, str]:
    """{parameter name: its element type's name} of a freshly built model."""
    model = backends.get(backend).build(net)
    if backend == "torch":
        return {name: str(value.dtype).removeprefix("torch.") for name, value in model.state_dict().items()
                if value.is_floating_point()}
    import jax

    params = model.init(jax.random.PRNGKey(0))
    return {"/".join(str(key.key) for key in path): str(leaf.dtype)
            for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}


@pytest.mark.parametrize("precision", LOW_PRECISIONS)
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_parameters_are_stored_in_the_low_type_and_batchnorm_in_float32(backend, precision):
    types = _parameter_types(backend, with_precision(resolve_text(WITH_BATCHNORM), precision))
    normed = {name: kind for name, kind in types.items() if name.startswith("batchnorm")}
    rest = {name: kind for name, kind in types.items() if not name.startswith("batchnorm")}
    assert normed and set(normed.values()) == {"float32"}, normed
    assert len(rest) >= 5 and set(rest.values()) == {precision}, rest  # conv, prelu and dense parameters


@pytest.mark.parametrize("precision", LOW_PRECISIONS)
def test_torch_runs_in_the_low_type_with_float32_islands(precision):
    import torch

    net = with_precision(resolve_text(WITH_BATCHNORM), precision)
    model = backends.get("torch").build(net).eval()
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen[name] = (inputs[0].dtype, output.dtype)
        return hook

    hooks = [module.register_forward_hook(record(name)) for name, module in model.named_children()]
    with torch.no_grad():
        y = model(torch.randn(2, 3, 10, 9))
    for hook in hooks:
        hook.remove()
    low = getattr(torch, precision)
    assert seen["conv"] == (low, low) and seen["dense"] == (low, low)
    assert seen["batchnorm"] == (low, low)  # float32 statistics inside torch's batch norm, the activation stays low
    assert seen["lrn"] == (torch.float32, torch.float32)  # the island: called on x.float()
    assert y.dtype == low and torch.allclose(y.float().sum(dim=1), torch.ones(2), atol=1e-2)


def test_the_islands_say_why_in_the_generated_source():
    net = with_precision(resolve_text(WITH_BATCHNORM), "bfloat16")
    torch_source = backends.get("torch").render(net)
    assert "x = self.lrn(x.float()).to(torch.bfloat16)" in torch_source
    assert "x = torch.softmax(x.float(), dim=1).to(torch.bfloat16)" in torch_source
    assert "float32: its sum of squares" in torch_source and "in float32: its sum of exponentials" in torch_source
    assert "x = x.to(torch.bfloat16)  " in torch_source  # its first layer, a convolution, reads it as it is
    jax_source = backends.get("jax").render(net)
    assert "local_response_norm(x.astype(jnp.float32), " in jax_source
    assert "jax.nn.softmax(x.astype(jnp.float32), axis=-1).astype(jnp.bfloat16)" in jax_source
    assert "x = x.astype(jnp.bfloat16)" in jax_source and "def init(key, dtype=jnp.bfloat16):" in jax_source
