"""The generated module as a real nn.Module: hand-written equivalents, declared initialisation, training,
torch.compile and torch.export, and the file running where alexnet_spec is not importable."""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys
import textwrap

import pytest
import torch

from alexnet_spec import compile_source
from alexnet_spec.backends.torch import backend
from alexnet_spec.source.loading import load_network
from benchmarks.torch_model import TwoTowerAlexNet, copy_in_order, torchvision_sequential
from tests.backends.torch.torch_helpers import build_text
from tests.conftest import ROOT

SMALL = """
    name: Small
    input: {channels: 3, height: 16, width: 16}
    layers:
      - {type: conv, name: conv1, out_channels: 12, kernel: 3, padding: 1, groups: 3, activation: relu}
      - {type: lrn, name: norm1, size: 5, alpha: 1.0e-2, beta: 0.75, k: 2, convention: paper, groups: 2}
      - {type: batchnorm, name: bn1}
      - {type: maxpool, name: pool1, kernel: 3, stride: 2, padding: [0, 1, 0, 1]}
      - {type: conv, name: conv2, out_channels: 8, kernel: 3, stride: 2, padding: same}
      - {type: relu, name: relu2}
      - {type: adaptive_avgpool, name: avgpool, output_size: 2}
      - {type: flatten, name: flatten}
      - {type: dropout, name: drop, p: 0.2}
      - {type: dense, name: fc, out_features: 10}
"""


def _spec_net(name: str):
    with contextlib.chdir(ROOT):
        return load_network(f"specs/{name}")


@pytest.fixture(scope="module")
def paper_alexnet():
    torch.manual_seed(0)
    return backend.build(_spec_net("alexnet.yaml"))


def test_torchvision_layout_equals_a_hand_written_sequential():
    reference = torchvision_sequential().eval()
    model = backend.build(_spec_net("alexnet_torchvision.yaml")).eval()
    copy_in_order(reference, model)
    assert [tuple(p.shape) for p in model.parameters()] == [tuple(p.shape) for p in reference.parameters()]
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-5)


def test_training_keeps_less_for_backward_than_the_hand_written_sequential():
    """Exact, from saved_tensors_hooks: no channels-last copy of the input (conv1's channels-last weights make its
    output channels last from the caller's batch) and no int64 pooling indices; the rest is what torch.nn keeps."""
    from benchmarks.memory import saved_for_backward

    ours = saved_for_backward("alexnet_torchvision.yaml", "generated", 224, batch=2)
    theirs = saved_for_backward("alexnet_torchvision.yaml", "torchvision_sequential", 224, batch=2)
    assert {dtype for dtype, _, _ in theirs} == {"float32", "int64"}  # the indices (and the labels)
    assert [shape for dtype, shape, _ in ours if dtype == "int64"] == [(2,)]  # only the labels
    assert all(len(shape) != 4 or shape[1] != 3 for _, shape, _ in ours)  # no copy of the image
    assert sum(size for *_, size in ours) < 0.8 * sum(size for *_, size in theirs)


def test_convolution_weights_and_activations_are_channels_last():
    model = backend.build(_spec_net("alexnet_torchvision.yaml"))
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.dim() == 4)
    assert model.conv1(torch.randn(1, 3, 224, 224)).is_contiguous(memory_format=torch.channels_last)
    assert "x = x.contiguous(memory_format" not in backend.render(_spec_net("alexnet_torchvision.yaml"))


def test_an_input_read_by_other_layers_is_made_channels_last_first():
    net, model = build_text("""
        name: PoolFirst
        input: {channels: 3, height: 8, width: 8}
        layers:
          - {type: maxpool, kernel: 2}
          - {type: conv, out_channels: 4, kernel: 3}
    """)
    assert "x = x.contiguous(memory_format=torch.channels_last)" in backend.render(net)
    assert model(torch.randn(2, 3, 8, 8)).is_contiguous(memory_format=torch.channels_last)


def test_paper_model_equals_a_hand_written_two_tower_module_in_float64(paper_alexnet):
    torch.manual_seed(1)
    reference = TwoTowerAlexNet().double().eval()
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.normal_(0, 0.05)
    model = backend.build(_spec_net("alexnet.yaml")).double().eval()
    model.load_state_dict(reference.canonical_state_dict())
    x = torch.randn(2, 3, 227, 227, dtype=torch.float64)
    with torch.no_grad():
        expected, actual = reference(x), model(x)
    assert expected.std() > 1e-3  # the output is not a flat softmax
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-13)


def test_paper_initialisation(paper_alexnet):
    state = paper_alexnet.state_dict()
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        weight = state[f"{name}.weight"]
        assert abs(weight.mean().item()) < 5 * 0.01 / math.sqrt(weight.numel()), name
        assert weight.std().item() == pytest.approx(0.01, rel=0.03), name
        expected_bias = 1.0 if name in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
        assert torch.all(state[f"{name}.bias"] == expected_bias), name


def test_torch_default_initialisation():
    model = backend.build(_spec_net("alexnet_torchvision.yaml"))
    fans = {"conv1": 3 * 11 * 11, "conv2": 64 * 25, "conv3": 192 * 9, "conv4": 384 * 9, "conv5": 256 * 9,
            "fc6": 9216, "fc7": 4096, "fc8": 4096}
    for name, fan_in in fans.items():
        bound = 1 / math.sqrt(fan_in) * (1 + 1e-6)  # float32 rounding
        weight, bias = getattr(model, name).weight, getattr(model, name).bias
        assert weight.abs().max().item() <= bound and bias.abs().max().item() <= bound, name
        assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03), name


