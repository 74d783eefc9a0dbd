"""The shipped specs: the published numbers are assertions."""

from __future__ import annotations

import math

import pytest

from alexnet_spec.source.loading import load_network
from tests.conftest import SPEC_FILES, SPECS_DIR

EXPECTED_PARAMS = {
    "alexnet.yaml": 60_965_224,
    "alexnet_1gpu.yaml": 62_378_344,
    "alexnet_torchvision.yaml": 61_100_840,
    "caffenet.yaml": 60_965_224,
    "lenet5.yaml": 61_706,
    "alexnet_nolrn.yaml": 60_965_224,
    "alexnet_10class.yaml": 58_322_314,
    "alexnet_keras_nolrn.yaml": 62_378_344,
    # conv/dense weights and biases plus batchnorm scale and shift; Keras' summary adds 21,136 running statistics.
    "alexnet_keras_bn.yaml": 28_075_633,
}


def test_every_spec_has_an_expected_count():
    assert {path.name for path in SPEC_FILES} == set(EXPECTED_PARAMS)


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_parameter_totals(path):
    assert load_network(path).total_params == EXPECTED_PARAMS[path.name]


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_spec_header_names_its_sources(path):
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert len(header.splitlines()) >= 5, "the header says where the numbers come from"


def test_paper_model_size_chain():
    net = load_network(SPECS_DIR / "alexnet.yaml")
    sizes = [layer.output_shape[1] for layer in net.layers if layer.type in ("conv", "maxpool")]
    assert sizes == [55, 27, 27, 13, 13, 13, 13, 6]
    assert net.layer("conv1").equations == ("(227 + 2*0 - 11)/4 + 1 = 55",)
    assert net.layer("flatten").output_shape == (9216,)


def test_published_mac_counts():
    # Multiply-accumulates of conv and dense weights (seeds README: 724,406,816 and torchvision's 0.714 G).
    assert load_network(SPECS_DIR / "alexnet.yaml").total_macs == 724_406_816
    assert load_network(SPECS_DIR / "alexnet_torchvision.yaml").total_macs == 714_188_480


def test_paper_model_placement():
    net = load_network(SPECS_DIR / "alexnet.yaml")
    across = [layer.name for layer in net.layers if layer.placement.reads_across]
    assert across[:4] == ["conv3", "fc6", "fc7", "fc8"]
    assert all(net.layer(name).placement.split for name in ("conv1", "conv2", "conv4", "conv5"))


def test_ten_class_single_tower_is_the_documents_58_million():
    # Source document 003's "58,322,314 learnable parameters" is the ungrouped model with a 10-way last layer.
    net = load_network(SPECS_DIR / "alexnet_1gpu.yaml", ["fc8.out_features=10"])
    assert net.total_params == 58_322_314


def test_keras_variants_declare_their_truncation():
    nolrn = load_network(SPECS_DIR / "alexnet_keras_nolrn.yaml")
    assert [layer.output_shape[1] for layer in nolrn.layers if layer.type == "maxpool"] == [26, 12, 6]
    bn = load_network(SPECS_DIR / "alexnet_keras_bn.yaml")
    assert bn.layer("flatten").output_shape == (256,)
    assert bn.total_buffers == 21_136


def test_paper_init_biases():
    net = load_network(SPECS_DIR / "alexnet.yaml")
    ones = [layer.name for layer in net.layers if layer.type in ("conv", "dense") and layer.attrs.bias_init.value == 1]
    assert ones == ["conv2", "conv4", "conv5", "fc6", "fc7"]
    assert net.layer("conv1").attrs.weight_init.std == 0.01


def test_keras_bn_initialises_as_its_keras_code():
    """Keras' defaults, which the document's code keeps: glorot_uniform kernels and zero biases. glorot_uniform
    (keras.initializers.GlorotUniform) draws U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)), its fans from
    the Keras kernel shape: (kh, kw, in, out) -> fan_in = kh*kw*in, fan_out = kh*kw*out; (in, out) for Dense.
    Checked on the torch module as built: every bound is reached (large tensors) and never passed."""
    torch = pytest.importorskip("torch")
    from alexnet_spec import backends

    net = load_network(SPECS_DIR / "alexnet_keras_bn.yaml")
    torch.manual_seed(0)
    model = backends.get("torch").build(net)
    for layer in net.layers:
        if layer.type == "conv":
            a = layer.attrs
            keras_shape = (a.kernel[0], a.kernel[1], a.in_channels, a.out_channels)
            fan_in, fan_out = math.prod(keras_shape[:3]), keras_shape[0] * keras_shape[1] * keras_shape[3]
        elif layer.type == "dense":
            fan_in, fan_out = layer.attrs.in_features, layer.attrs.out_features
        else:
            continue
        limit = math.sqrt(6 / (fan_in + fan_out))
        weight = getattr(model, layer.name).weight.detach()
        assert 0.99 * limit < weight.abs().max().item() <= limit, layer.name
        assert abs(weight.std().item() - limit / math.sqrt(3)) < 0.05 * limit / math.sqrt(3), layer.name
        assert not getattr(model, layer.name).bias.detach().any(), layer.name


def test_keras_bn_moves_its_running_variance_as_keras_does():
    # Keras 3's BatchNormalization: the moving variance follows the biased batch variance (see tests/batchnorm_rules.py)
    net = load_network(SPECS_DIR / "alexnet_keras_bn.yaml")
    rules = {layer.name: layer.attrs.running_variance for layer in net.layers if layer.type == "batchnorm"}
    assert rules == {f"bn{i}": "biased" for i in range(1, 9)}
