"""The generated Linear (helpers/dense.jinja): torch.nn.Linear's values and gradients in float64, its weight gradient
added straight into an existing weight.grad, and torch's own gradient wherever autograd would not add it there
(no gradient yet, autograd.grad, backward(inputs=...), hooks, create_graph). Speed and memory are measured in
benchmarks/torch_model.py and benchmarks/memory.py, never here."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from alexnet_spec.backends.torch import generated_module
from tests.conftest import resolve_text

IN, OUT, BATCH = 7, 5, 3  # different on every axis, so that a transposed product cannot pass


@pytest.fixture(scope="module")
def generated():
    """The module generated for a one-layer dense spec: Linear and its helpers, as users get them."""
    return generated_module(resolve_text(f"""
        name: OnlyDense
        input: {{channels: {IN}, height: 1, width: 1}}
        layers:
          - {{type: flatten}}
          - {{type: dense, name: fc, out_features: {OUT}}}
    """))


def pair(generated, bias=True):
    """(generated Linear, torch.nn.Linear) in float64 with the same parameters."""
    torch.manual_seed(0)
    reference = torch.nn.Linear(IN, OUT, bias=bias, dtype=torch.float64)
    ours = generated.Linear(IN, OUT, bias=bias, dtype=torch.float64)
    ours.load_state_dict(reference.state_dict())
    return ours, reference


class OpLog(TorchDispatchMode):
    """The aten operators that run inside it, by name."""

    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.__name__)
        return func(*args, **(kwargs or {}))


def test_is_an_nn_linear_with_its_state_dict(generated):
    ours, reference = pair(generated)
    assert isinstance(ours, torch.nn.Linear)
    assert ours.state_dict().keys() == reference.state_dict().keys()


def test_gradcheck_and_gradgradcheck(generated):
    x = torch.randn(BATCH, IN, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(OUT, IN, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(OUT, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(generated._Linear.apply, (x, weight, bias))
    assert torch.autograd.gradcheck(generated._Linear.apply, (x, weight, None))
    assert torch.autograd.gradgradcheck(generated._Linear.apply, (x, weight, bias))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("existing_grad", [False, True])
def test_gradients_equal_nn_linear(generated, bias, existing_grad):
    """Two backward passes accumulating, as gradient accumulation over micro-batches does, with and without a
    gradient already there; the input's gradient too."""
    ours, reference = pair(generated, bias)
    for model in (ours, reference):
        if existing_grad:
            for parameter in model.parameters():
                parameter.grad = torch.full_like(parameter, 0.5)
    x = torch.randn(BATCH, IN, dtype=torch.float64)
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    for model, x in zip((ours, reference), xs):
        for scale in (1.0, -2.5):
            (model(x * scale) ** 2).sum().backward()
    torch.testing.assert_close(ours(xs[0]), reference(xs[1]), rtol=0, atol=1e-12)
    for (name, mine), theirs in zip(ours.named_parameters(), reference.parameters()):
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-12, atol=1e-12, msg=name)
    torch.testing.assert_close(xs[0].grad, xs[1].grad, rtol=1e-12, atol=1e-12)


def test_an_existing_gradient_is_added_to_in_place_without_a_weight_sized_temporary(generated):
    ours, _ = pair(generated)
    ours.weight.grad = torch.zeros_like(ours.weight)
    grad = ours.weight.grad
    loss = ours(torch.randn(BATCH, IN, dtype=torch.float64)).sum()
    with OpLog() as log:
        loss.backward()
    assert ours.weight.grad is grad
    assert log.names.count("addmm_.default") == 1  # weight.grad += grad_y.T @ x
    assert "add_.Tensor" not in log.names  # AccumulateGrad's own addition did not run: nothing was handed to it


def test_without_a_gradient_yet_autograd_gets_a_new_one(generated):
    ours, reference = pair(generated)
    x = torch.randn(BATCH, IN, dtype=torch.float64)
    ours(x).sum().backward()
    reference(x).sum().backward()
    torch.testing.assert_close(ours.weight.grad, reference.weight.grad, rtol=0, atol=1e-12)


def test_autograd_grad_returns_the_gradient_and_leaves_weight_grad_alone(generated):
    ours, reference = pair(generated)
    ours.weight.grad = torch.zeros_like(ours.weight)
    x = torch.randn(BATCH, IN, dtype=torch.float64)
    (mine,) = torch.autograd.grad(ours(x).pow(2).sum(), [ours.weight])
    (theirs,) = torch.autograd.grad(reference(x).pow(2).sum(), [reference.weight])
    torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-12)
    assert not ours.weight.grad.any()


def test_backward_with_inputs_that_leave_out_the_weight(generated):
    ours, _ = pair(generated)
    ours.weight.grad = torch.zeros_like(ours.weight)
    x = torch.randn(BATCH, IN, dtype=torch.float64, requires_grad=True)
    ours(x).sum().backward(inputs=[x])
    assert not ours.weight.grad.any() and x.grad is not None


def test_hooks_on_the_weight_see_the_gradient(generated):
    """A tensor hook (gradient clipping, logging) and a post-accumulate hook (optimizer in backward) get what
    torch.nn.Linear gives them."""
    seen = {}

    def keep(kind, grad):
        seen[kind] = grad.clone()

    for kind in ("mine", "theirs"):
        model = pair(generated)[0 if kind == "mine" else 1]
        model.weight.grad = torch.ones_like(model.weight)
        model.weight.register_hook(lambda grad, kind=kind: keep(kind, grad))
        model.weight.register_post_accumulate_grad_hook(lambda weight, kind=kind: keep(f"{kind} sum", weight.grad))
        model(torch.arange(BATCH * IN, dtype=torch.float64).reshape(BATCH, IN)).sum().backward()
    torch.testing.assert_close(seen["mine"], seen["theirs"], rtol=0, atol=1e-12)
    torch.testing.assert_close(seen["mine sum"], seen["theirs sum"], rtol=0, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")  # the cycle torch warns of
def test_create_graph_gives_a_differentiable_gradient(generated):
    ours, reference = pair(generated)
    x = torch.randn(BATCH, IN, dtype=torch.float64)
    for model in (ours, reference):
        model.weight.grad = torch.zeros_like(model.weight)
        (model(x) ** 3).sum().backward(create_graph=True)
        model.weight.grad.sum().backward()  # second order: d/dw of sum(d loss / d w)
    torch.testing.assert_close(ours.weight.grad, reference.weight.grad, rtol=1e-12, atol=1e-12)


def test_without_gradients_it_is_torch_linear(generated):
    ours, reference = pair(generated)
    x = torch.randn(2, 4, IN, dtype=torch.float64)  # torch.nn.Linear takes any leading axes
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)
    torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)  # 3-d input with gradients: F.linear too
