"""Graph networks in the torch backend: the new ops against torch.nn's own modules, blocks built from YAML against
hand-written torchvision-style modules with the weights copied by name, state dict names, per-layer outputs inside
blocks, several outputs, and the placed class refusing what it cannot place."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from alexnet_spec.backends.torch import backend
from alexnet_spec.errors import SpecError
from alexnet_spec.weights import weight_shapes
from tests.backends.torch.torch_helpers import build_text, layer_outputs
from tests.conftest import resolve_text

F64 = torch.float64

OPS = """
    name: Ops
    input: {channels: 3, height: 5, width: 4}
    layers:
      - {type: conv, name: conv, out_channels: 6, kernel: 1}
      - {type: relu, name: relu, inputs: [conv]}
      - {type: leaky_relu, name: leaky, negative_slope: 0.2, inputs: [conv]}
      - {type: elu, name: elu, alpha: 0.7, inputs: [conv]}
      - {type: gelu, name: gelu, inputs: [conv]}
      - {type: gelu, name: gelu_tanh, approximate: tanh, inputs: [conv]}
      - {type: silu, name: silu, inputs: [conv]}
      - {type: prelu, name: prelu_channels, per_channel: true, initial_slope: 0.1, inputs: [conv]}
      - {type: prelu, name: prelu_one, inputs: [conv]}
      - {type: add, name: sum, inputs: [leaky, elu, gelu, relu]}
      - {type: concat, name: cat, inputs: [gelu_tanh, silu, prelu_channels, prelu_one, sum]}
      - {type: global_avgpool, name: avg, inputs: [cat]}
      - {type: global_maxpool, name: max, inputs: [cat]}
      - {type: concat, name: features, inputs: [max, avg]}
      - {type: prelu, name: prelu_features, per_channel: true}
    outputs: [prelu_features, cat]
"""

# A small ResNet (He et al. 2016) as torchvision writes its stages: rows of basic blocks, the first of a stage
# striding and projecting its shortcut.
RESNET = """
    name: TinyResNet
    input: {channels: 3, height: 16, width: 12}
    allow_truncation: true
    blocks:
      basic:
        params: {channels: null, stride: 1, downsample: false}
        layers:
          - {type: conv, name: conv1, out_channels: $channels, kernel: 3, stride: $stride, padding: 1, bias: false}
          - {type: batchnorm, name: bn1}
          - {type: relu, name: relu1}
          - {type: conv, name: conv2, out_channels: $channels, kernel: 3, padding: 1, bias: false}
          - {type: batchnorm, name: bn2}
          - {type: conv, name: down_conv, inputs: [input], out_channels: $channels, kernel: 1, stride: $stride,
             bias: false, when: $downsample}
          - {type: batchnorm, name: down_bn, when: $downsample}
          - {type: add, name: add, inputs: [bn2, down_bn]}
          - {type: relu, name: relu2}
    layers:
      - {type: conv, name: stem, out_channels: 8, kernel: 3, padding: 1, bias: false}
      - {type: batchnorm, name: stem_bn}
      - {type: relu, name: stem_relu}
      - {type: block, block: basic, name: layer1, repeat: 2, args: {channels: 8}}
      - {type: block, block: basic, name: layer2, repeat: 2, args: {channels: 16}, first: {stride: 2, downsample: true}}
      - {type: global_avgpool, name: pool}
      - {type: dense, name: fc, out_features: 10}