def test_reset_parameters_redraws_every_parameter_but_construction_draws_once():
    import torch

    _, model = build_text("""
        name: Mixed
        input: {channels: 3, height: 8, width: 8}
        layers:
          - {type: conv, name: default, out_channels: 4, kernel: 3}
          - {type: conv, name: declared, out_channels: 4, kernel: 3, init: {bias: {dist: constant, value: 0.5}}}
          - {type: flatten}
          - {type: dense, name: fc, out_features: 3}
    """)
    # Construction draws exactly what the same nn modules drawn by hand give from the same seed.
    torch.manual_seed(0)
    built = type(model)()
    torch.manual_seed(0)
    by_hand = [torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 3), torch.nn.Linear(64, 3)]
    for name, module in zip(("default", "declared", "fc"), by_hand):
        assert torch.equal(getattr(built, name).weight, module.weight), name
    assert torch.equal(built.declared.bias, torch.full((4,), 0.5))
    # A later reset redraws every parameter, defaults included, and keeps the declared ones.
    with torch.no_grad():
        for parameter in built.parameters():
            parameter.zero_()
    built.reset_parameters()
    for name in ("default", "declared", "fc"):
        assert getattr(built, name).weight.abs().sum() > 0, name
    assert built.default.bias.abs().sum() > 0 and torch.equal(built.declared.bias, torch.full((4,), 0.5))


def test_explicit_distributions():
    _, model = build_text("""
        name: Explicit
        input: {channels: 64, height: 8, width: 8}
        layers:
          - type: conv
            name: he_out
            out_channels: 128
            kernel: 3
            groups: 4
            init: {weight: {dist: kaiming, mode: fan_out, nonlinearity: relu}, bias: {dist: constant, value: 0.25}}
          - type: conv
            name: he_uniform
            out_channels: 64
            kernel: 3
            init: {weight: {dist: kaiming, nonlinearity: tanh, distribution: uniform}}
          - {type: flatten}
          - type: dense
            name: glorot
            out_features: 300
            init: {weight: {dist: xavier, gain: 2.0, distribution: normal}, bias: {dist: uniform, low: -0.5, high: 0.0}}
          - type: dense
            name: glorot_uniform
            out_features: 200
            init: {weight: {dist: xavier}, bias: {dist: normal, mean: 3.0, std: 0.5}}
    """)
    fan_out = 128 * 9  # torch.nn.init's fan_out: weight.size(0) (every output channel, groups or not) * kh * kw
    assert model.he_out.weight.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.03)
    assert torch.all(model.he_out.bias == 0.25)
    bound = 5 / 3 * math.sqrt(3 / (128 * 9))
    assert model.he_uniform.weight.abs().max().item() <= bound
    assert model.he_uniform.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert model.glorot.weight.std().item() == pytest.approx(2 * math.sqrt(2 / (64 * 16 + 300)), rel=0.03)
    assert -0.5 <= model.glorot.bias.min().item() and model.glorot.bias.max().item() <= 0.0
    bound = math.sqrt(6 / (300 + 200))
    assert model.glorot_uniform.weight.abs().max().item() <= bound
    assert model.glorot_uniform.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert model.glorot_uniform.bias.mean().item() == pytest.approx(3.0, abs=0.15)


def test_training_updates_every_parameter_and_lowers_the_loss():
    torch.manual_seed(0)
    _, model = build_text(SMALL)
    model.train()
    x, labels = torch.randn(16, 3, 16, 16), torch.randint(0, 10, (16,))
    loss = torch.nn.functional.cross_entropy(model(x), labels)
    loss.backward()
    assert all(parameter.grad is not None and parameter.grad.abs().sum() > 0 for parameter in model.parameters())
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(10):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside torch's inductor
def test_torch_compile_captures_the_whole_graph():
    torch.manual_seed(0)
    _, model = build_text(SMALL)
    x = torch.randn(4, 3, 16, 16)
    # fullgraph=True fails on any graph break whatever the backend; aot_eager traces forward and backward graphs as
    # inductor would, without its code generation (about 10 s here, and torch's own business).
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(model, fullgraph=True, backend="aot_eager")(x), model(x))
    x.requires_grad_(True)
    training = torch.compile(model.train(), fullgraph=True, backend="aot_eager")
    training(x).sum().backward()
    assert x.grad is not None and all(parameter.grad is not None for parameter in model.parameters())


def test_torch_export():
    torch.manual_seed(0)
    _, model = build_text(SMALL)
    x = torch.randn(2, 3, 16, 16)
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), model(x))
    targets = {str(node.target) for node in exported.graph.nodes if node.op == "call_function"}
    assert any("conv" in target for target in targets), targets


def test_generated_file_runs_without_alexnet_spec(tmp_path):
    (tmp_path / "alexnet_model.py").write_text(compile_source(ROOT / "specs" / "alexnet.yaml"), encoding="utf-8")
    script = textwrap.dedent("""
        import sys
        sys.modules["alexnet_spec"] = None  # any import of alexnet_spec now fails
        sys.path.insert(0, sys.argv[1])
        import torch
        from alexnet_model import AlexNet, AlexNetPlaced
        model = AlexNet().eval()
        with torch.no_grad():
            y = model(torch.rand(2, 3, 227, 227))
        placed = AlexNetPlaced(["cpu", "cpu"])
        placed.load_single_state_dict(model.state_dict())
        print(tuple(y.shape), round(y.sum().item(), 4), sorted(m for m in sys.modules if "alexnet_spec" in m))
    """)
    result = subprocess.run([sys.executable, "-I", "-c", script, str(tmp_path)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(2,", "1000)", "2.0", "['alexnet_spec']"]
