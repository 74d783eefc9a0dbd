"""Other formats in and out: Caffe deploy prototxts and ONNX models become specs; specs become ONNX models.

    prototxt.py      protobuf's text format, parsed with the line and column of every field (no Caffe, no schema)
    caffe_proto.py   the part of caffe.proto the import reads, and a reader that checks fields, types and enums
    caffe.py         prototxt -> spec, Caffe's implicit conventions written down (`alexspec import caffe`)
    onnx_export.py   resolved spec + canonical weights -> ONNX, opset 22 (`alexspec export --format onnx`)
    onnx_import.py   ONNX chain of the spec's layer types -> spec + canonical weights (`alexspec import onnx`)
    weights_io.py    weight files: torch .pt state dicts and .npz, in the canonical format
    common.py        legal names, float32 numbers as written, the header of an imported spec
    commands.py      the Typer commands that cli.py registers

Nothing here imports onnx or torch at import time: each is imported inside the function that needs it.
"""