"""

# SqueezeNet's fire module (Iandola et al. 2016, torchvision's Fire), with a second output from the first fire.
FIRE = """
    name: TinySqueeze
    input: {channels: 3, height: 9, width: 7}
    blocks:
      fire:
        params: {squeeze: null, expand: null}
        layers:
          - {type: conv, name: squeeze, out_channels: $squeeze, kernel: 1, activation: relu}
          - {type: conv, name: expand1x1, out_channels: $expand, kernel: 1, activation: relu}
          - {type: conv, name: expand3x3, inputs: [squeeze], out_channels: $expand, kernel: 3, padding: 1,
             activation: relu}
          - {type: concat, name: out, inputs: [expand1x1, expand3x3]}
    layers:
      - {type: conv, name: conv1, out_channels: 6, kernel: 3, activation: relu}
      - {type: block, block: fire, name: fire2, args: {squeeze: 2, expand: 4}}
      - {type: block, block: fire, name: fire3, args: {squeeze: 3, expand: 5}}
      - {type: conv, name: classifier, out_channels: 4, kernel: 1, activation: relu}
      - {type: global_avgpool, name: pool}
    outputs: [pool, fire2]
"""


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock, the shortcut's layers named as the spec names them."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = stride != 1 or inplanes != planes
        if self.downsample:
            self.down_conv = nn.Conv2d(inplanes, planes, 1, stride, bias=False)
            self.down_bn = nn.BatchNorm2d(planes)

    def forward(self, x):
        identity = self.down_bn(self.down_conv(x)) if self.downsample else x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class HandResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, stride=2), BasicBlock(16, 16))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(torch.relu(self.stem_bn(self.stem(x)))))
        return self.fc(nn.AdaptiveAvgPool2d(1)(x).flatten(1))


class Fire(nn.Module):
    """torchvision.models.squeezenet.Fire."""

    def __init__(self, inplanes, squeeze_planes, expand_planes):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand_planes, kernel_size=1)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand_planes, kernel_size=3, padding=1)

    def forward(self, x):
        x = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1x1(x)), torch.relu(self.expand3x3(x))], 1)


class HandSqueeze(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, kernel_size=3)
        self.fire2, self.fire3 = Fire(6, 2, 4), Fire(8, 3, 5)
        self.classifier = nn.Conv2d(10, 4, kernel_size=1)

    def forward(self, x):
        fire2 = self.fire2(torch.relu(self.conv1(x)))
        x = torch.relu(self.classifier(self.fire3(fire2)))
        return nn.AdaptiveAvgPool2d(1)(x).flatten(1), fire2


def _randomised(model, seed):
    """Every parameter and batchnorm statistic drawn away from its initial value, so that each one matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                values = torch.rand(tensor.shape, generator=generator, dtype=tensor.dtype)
                tensor.copy_(values + 0.5 if name.endswith("running_var") else values * 2 - 1)
    return model


def _close(actual, expected, name="", tolerance=1e-12):
    """Equal to `tolerance` relative to the largest element: activations of random weights reach thousands, and
    convolutions of another memory format sum in another order."""
    scale = max(expected.abs().max().item(), 1.0)
    assert (actual - expected).abs().max().item() <= tolerance * scale, name


