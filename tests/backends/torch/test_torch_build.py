"""build(): it executes the rendered source; every spec runs and every layer has the predicted shape."""

from __future__ import annotations

import contextlib
import inspect
import traceback

import pytest
import torch

from alexnet_spec import build
from alexnet_spec.backends.torch import backend
from alexnet_spec.errors import SpecError
from alexnet_spec.source.loading import load_network
from tests.backends.torch.torch_helpers import build_text, layer_outputs
from tests.conftest import ROOT, SPEC_FILES, TINY_SPEC, resolve_text, spec_to_run


def test_inspect_shows_the_rendered_source():
    net = resolve_text(TINY_SPEC)
    model = backend.build(net)
    source = backend.render(net)
    class_source = inspect.getsource(type(model))
    assert class_source.startswith(f"class {net.class_name}(nn.Module):")
    assert class_source in source
    assert inspect.getsource(type(model).forward) in source


def test_tracebacks_show_the_generated_line():
    net, model = build_text(TINY_SPEC)
    with pytest.raises(RuntimeError) as error:
        model(torch.zeros(1, 4, 12, 10))  # 4 channels where the spec says 3
    frames = traceback.extract_tb(error.value.__traceback__)
    generated = [frame for frame in frames if frame.filename == inspect.getmodule(type(model)).__file__]
    assert generated and generated[-1].line.startswith("x = self.conv1(x)")
    assert "height: (12 + 2*1 - 3)/1 + 1 = 12" in generated[-1].line


def test_build_through_the_api_and_options():
    model = build(ROOT / "specs" / "lenet5.yaml", backend="torch")
    assert type(model).__name__ == "LeNet5"
    assert [name for name, _ in model.named_children()] == ["c1", "s2", "c3", "s4", "c5", "f6", "output"]
    with pytest.raises(TypeError, match="unknown option"):
        backend.build(resolve_text(TINY_SPEC), precision="float64")


def test_devices_must_match_the_spec():
    with pytest.raises(SpecError, match="no devices"):
        backend.build(resolve_text(TINY_SPEC), devices=["cpu", "cpu"])
    with contextlib.chdir(ROOT):
        net = load_network("specs/alexnet.yaml")
    with pytest.raises(SpecError, match="2 devices"):
        backend.build(net, devices=["cpu"])


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda path: path.name)
def test_every_spec_runs_with_the_predicted_shapes(path):
    net = spec_to_run(path)
    model = backend.build(net).eval()
    torch.manual_seed(0)
    x = torch.randn(2, *net.input_shape)
    with torch.no_grad():
        outputs = layer_outputs(model, net, x)
    assert list(outputs) == [layer.name for layer in net.layers]
    for layer in net.layers:
        assert tuple(outputs[layer.name].shape) == (2, *layer.output_shape), layer.name
    assert torch.isfinite(outputs[net.layers[-1].name]).all()


def test_identical_statements_of_consecutive_layers_are_told_apart():
    net, model = build_text("""
        name: Twice
        input: {channels: 1, height: 3, width: 3}
        layers:
          - {type: conv, name: conv, out_channels: 2, kernel: 1}
          - {type: relu, name: relu1}
          - {type: relu, name: relu2}
    """)
    with torch.no_grad():
        outputs = layer_outputs(model, net, torch.randn(2, 1, 3, 3))
    assert list(outputs) == ["conv", "relu1", "relu2"]


def test_relu_after_relu_keeps_gradients():
    # Found by the torch/jax gradient property: an in-place relu on a relu's output broke autograd.
    import torch

    from tests.conftest import resolve_text

    net = resolve_text("""
        name: DoubleRelu
        input: {channels: 1, height: 6, width: 6}
        layers:
          - {type: conv, out_channels: 1, kernel: 1, activation: relu}
          - {type: relu}
          - {type: flatten}
          - {type: dense, out_features: 1, bias: false}
    """)
    model = backend.build(net, dtype="float64")
    x = torch.randn(2, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    (model(x) ** 2).sum().backward()
    assert x.grad is not None and "torch.relu(x)" in backend.render(net)


@pytest.mark.parametrize("spec", ["lenet5.yaml", "squeezenet1_0.yaml"])
def test_kernels_are_laid_out_as_the_activations_so_no_call_converts_them(spec):
    # A kernel in the other layout than the activations is copied by every convolution call, forward and backward.
    with contextlib.chdir(ROOT):
        model = backend.build(load_network(f"specs/{spec}"), dtype="float64")
    kernels = [p for p in model.parameters() if p.dim() == 4]
    assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)
    model.load_state_dict({name: value.contiguous() for name, value in model.state_dict().items()})
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)  # loading keeps the layout
    shapes = {tuple(p.shape) for p in kernels}
    x = torch.randn(2, *load_network(ROOT / "specs" / spec).input_shape, dtype=torch.float64)
    with torch.profiler.profile(record_shapes=True) as profile:
        model(x).sum().backward()
    copied = [tuple(event.input_shapes[0]) for event in profile.events()
              if event.name == "aten::copy_" and event.input_shapes and tuple(event.input_shapes[0]) in shapes]
    assert not copied


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_an_image_read_only_by_convolutions_is_not_copied_into_channels_last(precision):
    # The kernels' layout makes conv1's output channels last; a pool reading the image first needs the copy.
    from alexnet_spec.precision import with_precision

    for first, copied in (("{type: conv, out_channels: 4, kernel: 3, stride: 2}", False),
                          ("{type: maxpool, kernel: 3, stride: 2}", True)):
        net = with_precision(resolve_text("name: First\ninput: {channels: 3, height: 17, width: 17}\nlayers:\n"
                                          f"  - {first}\n  - {{type: conv, out_channels: 4, kernel: 3}}\n"), precision)
        model = backend.build(net)
        forward = inspect.getsource(type(model).forward)
        assert ("memory_format=torch.channels_last)  #" in forward) == copied, forward
        seen = []
        model.conv1.register_forward_hook(lambda module, args, out: seen.append(out))
        model(torch.randn(2, 3, 17, 17))
        assert seen[0].is_contiguous(memory_format=torch.channels_last)
        assert seen[0].dtype == getattr(torch, precision)
