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
    # torchvision's weights metadata ("num_params"); batchnorm running statistics are buffers there too.
    "resnet18.yaml": 11_689_512,
    "googlenet.yaml": 6_624_904,
    "squeezenet1_0.yaml": 1_248_424,
    "vgg16.yaml": 138_357_544,
    # BVLC GoogLeNet deploy.prototxt, as HPE's DLBS tables it; NIN: counted here from the Caffe Model Zoo prototxt
    # (tests/backends/torch/test_torch_references.py counts it again on a model transcribed from that prototxt).
    "googlenet_bvlc.yaml": 6_998_552,
    "nin.yaml": 7_595_176,
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


# torchvision's "_ops" metadata, in GMACs to three decimals (AlexNet's 0.714 is test_published_mac_counts' figure).
TORCHVISION_GMACS = {"resnet18.yaml": 1.814, "googlenet.yaml": 1.498, "squeezenet1_0.yaml": 0.819, "vgg16.yaml": 15.47}


@pytest.mark.parametrize("name", TORCHVISION_GMACS)
def test_torchvision_specs_have_torchvisions_mac_counts(name):
    net = load_network(SPECS_DIR / name)
    assert round(net.total_macs / 1e9, 3) == TORCHVISION_GMACS[name]
    assert net.output_shapes == ((1000,),)


def test_graph_specs_output_shapes_at_their_input_sizes():
    # the papers' and torchvision's comments: each stage's output, at the layer that ends it
    shapes = {
        "resnet18.yaml": {"maxpool": (64, 56, 56), "layer1.1.relu2": (64, 56, 56), "layer2.1.relu2": (128, 28, 28),
                          "layer3.1.relu2": (256, 14, 14), "layer4.1.relu2": (512, 7, 7), "avgpool": (512,)},
        "googlenet.yaml": {"maxpool1": (64, 56, 56), "maxpool2": (192, 28, 28), "inception3b.concat": (480, 28, 28),
                           "maxpool3": (480, 14, 14), "inception4e.concat": (832, 14, 14), "maxpool4": (832, 7, 7),
                           "inception5b.concat": (1024, 7, 7)},
        "squeezenet1_0.yaml": {"conv1": (96, 109, 109), "maxpool1": (96, 54, 54), "fire4.concat": (256, 54, 54),
                               "maxpool4": (256, 27, 27), "maxpool8": (512, 13, 13), "conv10": (1000, 13, 13)},
        "vgg16.yaml": {"pool1": (64, 112, 112), "pool5": (512, 7, 7), "flatten": (25088,)},
        "nin.yaml": {"mlpconv1.cccp2": (96, 54, 54), "pool0": (96, 27, 27), "pool2": (256, 13, 13),
                     "pool3": (384, 6, 6), "mlpconv4.cccp2": (1000, 6, 6)},
    }
    for name, expected in shapes.items():
        net = load_network(SPECS_DIR / name)
        assert {layer: net.layer(layer).output_shape for layer in expected} == expected, name


def test_resnet18_shortcuts_project_only_where_the_shape_changes():
    net = load_network(SPECS_DIR / "resnet18.yaml")
    adds = {layer.name: layer.inputs for layer in net.layers if layer.type == "add"}
    assert adds["layer1.0.add"] == ("layer1.0.bn2", "maxpool")
    assert adds["layer1.1.add"] == ("layer1.1.bn2", "layer1.0.relu2")
    assert adds["layer2.0.add"] == ("layer2.0.bn2", "layer2.0.downsample.bn")
    assert adds["layer2.1.add"] == ("layer2.1.bn2", "layer2.0.relu2")
    assert [layer.name for layer in net.layers if layer.name.endswith("downsample.conv")] == [
        f"layer{stage}.0.downsample.conv" for stage in (2, 3, 4)]


def test_bvlc_googlenet_is_the_prototxts_weights_and_biases():
    # Luma's model table (InceptionNet_V1): 6,990,272 weights and 8,280 biases; 57 convolutions plus the classifier.
    net = load_network(SPECS_DIR / "googlenet_bvlc.yaml")
    parametrised = [layer for layer in net.layers if layer.type in ("conv", "dense")]
    biases = sum(layer.attrs.out_channels if layer.type == "conv" else layer.attrs.out_features
                 for layer in parametrised)
    assert (len(parametrised), net.total_params - biases, biases) == (58, 6_990_272, 8_280)
    assert net.layer("inception3a.branch3.1.conv").attrs.kernel == (5, 5)
    assert load_network(SPECS_DIR / "googlenet.yaml").layer("inception3a.branch3.1.conv").attrs.kernel == (3, 3)
    assert [layer.name for layer in net.layers if layer.type == "lrn"] == ["norm1", "norm2"]
    assert net.total_buffers == 0


def test_nin_snapshot_is_the_zoos_29_megabytes():
    # "a snapshot of size 29MB" (the zoo's page): float32 weights, in MiB.
    assert round(load_network(SPECS_DIR / "nin.yaml").total_params * 4 / 2**20) == 29
