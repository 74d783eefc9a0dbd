"""BVLC Caffe's own network files (tests/interop/fixtures/caffe/, see its README): every deploy, train_val and
V1 file imports, or is refused at the line of what the spec cannot express; parameter counts are checked against
counts written out here from Caffe's shapes (conv: num_output × C/group × kh × kw + num_output; InnerProduct:
num_output × inputs + num_output)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alexnet_spec.errors import SpecError
from alexnet_spec.interop.caffe import import_prototxt
from alexnet_spec.source.loading import load_network, parse_network
from tests.conftest import SPECS_DIR

FIXTURES = Path(__file__).parent / "fixtures" / "caffe"
ALEXNET = 60_965_224  # conv1..5 and fc6..8 of the paper's two-GPU model (its groups included), as CaffeNet
LENET = (20 * 1 * 25 + 20) + (50 * 20 * 25 + 50) + (500 * 50 * 4 * 4 + 500) + (10 * 500 + 10)
GOOGLENET = 6_998_552  # specs/googlenet_bvlc.yaml cites this figure for this very file
CIFAR_QUICK = (32 * 3 * 25 + 32) + (32 * 32 * 25 + 32) + (64 * 32 * 25 + 64) + (64 * 64 * 4 * 4 + 64) + (10 * 64 + 10)
IMPORTS = {  # file -> (--input for a data layer, parameters, layers)
    "bvlc_alexnet__deploy.prototxt": (None, ALEXNET, 24),
    "bvlc_alexnet__train_val.prototxt": ((3, 227, 227), ALEXNET, 24),
    "bvlc_reference_caffenet__deploy.prototxt": (None, ALEXNET, 24),
    "bvlc_reference_caffenet__train_val.prototxt": ((3, 227, 227), ALEXNET, 24),
    "v1__bvlc_reference_caffenet__deploy.prototxt": (None, ALEXNET, 24),
    "v1__bvlc_reference_caffenet__train_val.prototxt": ((3, 227, 227), ALEXNET, 24),
    # R-CNN: CaffeNet whose fc8 is fc-rcnn, 200 detectors without a softmax.
    "bvlc_reference_rcnn_ilsvrc13__deploy.prototxt": (None, ALEXNET - (1000 * 4096 + 1000) + (200 * 4096 + 200), 23),
    # Flickr style: CaffeNet with a 20-way fc8_flickr.
    "finetune_flickr_style__deploy.prototxt": (None, ALEXNET - (1000 * 4096 + 1000) + (20 * 4096 + 20), 24),
    "finetune_flickr_style__train_val.prototxt": ((3, 227, 227), ALEXNET - (1000 * 4096 + 1000) + (20 * 4096 + 20),
                                                  24),
    "mnist__lenet.prototxt": (None, LENET, 9),
    "mnist__lenet_train_test.prototxt": ((1, 28, 28), LENET, 9),
    "v1__mnist__lenet.prototxt": (None, LENET, 9),
    "v1__mnist__lenet_train_test.prototxt": ((1, 28, 28), LENET, 9),
    "cifar10__cifar10_quick.prototxt": (None, CIFAR_QUICK, 13),
    "cifar10__cifar10_quick_train_test.prototxt": ((3, 32, 32), CIFAR_QUICK, 13),
}
# GoogLeNet's train_val adds two auxiliary classifiers (on inception_4a's 512 and inception_4d's 528 channels):
# AVE pool 5/3 to 4×4, a 1×1 conv to 128, fc 1024 (from 128 × 4 × 4), classifier 1000.
AUX = (128 * 4 * 4 * 1024 + 1024) + (1024 * 1000 + 1000)
GOOGLENET_AUX = GOOGLENET + (512 * 128 + 128) + AUX + (528 * 128 + 128) + AUX
IMPORTS.update({
    "squeezenet_v1.0__deploy.prototxt": (None, 1_248_424, 66),
    # torchvision's ResNet-50 (25,557,032, its weights' metadata) and conv1's 64 biases: in this prototxt conv1 keeps
    # Caffe's default bias_term, every other convolution has bias_term: false.
    "resnet50__deploy.prototxt": (None, 25_557_032 + 64, 176),  # torchvision SqueezeNet1_0 metadata (specs/ cites it)
    "bvlc_googlenet__deploy.prototxt": (None, GOOGLENET, 143),
    "bvlc_googlenet__train_val.prototxt": ((3, 224, 224), GOOGLENET_AUX, 161),
})
REFUSED = {  # file -> (--input, line, what the message says)
    "cifar10__cifar10_full.prototxt": (None, 54, "norm_region: WITHIN_CHANNEL is not supported"),
    "cifar10__cifar10_full_train_test.prototxt": ((3, 32, 32), 87, "norm_region: WITHIN_CHANNEL is not supported"),
}


def test_every_fixture_is_covered():
    assert {path.name for path in FIXTURES.glob("*.prototxt")} == set(IMPORTS) | set(REFUSED)


@pytest.mark.parametrize("name", sorted(IMPORTS))
def test_bvlc_network_imports(name):
    input_shape, params, layers = IMPORTS[name]
    text = import_prototxt(FIXTURES / name, input_shape=input_shape)
    net = parse_network(text, "imported.yaml")
    assert net.total_params == params
    assert len(net.layers) == layers
    if input_shape is not None:
        assert net.input_shape == input_shape
        header = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
        assert "(SoftmaxWithLoss) is its softmax" in header and "(Accuracy)" in header
        assert net.layers[-1].type == "softmax"


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_the_spec_cannot_express_is_refused_at_its_line(name):
    input_shape, line, message = REFUSED[name]
    with pytest.raises(SpecError) as caught:
        import_prototxt(FIXTURES / name, input_shape=input_shape)
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.file) == (line, str(FIXTURES / name)) and message in diagnostic.message


def test_a_data_layer_without_input_size_says_how_to_give_it():
    with pytest.raises(SpecError) as caught:
        import_prototxt(FIXTURES / "bvlc_alexnet__train_val.prototxt")
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.line == 23 and "reads its image size from its data source" in diagnostic.message
    assert diagnostic.hint == "its crop_size 227 gives the height and width: --input 3,227,227 for colour images"


def test_train_val_notes_what_it_dropped():
    text = import_prototxt(FIXTURES / "mnist__lenet_train_test.prototxt", input_shape=(1, 28, 28))
    header = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    assert "not imported: 'mnist'" in header  # the TRAIN phase's data layer
    assert "transform_param (scale 0.00390625) is preprocessing" in header


def test_bvlc_googlenet_is_the_shipped_spec_layer_by_layer():
    """The deploy file's import against specs/googlenet_bvlc.yaml (written by hand from the same file, with blocks):
    the same layers in the same order with the same sizes and attributes, except that the spec writes Caffe's
    pool5/7x7_s1 (a 7×7 average of a 7×7 map), its dropout and the InnerProduct's flatten as a global_avgpool
    and a dropout of the 1024 features."""
    net = parse_network(import_prototxt(FIXTURES / "bvlc_googlenet__deploy.prototxt"), "imported.yaml")
    spec = load_network(SPECS_DIR / "googlenet_bvlc.yaml")

    def rows(network):
        result = []
        for layer in network.layers:
            attrs = getattr(layer.attrs, "kernel", None), getattr(layer.attrs, "stride", None)
            result.append((layer.type, layer.output_shape, layer.params, attrs, len(layer.inputs)))
        return result

    imported, shipped = rows(net), rows(spec)
    pool = next(index for index, row in enumerate(imported) if row[0] == "avgpool")
    assert [row[:2] for row in imported[pool:pool + 3]] == [("avgpool", (1024, 1, 1)), ("dropout", (1024, 1, 1)),
                                                            ("flatten", (1024,))]
    assert [row[:2] for row in shipped[pool:pool + 2]] == [("global_avgpool", (1024,)), ("dropout", (1024,))]
    assert imported[:pool] == shipped[:pool] and imported[pool + 3:] == shipped[pool + 2:]
    assert net.total_params == spec.total_params == GOOGLENET
    assert [layer.name for layer in net.layers if layer.type == "concat"] == [
        f"inception_{stage}_output" for stage in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")]


def test_train_val_auxiliary_classifiers_are_outputs():
    text = import_prototxt(FIXTURES / "bvlc_googlenet__train_val.prototxt", input_shape=(3, 224, 224))
    net = parse_network(text, "imported.yaml")
    assert [(name, net.layer(name).output_shape) for name in net.output_names] == [
        ("loss1_loss", (1000,)), ("loss2_loss", (1000,)), ("loss3_loss3", (1000,))]
    assert "outputs: [loss1_loss, loss2_loss, loss3_loss3]" in text
