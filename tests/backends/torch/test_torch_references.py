"""The torch build of each graph spec computes what a hand-written model of the same network computes.

The references (tests/references/) are written the way their sources write them, torchvision's classes or a Caffe
prototxt's layer list, without alexspec. One set of float64 weights, copied by name (each reference's NAMES maps the
spec's names onto its own), goes into both; the outputs agree to 1e-9 relative. A wrong kernel, stride, padding,
rounding rule, branch order in a concat, or shortcut gives a different function and fails.
"""

from __future__ import annotations

import pytest
import torch

from alexnet_spec.backends.torch import backend
from alexnet_spec.source.loading import load_network
from tests.conftest import SPECS_DIR
from tests.core.test_specs import EXPECTED_PARAMS
from tests.references import googlenet, googlenet_bvlc, nin, resnet, squeezenet, vgg

# spec -> (reference model, its name map, `--set` edits that keep the run small). Odd, unequal heights and widths
# exercise the floors of strided convolutions and the ceilings of pools on both axes; the Caffe models run at the
# prototxts' 224, where their last fixed-size average pool is the global average the specs write.
CASES = {
    "resnet18.yaml": (resnet.ResNet18, resnet.NAMES, ["input.height=57", "input.width=45"]),
    "googlenet.yaml": (googlenet.GoogLeNet, googlenet.NAMES, ["input.height=61", "input.width=47"]),
    "squeezenet1_0.yaml": (squeezenet.SqueezeNet1_0, squeezenet.NAMES, ["input.height=61", "input.width=47"]),
    "vgg16.yaml": (lambda: vgg.VGG16(num_classes=10, hidden=24), vgg.NAMES,
                   ["input.height=32", "input.width=64", "fc6.out_features=24", "fc7.out_features=24",
                    "fc8.out_features=10"]),
    "googlenet_bvlc.yaml": (googlenet_bvlc.bvlc_googlenet, googlenet_bvlc.NAMES, []),
    "nin.yaml": (nin.nin, nin.NAMES, []),
}


def random_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """He-scaled weights (activations stay of order one through the depth), biases and batchnorm statistics away
    from their defaults, so that every parameter and buffer matters to the output."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, value in model.state_dict().items():
        shape = value.shape
        if name.endswith("num_batches_tracked"):
            state[name] = value.clone()
        elif name.endswith("running_var") or (name.endswith(".weight") and len(shape) == 1):
            state[name] = torch.rand(shape, generator=generator, dtype=torch.float64) + 0.5
        elif len(shape) == 1:
            state[name] = torch.randn(shape, generator=generator, dtype=torch.float64) * 0.1
        else:
            fan_in = shape[1:].numel()
            state[name] = torch.randn(shape, generator=generator, dtype=torch.float64) * (2 / fan_in) ** 0.5
    return state


@pytest.mark.parametrize("spec", CASES)
def test_reference_has_the_published_parameter_count(spec):
    make, _, _ = CASES[spec]
    full = {"vgg16.yaml": vgg.VGG16}.get(spec, make)
    with torch.device("meta"):  # counts without allocating VGG-16's 138 million
        assert sum(parameter.numel() for parameter in full().parameters()) == EXPECTED_PARAMS[spec]


@pytest.mark.parametrize("spec", CASES)
def test_torch_build_equals_the_hand_written_reference(spec):
    make, names, overrides = CASES[spec]
    net = load_network(SPECS_DIR / spec, overrides)
    ours = backend.build(net, dtype="float64").eval()
    reference = make().double().eval()
    state = random_state(ours, seed=len(spec))
    ours.load_state_dict(state)
    reference.load_state_dict({names(name): value for name, value in state.items()})  # strict: the same tensors
    x = torch.randn((2, *net.input_shape), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        got, want = ours(x), reference(x)
    assert got.shape == want.shape == (2, *net.output_shape)
    assert 1e-3 < want.std().item() < 1e3 and not torch.allclose(want[0], want[1])  # not a degenerate output
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9 * want.abs().max().item())
