"""From the network files people have to a deploy network's layers: V1 `layers {}` upgraded as Caffe's
UpgradeV1Net does (src/caffe/util/upgrade_proto.cpp), and a train_val/train_test file's TEST phase reduced to what
inference runs: the data layer becomes the input, Accuracy and loss layers go, SoftmaxWithLoss becomes the Softmax
that deploy files end with. Everything removed is listed for the spec's header.
"""

from __future__ import annotations

import dataclasses

from alexnet_spec.interop.caffe_proto import Block, located
from alexnet_spec.interop.prototxt import Field, Message

# UpgradeV1LayerType: V1's enum -> the layer type string.
V1_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DECONVOLUTION": "Deconvolution",
    "DATA": "Data", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col", "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss",
    "INNER_PRODUCT": "InnerProduct", "LRN": "LRN", "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN", "POOLING": "Pooling", "POWER": "Power",
    "RELU": "ReLU", "SIGMOID": "Sigmoid", "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "SILENCE": "Silence", "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice",
    "TANH": "TanH", "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}
V1_TRAINING_ONLY = ("blobs_lr", "weight_decay", "blob_share_mode")  # learning-rate multipliers: not a network's
DATA_TYPES = ("Data", "ImageData", "HDF5Data", "MemoryData", "WindowData", "DummyData")
DROPPED_TYPES = ("Accuracy", "Silence")


def upgrade_v1(block: Block) -> Block:
    """A V1 `layers { type: CONVOLUTION ... }` block as the `layer { type: "Convolution" ... }` it stands for."""
    kind = block.get("type")
    if kind is None or kind not in V1_TYPES:
        raise block.error(block.field("type") or block.owner, f"V1 layer type {kind or '(none)'} has no upgrade",
                          at_value=False, expected="a V1 LayerType that Caffe's UpgradeV1LayerType knows")
    fields = [dataclasses.replace(item, value=V1_TYPES[kind]) if item.name == "type" else item
              for item in block.message.fields if item.name not in V1_TRAINING_ONLY]
    message = Message(fields, block.message.line, block.message.column)
    return Block(block.file, message, "LayerParameter", block.owner, block.layer)


def deploy_layers(file: str, layers: list[Block], note) -> list[Block]:
    """The TEST-phase layers of a train_val file as a deploy network: Accuracy and losses dropped (noted),
    SoftmaxWithLoss turned into Softmax reading only its first bottom. A deploy file comes back unchanged."""
    kept, dropped = [], []
    for layer in layers:
        kind = layer.get("type") or ""
        if kind == "SoftmaxWithLoss":
            kept.append(_as_softmax(layer))
            note(f"the loss layer {layer.get('name')!r} (SoftmaxWithLoss) is its softmax, as in a deploy network")
        elif kind in DROPPED_TYPES or (kind.endswith("Loss") and kind != "SoftmaxWithLoss"):
            dropped.append(f"{layer.get('name')!r} ({kind})")
        else:
            kept.append(layer)
    if dropped:
        note(f"training-only layers not imported: {', '.join(dropped)}")
    return kept


def _as_softmax(layer: Block) -> Block:
    bottoms = [item for item in layer.message.fields if item.name == "bottom"]
    fields = [dataclasses.replace(item, value="Softmax") if item.name == "type" else item
              for item in layer.message.fields if item.name != "bottom" or item is bottoms[0]]
    return Block(layer.file, Message(fields, layer.message.line, layer.message.column), "LayerParameter",
                 layer.owner, layer.layer)


def data_input(file: str, layer: Block, given: tuple[int, int, int] | None, note) -> tuple[list[int], Field]:
    """(N, C, H, W) of a data layer and where to point errors: from --input (C, H, W) when given, else what the
    layer states (MemoryData's sizes, DummyData's shape); a Data/ImageData layer reads its sizes from a database or
    image files, which only its crop_size hints at."""
    name = layer.get("name") or layer.get("type")
    kind = layer.get("type")
    transform = _message(layer, "transform_param")
    if transform is not None and transform.fields:
        settings = ", ".join(f"{item.name} {item.raw}" for item in transform.fields)
        note(f"the {kind} layer's transform_param ({settings}) is preprocessing, not part of the network: apply it "
             "to the images before they reach the spec's input")
    memory = _message(layer, "memory_data_param")
    dummy = _message(layer, "dummy_data_param")
    if given is not None:
        note(f"the {kind} layer {name!r} is the spec's input; its size, {'×'.join(map(str, given))}, given with "
             "--input")
        return [1, *given], layer.owner
    if memory is not None and all(memory.first(key) for key in ("channels", "height", "width")):
        dims = [memory.first(key).value for key in ("batch_size", "channels", "height", "width")
                if memory.first(key) is not None]
        note(f"the MemoryData layer {name!r} is the spec's input")
        return ([1] if len(dims) == 3 else []) + dims, layer.owner
    if dummy is not None and dummy.first("shape") is not None:
        dims = [item.value for item in dummy.first("shape").value.all("dim")]
        note(f"the DummyData layer {name!r} is the spec's input")
        return dims, dummy.first("shape")
    crop = transform.first("crop_size") if transform is not None else None
    hint = (f"its crop_size {crop.value} gives the height and width: --input 3,{crop.value},{crop.value} for colour "
            "images" if crop is not None else "the deploy.prototxt that comes with the model states it")
    raise located(file, layer.field("type"), f"the {kind} layer {name!r} reads its image size from its data source, "
                  "which a prototxt does not state", layer=name, at_value=True,
                  expected="the input size given with --input C,H,W", hint=hint)


def _message(layer: Block, name: str) -> Message | None:
    item = layer.message.first(name)
    return item.value if item is not None and isinstance(item.value, Message) else None