def _input(net, batch=3, seed=1):
    return torch.randn(batch, *net.input_shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


def test_each_new_op_equals_torch_nn():
    net, model = build_text(OPS, dtype=F64)
    _randomised(model, seed=0)
    x = _input(net)
    with torch.no_grad():
        out = layer_outputs(model, net, x)
        prelu_channels, prelu_one = nn.PReLU(6).to(F64), nn.PReLU().to(F64)
        prelu_features = nn.PReLU(60).to(F64)
        for module, name in ((prelu_channels, "prelu_channels"), (prelu_one, "prelu_one"),
                             (prelu_features, "prelu_features")):
            module.weight.copy_(getattr(model, name).weight)
        conv = out["conv"]
        expected = {
            "leaky": nn.LeakyReLU(0.2)(conv), "elu": nn.ELU(alpha=0.7)(conv), "gelu": nn.GELU()(conv),
            "gelu_tanh": nn.GELU(approximate="tanh")(conv), "silu": nn.SiLU()(conv),
            "prelu_channels": prelu_channels(conv), "prelu_one": prelu_one(conv),
            "relu": nn.ReLU()(conv),  # not in place: conv is read by others after it
            "sum": torch.stack([out["leaky"], out["elu"], out["gelu"], out["relu"]]).sum(0),
            "cat": torch.cat([out[name] for name in ("gelu_tanh", "silu", "prelu_channels", "prelu_one", "sum")], 1),
            "avg": nn.AdaptiveAvgPool2d(1)(out["cat"]).flatten(1),
            "max": nn.AdaptiveMaxPool2d(1)(out["cat"]).flatten(1),
            "features": torch.cat([out["max"], out["avg"]], 1),
            "prelu_features": prelu_features(out["features"]),
        }
        assert (conv < 0).any() and (conv > 0).any()  # both sides of every activation are exercised
        for name, value in expected.items():
            _close(out[name], value, name)
        returned = model(x)
    assert isinstance(returned, tuple) and len(returned) == 2
    torch.testing.assert_close(returned[0], out["prelu_features"], rtol=0, atol=0)
    torch.testing.assert_close(returned[1], out["cat"], rtol=0, atol=0)
    assert tuple(model.prelu_channels.weight.shape) == (6,) and model.prelu_one.weight.shape == (1,)


@pytest.mark.parametrize("spec, hand", [(RESNET, HandResNet), (FIRE, HandSqueeze)], ids=["resnet", "fire"])
def test_blocks_equal_a_hand_written_module(spec, hand):
    """Weights copied by name (strict: the state dict names are torchvision's), float64, eval and training mode,
    outputs and gradients: an in-place operation on a value read twice would fail one of them."""
    net, model = build_text(spec, dtype=F64)
    reference = _randomised(hand().to(F64), seed=3)
    model.load_state_dict(reference.state_dict())
    x = _input(net)
    for train in (False, True):
        model.train(train), reference.train(train)
        got = model(x.clone().requires_grad_())
        want = reference(x.clone().requires_grad_())
        got, want = (got if isinstance(got, tuple) else (got,)), (want if isinstance(want, tuple) else (want,))
        for a, b in zip(got, want, strict=True):
            _close(a, b)
        sum(value.square().sum() for value in got).backward()
        sum(value.square().sum() for value in want).backward()
        for (name, a), b in zip(model.named_parameters(), reference.parameters(), strict=True):
            _close(a.grad, b.grad, name)
        model.zero_grad(), reference.zero_grad()
    for name, buffer in reference.state_dict().items():  # training mode moved the running statistics alike
        _close(model.state_dict()[name].double(), buffer.double(), name)


def test_state_dict_names_are_the_canonical_qualified_names():
    net, model = build_text(RESNET)
    state = {name: tuple(value.shape) for name, value in model.state_dict().items()
             if not name.endswith("num_batches_tracked")}  # a counter, not a weight
    assert list(state) == list(weight_shapes(net)) and state == weight_shapes(net)
    assert "layer2.0.down_conv.weight" in model.state_dict() and "layer1.1.bn2.running_var" in model.state_dict()


def test_layer_outputs_inside_blocks_are_the_modules_outputs():
    """Every layer's traced value, keyed by qualified name, equals what the hand-written model's module of that
    name returned (forward hooks), in every instance of a shared class."""
    net, model = build_text(RESNET, dtype=F64)
    reference = _randomised(HandResNet().to(F64).eval(), seed=4)
    model.load_state_dict(reference.state_dict())
    hooked = {}
    for name, module in reference.named_modules():
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
            module.register_forward_hook(lambda m, i, o, name=name: hooked.__setitem__(name, o.clone()))
    x = _input(net)
    with torch.no_grad():
        reference(x)
        outputs = layer_outputs(model, net, x)
    assert list(outputs) == [layer.name for layer in net.layers]
    assert len(hooked) == 21
    for name, value in hooked.items():
        _close(outputs[name], value, name)
    for block in ("layer1.0", "layer1.1", "layer2.0", "layer2.1"):
        assert (outputs[f"{block}.bn1"] < 0).any()
        assert torch.equal(outputs[f"{block}.relu1"], torch.relu(outputs[f"{block}.bn1"]))


def test_evaluate_returns_every_qualified_layer():
    from alexnet_spec.weights import init_weights

    net = resolve_text(FIRE)
    x = _input(net, batch=2).numpy()
    outputs = backend.evaluate(net, init_weights(net, 0), x)
    assert [name for name, _ in outputs] == [layer.name for layer in net.layers]
    assert dict(outputs)["fire3.out"].shape == (2, 10, 7, 5)


def test_block_configurations_share_a_class_and_render_readably():
    net = resolve_text(RESNET)
    source = backend.render(net)
    assert "class Basic(nn.Module):" in source and "class Basic3(nn.Module):" in source
    assert "class Basic4" not in source
    assert "self.layer1 = nn.Sequential(Basic(), Basic())" in source
    assert "self.layer2 = nn.Sequential(Basic2(), Basic3())" in source
    assert "        bn2 = self.bn2(x)" in source and "        x = bn2 + x" in source  # kept for a later read
    assert "        x = x + input" in source  # the block's input, read twice
    model = backend.build(net)
    assert type(model.layer1[0]) is type(model.layer1[1]) and type(model.layer2[0]) is not type(model.layer2[1])


def test_generated_graph_modules_pass_ruff(tmp_path):
    pytest.importorskip("ruff")
    import subprocess
    import sys

    from tests.backends.test_source import LINT

    from tests.backends.torch.test_torch_placement import BRANCHES  # its placed class too

    for name, spec in (("ops", OPS), ("resnet", RESNET), ("fire", FIRE), ("branches", BRANCHES)):
        (tmp_path / f"{name}.py").write_text(backend.render(resolve_text(spec)), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "ruff", *LINT, str(tmp_path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_placed_class_refuses_a_split_layer_in_a_graph_naming_the_layer():
    spec = RESNET.replace("name: TinyResNet", "name: TinyResNet\n    devices: [gpu0, gpu1]")
    with pytest.raises(SpecError) as error:  # convolutions are split by default: the stem is the first
        backend.render(resolve_text(spec))
    message = str(error.value)
    assert "layer stem" in message and "split over the devices inside a graph" in message
    assert "placement: <device>" in message and "remove `devices`" in message


def test_new_ops_in_a_placed_chain_equal_the_single_device_model():
    spec = """
        name: PlacedOps
        devices: [gpu0, gpu1]
        input: {channels: 3, height: 6, width: 5}
        layers:
          - {type: conv, name: conv, out_channels: 4, kernel: 3}
          - {type: leaky_relu, name: leaky, negative_slope: 0.1}
          - {type: gelu, name: gelu, approximate: tanh}
          - {type: global_maxpool, name: pool}
          - {type: dense, name: fc, out_features: 6, placement: gpu1}
          - {type: prelu, name: prelu, per_channel: true}
    """
    net, model = build_text(spec, dtype=F64)
    _randomised(model, seed=5)
    placed = backend.build(net, devices=["cpu", "cpu"], dtype=F64).eval()
    placed.load_single_state_dict(model.state_dict())
    x = _input(net)
    with torch.no_grad():
        _close(placed(x), model(x))
    assert "xs = [F.leaky_relu(x, negative_slope=0.1) for x in xs]" in backend.render(net)


def test_a_long_row_is_one_comprehension():
    net = resolve_text(RESNET.replace("repeat: 2, args: {channels: 8}", "repeat: 4, args: {channels: 8}"))
    source = backend.render(net)
    assert "self.layer1 = nn.Sequential(*[Basic() for _ in range(4)])" in source
    assert "Instances: layer1.0 to layer1.3 (channels=8, stride=1, downsample=False)." in source
    assert "layer1.3.conv2.weight" in backend.build(net).state_dict()
